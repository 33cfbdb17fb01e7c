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
//! again posts nothing. The progress is kept in the control store, never with the connections.
//!
//! Ceilings, so that many users together cannot post faster than the environment's send rate:
//! - per note: a public `comment.created` (an event with an `eventId`, from the notes API) whose
//!   note already had `fanouts_per_note` live fan-outs in the current window is not fanned out
//!   at all. The comment is stored and was answered 201; clients see it on their next read of
//!   the list (the poster's own page refetches it at once). Logged once per note per window.
//! - per environment: every fan-out draws on one send budget of `BROADCAST_SEND_RATE` posts a
//!   second ([`SendBudget`]); a `comment.created` gives up on the connections it has not
//!   reached when the budget has no room for it before [`LIVE_COMMENT_SECS`] after the
//!   comment was written.

use base64::Engine as _;
use serde_json::{Value, json};

use super::WsContext;
use tokio::time::Instant;

use super::fanout::{FanoutResults, Resume, SendBudget, fan_out_from};
use super::messages::{BroadcastRequest, RequestError, Target, encode, parse_request};
use crate::api::{ApiError, proxy_response};
use crate::domain::limits::Action;
use crate::store::control::BROADCAST_PROGRESS_TTL_SECS;
use crate::store::{BroadcastProgress, StoreError};

/// How long after a comment is written its live push is still worth sending: a fan-out that
/// would have to wait for the send budget past this skips the connections it has not reached.
pub const LIVE_COMMENT_SECS: i64 = 60;

/// Why a broadcast did not run, or did not reach everyone.
#[derive(Debug, thiserror::Error)]
pub enum BroadcastError {
    /// The request was refused.
    #[error(transparent)]
    Request(#[from] RequestError),
    /// The broadcast's progress could not be read or kept.
    #[error("reading connections failed: {0}")]
    Store(#[from] crate::store::StoreError),
    /// Some connections were not reached; the progress is kept for a retry.
    #[error("the broadcast did not reach every connection ({reason}): {results:?}")]
    Incomplete {
        /// What this attempt did.
        results: FanoutResults,
        /// Why it stopped short (failed posts, a failing scan, the deadline).
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
    let progress = match (&request.event_id, &ctx.control) {
        (Some(id), Some(control)) => control.broadcast_progress(id, now).await?,
        _ => None,
    };
    let resume = match progress {
        Some(progress) if progress.is_finished() => {
            tracing::info!(event_id = ?request.event_id, "broadcast already delivered: nothing to post");
            return Ok(FanoutResults::default());
        }
        Some(progress) => Resume {
            retry: progress.failed,
            segments: progress.segments,
        },
        // A fresh live comment on a public note: within the note's ceiling, or not at all.
        None if over_note_ceiling(ctx, &request).await? => return Ok(FanoutResults::default()),
        None => Resume::default(),
    };
    let budget = match (&ctx.control, ctx.fanout.send_rate) {
        (Some(control), Some(per_second)) => Some(SendBudget {
            control: control.clone(),
            per_second,
            give_up_at_ms: live_until_ms(&request),
        }),
        _ => None,
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
        budget,
    )
    .await;
    if let (Some(id), Some(control)) = (&request.event_id, &ctx.control) {
        let progress = BroadcastProgress {
            event_id: id.clone(),
            failed: outcome.failed.clone(),
            segments: outcome.segments.clone(),
            expires_at: now + BROADCAST_PROGRESS_TTL_SECS,
        };
        control.put_broadcast_progress(&progress).await?;
    }
    let results = outcome.results;
    crate::metrics::broadcast(&crate::metrics::BroadcastCounts {
        sent: results.sent,
        gone: results.stale_removed,
        throttled: outcome.throttled,
        failed: results.failed,
    });
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

/// Whether `request` is a live comment on a public note over its note's ceiling of fan-outs
/// (`fanouts_per_note`): then it is not fanned out.
async fn over_note_ceiling(
    ctx: &WsContext,
    request: &BroadcastRequest,
) -> Result<bool, StoreError> {
    let note = match (&request.event_id, &request.target, request.note_id()) {
        (Some(_), Target::Everyone, Some(note)) if request.kind == "comment.created" => note,
        _ => return Ok(false),
    };
    let Some(limiter) = ctx.limiter() else {
        return Ok(false);
    };
    match limiter
        .check(Action::NoteFanout, false, &note.to_string())
        .await
    {
        Ok(()) => Ok(false),
        Err(StoreError::RateLimited { .. }) => {
            tracing::debug!(%note, "live push skipped: the note is over its fan-out ceiling");
            Ok(true)
        }
        Err(e) => Err(e),
    }
}

/// For a `comment.created`, the epoch milliseconds until which its push is worth waiting for
/// the send budget: [`LIVE_COMMENT_SECS`] after the comment's `createdAt`.
fn live_until_ms(request: &BroadcastRequest) -> Option<i64> {
    if request.kind != "comment.created" {
        return None;
    }
    let created = request.data.pointer("/comment/createdAt")?.as_str()?;
    let at = chrono::DateTime::parse_from_rfc3339(created).ok()?;
    Some(at.timestamp_millis() + LIVE_COMMENT_SECS * 1000)
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

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashSet};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use async_trait::async_trait;
    use bytes::Bytes;
    use uuid::Uuid;

    use super::*;
    use crate::store::embedded::EmbeddedStore;
    use crate::store::{
        Connection, ConnectionPage, ConnectionStore, ControlStore, ScanPosition, Segment,
        StoreError,
    };
    use crate::ws::epoch_secs;
    use crate::ws::fanout::{FanoutOptions, PostError, Poster};

    const EVENT_ID: &str = "4f2c0a1e-9b7d-4e31-8a55-0d6c2b9e7f10";

    /// Records every delivery; the ids in `fail_once` fail the first time they are posted to.
    #[derive(Default)]
    struct FakePoster {
        delivered: Mutex<Vec<String>>,
        fail_once: Mutex<HashSet<String>>,
    }

    impl FakePoster {
        fn failing_once(ids: &[&str]) -> Self {
            Self {
                fail_once: Mutex::new(ids.iter().map(|id| id.to_string()).collect()),
                ..Self::default()
            }
        }

        /// How many times each connection got the message, over every attempt so far.
        fn deliveries(&self) -> BTreeMap<String, u32> {
            let mut counts = BTreeMap::new();
            for id in self.delivered.lock().unwrap().iter() {
                *counts.entry(id.clone()).or_insert(0) += 1;
            }
            counts
        }
    }

    #[async_trait]
    impl Poster for FakePoster {
        async fn post(&self, id: &str, _data: Bytes) -> Result<(), PostError> {
            if self.fail_once.lock().unwrap().remove(id) {
                return Err(PostError::Failed("boom".into()));
            }
            self.delivered.lock().unwrap().push(id.to_string());
            Ok(())
        }
    }

    /// The embedded store, except that the scan of segment `segment` is throttled once, after
    /// `pages` of its pages were read (as DynamoDB throttles one page of a parallel scan). Every
    /// page read is recorded as its segment and cursor.
    struct ThrottledScan {
        inner: Arc<EmbeddedStore>,
        segment: u32,
        pages: usize,
        throttled: AtomicBool,
        reads: Mutex<Vec<(u32, Option<String>)>>,
    }

    impl ThrottledScan {
        fn new(inner: Arc<EmbeddedStore>, segment: u32, pages: usize) -> Self {
            Self {
                inner,
                segment,
                pages,
                throttled: AtomicBool::new(false),
                reads: Mutex::new(Vec::new()),
            }
        }
    }

    #[async_trait]
    impl ConnectionStore for ThrottledScan {
        async fn put_connection(&self, connection: &Connection) -> Result<(), StoreError> {
            self.inner.put_connection(connection).await
        }
        async fn delete_connection(&self, connection_id: &str) -> Result<(), StoreError> {
            self.inner.delete_connection(connection_id).await
        }
        async fn get_connection(
            &self,
            connection_id: &str,
            now: i64,
        ) -> Result<Option<Connection>, StoreError> {
            self.inner.get_connection(connection_id, now).await
        }
        async fn set_subscription(
            &self,
            connection_id: &str,
            note_id: Uuid,
            subscribed: bool,
            max: usize,
        ) -> Result<Connection, StoreError> {
            self.inner
                .set_subscription(connection_id, note_id, subscribed, max)
                .await
        }
        async fn count_message(
            &self,
            connection_id: &str,
            window: i64,
            max: u32,
        ) -> Result<(), StoreError> {
            self.inner.count_message(connection_id, window, max).await
        }
        async fn scan_connections(
            &self,
            segment: Segment,
            cursor: Option<&str>,
            page_size: u32,
            now: i64,
        ) -> Result<ConnectionPage, StoreError> {
            {
                let mut reads = self.reads.lock().unwrap();
                let read = reads.iter().filter(|(s, _)| *s == segment.index).count();
                if segment.index == self.segment
                    && read == self.pages
                    && !self.throttled.swap(true, Ordering::SeqCst)
                {
                    return Err(StoreError::Throttled(
                        "ProvisionedThroughputExceededException".into(),
                    ));
                }
                reads.push((segment.index, cursor.map(str::to_string)));
            }
            self.inner
                .scan_connections(segment, cursor, page_size, now)
                .await
        }
        async fn user_connections(
            &self,
            uid: &str,
            now: i64,
        ) -> Result<Vec<Connection>, StoreError> {
            self.inner.user_connections(uid, now).await
        }
    }

    /// An embedded store holding connections `c0` to `c{count - 1}`.
    async fn store_with(count: usize) -> (tempfile::TempDir, Arc<EmbeddedStore>) {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
        let now = chrono::Utc::now().timestamp_millis();
        for i in 0..count {
            store
                .put_connection(&Connection::new(format!("c{i}"), None, now))
                .await
                .unwrap();
        }
        (dir, store)
    }

    fn context(
        connections: Arc<dyn ConnectionStore>,
        control: Arc<dyn ControlStore>,
        poster: Arc<FakePoster>,
        segments: u32,
    ) -> WsContext {
        WsContext {
            connections,
            control: Some(control),
            limits: None,
            verifier: None,
            poster,
            fanout: FanoutOptions {
                page_size: 2,
                segments,
                base_backoff: Duration::from_millis(1),
                ..FanoutOptions::default()
            },
        }
    }

    /// What the notes API invokes the function with: the request itself, no `requestContext`.
    fn direct_invocation() -> Value {
        json!({
            "type": "comment.created",
            "data": {"text": "first!"},
            "eventId": EVENT_ID,
        })
    }

    /// `POST /websocket/broadcast` through the HTTP API, signed with SigV4 when `iam` is set.
    fn http_event(body: &Value, iam: bool) -> Value {
        let mut event = json!({
            "version": "2.0",
            "routeKey": "POST /websocket/broadcast",
            "rawPath": "/websocket/broadcast",
            "rawQueryString": "",
            "headers": {"content-type": "application/json"},
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "a1b2c3d4e5",
                "domainName": "a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com",
                "http": {"method": "POST", "path": "/websocket/broadcast", "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7", "userAgent": "aws-cli/2"},
                "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
                "routeKey": "POST /websocket/broadcast",
                "stage": "$default",
                "time": "12/Mar/2024:10:00:00 +0000",
                "timeEpoch": 1_710_237_600_000_i64,
            },
            "body": body.to_string(),
            "isBase64Encoded": false,
        });
        if iam {
            event["requestContext"]["authorizer"] = json!({"iam": {
                "accessKey": "ASIAEXAMPLE",
                "accountId": "123456789012",
                "callerId": "AIDAEXAMPLE",
                "userArn": "arn:aws:iam::123456789012:user/operator",
                "userId": "AIDAEXAMPLE",
            }});
        }
        event
    }

    fn every_connection_once(count: usize) -> BTreeMap<String, u32> {
        (0..count).map(|i| (format!("c{i}"), 1)).collect()
    }

    #[tokio::test]
    async fn a_throttled_scan_makes_the_direct_invocation_fail_so_lambda_retries() {
        let (_dir, embedded) = store_with(5).await;
        let store = Arc::new(ThrottledScan::new(embedded.clone(), 0, 1));
        let poster = Arc::new(FakePoster::default());
        let ctx = context(store, embedded.clone(), poster.clone(), 1);

        let err = handle(&ctx, &direct_invocation(), None).await.unwrap_err();

        let BroadcastError::Incomplete {
            results,
            scan_failed: true,
            ..
        } = &err
        else {
            panic!("expected an incomplete broadcast with a failed scan, got {err:?}");
        };
        // The first page went out; the scan stopped at the second.
        assert_eq!(results.sent, 2);
        assert_eq!(poster.deliveries().len(), 2);
        let progress = embedded
            .broadcast_progress(EVENT_ID, epoch_secs())
            .await
            .unwrap()
            .expect("the progress is kept for the retry");
        assert!(progress.failed.is_empty());
        assert!(matches!(progress.segments[..], [ScanPosition::After(_)]));
    }

    #[tokio::test]
    async fn a_retried_event_reaches_each_connection_exactly_once() {
        let (_dir, store) = store_with(6).await;
        let poster = Arc::new(FakePoster::failing_once(&["c1", "c4"]));
        let ctx = context(store.clone(), store, poster.clone(), 2);

        let first = handle(&ctx, &direct_invocation(), None).await.unwrap_err();
        let BroadcastError::Incomplete {
            results,
            scan_failed: false,
            ..
        } = &first
        else {
            panic!("expected failed posts to make the broadcast incomplete, got {first:?}");
        };
        assert_eq!((results.sent, results.failed), (4, 2));

        let second = handle(&ctx, &direct_invocation(), None).await.unwrap();
        assert_eq!(second["results"]["totalConnections"], 2);
        assert_eq!(second["results"]["sent"], 2);
        assert_eq!(poster.deliveries(), every_connection_once(6));

        let third = handle(&ctx, &direct_invocation(), None).await.unwrap();
        assert_eq!(third["results"]["totalConnections"], 0);
        assert_eq!(poster.deliveries(), every_connection_once(6));
    }

    #[tokio::test]
    async fn a_retry_after_a_throttled_scan_resumes_it_and_reaches_each_connection_once() {
        let count = 12;
        let (_dir, embedded) = store_with(count).await;
        // Segment 1 is throttled on its second page; segment 0 reads to its end.
        let store = Arc::new(ThrottledScan::new(embedded.clone(), 1, 1));
        let poster = Arc::new(FakePoster::default());
        let ctx = context(store.clone(), embedded, poster.clone(), 2);

        let first = handle(&ctx, &direct_invocation(), None).await.unwrap_err();
        assert!(
            matches!(
                first,
                BroadcastError::Incomplete {
                    scan_failed: true,
                    ..
                }
            ),
            "{first:?}"
        );
        let reached = poster.deliveries().len();
        assert!(
            reached < count,
            "the throttled segment left connections unreached"
        );
        let reads_before_retry = store.reads.lock().unwrap().len();

        let second = handle(&ctx, &direct_invocation(), None).await.unwrap();
        assert_eq!(second["results"]["sent"], (count - reached) as u64);
        assert_eq!(poster.deliveries(), every_connection_once(count));
        // The retry read segment 1 only, from where it stopped.
        let retry_reads = store.reads.lock().unwrap()[reads_before_retry..].to_vec();
        assert!(!retry_reads.is_empty());
        assert!(retry_reads.iter().all(|(segment, _)| *segment == 1));
        assert!(retry_reads[0].1.is_some(), "{retry_reads:?}");

        let third = handle(&ctx, &direct_invocation(), None).await.unwrap();
        assert_eq!(third["results"]["totalConnections"], 0);
        assert_eq!(poster.deliveries(), every_connection_once(count));
    }

    #[tokio::test]
    async fn the_http_route_counts_failed_posts_in_a_200_and_answers_a_failed_scan_with_500() {
        let body = json!({"type": "announcement", "data": {"text": "maintenance at noon"}});
        let status = |answer: &Value| answer["statusCode"].as_u64().unwrap();

        let (_dir, store) = store_with(3).await;
        let poster = Arc::new(FakePoster::failing_once(&["c2"]));
        let ctx = context(store.clone(), store.clone(), poster.clone(), 1);
        let answer = handle(&ctx, &http_event(&body, true), None).await.unwrap();
        assert_eq!(status(&answer), 200);
        let answer_body: Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
        assert_eq!(answer_body["message"], "Broadcast completed");
        assert_eq!(answer_body["results"]["sent"], 2);
        assert_eq!(answer_body["results"]["failed"], 1);

        let unsigned = handle(&ctx, &http_event(&body, false), None).await.unwrap();
        assert_eq!(status(&unsigned), 403);
        assert_eq!(
            poster.deliveries().len(),
            2,
            "an unsigned request posts nothing"
        );

        let throttled = Arc::new(ThrottledScan::new(store.clone(), 0, 0));
        let ctx = context(throttled, store, poster, 1);
        let answer = handle(&ctx, &http_event(&body, true), None).await.unwrap();
        assert_eq!(status(&answer), 500);
    }

    /// A live comment on `note` as the notes API hands it off, written at `created_at`.
    fn live_comment(note: Uuid, created_at: chrono::DateTime<chrono::Utc>) -> Value {
        let at = crate::domain::format_time(created_at);
        json!({
            "type": "comment.created",
            "data": {"postId": note, "comment": {"id": Uuid::new_v4(), "content": "hi",
                "username": "u", "createdAt": at, "updatedAt": at, "postId": note}},
            "eventId": Uuid::new_v4().to_string(),
        })
    }

    #[tokio::test]
    async fn a_live_comment_over_its_notes_ceiling_is_not_fanned_out_and_other_notes_are() {
        let (_dir, store) = store_with(3).await;
        let poster = Arc::new(FakePoster::default());
        let mut ctx = context(store.clone(), store, poster.clone(), 1);
        ctx.limits = Some(
            crate::domain::limits::RateLimits::DEFAULT
                .with("fanouts_per_note=2/hour")
                .unwrap(),
        );
        let (busy, quiet) = (Uuid::new_v4(), Uuid::new_v4());
        let now = chrono::Utc::now();
        for _ in 0..2 {
            let answer = handle(&ctx, &live_comment(busy, now), None).await.unwrap();
            assert_eq!(answer["results"]["totalConnections"], 3);
        }
        let over = handle(&ctx, &live_comment(busy, now), None).await.unwrap();
        assert_eq!(over["results"]["totalConnections"], 0, "{over}");
        assert_eq!(poster.deliveries().len(), 3);
        assert!(poster.deliveries().values().all(|n| *n == 2));
        // Another note has its own ceiling; an operator's broadcast has none.
        let other = handle(&ctx, &live_comment(quiet, now), None).await.unwrap();
        assert_eq!(other["results"]["sent"], 3);
        let operator = handle(&ctx, &direct_invocation(), None).await.unwrap();
        assert_eq!(operator["results"]["sent"], 3);
    }

    /// Records when each post was made.
    #[derive(Default)]
    struct TimedPoster(Mutex<Vec<i64>>);

    #[async_trait]
    impl Poster for TimedPoster {
        async fn post(&self, _id: &str, _data: Bytes) -> Result<(), PostError> {
            let second = chrono::Utc::now().timestamp();
            self.0.lock().unwrap().push(second);
            Ok(())
        }
    }

    #[tokio::test]
    async fn two_instances_fanning_out_at_once_share_one_send_budget_per_second() {
        let (_dir, store) = store_with(12).await;
        let poster = Arc::new(TimedPoster::default());
        // Two instances: their own contexts and pacing, one control store.
        let instance = || WsContext {
            connections: store.clone(),
            control: Some(store.clone()),
            limits: None,
            verifier: None,
            poster: poster.clone(),
            fanout: FanoutOptions {
                page_size: 4,
                send_rate: Some(10),
                ..FanoutOptions::default()
            },
        };
        let body = json!({"type": "announcement", "data": {"text": "hello"}});
        let (a, b) = (instance(), instance());
        let (first, second) = tokio::join!(run(&a, &body, None), run(&b, &body, None));
        assert_eq!(first.unwrap().sent + second.unwrap().sent, 24);
        let mut per_second = BTreeMap::new();
        for second in poster.0.lock().unwrap().iter() {
            *per_second.entry(*second).or_insert(0) += 1;
        }
        assert!(
            per_second.values().all(|n| *n <= 10),
            "at most 10 posts in any second: {per_second:?}"
        );
        assert!(
            per_second.len() >= 3,
            "24 posts at 10 a second: {per_second:?}"
        );
    }

    #[tokio::test]
    async fn a_live_comment_that_would_wait_past_its_freshness_skips_the_rest_for_good() {
        let (_dir, store) = store_with(10).await;
        let poster = Arc::new(FakePoster::default());
        let mut ctx = context(store.clone(), store, poster.clone(), 1);
        ctx.fanout.send_rate = Some(2);
        // Written 59.5 s ago: half a second of its minute is left.
        let written = chrono::Utc::now() - chrono::Duration::milliseconds(59_500);
        let event = live_comment(Uuid::new_v4(), written);
        let answer = handle(&ctx, &event, None).await.unwrap();
        let results = &answer["results"];
        let (sent, skipped) = (
            results["sent"].as_u64().unwrap(),
            results["skipped"].as_u64().unwrap(),
        );
        assert!((1..=4).contains(&sent), "{answer}");
        // Those dispatched are skipped; the scan stops, so the rest are not even read.
        assert!(skipped >= 1 && sent + skipped <= 10, "{answer}");
        assert_eq!(poster.deliveries().len() as u64, sent);
        // Skipped is final: a redelivery of the event posts nothing more.
        let again = handle(&ctx, &event, None).await.unwrap();
        assert_eq!(again["results"]["totalConnections"], 0);
    }
}
