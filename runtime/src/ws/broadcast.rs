//! The broadcast handler: `{type, data}` in, `{message, results}` out.
//!
//! It is reached two ways. Operators and pipelines call `POST /websocket/broadcast` on an HTTP
//! API whose route requires AWS IAM (SigV4), so the event carries the caller's IAM identity; an
//! HTTP event without one is refused here too. The notes API invokes the function directly and
//! asynchronously (`InvocationType: Event`) after storing a comment, with the request itself as
//! the payload (and an `eventId`). Only an event with no `requestContext` at all counts as
//! such a direct invocation.
//!
//! A direct invocation that does not reach every connection (a throttled scan, posts that kept
//! failing, the function's time running out) returns an error, so Lambda retries the event
//! (twice; then it lands in the on-failure queue). Its progress is kept under its `eventId`:
//! the retry posts only to the connections not reached yet, and a finished event delivered
//! again posts nothing.

use base64::Engine as _;
use serde_json::{Value, json};

use super::WsContext;
use tokio::time::Instant;

use super::fanout::{FanoutResults, Resume, fan_out_from};
use super::messages::{RequestError, encode, parse_request};
use crate::api::{ApiError, proxy_response};
use crate::store::BroadcastProgress;
use crate::store::connections::BROADCAST_PROGRESS_TTL_SECS;

/// Why a broadcast did not run, or did not reach everyone.
#[derive(Debug, thiserror::Error)]
pub enum BroadcastError {
    #[error(transparent)]
    Request(#[from] RequestError),
    #[error("reading connections failed: {0}")]
    Store(#[from] crate::store::StoreError),
    /// Some connections were not reached; the progress is kept for a retry.
    #[error("the broadcast did not reach every connection ({reason}): {results:?}")]
    Incomplete {
        results: FanoutResults,
        reason: String,
        /// The scan itself stopped (not just some posts failing).
        scan_failed: bool,
    },
}

/// Validates `request` and fans it out, resuming an earlier attempt of the same event.
pub async fn run(
    ctx: &WsContext,
    request: &Value,
    deadline: Option<Instant>,
) -> Result<FanoutResults, BroadcastError> {
    let request = parse_request(request)?;
    let messages = encode(&request)?;
    let now = chrono::Utc::now().timestamp();
    let resume = match &request.event_id {
        Some(id) => match ctx.connections.broadcast_progress(id, now).await? {
            Some(progress) if progress.is_finished() => {
                tracing::info!(event_id = %id, "broadcast already delivered: nothing to post");
                return Ok(FanoutResults::default());
            }
            Some(progress) => Resume {
                retry: progress.failed,
                segments: progress.segments,
            },
            None => Resume::default(),
        },
        None => Resume::default(),
    };
    let outcome = fan_out_from(
        ctx.connections.clone(),
        ctx.poster.clone(),
        messages,
        &request.target,
        request.note_id(),
        ctx.fanout,
        resume,
        deadline,
    )
    .await;
    if let Some(id) = &request.event_id {
        let progress = BroadcastProgress {
            event_id: id.clone(),
            failed: outcome.failed.clone(),
            segments: outcome.segments.clone(),
            expires_at: now + BROADCAST_PROGRESS_TTL_SECS,
        };
        ctx.connections.put_broadcast_progress(&progress).await?;
    }
    let results = outcome.results;
    tracing::info!(kind = %request.kind, ?results, complete = outcome.is_complete(), "broadcast ran");
    if outcome.is_complete() {
        return Ok(results);
    }
    let reason = match (&outcome.scan_error, outcome.out_of_time) {
        (Some(e), _) => format!("the scan stopped: {e}"),
        (None, true) => "the function's time ran out".to_owned(),
        (None, false) => format!("{} posts failed", outcome.failed.len()),
    };
    Err(BroadcastError::Incomplete {
        results,
        reason,
        scan_failed: outcome.scan_error.is_some() || outcome.out_of_time,
    })
}

fn completed(results: &FanoutResults) -> Value {
    json!({"message": "Broadcast completed", "results": results})
}

/// Handles either an HTTP API event (`POST /websocket/broadcast`) or a direct invocation; a
/// direct invocation that did not reach everyone is an error (so Lambda retries it).
pub async fn handle(
    ctx: &WsContext,
    event: &Value,
    deadline: Option<Instant>,
) -> Result<Value, BroadcastError> {
    if event.get("requestContext").is_none() {
        return match run(ctx, event, deadline).await {
            Ok(results) => Ok(completed(&results)),
            Err(e) => {
                tracing::error!(error = %e, "broadcast failed");
                Err(e)
            }
        };
    }
    Ok(handle_http(ctx, event, deadline).await)
}

/// The HTTP API route: IAM-signed requests only, answered with a proxy response.
async fn handle_http(ctx: &WsContext, event: &Value, deadline: Option<Instant>) -> Value {
    if event.pointer("/requestContext/http").is_none()
        || event.pointer("/requestContext/authorizer/iam").is_none()
    {
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
    match run(ctx, &request, deadline).await {
        Ok(results) => proxy_response(200, &completed(&results)),
        // Posts that failed are counted in the answer, as they always were.
        Err(BroadcastError::Incomplete {
            results,
            scan_failed: false,
            ..
        }) => proxy_response(200, &completed(&results)),
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
