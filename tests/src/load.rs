//! A small closed-loop HTTP/1.1 load generator for the benchmarks: N keep-alive connections, each
//! sending its next request as soon as the previous answer arrives, for a fixed duration.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;

/// What one run measured.
#[derive(Debug, Clone)]
pub struct LoadReport {
    /// Requests answered, on every connection together (errors included).
    pub requests: u64,
    /// Answers with another status than [`Template::expect`], and connections that failed.
    pub errors: u64,
    /// Wall time from the start to the last connection's end.
    pub elapsed: Duration,
    /// Sorted latencies in microseconds.
    pub latencies_us: Vec<u32>,
}

impl LoadReport {
    /// Requests answered per second of [`LoadReport::elapsed`].
    pub fn per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    /// The `q` quantile latency (0..=1) in milliseconds.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        let index = ((self.latencies_us.len() - 1) as f64 * q).round() as usize;
        f64::from(self.latencies_us[index]) / 1000.0
    }
}

/// One request template: method, path, headers, body.
#[derive(Clone)]
pub struct Template {
    /// The HTTP method.
    pub method: http::Method,
    /// The path and query, such as `/me/notes`.
    pub path: String,
    /// Headers added to each request, after `host`.
    pub headers: Vec<(String, String)>,
    /// The body of each request (empty for none).
    pub body: Bytes,
    /// The status a successful answer has.
    pub expect: u16,
}

/// Runs `connections` closed loops against `addr` for `duration`.
pub async fn run(
    addr: SocketAddr,
    template: Template,
    connections: usize,
    duration: Duration,
) -> LoadReport {
    let template = Arc::new(template);
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let template = template.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
            stream.set_nodelay(true).ok();
            let (mut sender, connection) = http1::handshake(TokioIo::new(stream))
                .await
                .expect("handshake");
            tokio::spawn(connection);
            while Instant::now() < deadline {
                let mut builder = http::Request::builder()
                    .method(template.method.clone())
                    .uri(&template.path)
                    .header("host", addr.to_string());
                for (k, v) in &template.headers {
                    builder = builder.header(k, v);
                }
                let request = builder
                    .body(Full::new(template.body.clone()))
                    .expect("request");
                let sent = Instant::now();
                match sender.send_request(request).await {
                    Ok(response) => {
                        let ok = response.status().as_u16() == template.expect;
                        let _ = response.into_body().collect().await;
                        latencies.push(sent.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                        if !ok {
                            errors += 1;
                        }
                    }
                    Err(_) => {
                        errors += 1;
                        break;
                    }
                }
            }
            (latencies, errors)
        }));
    }
    let mut latencies_us = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (l, e) = task.await.expect("load task");
        latencies_us.extend(l);
        errors += e;
    }
    let elapsed = start.elapsed();
    latencies_us.sort_unstable();
    LoadReport {
        requests: latencies_us.len() as u64,
        errors,
        elapsed,
        latencies_us,
    }
}
