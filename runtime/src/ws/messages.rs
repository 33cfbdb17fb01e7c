//! The messages sent to clients (`{type, data, timestamp}`) and the broadcast request.

use serde_json::{Map, Value, json};
use uuid::Uuid;

/// API Gateway refuses posts over 128 KB; so do we, before fanning out.
pub const MAX_MESSAGE_BYTES: usize = 128 * 1024;
const MAX_TYPE_CHARS: usize = 128;

/// Builds `{type, data, timestamp}` with the current time.
pub fn envelope(kind: &str, data: Value) -> Value {
    json!({"type": kind, "data": data, "timestamp": crate::domain::now()})
}

/// Who a broadcast is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Every connection (a connection with subscriptions only gets its notes' messages).
    Everyone,
    /// Only connections signed in as this user.
    Owner(String),
}

/// A validated broadcast: `{type, data, audience?: {owner}, then?: {type, data}, eventId?}`.
///
/// `then` is a second message sent to each connection right after the first, on the same
/// connection and in order (a comment's `comments.list` after its `comment.created`).
/// `eventId` names the broadcast across retries: a retried event posts only to the
/// connections an earlier attempt did not reach.
#[derive(Debug, Clone, PartialEq)]
pub struct BroadcastRequest {
    /// `type`: what the message is (`comment.created`).
    pub kind: String,
    /// `data`: the message's payload.
    pub data: Value,
    /// Who it is for (`audience`).
    pub target: Target,
    /// `then`: the type and data of a second message sent right after this one.
    pub then: Option<(String, Value)>,
    /// `eventId`: names the broadcast across retries.
    pub event_id: Option<String>,
}

impl BroadcastRequest {
    /// The note this message is about (`data.postId`), which subscriptions filter on.
    pub fn note_id(&self) -> Option<Uuid> {
        self.data
            .get("postId")
            .and_then(Value::as_str)
            .and_then(|s| Uuid::parse_str(s).ok())
    }

    /// The JSON the API sends to the broadcast function.
    pub fn to_payload(&self) -> Value {
        let mut payload = json!({"type": self.kind, "data": self.data});
        if let Target::Owner(uid) = &self.target {
            payload["audience"] = json!({"owner": uid});
        }
        if let Some((kind, data)) = &self.then {
            payload["then"] = json!({"type": kind, "data": data});
        }
        if let Some(id) = &self.event_id {
            payload["eventId"] = json!(id);
        }
        payload
    }
}

/// Why a broadcast request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The body is not a valid request; the reason is for the caller.
    #[error("{0}")]
    Invalid(String),
    /// The message would be over 128 KB, the management API's limit (its size inside).
    #[error("the message is {0} bytes; the limit is 131072 (128 KB)")]
    TooLarge(usize),
}

/// Validates a broadcast request body.
pub fn parse_request(body: &Value) -> Result<BroadcastRequest, RequestError> {
    let invalid = |m: &str| RequestError::Invalid(m.to_string());
    let map: &Map<String, Value> = body
        .as_object()
        .ok_or_else(|| invalid("the request body must be a JSON object"))?;
    let then = match map.get("then") {
        None | Some(Value::Null) => None,
        Some(Value::Object(follow_up)) => {
            if ["then", "audience", "eventId"]
                .iter()
                .any(|key| follow_up.contains_key(*key))
            {
                return Err(invalid("then holds only type and data"));
            }
            let follow_up = parse_request(&Value::Object(follow_up.clone()))
                .map_err(|e| RequestError::Invalid(format!("then: {e}")))?;
            Some((follow_up.kind, follow_up.data))
        }
        Some(_) => return Err(invalid("then must be an object")),
    };
    let kind = match map.get("type") {
        Some(Value::String(s)) if !s.trim().is_empty() && s.chars().count() <= MAX_TYPE_CHARS => {
            s.clone()
        }
        Some(Value::String(_)) => return Err(invalid("type must be 1 to 128 characters")),
        Some(_) => return Err(invalid("type must be a string")),
        None => return Err(invalid("Missing required fields: type, data")),
    };
    let data = match map.get("data") {
        None | Some(Value::Null) => return Err(invalid("Missing required fields: type, data")),
        Some(data) => data.clone(),
    };
    let target = match map.get("audience") {
        None | Some(Value::Null) => Target::Everyone,
        Some(Value::Object(a)) => match a.get("owner") {
            Some(Value::String(uid)) if !uid.is_empty() => Target::Owner(uid.clone()),
            _ => return Err(invalid("audience.owner must be a non-empty string")),
        },
        Some(_) => return Err(invalid("audience must be an object")),
    };
    let event_id = match map.get("eventId") {
        None | Some(Value::Null) => None,
        Some(Value::String(id))
            if !id.is_empty()
                && id.len() <= 64
                && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') =>
        {
            Some(id.clone())
        }
        Some(_) => return Err(invalid("eventId must be 1 to 64 letters, digits or '-'")),
    };
    Ok(BroadcastRequest {
        kind,
        data,
        target,
        then,
        event_id,
    })
}

/// The messages a broadcast sends to each connection, in order, serialised and checked against
/// the size limit. The main message over the limit refuses the broadcast; a follow-up over it
/// is dropped (and logged), so the main message always goes out: for `comment.created`, the
/// client's own refetch of the list then does what the `comments.list` follow-up would have.
pub fn encode(request: &BroadcastRequest) -> Result<Vec<bytes::Bytes>, RequestError> {
    let first = envelope(&request.kind, request.data.clone()).to_string();
    if first.len() > MAX_MESSAGE_BYTES {
        return Err(RequestError::TooLarge(first.len()));
    }
    let mut messages = vec![bytes::Bytes::from(first)];
    if let Some((kind, data)) = &request.then {
        let text = envelope(kind, data.clone()).to_string();
        if text.len() > MAX_MESSAGE_BYTES {
            tracing::warn!(
                kind = %kind,
                bytes = text.len(),
                "follow-up message over API Gateway's 128 KB limit: dropped"
            );
        } else {
            messages.push(bytes::Bytes::from(text));
        }
    }
    Ok(messages)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_and_data_are_required() {
        assert!(parse_request(&json!({"type": "x"})).is_err());
        assert!(parse_request(&json!({"type": "x", "data": 1, "then": {"type": "y"}})).is_err());
        assert!(parse_request(&json!({"type": "x", "data": null})).is_err());
        assert!(parse_request(&json!({"type": "x", "data": 1, "then": 2})).is_err());
        let nested = json!({"type": "x", "data": 1, "then": {"type": "y", "data": 2, "then": {}}});
        assert!(parse_request(&nested).is_err());
        assert!(parse_request(&json!({"data": 1})).is_err());
        assert!(parse_request(&json!({"type": "", "data": 1})).is_err());
        assert!(parse_request(&json!([1])).is_err());
        let ok = parse_request(&json!({"type": "t", "data": {"postId": Uuid::nil()}})).unwrap();
        assert_eq!(ok.target, Target::Everyone);
        assert_eq!(ok.note_id(), Some(Uuid::nil()));
    }

    #[test]
    fn an_owner_audience_survives_the_payload_round_trip() {
        let request = BroadcastRequest {
            kind: "comment.created".into(),
            data: json!({}),
            target: Target::Owner("alice".into()),
            then: Some(("comments.list".into(), json!({"count": 1}))),
            event_id: Some("4f2c0a1e-9b7d-4e31-8a55-0d6c2b9e7f10".into()),
        };
        assert_eq!(parse_request(&request.to_payload()).unwrap(), request);
    }

    #[test]
    fn an_oversize_follow_up_is_dropped_and_the_main_message_still_goes() {
        let request = parse_request(&json!({
            "type": "comment.created", "data": {"postId": Uuid::nil()},
            "then": {"type": "comments.list", "data": "x".repeat(MAX_MESSAGE_BYTES)},
        }))
        .unwrap();
        let messages = encode(&request).unwrap();
        assert_eq!(messages.len(), 1);
        let back: Value = serde_json::from_slice(&messages[0]).unwrap();
        assert_eq!(back["type"], "comment.created");
    }

    #[test]
    fn messages_over_128_kb_are_refused() {
        let big =
            parse_request(&json!({"type": "t", "data": "x".repeat(MAX_MESSAGE_BYTES)})).unwrap();
        assert!(matches!(encode(&big), Err(RequestError::TooLarge(_))));
        let small = parse_request(&json!({"type": "t", "data": "x"})).unwrap();
        let text = encode(&small).unwrap();
        assert_eq!(text.len(), 1);
        let back: Value = serde_json::from_slice(&text[0]).unwrap();
        assert_eq!(back["type"], "t");
        assert!(back["timestamp"].as_str().unwrap().ends_with('Z'));
    }
}
