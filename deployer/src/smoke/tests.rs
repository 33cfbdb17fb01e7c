//! The smoke check against loopback stand-ins of the live endpoints: a Function URL answering
//! `/healthz`, a WebSocket stage that echoes (or refuses the upgrade, or never answers), and a
//! broadcast route that wants a SigV4 signature.

use std::sync::{Arc, Mutex};

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;

/// How the stand-in WebSocket stage behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// As API Gateway with the `$default` handler: every message echoed back.
    Echo,
    /// The upgrade answered 403, as API Gateway does when `$connect` refuses.
    Refuse,
    /// Connected, then silent.
    Silent,
}

/// Loopback stand-ins of a stack's three endpoints.
pub(crate) struct StandIns {
    pub endpoints: Endpoints,
    /// The `authorization` header of each broadcast request.
    pub signatures: Arc<Mutex<Vec<String>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for StandIns {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Reads one HTTP/1.1 request (head and `content-length` body) off `socket`.
async fn read_request(socket: &mut tokio::net::TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + length {
                return Some(text);
            }
        }
    }
}

async fn respond(socket: &mut tokio::net::TcpStream, status: u16, body: &str) {
    let response = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = socket.write_all(response.as_bytes()).await;
    let _ = socket.shutdown().await;
}

impl StandIns {
    /// The Function URL answers `/healthz` with `health` (status, body); the stage behaves as
    /// `stage`; the broadcast route answers 200 to a signed request and 403 otherwise.
    pub(crate) async fn start(health: (u16, &'static str), stage: Stage) -> Self {
        let http = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let ws = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (http_addr, ws_addr) = (http.local_addr().unwrap(), ws.local_addr().unwrap());
        let signatures: Arc<Mutex<Vec<String>>> = Arc::default();
        let kept = signatures.clone();
        let http_task = tokio::spawn(async move {
            while let Ok((mut socket, _)) = http.accept().await {
                let kept = kept.clone();
                tokio::spawn(async move {
                    let Some(request) = read_request(&mut socket).await else {
                        return;
                    };
                    if request.starts_with("GET /healthz ") {
                        return respond(&mut socket, health.0, health.1).await;
                    }
                    let signature = request
                        .lines()
                        .find_map(|l| l.strip_prefix("authorization: "))
                        .unwrap_or_default()
                        .to_owned();
                    let signed = signature.starts_with("AWS4-HMAC-SHA256 ");
                    kept.lock().unwrap().push(signature);
                    if request.starts_with("POST /websocket/broadcast ") && signed {
                        let body = r#"{"message":"Broadcast completed","results":{"totalConnections":0,"sent":0,"failed":0,"staleRemoved":0}}"#;
                        respond(&mut socket, 200, body).await
                    } else {
                        respond(&mut socket, 403, r#"{"message":"Forbidden"}"#).await
                    }
                });
            }
        });
        let ws_task = tokio::spawn(async move {
            while let Ok((mut socket, _)) = ws.accept().await {
                tokio::spawn(async move {
                    if stage == Stage::Refuse {
                        read_request(&mut socket).await;
                        return respond(&mut socket, 403, r#"{"message":"Forbidden"}"#).await;
                    }
                    let Ok(mut socket) = tokio_tungstenite::accept_async(socket).await else {
                        return;
                    };
                    while let Some(Ok(message)) = socket.next().await {
                        let Message::Text(text) = message else {
                            continue;
                        };
                        if stage == Stage::Silent {
                            continue;
                        }
                        let original: Value = serde_json::from_str(&text).unwrap();
                        let echo = json!({
                            "type": "echo",
                            "data": {"message": "Message received", "original": original, "connectionId": "Z1x9cd"},
                            "timestamp": "2026-11-03T16:43:12.000Z",
                        });
                        let _ = socket.send(Message::text(echo.to_string())).await;
                    }
                });
            }
        });
        Self {
            endpoints: Endpoints {
                health: format!("http://{http_addr}/healthz"),
                websocket: format!("ws://{ws_addr}/staging"),
                broadcast: format!("http://{http_addr}/websocket/broadcast"),
            },
            signatures,
            tasks: vec![http_task, ws_task],
        }
    }

    /// The stack outputs naming these endpoints, as `noteapp outputs` shows them.
    pub(crate) fn outputs(&self) -> BTreeMap<String, String> {
        let function_url = self.endpoints.health.trim_end_matches("healthz");
        BTreeMap::from([
            (HEALTH_OUTPUT.to_owned(), function_url.to_owned()),
            (
                WEBSOCKET_OUTPUT.to_owned(),
                self.endpoints.websocket.clone(),
            ),
            (
                BROADCAST_OUTPUT.to_owned(),
                self.endpoints.broadcast.clone(),
            ),
        ])
    }
}

pub(crate) const HEALTHY: (u16, &str) = (200, r#"{"status":"ok"}"#);

pub(crate) fn signer() -> Signer {
    let credentials = Credentials::new("AKIDEXAMPLE", "secret", None, None, "test");
    Signer::new(SharedCredentialsProvider::new(credentials), "eu-west-1")
}

fn failed<'a>(report: &'a SmokeReport, name: &str) -> &'a Check {
    let check = report.checks.iter().find(|c| c.name == name).unwrap();
    assert!(!check.passed, "{report}");
    check
}

/// The failure's exit code is 1 and its message names the URL.
fn assert_fails_naming(report: &SmokeReport, url: &str, words: &str) {
    assert!(!report.passed, "{report}");
    let err = report.check("staging").unwrap_err();
    assert_eq!(err.exit_code(), crate::EXIT_FAILURE);
    let text = err.to_string();
    assert!(text.contains(url) && text.contains(words), "{text}");
    assert!(text.contains(" ms)"), "the time taken is named: {text}");
}

#[tokio::test]
async fn a_healthy_stack_passes_every_check_with_a_signed_broadcast() {
    let stand_ins = StandIns::start(HEALTHY, Stage::Echo).await;
    let endpoints = Endpoints::from_outputs("noteapp-staging", &stand_ins.outputs()).unwrap();
    assert_eq!(endpoints, stand_ins.endpoints);
    let signer = signer();
    let report = run_checks(&endpoints, Some(&signer), Duration::from_secs(5)).await;
    assert!(report.passed, "{report}");
    assert!(report.check("staging").is_ok());
    let statuses: Vec<_> = report.checks.iter().map(|c| (c.name, c.status)).collect();
    assert_eq!(
        statuses,
        [
            ("healthz", Some(200)),
            ("websocket", Some(101)),
            ("broadcast", Some(200))
        ]
    );
    let signatures = stand_ins.signatures.lock().unwrap().clone();
    assert_eq!(signatures.len(), 1);
    assert!(
        signatures[0].contains("/eu-west-1/execute-api/aws4_request"),
        "{signatures:?}"
    );
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["passed"], true);
    assert_eq!(json["checks"][0]["url"], endpoints.health.as_str());
    assert!(
        report.to_string().contains("smoke check passed"),
        "{report}"
    );
}

#[tokio::test]
async fn a_5xx_from_healthz_fails_naming_the_url_and_status() {
    let stand_ins =
        StandIns::start((502, r#"{"message":"Internal Server Error"}"#), Stage::Echo).await;
    let report = run_checks(
        &stand_ins.endpoints,
        Some(&signer()),
        Duration::from_secs(5),
    )
    .await;
    let check = failed(&report, "healthz");
    assert_eq!(check.status, Some(502));
    assert_fails_naming(
        &report,
        &stand_ins.endpoints.health,
        "Internal Server Error",
    );
    assert!(report.to_string().contains("HTTP 502"), "{report}");
}

#[tokio::test]
async fn a_refused_connection_fails_every_check_naming_its_url() {
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let endpoints = Endpoints {
        health: format!("http://{addr}/healthz"),
        websocket: format!("ws://{addr}/staging"),
        broadcast: format!("http://{addr}/websocket/broadcast"),
    };
    let report = run_checks(&endpoints, Some(&signer()), Duration::from_secs(5)).await;
    for check in &report.checks {
        assert!(!check.passed && check.status.is_none(), "{report}");
        assert!(
            check.detail.to_lowercase().contains("connection refused"),
            "{report}"
        );
    }
    assert_fails_naming(&report, &endpoints.health, "refused");
    assert_fails_naming(&report, &endpoints.websocket, "cannot connect");
}

#[tokio::test]
async fn a_websocket_refusing_the_upgrade_fails_naming_the_url_and_status() {
    let stand_ins = StandIns::start(HEALTHY, Stage::Refuse).await;
    let report = run_checks(
        &stand_ins.endpoints,
        Some(&signer()),
        Duration::from_secs(5),
    )
    .await;
    let check = failed(&report, "websocket");
    assert_eq!(check.status, Some(403));
    assert!(check.detail.contains("the upgrade was refused"), "{report}");
    assert!(report.checks.iter().filter(|c| c.passed).count() == 2);
    assert_fails_naming(&report, &stand_ins.endpoints.websocket, "refused");
}

#[tokio::test]
async fn an_echo_that_never_arrives_fails_within_the_timeout() {
    let stand_ins = StandIns::start(HEALTHY, Stage::Silent).await;
    let timeout = Duration::from_millis(400);
    let started = Instant::now();
    let report = run_checks(&stand_ins.endpoints, Some(&signer()), timeout).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let check = failed(&report, "websocket");
    assert_eq!(check.detail, "connected, but no echo within 0.4 s");
    assert!(check.millis >= 400, "{report}");
    assert_fails_naming(&report, &stand_ins.endpoints.websocket, "no echo");
}

#[tokio::test]
async fn a_broadcast_without_credentials_or_refused_unsigned_fails() {
    let stand_ins = StandIns::start(HEALTHY, Stage::Echo).await;
    let report = run_checks(&stand_ins.endpoints, None, Duration::from_secs(5)).await;
    let check = failed(&report, "broadcast");
    assert!(check.detail.contains("no AWS credentials"), "{report}");
    assert_fails_naming(&report, &stand_ins.endpoints.broadcast, "credentials");
}

#[test]
fn a_missing_output_is_named() {
    let mut outputs = BTreeMap::from([(
        HEALTH_OUTPUT.to_owned(),
        "https://x.lambda-url.eu-west-1.on.aws/".to_owned(),
    )]);
    let err = Endpoints::from_outputs("noteapp-staging", &outputs).unwrap_err();
    assert!(err.to_string().contains("no WebSocketURL output"), "{err}");
    outputs.insert(WEBSOCKET_OUTPUT.into(), "wss://y/staging".into());
    outputs.insert(
        BROADCAST_OUTPUT.into(),
        "https://z/websocket/broadcast".into(),
    );
    let endpoints = Endpoints::from_outputs("noteapp-staging", &outputs).unwrap();
    assert_eq!(
        endpoints.health,
        "https://x.lambda-url.eu-west-1.on.aws/healthz"
    );
}
