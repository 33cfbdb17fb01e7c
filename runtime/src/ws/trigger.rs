//! How the notes API hands off its background work: a stored comment to the broadcast (and a
//! deleted note to the purge of its comments). For the broadcast: `comment.created` in the exact
//! shape the front end reads (`data.postId`, `data.comment` = `{id, content, username, createdAt,
//! updatedAt, postId}`).
//!
//! In AWS the API invokes the broadcast function asynchronously (`InvocationType: Event`): Lambda
//! queues the event and answers 202 at once, so the API's answer does not wait for the fan-out,
//! and a failed fan-out is retried by Lambda's async retries instead of failing the request.
//! It invokes the function names it is given as they are: the template gives the `live` aliases'
//! ARNs (`…:function:<stack>-ws-broadcast:live`), so the release serving traffic (and, during a
//! canary, its share of it) is the one that delivers, and the role may invoke only those. The
//! IAM-authorized HTTP route stays for operators. Locally the same payload is handed to the
//! broadcast handler on a background task.

use async_trait::async_trait;
use serde_json::{Value, json};

use super::WsContext;
use super::messages::{BroadcastRequest, Target};
use crate::api::{AppEvents, Recipients};
use crate::aws_http::{Signer, invoke_async};
use crate::domain::CommentView;

/// The broadcast request for a stored comment: `comment.created`, then on the same connection
/// `comments.list` with the note's first page as read after the write.
///
/// The front end appends every `comment.created` to its cached list without de-duplicating, and
/// refetches the list when its own POST settles; a push that lands after that refetch would leave
/// the poster with two copies. `comments.list` replaces the list, and it always arrives after the
/// `comment.created` it follows, so whatever the timing the last thing a page applies is a whole
/// list (this one or its own refetch) that holds the comment exactly once.
pub fn comment_created(
    comment: &CommentView,
    recipients: &Recipients,
    list: Value,
) -> BroadcastRequest {
    BroadcastRequest {
        kind: "comment.created".into(),
        data: json!({"postId": comment.post_id, "comment": comment}),
        target: match recipients {
            Recipients::Everyone => Target::Everyone,
            Recipients::Owner(uid) => Target::Owner(uid.clone()),
        },
        then: Some(("comments.list".into(), list)),
        event_id: Some(uuid::Uuid::new_v4().to_string()),
    }
}

/// Invokes the broadcast and cleanup functions asynchronously.
pub struct LambdaTrigger {
    http: reqwest::Client,
    signer: Signer,
    /// The Lambda API endpoint (`https://lambda.{region}.{suffix}` unless overridden).
    endpoint: String,
    broadcast_function: String,
    /// Purges a deleted note's comments; without it the scheduled sweep does.
    cleanup_function: Option<String>,
}

impl LambdaTrigger {
    /// Invokes `broadcast_function` (and `cleanup_function`, when set) at `endpoint`, signing
    /// with `signer` and sending with `http`.
    pub fn new(
        http: reqwest::Client,
        signer: Signer,
        endpoint: impl Into<String>,
        broadcast_function: impl Into<String>,
        cleanup_function: Option<String>,
    ) -> Self {
        Self {
            http,
            signer,
            endpoint: endpoint.into(),
            broadcast_function: broadcast_function.into(),
            cleanup_function,
        }
    }

    async fn invoke(&self, function: &str, payload: String, what: &str) {
        let sent = invoke_async(
            &self.http,
            &self.signer,
            &self.endpoint,
            function,
            payload.into(),
        )
        .await;
        if let Err(e) = sent {
            tracing::error!(function, error = %e, "could not queue {what}");
        }
    }
}

#[async_trait]
impl AppEvents for LambdaTrigger {
    async fn comment_created(&self, comment: &CommentView, recipients: Recipients, list: Value) {
        let payload = comment_created(comment, &recipients, list)
            .to_payload()
            .to_string();
        self.invoke(&self.broadcast_function, payload, "the comment broadcast")
            .await;
    }

    async fn note_deleted(&self, note: uuid::Uuid) {
        if let Some(function) = &self.cleanup_function {
            let payload = json!({"noteId": note}).to_string();
            self.invoke(function, payload, "the purge of a deleted note")
                .await;
        }
    }
}

/// Runs the broadcast handler and the purge in this process, on background tasks
/// (`noteapp local`).
pub struct InProcessTrigger {
    ctx: WsContext,
    store: std::sync::Arc<dyn crate::store::Store>,
}

impl InProcessTrigger {
    /// Runs the handlers with `ctx` and purges from `store`.
    pub fn new(ctx: WsContext, store: std::sync::Arc<dyn crate::store::Store>) -> Self {
        Self { ctx, store }
    }
}

#[async_trait]
impl AppEvents for InProcessTrigger {
    async fn comment_created(&self, comment: &CommentView, recipients: Recipients, list: Value) {
        let payload = comment_created(comment, &recipients, list).to_payload();
        let ctx = self.ctx.clone();
        tokio::spawn(async move {
            // Failures are logged by the handler; there is no retry queue locally.
            let _ = super::broadcast::handle(&ctx, &payload, None).await;
        });
    }

    async fn note_deleted(&self, note: uuid::Uuid) {
        let store = self.store.clone();
        tokio::spawn(async move {
            if let Err(e) = store.purge_deleted(Some(note)).await {
                tracing::warn!(%note, error = %e, "the purge of a deleted note stopped; the next sweep finishes it");
            }
        });
    }
}
