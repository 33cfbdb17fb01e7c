//! `$connect`, `$disconnect` and `$default`: API Gateway WebSocket events in, proxy responses out.
//!
//! A non-2xx answer to `$connect` makes API Gateway refuse the connection, so a bad token never
//! gets a socket; a missing token gets an anonymous one. Tokens are never logged. A connection
//! may hold at most [`MAX_SUBSCRIPTIONS`] note subscriptions and send at most
//! [`MAX_MESSAGES`] messages per [`MESSAGE_WINDOW_SECS`] seconds; past either, it is told so
//! and nothing else happens. Every message is answered: an echo that would be over the 128 KB a
//! post may carry (a message of `"` comes back twice its size) is answered with an error instead.
//!
//! `$connect` is limited too (`admit`): a signed-in user's attempts per window
//! (`ws_connects`) and open connections (`ws_connections_per_user`, counted through the user
//! index before the row is written: two attempts at the same instant may both pass, one over),
//! and attempts without a token per source address (`ws_connects_per_ip`). A refused `$connect`
//! answers 429, which API Gateway hands the client as the upgrade's status, and writes no row.

use serde_json::{Value, json};
use uuid::Uuid;

use super::messages::{MAX_MESSAGE_BYTES, envelope};
use super::{WsContext, epoch_millis};
use crate::api::{ApiError, proxy_response};
use crate::domain::limits::Action;
use crate::store::{Connection, StoreError};

fn connection_id(event: &Value) -> Option<&str> {
    event
        .pointer("/requestContext/connectionId")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
}

/// The most notes one connection may subscribe to (its row stays small: every scan reads it).
pub const MAX_SUBSCRIPTIONS: usize = 50;
/// The rate window of `$default` messages, in seconds.
pub const MESSAGE_WINDOW_SECS: i64 = 10;
/// The most `$default` messages one connection may send per window.
pub const MAX_MESSAGES: u32 = 20;

fn store_failure(e: &StoreError, what: &str) -> Value {
    tracing::error!(error = %e, "{what}");
    ApiError::internal_with(what).into_proxy()
}

fn missing_connection_id() -> Value {
    ApiError::bad_request("Missing connection ID").into_proxy()
}

/// `$connect`: records the connection, signed in when `?token=` verifies.
pub async fn connect(ctx: &WsContext, event: &Value) -> Value {
    let Some(id) = connection_id(event) else {
        return missing_connection_id();
    };
    let token = event
        .pointer("/queryStringParameters/token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty());
    let uid = match (token, &ctx.verifier) {
        (None, _) => None,
        (Some(_), None) => {
            return ApiError::internal_with("Server configuration error").into_proxy();
        }
        (Some(token), Some(verifier)) => match verifier.verify(token).await {
            Ok(identity) => Some(identity.uid),
            Err(e) => return ApiError::from(e).into_proxy(),
        },
    };
    if let Err(refused) = admit(ctx, uid.as_deref(), event).await {
        return refused;
    }
    let connected_at = event
        .pointer("/requestContext/connectedAt")
        .and_then(Value::as_i64)
        .unwrap_or_else(epoch_millis);
    let row = Connection::new(id, uid.clone(), connected_at);
    if let Err(e) = ctx.connections.put_connection(&row).await {
        return store_failure(&e, "Failed to connect");
    }
    tracing::debug!(connection_id = id, signed_in = uid.is_some(), "connected");
    proxy_response(200, &json!({"message": "Connected"}))
}

/// Applies the `$connect` limits to a connection of `uid` (or, without a token, of the event's
/// source address); the proxy answer to give instead when one is reached.
async fn admit(ctx: &WsContext, uid: Option<&str>, event: &Value) -> Result<(), Value> {
    let Some(limiter) = ctx.limiter() else {
        return Ok(());
    };
    let refused = |e: StoreError| match e {
        e @ StoreError::RateLimited { .. } => ApiError::from(e).into_proxy(),
        e => store_failure(&e, "Failed to connect"),
    };
    let Some(uid) = uid else {
        let ip = event
            .pointer("/requestContext/identity/sourceIp")
            .and_then(Value::as_str)
            .unwrap_or("unknown");
        return limiter
            .check(Action::WsConnectAnonymous, true, ip)
            .await
            .map_err(refused);
    };
    limiter
        .check(Action::WsConnect, false, uid)
        .await
        .map_err(refused)?;
    let max = limiter.limits().ws_connections_per_user;
    let open = ctx
        .connections
        .user_connections(uid, super::epoch_secs())
        .await
        .map_err(refused)?;
    if open.len() >= max as usize {
        tracing::info!(
            open = open.len(),
            max,
            "refused a connection over the user's limit"
        );
        return Err(ApiError::new(
            http::StatusCode::TOO_MANY_REQUESTS,
            "RATE_LIMITED",
            format!("Too many open connections: at most {max} per user; close one first."),
        )
        .into_proxy());
    }
    Ok(())
}

/// `$disconnect`: removes the connection's row.
pub async fn disconnect(ctx: &WsContext, event: &Value) -> Value {
    let Some(id) = connection_id(event) else {
        return missing_connection_id();
    };
    if let Err(e) = ctx.connections.delete_connection(id).await {
        return store_failure(&e, "Failed to disconnect");
    }
    tracing::debug!(connection_id = id, "disconnected");
    proxy_response(200, &json!({"message": "Disconnected"}))
}

/// What a `$default` message asks for.
#[derive(Debug, Clone, PartialEq)]
enum Request {
    /// Over a limit (or unknown): only the reason goes back.
    Limited(String),
    Subscribe(Uuid, bool),
    BadSubscription(String),
    Echo(Value),
}

fn parse(body: Option<&str>) -> Request {
    let original = match body {
        None => json!({}),
        Some(text) => {
            serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
        }
    };
    let action = original.get("action").and_then(Value::as_str);
    let subscribed = match action {
        Some("subscribe") => true,
        Some("unsubscribe") => false,
        _ => return Request::Echo(original),
    };
    match original
        .get("noteId")
        .and_then(Value::as_str)
        .map(Uuid::parse_str)
    {
        Some(Ok(note)) => Request::Subscribe(note, subscribed),
        _ => Request::BadSubscription("noteId must be a note id (UUID)".into()),
    }
}

/// `reply` as sent, or an error saying why when it is over the size of a post.
fn fit_to_post(reply: &Value) -> String {
    let text = reply.to_string();
    if text.len() <= MAX_MESSAGE_BYTES {
        return text;
    }
    let message = format!(
        "the message is too large to echo: an answer is at most {} KB",
        MAX_MESSAGE_BYTES / 1024
    );
    envelope("error", json!({"message": message})).to_string()
}

/// `$default`: `{"action":"subscribe"|"unsubscribe","noteId"}`, or anything else echoed back.
pub async fn default(ctx: &WsContext, event: &Value) -> Value {
    let Some(id) = connection_id(event) else {
        return missing_connection_id();
    };
    let window = super::epoch_secs() / MESSAGE_WINDOW_SECS;
    let counted = ctx
        .connections
        .count_message(id, window, MAX_MESSAGES)
        .await;
    let request = match counted {
        Ok(()) => parse(event.get("body").and_then(Value::as_str)),
        Err(StoreError::Limit) => Request::Limited(format!(
            "too many messages: at most {MAX_MESSAGES} every {MESSAGE_WINDOW_SECS} seconds"
        )),
        Err(StoreError::NotFound) => Request::Limited("this connection is not registered".into()),
        Err(e) => return store_failure(&e, "Failed to count the message"),
    };
    let reply = match request {
        Request::Limited(message) => envelope("error", json!({"message": message})),
        Request::Subscribe(note, on) => {
            match ctx
                .connections
                .set_subscription(id, note, on, MAX_SUBSCRIPTIONS)
                .await
            {
                Ok(_) => {
                    let kind = if on { "subscribed" } else { "unsubscribed" };
                    envelope(kind, json!({"noteId": note}))
                }
                Err(StoreError::NotFound) => envelope(
                    "error",
                    json!({"message": "this connection is not registered"}),
                ),
                Err(StoreError::Limit) => envelope(
                    "error",
                    json!({"message": format!(
                        "at most {MAX_SUBSCRIPTIONS} subscriptions per connection: unsubscribe from one first"
                    )}),
                ),
                Err(e) => return store_failure(&e, "Failed to update subscriptions"),
            }
        }
        Request::BadSubscription(message) => envelope("error", json!({"message": message})),
        Request::Echo(original) => envelope(
            "echo",
            json!({"message": "Message received", "original": original, "connectionId": id}),
        ),
    };
    if let Err(e) = ctx.poster.post(id, fit_to_post(&reply).into()).await {
        tracing::warn!(connection_id = id, error = ?e, "could not answer on the connection");
    }
    proxy_response(200, &json!({"message": "Message processed"}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscribe_messages_need_a_note_id() {
        let note = Uuid::new_v4();
        assert_eq!(
            parse(Some(
                &json!({"action": "subscribe", "noteId": note}).to_string()
            )),
            Request::Subscribe(note, true)
        );
        assert_eq!(
            parse(Some(
                &json!({"action": "unsubscribe", "noteId": note}).to_string()
            )),
            Request::Subscribe(note, false)
        );
        assert!(matches!(
            parse(Some(r#"{"action":"subscribe","noteId":"x"}"#)),
            Request::BadSubscription(_)
        ));
    }

    #[test]
    fn an_echo_over_the_size_of_a_post_becomes_an_error_saying_so() {
        let small = envelope("echo", json!({"original": "x"}));
        assert_eq!(fit_to_post(&small), small.to_string());
        // Each `"` comes back escaped: half the limit of them is over it.
        let large = envelope(
            "echo",
            json!({"original": "\"".repeat(MAX_MESSAGE_BYTES / 2)}),
        );
        let answer: Value = serde_json::from_str(&fit_to_post(&large)).unwrap();
        assert_eq!(answer["type"], "error");
        let message = answer["data"]["message"].as_str().unwrap();
        assert!(message.contains("too large to echo"), "{message}");
    }

    #[test]
    fn anything_else_is_echoed_as_sent() {
        assert_eq!(
            parse(Some(r#"{"hello":1}"#)),
            Request::Echo(json!({"hello": 1}))
        );
        assert_eq!(
            parse(Some("plain text")),
            Request::Echo(json!("plain text"))
        );
        assert_eq!(parse(None), Request::Echo(json!({})));
    }
}
