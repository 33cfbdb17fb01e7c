//! A loopback HTTP stand-in for an AWS endpoint in states an emulator will not reach (a
//! DynamoDB that keeps cancelling transactions, a throttling service): it records every request
//! and answers each with what the test's function says.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

/// One request as the stand-in received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Recorded {
    /// The `X-Amz-Target` operation (`DynamoDB_20120810.TransactWriteItems` → `TransactWriteItems`).
    pub fn operation(&self) -> &str {
        self.headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .and_then(|t| t.rsplit('.').next())
            .unwrap_or_default()
    }
}

type Answer = dyn Fn(&Recorded) -> (u16, String) + Send + Sync;

/// A running stand-in; stops when dropped.
pub struct StandIn {
    pub url: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
    task: tokio::task::JoinHandle<()>,
}

impl StandIn {
    /// Serves on a free loopback port, answering with `answer` (status, JSON body).
    pub async fn start(
        answer: impl Fn(&Recorded) -> (u16, String) + Send + Sync + 'static,
    ) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a stand-in");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let requests: Arc<Mutex<Vec<Recorded>>> = Arc::default();
        let answer: Arc<Answer> = Arc::new(answer);
        let kept = requests.clone();
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let (kept, answer) = (kept.clone(), answer.clone());
                tokio::spawn(async move {
                    let service =
                        service_fn(move |request: http::Request<hyper::body::Incoming>| {
                            let (kept, answer) = (kept.clone(), answer.clone());
                            async move {
                                let (parts, body) = request.into_parts();
                                let body = body
                                    .collect()
                                    .await
                                    .map(|b| b.to_bytes())
                                    .unwrap_or_default();
                                let recorded = Recorded {
                                    method: parts.method.to_string(),
                                    path: parts.uri.to_string(),
                                    headers: parts.headers,
                                    body,
                                };
                                let (status, text) = answer(&recorded);
                                kept.lock().expect("requests").push(recorded);
                                http::Response::builder()
                                    .status(status)
                                    .header("content-type", "application/x-amz-json-1.0")
                                    .body(Full::new(Bytes::from(text)))
                            }
                        });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(socket), service)
                        .await;
                });
            }
        });
        Self {
            url,
            requests,
            task,
        }
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().expect("requests").clone()
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}
