//! API Gateway's WebSocket events, built for the local gateway as AWS builds them.
//!
//! The WebSocket API invokes `$connect` with the upgrade request's headers and query string,
//! `$default` with each message and `$disconnect` with the close code; the broadcast route is an
//! HTTP API (payload 2.0) route whose IAM authorizer names the caller. These functions build
//! those payloads, with every key AWS sends (the `requestContext` included), so the handlers
//! run locally on what they receive in AWS; `tests/events.rs` checks them against the events
//! AWS sends, kept under `tests/data/`. [`super::function_url`] does the same for the notes
//! API's Function URL events.

use http::HeaderMap;
use serde_json::{Map, Value, json};

fn headers_json(headers: &HeaderMap) -> (Value, Value) {
    let mut single = Map::new();
    let mut multi: Map<String, Value> = Map::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        single.insert(name.as_str().to_string(), Value::String(value.clone()));
        match multi.get_mut(name.as_str()) {
            Some(Value::Array(list)) => list.push(Value::String(value)),
            _ => {
                multi.insert(name.as_str().to_string(), json!([value]));
            }
        }
    }
    (Value::Object(single), Value::Object(multi))
}

/// Who is on the other end of a socket, as API Gateway reports it in `requestContext.identity`.
#[derive(Debug, Clone, Copy)]
pub struct Peer<'a> {
    /// The client's IP address.
    pub source_ip: &'a str,
    /// The `User-Agent` of the upgrade request (empty when it had none).
    pub user_agent: &'a str,
}

/// The `requestContext` API Gateway sends with every WebSocket event.
fn request_context(
    stage: &str,
    id: &str,
    route: &str,
    event_type: &str,
    connected_at: i64,
    peer: Peer<'_>,
) -> Value {
    let now = chrono::Utc::now();
    json!({
        "routeKey": route,
        "eventType": event_type,
        "extendedRequestId": uuid::Uuid::new_v4().to_string(),
        "requestTime": now.format("%d/%b/%Y:%H:%M:%S +0000").to_string(),
        "messageDirection": "IN",
        "stage": stage,
        "connectedAt": connected_at,
        "requestTimeEpoch": now.timestamp_millis(),
        "identity": {"sourceIp": peer.source_ip, "userAgent": peer.user_agent},
        "requestId": uuid::Uuid::new_v4().to_string(),
        "domainName": "127.0.0.1",
        "connectionId": id,
        "apiId": "local",
    })
}

/// The `$connect` event for an upgrade request with `headers` and `query`, as API Gateway
/// sends it.
pub fn connect_event(
    stage: &str,
    id: &str,
    connected_at: i64,
    headers: &HeaderMap,
    query: Option<&str>,
    peer: Peer<'_>,
) -> Value {
    let (headers, multi_headers) = headers_json(headers);
    let mut single = Map::new();
    let mut multi: Map<String, Value> = Map::new();
    for (k, v) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        single.insert(k.to_string(), Value::String(v.to_string()));
        match multi.get_mut(k.as_ref()) {
            Some(Value::Array(list)) => list.push(Value::String(v.into_owned())),
            _ => {
                multi.insert(k.into_owned(), json!([v]));
            }
        }
    }
    let mut event = json!({
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "requestContext": request_context(stage, id, "$connect", "CONNECT", connected_at, peer),
        "isBase64Encoded": false,
    });
    if !single.is_empty() {
        event["queryStringParameters"] = Value::Object(single);
        event["multiValueQueryStringParameters"] = Value::Object(multi);
    }
    event
}

/// The `$default` event for one message on connection `id`.
pub fn message_event(
    stage: &str,
    id: &str,
    connected_at: i64,
    peer: Peer<'_>,
    body: &str,
    base64: bool,
) -> Value {
    let mut context = request_context(stage, id, "$default", "MESSAGE", connected_at, peer);
    context["messageId"] = json!(uuid::Uuid::new_v4().to_string());
    json!({"requestContext": context, "body": body, "isBase64Encoded": base64})
}

/// The `$disconnect` event for connection `id`, closed with `code` and `reason`.
pub fn disconnect_event(
    stage: &str,
    id: &str,
    connected_at: i64,
    peer: Peer<'_>,
    code: u16,
    reason: &str,
) -> Value {
    let mut context = request_context(stage, id, "$disconnect", "DISCONNECT", connected_at, peer);
    context["disconnectStatusCode"] = json!(code);
    context["disconnectReason"] = json!(reason);
    json!({"headers": {}, "multiValueHeaders": {}, "requestContext": context, "isBase64Encoded": false})
}

/// The HTTP API event of `POST /websocket/broadcast` from `source_ip` with `headers` and `body`,
/// as the IAM-authorized route delivers it (the caller is the local operator).
pub fn broadcast_event(headers: &HeaderMap, source_ip: &str, body: &[u8]) -> Value {
    let (headers, _) = headers_json(headers);
    let now = chrono::Utc::now();
    json!({
        "version": "2.0",
        "routeKey": "POST /websocket/broadcast",
        "rawPath": "/websocket/broadcast",
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "authorizer": {"iam": {
                "accessKey": "local-operator",
                "accountId": "000000000000",
                "callerId": "local-operator",
                "userArn": "arn:aws:iam::000000000000:user/local-operator",
                "userId": "local-operator",
            }},
            "domainName": "127.0.0.1",
            "http": {"method": "POST", "path": "/websocket/broadcast", "protocol": "HTTP/1.1", "sourceIp": source_ip, "userAgent": ""},
            "requestId": uuid::Uuid::new_v4().to_string(),
            "routeKey": "POST /websocket/broadcast",
            "stage": "$default",
            "time": now.format("%d/%b/%Y:%H:%M:%S +0000").to_string(),
            "timeEpoch": now.timestamp_millis(),
        },
        "body": String::from_utf8_lossy(body),
        "isBase64Encoded": false,
    })
}
