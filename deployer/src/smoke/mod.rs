//! The smoke check: the live stack tried from outside, the way its clients reach it, after every
//! deploy and on its own (`noteapp smoke ENV`).
//!
//! Three checks, run at once, each under its own timeout, with their endpoints read from the
//! stack outputs:
//! - `healthz`: `GET <FunctionUrlEndpoint>/healthz` answers 200 `{"status":"ok"}`;
//! - `websocket`: `WebSocketURL` accepts a connection, and a message sent on it comes back as
//!   the `$default` route's echo (`{"type":"echo","data":{"original":…}}`);
//! - `broadcast`: `WebSocketBroadcastEndpoint` answers a request signed with the caller's IAM
//!   credentials (SigV4, `execute-api`) with the broadcast handler's `{message, results}`. The
//!   broadcast is addressed to an owner no connection has, so it reaches nobody.
//!
//! Each result names the URL, the status or the error, and the time taken; a failed check fails
//! the smoke check (exit 1).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use noteapp_runtime::aws_http::Signer;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::{self, Message, client::IntoClientRequest};

use crate::aws::Clients;
use crate::error::Error;
use crate::progress::Progress;

#[cfg(feature = "test-util")]
pub mod stand_in;
#[cfg(test)]
pub(crate) mod tests;

/// The stack output the `healthz` check reads its endpoint from: the Function URL.
pub const HEALTH_OUTPUT: &str = "FunctionUrlEndpoint";
/// The stack output the `websocket` check connects to: the WebSocket stage's `wss://` URL.
pub const WEBSOCKET_OUTPUT: &str = "WebSocketURL";
/// The stack output the `broadcast` check posts to: the IAM-authorized broadcast route.
pub const BROADCAST_OUTPUT: &str = "WebSocketBroadcastEndpoint";

/// Each check's time limit unless `--smoke-timeout` says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The owner the smoke broadcast is addressed to: no connection belongs to it.
pub const NOBODY: &str = "noteapp-smoke-check";

/// Where the checks go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// `https://….lambda-url.REGION.on.aws/healthz`.
    pub health: String,
    /// `wss://….execute-api.REGION.amazonaws.com/STAGE`.
    pub websocket: String,
    /// `https://….execute-api.REGION.amazonaws.com/websocket/broadcast`.
    pub broadcast: String,
}

impl Endpoints {
    /// The endpoints from `stack`'s outputs; a missing output is named.
    pub fn from_outputs(stack: &str, outputs: &BTreeMap<String, String>) -> Result<Self, Error> {
        let get = |key: &str| {
            outputs
                .get(key)
                .filter(|v| !v.trim().is_empty())
                .cloned()
                .ok_or_else(|| {
                    Error::StackState(format!(
                        "stack {stack} has no {key} output, so the smoke check cannot reach it: \
                         is the stack deployed from this template (`noteapp outputs`)?"
                    ))
                })
        };
        Ok(Self {
            health: format!("{}/healthz", get(HEALTH_OUTPUT)?.trim_end_matches('/')),
            websocket: get(WEBSOCKET_OUTPUT)?,
            broadcast: get(BROADCAST_OUTPUT)?,
        })
    }
}

/// One check's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// `healthz`, `websocket` or `broadcast`.
    pub name: &'static str,
    /// The URL tried (empty when the check could not run).
    pub url: String,
    /// Whether the endpoint gave the expected answer within the timeout.
    pub passed: bool,
    /// The HTTP status answered (101 for an accepted WebSocket upgrade), if any.
    pub status: Option<u16>,
    /// What was seen: `ok`, or what went wrong.
    pub detail: String,
    /// How long the check took, in milliseconds.
    pub millis: u64,
}

/// What the smoke check found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SmokeReport {
    /// Every check passed.
    pub passed: bool,
    /// Each check's outcome: `healthz`, `websocket`, `broadcast`, in that order.
    pub checks: Vec<Check>,
    /// The whole check's wall time (the checks run at once).
    pub millis: u64,
}

/// The smoke check of `stack`, its endpoints read from `outputs`.
pub async fn check(
    clients: &Clients,
    stack: &str,
    outputs: &BTreeMap<String, String>,
    timeout: Duration,
    progress: &Progress,
) -> Result<SmokeReport, Error> {
    let endpoints = Endpoints::from_outputs(stack, outputs)?;
    progress.status(format!(
        "smoke check: {}, {}, {}",
        endpoints.health, endpoints.websocket, endpoints.broadcast
    ));
    let report = run_checks(
        &endpoints,
        clients.https()?,
        clients.signer.as_ref(),
        timeout,
    )
    .await;
    progress.line(format!(
        "smoke check {} in {} ms",
        if report.passed { "passed" } else { "failed" },
        report.millis
    ));
    Ok(report)
}

impl SmokeReport {
    /// A failed smoke check that could not run its checks: `name` failed with `detail`.
    pub fn unchecked(name: &'static str, detail: String) -> Self {
        SmokeReport {
            passed: false,
            checks: vec![Check {
                name,
                url: String::new(),
                passed: false,
                status: None,
                detail,
                millis: 0,
            }],
            millis: 0,
        }
    }

    /// The error a failed smoke check exits with, naming every failed check.
    pub fn check(&self, environment: &str) -> Result<(), Error> {
        if self.passed {
            return Ok(());
        }
        let failed: Vec<String> = self
            .checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| format!("{} {}: {} ({} ms)", c.name, c.url, c.detail, c.millis))
            .collect();
        Err(Error::SmokeFailed(format!(
            "the smoke check of {environment} failed: {}",
            failed.join("; ")
        )))
    }
}

impl fmt::Display for SmokeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.passed { "passed" } else { "FAILED" };
        writeln!(f, "smoke check {verdict} ({} ms):", self.millis)?;
        for c in &self.checks {
            let mark = if c.passed { "ok  " } else { "FAIL" };
            let status = c.status.map(|s| format!("HTTP {s}, ")).unwrap_or_default();
            writeln!(
                f,
                "  {mark} {:<9} {}  {status}{} ({} ms)",
                c.name, c.url, c.detail, c.millis
            )?;
        }
        Ok(())
    }
}

/// Why a check failed, and the status seen on the way, if any.
struct Failure {
    status: Option<u16>,
    detail: String,
}

impl Failure {
    fn new(detail: impl Into<String>) -> Self {
        Self {
            status: None,
            detail: detail.into(),
        }
    }
}

/// Runs `work` under `timeout` and times it.
async fn timed<F>(name: &'static str, url: &str, timeout: Duration, work: F) -> Check
where
    F: std::future::Future<Output = Result<u16, Failure>>,
{
    let started = Instant::now();
    let outcome = tokio::time::timeout(timeout, work).await;
    let millis = started.elapsed().as_millis() as u64;
    let (passed, status, detail) = match outcome {
        Ok(Ok(status)) => (true, Some(status), "ok".to_owned()),
        Ok(Err(f)) => (false, f.status, f.detail),
        Err(_) => (
            false,
            None,
            format!("no answer within {} s", timeout.as_secs_f64()),
        ),
    };
    Check {
        name,
        url: url.to_owned(),
        passed,
        status,
        detail,
        millis,
    }
}

/// Runs the three checks at once; `signer` signs the broadcast (none: that check fails).
pub async fn run_checks(
    endpoints: &Endpoints,
    http: &reqwest::Client,
    signer: Option<&Signer>,
    timeout: Duration,
) -> SmokeReport {
    let started = Instant::now();
    let (health, websocket, broadcast) = tokio::join!(
        timed(
            "healthz",
            &endpoints.health,
            timeout,
            check_health(http, &endpoints.health)
        ),
        websocket_check(&endpoints.websocket, timeout),
        timed(
            "broadcast",
            &endpoints.broadcast,
            timeout,
            check_broadcast(http, signer, &endpoints.broadcast)
        ),
    );
    let checks = vec![health, websocket, broadcast];
    SmokeReport {
        passed: checks.iter().all(|c| c.passed),
        checks,
        millis: started.elapsed().as_millis() as u64,
    }
}

/// The transport error with its causes ("error sending request: … Connection refused").
fn transport(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

async fn check_health(http: &reqwest::Client, url: &str) -> Result<u16, Failure> {
    let response = http
        .get(url)
        .send()
        .await
        .map_err(|e| Failure::new(transport(&e)))?;
    let status = response.status().as_u16();
    let body = response.bytes().await.unwrap_or_default();
    let answer: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if status != 200 {
        return Err(Failure {
            status: Some(status),
            detail: format!("expected 200, got {}", excerpt(&body)),
        });
    }
    if answer["status"] != "ok" {
        return Err(Failure {
            status: Some(status),
            detail: format!("expected {{\"status\":\"ok\"}}, got {}", excerpt(&body)),
        });
    }
    Ok(status)
}

fn excerpt(body: &[u8]) -> String {
    let text: String = String::from_utf8_lossy(body).chars().take(200).collect();
    if text.trim().is_empty() {
        "an empty body".to_owned()
    } else {
        text
    }
}

async fn check_broadcast(
    http: &reqwest::Client,
    signer: Option<&Signer>,
    url: &str,
) -> Result<u16, Failure> {
    let signer =
        signer.ok_or_else(|| Failure::new("no AWS credentials to sign the request with"))?;
    let body = json!({
        "type": "noteapp.smoke",
        "data": {"check": nonce()},
        "audience": {"owner": NOBODY},
    });
    let mut request = http::Request::post(url)
        .header("content-type", "application/json")
        .body(bytes::Bytes::from(body.to_string()))
        .map_err(|e| Failure::new(format!("not a valid URL: {e}")))?;
    signer
        .sign("execute-api", &mut request)
        .await
        .map_err(|e| Failure::new(e.to_string()))?;
    let request = reqwest::Request::try_from(request).map_err(|e| Failure::new(transport(&e)))?;
    let response = http
        .execute(request)
        .await
        .map_err(|e| Failure::new(transport(&e)))?;
    let status = response.status().as_u16();
    let body = response.bytes().await.unwrap_or_default();
    if status != 200 {
        return Err(Failure {
            status: Some(status),
            detail: format!("expected 200, got {}", excerpt(&body)),
        });
    }
    let answer: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if answer.get("results").is_none() {
        return Err(Failure {
            status: Some(status),
            detail: format!("the answer holds no broadcast results: {}", excerpt(&body)),
        });
    }
    Ok(status)
}

/// A value no other message carries: the process id and the time in nanoseconds.
fn nonce() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!("{}-{nanos}", std::process::id())
}

/// How far the WebSocket check got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Connecting,
    Upgrading,
    AwaitingEcho,
}

/// The WebSocket check: its timeout says which stage it stopped at.
async fn websocket_check(url: &str, timeout: Duration) -> Check {
    let mut stage = Stage::Connecting;
    let started = Instant::now();
    let outcome = tokio::time::timeout(timeout, check_websocket(url, &mut stage)).await;
    let millis = started.elapsed().as_millis() as u64;
    let within = timeout.as_secs_f64();
    let (passed, status, detail) = match outcome {
        Ok(Ok(status)) => (true, Some(status), "ok".to_owned()),
        Ok(Err(f)) => (false, f.status, f.detail),
        Err(_) => match stage {
            Stage::Connecting => (false, None, format!("no connection within {within} s")),
            Stage::Upgrading => (false, None, format!("no upgrade within {within} s")),
            Stage::AwaitingEcho => (
                false,
                Some(101),
                format!("connected, but no echo within {within} s"),
            ),
        },
    };
    Check {
        name: "websocket",
        url: url.to_owned(),
        passed,
        status,
        detail,
        millis,
    }
}

async fn check_websocket(url: &str, stage: &mut Stage) -> Result<u16, Failure> {
    let uri: http::Uri = url
        .parse()
        .map_err(|e| Failure::new(format!("not a valid URL: {e}")))?;
    let secure = match uri.scheme_str() {
        Some("wss") => true,
        Some("ws") => false,
        _ => return Err(Failure::new("expected a ws:// or wss:// URL")),
    };
    let host = uri
        .host()
        .ok_or_else(|| Failure::new("the URL has no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
    let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| Failure::new(format!("cannot connect: {e}")))?;
    *stage = Stage::Upgrading;
    let request = url
        .into_client_request()
        .map_err(|e| Failure::new(format!("not a valid WebSocket URL: {e}")))?;
    if !secure {
        return exchange(request, tcp, stage).await;
    }
    let name = rustls::pki_types::ServerName::try_from(host)
        .map_err(|e| Failure::new(format!("not a valid TLS server name: {e}")))?;
    let tls = tokio_rustls::TlsConnector::from(tls_config()?)
        .connect(name, tcp)
        .await
        .map_err(|e| Failure::new(format!("TLS handshake failed: {e}")))?;
    exchange(request, tls, stage).await
}

/// TLS with the bundled web PKI roots, on ring (as the runtime's HTTPS client).
fn tls_config() -> Result<Arc<rustls::ClientConfig>, Failure> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(webpki_root_certs::TLS_SERVER_ROOT_CERTS.iter().cloned());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Failure::new(format!("cannot set up TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The upgrade, then one message out and its echo back.
async fn exchange<S>(
    request: tungstenite::handshake::client::Request,
    stream: S,
    stage: &mut Stage,
) -> Result<u16, Failure>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (mut socket, response) = match tokio_tungstenite::client_async(request, stream).await {
        Ok(done) => done,
        Err(tungstenite::Error::Http(response)) => {
            let body = response.body().as_deref().unwrap_or_default();
            return Err(Failure {
                status: Some(response.status().as_u16()),
                detail: format!("the upgrade was refused: {}", excerpt(body)),
            });
        }
        Err(e) => return Err(Failure::new(format!("the upgrade failed: {e}"))),
    };
    *stage = Stage::AwaitingEcho;
    let status = response.status().as_u16();
    let nonce = nonce();
    let message = json!({"smoke": nonce}).to_string();
    socket
        .send(Message::text(message))
        .await
        .map_err(|e| Failure {
            status: Some(status),
            detail: format!("cannot send on the connection: {e}"),
        })?;
    while let Some(received) = socket.next().await {
        let text = match received {
            Ok(Message::Text(text)) => text,
            Ok(Message::Close(frame)) => {
                let why = frame.map(|f| format!(" ({} {})", f.code, f.reason));
                return Err(Failure {
                    status: Some(status),
                    detail: format!(
                        "the connection was closed before the echo came{}",
                        why.unwrap_or_default()
                    ),
                });
            }
            Ok(_) => continue,
            Err(e) => {
                return Err(Failure {
                    status: Some(status),
                    detail: format!("the connection failed before the echo came: {e}"),
                });
            }
        };
        let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if answer["type"] == "echo" && answer["data"]["original"]["smoke"] == nonce.as_str() {
            let _ = socket.close(None).await;
            return Ok(status);
        }
        if answer["type"] == "error" {
            return Err(Failure {
                status: Some(status),
                detail: format!("the $default route answered an error: {}", text.as_str()),
            });
        }
    }
    Err(Failure {
        status: Some(status),
        detail: "the connection ended before the echo came".into(),
    })
}
