//! Loopback stand-ins of a live stack's three endpoints, for the smoke check's tests and its
//! benchmark (`benches/smoke.rs`): a Function URL answering `/healthz`, a WebSocket stage that
//! echoes (or refuses the upgrade, or never answers) as API Gateway's `$default` route does, and
//! the IAM-authorized broadcast route, which admits a request as API Gateway does: its SigV4
//! signature recomputed with the secret of the key it names, and the identity owning that key
//! allowed `execute-api:Invoke` on the route by its policies (the test kit's decision, with the
//! replay tests' identities). Nothing here talks to AWS.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use noteapp_runtime::aws_http::Signer;
use noteapp_test_support::kit::Endpoint;
use noteapp_test_support::loopback::{Reply, Server};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

use super::{BROADCAST_OUTPUT, Endpoints, HEALTH_OUTPUT, WEBSOCKET_OUTPUT};

/// How the stand-in WebSocket stage behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// As API Gateway with the `$default` handler: every message echoed back.
    Echo,
    /// The upgrade answered 403, as API Gateway does when `$connect` refuses.
    Refuse,
    /// Connected, then silent.
    Silent,
}

/// The id the stand-in broadcast API plays (the route's `execute-api` ARN names it).
pub const BROADCAST_API: &str = "b7cast0001";

/// Loopback stand-ins of a stack's three endpoints.
pub struct StandIns {
    /// Where the stand-ins listen, as the smoke check would read them from the stack outputs.
    pub endpoints: Endpoints,
    /// The `authorization` header of each broadcast request.
    pub signatures: Arc<Mutex<Vec<String>>>,
    _http: Server,
    ws_task: tokio::task::JoinHandle<()>,
}

impl Drop for StandIns {
    fn drop(&mut self) {
        self.ws_task.abort();
    }
}

/// The API Gateway answer to a WebSocket upgrade `$connect` refused, on the raw socket.
async fn refuse_upgrade(socket: &mut tokio::net::TcpStream) {
    let mut head = Vec::new();
    let mut chunk = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match socket.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&chunk[..n]),
        }
    }
    let body = r#"{"message":"Forbidden"}"#;
    let response = format!(
        "HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = socket.write_all(response.as_bytes()).await;
    let _ = socket.shutdown().await;
}

impl StandIns {
    /// The Function URL answers `/healthz` with `health` (status, body); the stage behaves as
    /// `stage`; the broadcast route answers 200 to a signed request and 403 otherwise.
    pub async fn start(health: (u16, &'static str), stage: Stage) -> Self {
        let ws = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let ws_addr = ws.local_addr().unwrap();
        let signatures: Arc<Mutex<Vec<String>>> = Arc::default();
        let kept = signatures.clone();
        let kit = crate::aws::replay::kit();
        let http = Server::answering(move |request| {
            if request.method == "GET" && request.path() == "/healthz" {
                return Reply::json(health.0, health.1);
            }
            let signature = request.header("authorization").unwrap_or_default().to_owned();
            kept.lock().unwrap().push(signature);
            let endpoint = Endpoint::ExecuteApi {
                api: BROADCAST_API,
                stage: "$default",
            };
            if let Err(refusal) = kit.admit(request, endpoint) {
                return refusal;
            }
            if request.method == "POST" && request.path() == "/websocket/broadcast" {
                let body = r#"{"message":"Broadcast completed","results":{"totalConnections":0,"sent":0,"failed":0,"staleRemoved":0}}"#;
                Reply::json(200, body)
            } else {
                Reply::json(404, r#"{"message":"Not Found"}"#)
            }
        })
        .await;
        let ws_task = tokio::spawn(async move {
            while let Ok((mut socket, _)) = ws.accept().await {
                tokio::spawn(async move {
                    if stage == Stage::Refuse {
                        return refuse_upgrade(&mut socket).await;
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
                health: format!("{}/healthz", http.url),
                websocket: format!("ws://{ws_addr}/staging"),
                broadcast: format!("{}/websocket/broadcast", http.url),
            },
            signatures,
            _http: http,
            ws_task,
        }
    }

    /// The stack outputs naming these endpoints, as `noteapp outputs` shows them.
    pub fn outputs(&self) -> BTreeMap<String, String> {
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

/// The `/healthz` answer of a healthy Function URL, for [`StandIns::start`].
pub const HEALTHY: (u16, &str) = (200, r#"{"status":"ok"}"#);

/// A signer for the replay tests' deployer (`replay::DEPLOYER`): a person holding the deploy
/// policy.
pub fn signer() -> Signer {
    crate::aws::replay::signer(crate::aws::replay::DEPLOYER)
}
