//! The one loopback HTTP server of the test suites: a stand-in for an endpoint (an AWS API in a
//! state no emulator reaches, an SSO portal, the Lambda Runtime API, a stack's endpoints) that
//! records every request and answers each through the test's handler.
//!
//! [`Server::start`] serves on the caller's tokio runtime; [`Server::start_on_thread`] on a
//! thread and runtime of its own, for synchronous tests that run a binary against it. The
//! server stops when dropped.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

/// One request as the server received it.
#[derive(Debug, Clone)]
pub struct Request {
    /// The HTTP method.
    pub method: http::Method,
    /// The path and query, as sent.
    pub uri: http::Uri,
    /// The headers, as sent.
    pub headers: http::HeaderMap,
    /// The whole body, read before the handler runs.
    pub body: Bytes,
}

impl Request {
    /// The path, without the query.
    pub fn path(&self) -> &str {
        self.uri.path()
    }

    /// The value of header `name`, if it is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `X-Amz-Target` operation (`DynamoDB_20120810.TransactWriteItems` →
    /// `TransactWriteItems`); empty for other protocols.
    pub fn operation(&self) -> &str {
        self.header("x-amz-target")
            .and_then(|t| t.rsplit('.').next())
            .unwrap_or_default()
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// What the server answers.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The HTTP status code.
    pub status: u16,
    /// The headers, as (name, value), in order.
    pub headers: Vec<(String, String)>,
    /// The body, sent whole.
    pub body: Bytes,
}

impl Reply {
    /// `status` with `body` as JSON (`content-type: application/json`).
    pub fn json(status: u16, body: impl Into<String>) -> Self {
        Self::with_type(status, "application/json", body)
    }

    /// `status` with `body` of `content_type`.
    pub fn with_type(status: u16, content_type: &str, body: impl Into<String>) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            body: Bytes::from(body.into()),
        }
    }

    /// This reply with one more header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// A boxed answer in the making.
pub type Answering = Pin<Box<dyn Future<Output = Reply> + Send>>;

type Handler = dyn Fn(Request) -> Answering + Send + Sync;

/// A running server; stops when dropped.
pub struct Server {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    requests: Arc<Mutex<Vec<Request>>>,
    stop: Stop,
}

enum Stop {
    Task(tokio::task::JoinHandle<()>),
    Thread(Option<tokio::sync::oneshot::Sender<()>>),
}

impl Server {
    /// Serves on a free loopback port of the current tokio runtime, answering each request with
    /// `handler`.
    pub async fn start<F, Fut>(handler: F) -> Self
    where
        F: Fn(Request) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Reply> + Send + 'static,
    {
        Self::spawn(handler, true).await
    }

    /// As [`Server::start`], keeping no request: for load, where a record of every request
    /// would weigh on the memory measured.
    pub async fn start_unrecorded<F, Fut>(handler: F) -> Self
    where
        F: Fn(Request) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Reply> + Send + 'static,
    {
        Self::spawn(handler, false).await
    }

    async fn spawn<F, Fut>(handler: F, record: bool) -> Self
    where
        F: Fn(Request) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Reply> + Send + 'static,
    {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback server");
        let url = format!("http://{}", listener.local_addr().expect("its address"));
        let requests: Arc<Mutex<Vec<Request>>> = Arc::default();
        let kept = record.then(|| requests.clone());
        let task = tokio::spawn(serve(listener, boxed(handler), kept));
        Self {
            url,
            requests,
            stop: Stop::Task(task),
        }
    }

    /// As [`Server::start`] with an answer that needs no waiting.
    pub async fn answering(answer: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Self {
        let answer = Arc::new(answer);
        Self::start(move |request| {
            let reply = answer(&request);
            async move { reply }
        })
        .await
    }

    /// As [`Server::answering`], on a thread and runtime of its own: for synchronous tests.
    pub fn start_on_thread(answer: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Self {
        let answer = Arc::new(answer);
        Self::serve_on_thread(move |request| {
            let reply = answer(&request);
            async move { reply }
        })
    }

    /// As [`Server::start`], on a thread and runtime of its own: a server that outlives the
    /// runtime of the test that started it (one shared by a whole test binary).
    pub fn serve_on_thread<F, Fut>(handler: F) -> Self
    where
        F: Fn(Request) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Reply> + Send + 'static,
    {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback server");
        listener.set_nonblocking(true).expect("non-blocking");
        let url = format!("http://{}", listener.local_addr().expect("its address"));
        let requests: Arc<Mutex<Vec<Request>>> = Arc::default();
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let kept = requests.clone();
        let handler = boxed(handler);
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a runtime for the server");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("a listener");
                tokio::select! {
                    () = serve(listener, handler, Some(kept)) => {}
                    _ = stopped => {}
                }
            });
        });
        Self {
            url,
            requests,
            stop: Stop::Thread(Some(stop)),
        }
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().expect("requests").clone()
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        match &mut self.stop {
            Stop::Task(task) => task.abort(),
            Stop::Thread(stop) => {
                if let Some(stop) = stop.take() {
                    let _ = stop.send(());
                }
            }
        }
    }
}

fn boxed<F, Fut>(handler: F) -> Arc<Handler>
where
    F: Fn(Request) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Reply> + Send + 'static,
{
    Arc::new(move |request| Box::pin(handler(request)) as Answering)
}

async fn serve(
    listener: tokio::net::TcpListener,
    handler: Arc<Handler>,
    requests: Option<Arc<Mutex<Vec<Request>>>>,
) {
    while let Ok((socket, _)) = listener.accept().await {
        let (handler, requests) = (handler.clone(), requests.clone());
        tokio::spawn(async move {
            let service = service_fn(move |request: http::Request<hyper::body::Incoming>| {
                let (handler, requests) = (handler.clone(), requests.clone());
                async move {
                    let (parts, body) = request.into_parts();
                    let body = body
                        .collect()
                        .await
                        .map(|b| b.to_bytes())
                        .unwrap_or_default();
                    let request = Request {
                        method: parts.method,
                        uri: parts.uri,
                        headers: parts.headers,
                        body,
                    };
                    if let Some(requests) = &requests {
                        requests.lock().expect("requests").push(request.clone());
                    }
                    let reply = handler(request).await;
                    let mut response = http::Response::builder().status(reply.status);
                    for (name, value) in &reply.headers {
                        response = response.header(name, value);
                    }
                    response.body(Full::new(reply.body))
                }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(socket), service)
                .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn it_records_requests_and_answers_through_the_handler() {
        let server = Server::answering(|request| {
            Reply::json(201, format!("{{\"path\":\"{}\"}}", request.path()))
        })
        .await;
        let (status, body) = crate::http_get(server.port(), "/a?b=c", Some("t")).unwrap();
        assert_eq!((status, body.as_str()), (201, "{\"path\":\"/a\"}"));
        let seen = server.requests();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].uri.to_string(), "/a?b=c");
        assert_eq!(seen[0].header("authorization"), Some("Bearer t"));
    }

    #[test]
    fn a_server_on_its_own_thread_serves_synchronous_tests() {
        let server = Server::start_on_thread(|_| Reply::json(200, "{}"));
        let (status, _) = crate::http_get(server.port(), "/", None).unwrap();
        assert_eq!(status, 200);
        assert_eq!(server.requests().len(), 1);
    }
}
