//! The broadcast handler: `{type, data}` in, `{message, results}` out.
//!
//! It is reached two ways. Operators and pipelines call `POST /websocket/broadcast` on an HTTP
//! API whose route requires AWS IAM (SigV4), so the event carries the caller's IAM identity; an
//! HTTP event without one is refused here too. The notes API invokes the function directly and
//! asynchronously (`InvocationType: Event`) after storing a comment, with the request itself as
//! the payload, so the API's answer never waits for the fan-out.

use base64::Engine as _;
use serde_json::{Value, json};

use super::WsContext;
use super::fanout::{FanoutResults, fan_out};
use super::messages::{RequestError, encode, parse_request};
use crate::api::{ApiError, proxy_response};

/// Why a broadcast did not run.
#[derive(Debug, thiserror::Error)]
pub enum BroadcastError {
    #[error(transparent)]
    Request(#[from] RequestError),
    #[error("reading connections failed: {0}")]
    Store(#[from] crate::store::StoreError),
}

/// Validates `request` and fans it out.
pub async fn run(ctx: &WsContext, request: &Value) -> Result<FanoutResults, BroadcastError> {
    let request = parse_request(request)?;
    let messages = encode(&request)?;
    let results = fan_out(
        ctx.connections.clone(),
        ctx.poster.clone(),
        messages,
        &request.target,
        request.note_id(),
        ctx.fanout,
    )
    .await?;
    tracing::info!(kind = %request.kind, ?results, "broadcast completed");
    Ok(results)
}

fn completed(results: &FanoutResults) -> Value {
    json!({"message": "Broadcast completed", "results": results})
}

/// Handles either an HTTP API event (`POST /websocket/broadcast`) or a direct invocation.
pub async fn handle(ctx: &WsContext, event: &Value) -> Value {
    if event.pointer("/requestContext/http").is_none() {
        // Direct (asynchronous) invocation by the notes API: the payload is the request.
        return match run(ctx, event).await {
            Ok(results) => completed(&results),
            Err(e) => {
                tracing::error!(error = %e, "broadcast failed");
                json!({"message": "Broadcast failed", "error": e.to_string()})
            }
        };
    }
    if event.pointer("/requestContext/authorizer/iam").is_none() {
        return ApiError::forbidden("broadcast requires an IAM-signed request").into_proxy();
    }
    let body = match event.get("body").and_then(Value::as_str) {
        None => return ApiError::bad_request("Missing request body").into_proxy(),
        Some(text) if event.get("isBase64Encoded").and_then(Value::as_bool) == Some(true) => {
            match base64::engine::general_purpose::STANDARD.decode(text) {
                Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                Err(_) => return ApiError::bad_request("Invalid base64 request body").into_proxy(),
            }
        }
        Some(text) => text.to_string(),
    };
    let Ok(request) = serde_json::from_str::<Value>(&body) else {
        return ApiError::bad_request("Invalid JSON in request body").into_proxy();
    };
    match run(ctx, &request).await {
        Ok(results) => proxy_response(200, &completed(&results)),
        Err(BroadcastError::Request(e @ RequestError::TooLarge(_))) => ApiError::new(
            http::StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            e.to_string(),
        )
        .into_proxy(),
        Err(BroadcastError::Request(e)) => ApiError::bad_request(e.to_string()).into_proxy(),
        Err(e) => {
            tracing::error!(error = %e, "broadcast failed");
            ApiError::internal_with("Broadcast failed").into_proxy()
        }
    }
}
