//! What the key tests share: a test key under any `kid`, a clock that moves when told to, and a
//! one-route JWKS server on loopback.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::cache::Clock;
pub(super) use crate::auth::local::test_keys::signer;

/// The test key published under each of `kids`.
pub(super) fn jwks_with_kids(kids: &[&str]) -> JwkSet {
    let template = signer().jwks().keys.remove(0);
    let keys = kids
        .iter()
        .map(|kid| {
            let mut jwk = template.clone();
            jwk.common.key_id = Some((*kid).to_owned());
            jwk
        })
        .collect();
    JwkSet { keys }
}

/// A clock that only moves when told to.
pub(super) struct FakeClock {
    start: Instant,
    offset: Mutex<Duration>,
}

impl FakeClock {
    pub(super) fn new() -> Arc<Self> {
        Arc::new(FakeClock {
            start: Instant::now(),
            offset: Mutex::new(Duration::ZERO),
        })
    }
    pub(super) fn advance(&self, by: Duration) {
        *self.offset.lock().unwrap() += by;
    }
    pub(super) fn clock(self: &Arc<Self>) -> Clock {
        let this = Arc::clone(self);
        Arc::new(move || this.start + *this.offset.lock().unwrap())
    }
}

/// A one-route HTTP/1.1 server on loopback that answers every request with `response()`.
pub(super) struct LoopbackServer {
    pub(super) url: String,
    pub(super) hits: Arc<AtomicUsize>,
    pub(super) response: Arc<Mutex<String>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for LoopbackServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub(super) fn http_response(status: &str, headers: &[&str], body: &str) -> String {
    let mut response = format!("HTTP/1.1 {status}\r\n");
    for header in headers {
        response.push_str(header);
        response.push_str("\r\n");
    }
    response.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ));
    response
}

pub(super) fn jwks_response(kids: &[&str], cache_control: &str) -> String {
    let body = serde_json::to_string(&jwks_with_kids(kids)).unwrap();
    let cache_control = format!("Cache-Control: {cache_control}");
    http_response(
        "200 OK",
        &[
            "Content-Type: application/json; charset=UTF-8",
            &cache_control,
        ],
        &body,
    )
}

pub(super) async fn serve(response: String) -> LoopbackServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwk/securetoken", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let response = Arc::new(Mutex::new(response));
    let task = tokio::spawn({
        let hits = Arc::clone(&hits);
        let response = Arc::clone(&response);
        async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                assert!(request.starts_with(b"GET /jwk/securetoken HTTP/1.1\r\n"));
                hits.fetch_add(1, Ordering::SeqCst);
                let body = response.lock().unwrap().clone();
                let _ = socket.write_all(body.as_bytes()).await;
                let _ = socket.shutdown().await;
            }
        }
    });
    LoopbackServer {
        url,
        hits,
        response,
        task,
    }
}
