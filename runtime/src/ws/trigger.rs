//! How the notes API hands a stored comment to the broadcast: `comment.created` in the exact
//! shape the front end reads (`data.postId`, `data.comment` = `{id, content, username, createdAt,
//! updatedAt, postId}`).
//!
//! In AWS the API invokes the broadcast function asynchronously (`InvocationType: Event`): Lambda
//! queues the event and answers 202 at once, so the API's answer does not wait for the fan-out,
//! and a failed fan-out is retried by Lambda's async retries instead of failing the request. The
//! IAM-authorized HTTP route stays for operators. Locally the same payload is handed to the
//! broadcast handler on a background task.

use async_trait::async_trait;
use serde_json::{Value, json};

use super::WsContext;
use super::messages::{BroadcastRequest, Target};
use crate::api::{CommentEvents, Recipients};
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
    }
}

/// Invokes the broadcast function asynchronously.
pub struct LambdaTrigger {
    http: reqwest::Client,
    signer: Signer,
    /// The Lambda API endpoint (`https://lambda.{region}.{suffix}` unless overridden).
    endpoint: String,
    function_name: String,
}

impl LambdaTrigger {
    pub fn new(
        http: reqwest::Client,
        signer: Signer,
        endpoint: impl Into<String>,
        function_name: impl Into<String>,
    ) -> Self {
        Self {
            http,
            signer,
            endpoint: endpoint.into(),
            function_name: function_name.into(),
        }
    }
}

#[async_trait]
impl CommentEvents for LambdaTrigger {
    async fn comment_created(&self, comment: &CommentView, recipients: Recipients, list: Value) {
        let payload = comment_created(comment, &recipients, list)
            .to_payload()
            .to_string();
        let sent = invoke_async(
            &self.http,
            &self.signer,
            &self.endpoint,
            &self.function_name,
            payload.into(),
        )
        .await;
        if let Err(e) = sent {
            tracing::error!(
                function = %self.function_name,
                error = %e,
                "could not queue the comment broadcast"
            );
        }
    }
}

/// Runs the broadcast handler in this process, on a background task (`noteapp local`).
pub struct InProcessTrigger {
    ctx: WsContext,
}

impl InProcessTrigger {
    pub fn new(ctx: WsContext) -> Self {
        Self { ctx }
    }
}

#[async_trait]
impl CommentEvents for InProcessTrigger {
    async fn comment_created(&self, comment: &CommentView, recipients: Recipients, list: Value) {
        let payload = comment_created(comment, &recipients, list).to_payload();
        let ctx = self.ctx.clone();
        tokio::spawn(async move {
            super::broadcast::handle(&ctx, &payload).await;
        });
    }
}
