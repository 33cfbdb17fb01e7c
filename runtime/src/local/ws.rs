//! The WebSocket side of the local gateway: what API Gateway v2 does for a WebSocket API.
//!
//! On one port it accepts WebSocket upgrades and calls `$connect` (a non-200 answer refuses the
//! upgrade), `$default` for each message and `$disconnect` when the socket ends, with the same
//! event payloads API Gateway sends (built in [`super::ws_events`]). The management API (`POST/GET/DELETE /@connections/{id}`)
//! delivers to sockets, answering 410 for unknown or closed ones and 413 over 128 KB, exactly as
//! the handlers see it in AWS. `POST /websocket/broadcast` stands in for the IAM-authorized HTTP
//! route: it needs the local operator token (`noteapp local token --operator`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

use base64::Engine as _;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{HeaderMap, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use subtle::ConstantTimeEq as _;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{
    CloseFrame, Role, WebSocketConfig, frame::coding::CloseCode,
};

use super::ws_events::{Peer, broadcast_event, connect_event, disconnect_event, message_event};
use crate::api::ApiError;
use crate::ws::messages::MAX_MESSAGE_BYTES;
use crate::ws::{WsContext, broadcast, epoch_millis, handlers};

/// Something to write to a socket.
enum Outbound {
    Data(Bytes),
    Close,
}

struct Socket {
    tx: mpsc::UnboundedSender<Outbound>,
    connected_at: i64,
    last_active: AtomicI64,
    source_ip: String,
    user_agent: String,
}

/// The live sockets, by connection id.
#[derive(Default)]
struct Sockets(RwLock<HashMap<String, Arc<Socket>>>);

impl Sockets {
    fn get(&self, id: &str) -> Option<Arc<Socket>> {
        self.0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
    }
    fn insert(&self, id: String, socket: Arc<Socket>) {
        self.0
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, socket);
    }
    fn remove(&self, id: &str) {
        self.0.write().unwrap_or_else(|e| e.into_inner()).remove(id);
    }
    fn len(&self) -> usize {
        self.0.read().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// The WebSocket API, its management API and the broadcast route, on one listener.
pub struct WsGateway {
    ctx: WsContext,
    operator_token: String,
    stage: String,
    sockets: Sockets,
}

type Reply = Response<Full<Bytes>>;

fn json_reply(status: StatusCode, body: &Value) -> Reply {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap_or_default()
}

/// A management API error, shaped as API Gateway answers it (the SDK reads the error type).
fn management_error(status: StatusCode, kind: &str, message: &str) -> Reply {
    let mut reply = json_reply(status, &json!({"message": message}));
    if let Ok(value) = kind.parse() {
        reply.headers_mut().insert("x-amzn-errortype", value);
    }
    reply
}

fn error_reply(error: ApiError) -> Reply {
    json_reply(error.status, &error.body())
}

/// A random connection id shaped like API Gateway's (16 base64 characters ending in `=`).
fn new_connection_id() -> String {
    let bytes: [u8; 12] = rand::random();
    let mut id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    id.push('=');
    id
}

/// `text` with its `%XX` escapes decoded, as a path segment: `+` stays `+`, a `%` not followed
/// by two hex digits stays as it is, and bytes that are not UTF-8 become U+FFFD.
fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

impl WsGateway {
    /// A gateway running the handlers with `ctx`, its broadcast route open to `operator_token`,
    /// its events naming `stage`.
    pub fn new(ctx: WsContext, operator_token: String, stage: impl Into<String>) -> Self {
        Self {
            ctx,
            operator_token,
            stage: stage.into(),
            sockets: Sockets::default(),
        }
    }

    /// The number of open sockets.
    pub fn open_sockets(&self) -> usize {
        self.sockets.len()
    }

    /// Accepts connections on `listener` until the task is dropped.
    pub async fn serve(self: Arc<Self>, listener: TcpListener) -> std::io::Result<()> {
        loop {
            let (stream, peer) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            let gateway = self.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let gateway = gateway.clone();
                    async move { Ok::<_, std::convert::Infallible>(gateway.answer(req, peer).await) }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades()
                    .await;
            });
        }
    }

    async fn answer(self: Arc<Self>, request: Request<Incoming>, peer: SocketAddr) -> Reply {
        let path = request.uri().path().to_string();
        let is_upgrade = request
            .headers()
            .get(header::UPGRADE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
        if is_upgrade {
            return self.upgrade(request, peer).await;
        }
        if let Some(id) = path.strip_prefix("/@connections/") {
            let id = percent_decode(id);
            return self.manage(request, &id).await;
        }
        if path == "/websocket/broadcast" && request.method() == Method::POST {
            return self.broadcast(request, peer).await;
        }
        error_reply(ApiError::not_found())
    }

    async fn upgrade(self: Arc<Self>, request: Request<Incoming>, peer: SocketAddr) -> Reply {
        let Some(key) = request.headers().get("sec-websocket-key").cloned() else {
            return error_reply(ApiError::bad_request("missing Sec-WebSocket-Key"));
        };
        let id = new_connection_id();
        let connected_at = epoch_millis();
        let user_agent = request
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let source_ip = peer.ip().to_string();
        let peer_info = Peer {
            source_ip: &source_ip,
            user_agent: &user_agent,
        };
        let event = connect_event(
            &self.stage,
            &id,
            connected_at,
            request.headers(),
            request.uri().query(),
            peer_info,
        );
        let answer = handlers::connect(&self.ctx, &event).await;
        let status = answer
            .get("statusCode")
            .and_then(Value::as_u64)
            .unwrap_or(500) as u16;
        if status != 200 {
            let body = answer
                .get("body")
                .and_then(Value::as_str)
                .unwrap_or("{}")
                .to_string();
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return Response::builder()
                .status(status)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Full::new(Bytes::from(body)))
                .unwrap_or_default();
        }
        // Register before answering 101: a post that races the handshake is queued, not 410.
        let (tx, rx) = mpsc::unbounded_channel();
        let socket = Arc::new(Socket {
            tx,
            connected_at,
            last_active: AtomicI64::new(connected_at),
            source_ip,
            user_agent,
        });
        self.sockets.insert(id.clone(), socket.clone());
        let gateway = self.clone();
        tokio::spawn(async move {
            match hyper::upgrade::on(request).await {
                Ok(upgraded) => {
                    let config = WebSocketConfig::default()
                        .read_buffer_size(4 * 1024)
                        .write_buffer_size(0)
                        .max_message_size(Some(MAX_MESSAGE_BYTES))
                        .max_frame_size(Some(MAX_MESSAGE_BYTES));
                    let ws = WebSocketStream::from_raw_socket(
                        TokioIo::new(upgraded),
                        Role::Server,
                        Some(config),
                    )
                    .await;
                    gateway.run_socket(&id, socket, ws, rx).await;
                }
                Err(e) => {
                    tracing::debug!(error = %e, "upgrade failed");
                    gateway.finish(&id, &socket, 1006, "upgrade failed").await;
                }
            }
        });
        Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header(header::UPGRADE, "websocket")
            .header(header::CONNECTION, "Upgrade")
            .header("sec-websocket-accept", derive_accept_key(key.as_bytes()))
            .body(Full::new(Bytes::new()))
            .unwrap_or_default()
    }

    async fn run_socket<S>(
        &self,
        id: &str,
        socket: Arc<Socket>,
        mut ws: WebSocketStream<S>,
        mut rx: mpsc::UnboundedReceiver<Outbound>,
    ) where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        let (code, reason) = loop {
            tokio::select! {
                incoming = ws.next() => match incoming {
                    Some(Ok(Message::Text(text))) => self.message(id, &socket, text.as_str().to_string(), false).await,
                    Some(Ok(Message::Binary(data))) => {
                        let body = base64::engine::general_purpose::STANDARD.encode(&data);
                        self.message(id, &socket, body, true).await;
                    }
                    Some(Ok(Message::Close(frame))) => {
                        break frame.map(|f| (u16::from(f.code), f.reason.to_string())).unwrap_or((1005, String::new()));
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => break (1006, e.to_string()),
                    None => break (1006, "connection lost".to_string()),
                },
                outgoing = rx.recv() => match outgoing {
                    Some(Outbound::Data(data)) => {
                        let message = match std::str::from_utf8(&data) {
                            Ok(text) => Message::text(text),
                            Err(_) => Message::binary(data),
                        };
                        if ws.send(message).await.is_err() {
                            break (1006, "send failed".to_string());
                        }
                    }
                    Some(Outbound::Close) | None => {
                        let frame = CloseFrame { code: CloseCode::Normal, reason: "Going away".into() };
                        let _ = ws.send(Message::Close(Some(frame))).await;
                        break (1000, "closed by the management API".to_string());
                    }
                },
            }
        };
        let _ = ws.close(None).await;
        self.finish(id, &socket, code, &reason).await;
    }

    async fn message(&self, id: &str, socket: &Socket, body: String, base64: bool) {
        socket.last_active.store(epoch_millis(), Ordering::Relaxed);
        let peer = Peer {
            source_ip: &socket.source_ip,
            user_agent: &socket.user_agent,
        };
        let event = message_event(&self.stage, id, socket.connected_at, peer, &body, base64);
        handlers::default(&self.ctx, &event).await;
    }

    async fn finish(&self, id: &str, socket: &Socket, code: u16, reason: &str) {
        self.sockets.remove(id);
        let peer = Peer {
            source_ip: &socket.source_ip,
            user_agent: &socket.user_agent,
        };
        let event = disconnect_event(&self.stage, id, socket.connected_at, peer, code, reason);
        handlers::disconnect(&self.ctx, &event).await;
    }

    async fn manage(&self, request: Request<Incoming>, id: &str) -> Reply {
        let method = request.method().clone();
        let Some(socket) = self.sockets.get(id) else {
            return management_error(StatusCode::GONE, "GoneException", "the connection is gone");
        };
        match method {
            Method::POST => {
                let data = match Limited::new(request.into_body(), MAX_MESSAGE_BYTES)
                    .collect()
                    .await
                {
                    Ok(body) => body.to_bytes(),
                    Err(_) => {
                        return management_error(
                            StatusCode::PAYLOAD_TOO_LARGE,
                            "PayloadTooLargeException",
                            "the message is larger than 128 KB",
                        );
                    }
                };
                if socket.tx.send(Outbound::Data(data)).is_err() {
                    return management_error(
                        StatusCode::GONE,
                        "GoneException",
                        "the connection is gone",
                    );
                }
                Response::new(Full::new(Bytes::new()))
            }
            Method::GET => {
                let iso = |ms: i64| {
                    chrono::DateTime::from_timestamp_millis(ms)
                        .map(crate::domain::format_time)
                        .unwrap_or_default()
                };
                json_reply(
                    StatusCode::OK,
                    &json!({
                        "connectedAt": iso(socket.connected_at),
                        "lastActiveAt": iso(socket.last_active.load(Ordering::Relaxed)),
                        "identity": {"sourceIp": socket.source_ip, "userAgent": socket.user_agent},
                    }),
                )
            }
            Method::DELETE => {
                let _ = socket.tx.send(Outbound::Close);
                Response::builder()
                    .status(StatusCode::NO_CONTENT)
                    .body(Full::new(Bytes::new()))
                    .unwrap_or_default()
            }
            _ => management_error(
                StatusCode::METHOD_NOT_ALLOWED,
                "BadRequestException",
                "use POST, GET or DELETE",
            ),
        }
    }

    fn operator_authorized(&self, headers: &HeaderMap) -> bool {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        constant_time_eq(given.as_bytes(), self.operator_token.as_bytes())
    }

    async fn broadcast(&self, request: Request<Incoming>, peer: SocketAddr) -> Reply {
        if !self.operator_authorized(request.headers()) {
            return error_reply(ApiError::forbidden(
                "broadcast needs the operator credential: Authorization: Bearer $(noteapp local token --operator)",
            ));
        }
        let (parts, body) = request.into_parts();
        let body = match Limited::new(body, 2 * MAX_MESSAGE_BYTES).collect().await {
            Ok(body) => body.to_bytes(),
            Err(_) => {
                return error_reply(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "PAYLOAD_TOO_LARGE",
                    "the message is larger than 128 KB",
                ));
            }
        };
        let event = broadcast_event(&parts.headers, &peer.ip().to_string(), &body);
        // An HTTP event: always answered (failures are in the answer).
        let answer = broadcast::handle(&self.ctx, &event, None)
            .await
            .unwrap_or_else(|_| ApiError::internal_with("Broadcast failed").into_proxy());
        let status = answer
            .get("statusCode")
            .and_then(Value::as_u64)
            .unwrap_or(500) as u16;
        let body = answer
            .get("body")
            .and_then(Value::as_str)
            .unwrap_or("{}")
            .to_string();
        Response::builder()
            .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))
            .unwrap_or_default()
    }
}

/// Whether `given` is `expected`, in a time that does not depend on where they differ (only on
/// their lengths). An empty `expected` matches nothing.
fn constant_time_eq(given: &[u8], expected: &[u8]) -> bool {
    !expected.is_empty() && bool::from(given.ct_eq(expected))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_ids_look_like_api_gateways() {
        let id = new_connection_id();
        assert_eq!(id.len(), 17);
        assert!(id.ends_with('='));
        assert_ne!(id, new_connection_id());
    }

    #[test]
    fn percent_encoded_ids_are_decoded() {
        assert_eq!(percent_decode("abc%3D"), "abc=");
        assert_eq!(percent_decode("a%2Fb"), "a/b");
        assert_eq!(percent_decode("plain"), "plain");
        assert_eq!(percent_decode("bad%zz"), "bad%zz");
        assert_eq!(percent_decode("a+b%2B"), "a+b+");
        assert_eq!(percent_decode("end%4"), "end%4");
    }

    #[test]
    fn the_operator_token_is_compared_exactly() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secreT", b"secret"));
        assert!(!constant_time_eq(b"", b""));
        assert!(!constant_time_eq(b"secret!", b"secret"));
        assert!(!constant_time_eq(b"", b"secret"));
    }
}
