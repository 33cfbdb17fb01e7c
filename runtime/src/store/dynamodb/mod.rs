//! DynamoDB implementation of [`super::Store`], for AWS and for any DynamoDB API (`moto_server`).
//!
//! What a request costs does not grow with the tables:
//! - every list reads a keys-only index (or a key range of the base table) and then only the
//!   items of its page; totals come from counters kept with the writes that change them, in the
//!   same transaction ([`counts`]);
//! - public notes are spread over [`FEED_SHARDS`](crate::store::schema::FEED_SHARDS) feed keys, and the first page of the
//!   feed is cached for a second (`FEED_CACHE_TTL`) in each process, so neither publishing nor the
//!   front page lands on one partition;
//! - comments are gated and counted on a small per-note item in the Comments table, so writing
//!   a comment never touches the note (an owner can edit a note while it gets comments), and a
//!   deleted note's comments are removed in the background, resumably ([`Store::purge_deleted`]).
//!
//! Every rule two concurrent requests could race on lives in a condition of the write itself.
//! Transaction conflicts and throttling are retried with backoff, then reported as
//! [`StoreError::Conflict`] (409) or [`StoreError::Throttled`] (429). The code is split by
//! concern: `tables`, [`items`], `notes`, `comments`, [`counts`], `connections`, `control`
//! (rate-limit counters and broadcast progress), and
//! [`import`] (notes and profiles made elsewhere, for `noteapp migrate`).

mod comments;
mod connections;
mod control;
pub mod counts;
pub mod import;
pub mod items;
mod notes;
mod tables;

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, TransactWriteItem, WriteRequest};
use uuid::Uuid;

pub use comments::Purger;
pub use connections::{DynamoConnections, connection_item};
pub use control::DynamoControl;
pub use items::{Gate, Item, comment_item, feed_shard, gate_item, note_from_item, note_item};
pub use tables::{StoreTables, TableNames, create_tables};

use super::{CommentGate, EnsuredUser, NoteChange, Purged, Store, StoreError, Visibility};
use crate::domain::{Comment, Note, Page, PageRequest, ProfileEdit, Timestamp, UserProfile};
use items::{Update, s, user_from_item, user_item};

/// The most items one `BatchWriteItem` call accepts.
const BATCH_WRITE_MAX: usize = 25;
/// The most keys one `BatchGetItem` call accepts.
const BATCH_GET_MAX: usize = 100;
/// Attempts for writes DynamoDB leaves unprocessed, cancels on a transaction conflict or
/// throttles, before the request answers 409 or 429.
const WRITE_ATTEMPTS: u32 = 6;

/// The DynamoDB store. Cheap to clone (the SDK client and the feed cache are shared).
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    tables: StoreTables,
    query_page_size: Option<u32>,
    feed_cache: notes::FeedCache,
}

impl DynamoStore {
    /// A store over `tables`, through `client`.
    pub fn new(client: Client, tables: StoreTables) -> Self {
        Self {
            client,
            tables,
            query_page_size: None,
            feed_cache: notes::FeedCache::default(),
        }
    }

    /// Caps every query page at `items` (at least 1), on top of DynamoDB's own 1 MB limit.
    /// Tests use small pages to exercise the `LastEvaluatedKey` loops on small data sets.
    pub fn with_query_page_size(mut self, items: u32) -> Self {
        self.query_page_size = Some(items.max(1));
        self
    }

    /// Turns the first page's cache off (tests that read what another store wrote).
    pub fn without_feed_cache(mut self) -> Self {
        self.feed_cache = notes::FeedCache::disabled();
        self
    }

    /// The SDK client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The table names.
    pub fn tables(&self) -> &StoreTables {
        &self.tables
    }

    /// The `Limit` for a query page that needs `wanted` more items.
    fn page_limit(&self, wanted: usize) -> i32 {
        let capped = match self.query_page_size {
            Some(cap) => wanted.min(cap as usize),
            None => wanted,
        };
        i32::try_from(capped.max(1)).unwrap_or(i32::MAX)
    }

    /// Runs one transaction, retrying conflicts and throttling with jittered backoff; the
    /// cancellation reasons of a failed condition come back for the caller to read.
    async fn transact(
        &self,
        what: &str,
        items: Vec<TransactWriteItem>,
    ) -> Result<Result<(), Vec<Option<String>>>, StoreError> {
        let mut delay = Duration::from_millis(10);
        for attempt in 1..=WRITE_ATTEMPTS {
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await;
            let err = match result {
                Ok(_) => return Ok(Ok(())),
                Err(err) => err,
            };
            let reasons: Option<Vec<Option<String>>> =
                err.as_service_error().and_then(|e| match e {
                    TransactWriteItemsError::TransactionCanceledException(cancelled) => Some(
                        cancelled
                            .cancellation_reasons()
                            .iter()
                            .map(|r| r.code().map(str::to_owned))
                            .collect(),
                    ),
                    _ => None,
                });
            let retryable = match &reasons {
                Some(reasons) if reasons.iter().any(|c| is_condition(c.as_deref())) => {
                    return Ok(Err(reasons.clone()));
                }
                Some(reasons) => reasons.iter().any(|c| is_contention(c.as_deref())),
                None => matches!(
                    err.code(),
                    Some(
                        "TransactionConflictException"
                            | "TransactionInProgressException"
                            | "ThrottlingException"
                            | "ProvisionedThroughputExceededException"
                            | "RequestLimitExceeded"
                    )
                ),
            };
            if !retryable {
                return Err(sdk_error(what, err));
            }
            if attempt == WRITE_ATTEMPTS {
                let throttled = reasons.as_ref().is_some_and(|r| {
                    r.iter().any(|c| {
                        matches!(
                            c.as_deref(),
                            Some("ThrottlingError" | "ProvisionedThroughputExceeded")
                        )
                    })
                }) || matches!(
                    err.code(),
                    Some(
                        "ThrottlingException"
                            | "ProvisionedThroughputExceededException"
                            | "RequestLimitExceeded"
                    )
                );
                let detail = format!("{what}: still contended after {WRITE_ATTEMPTS} attempts");
                return Err(if throttled {
                    StoreError::Throttled(detail)
                } else {
                    StoreError::Conflict(detail)
                });
            }
            tokio::time::sleep(jittered(delay)).await;
            delay = (delay * 3).min(Duration::from_millis(800));
        }
        unreachable!("the last attempt returns")
    }

    /// The items at `keys` of `table` (any order), following `UnprocessedKeys`.
    async fn batch_get(&self, table: &str, keys: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        use aws_sdk_dynamodb::types::KeysAndAttributes;
        let mut found = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(BATCH_GET_MAX) {
            let mut pending = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(chunk.to_vec()))
                    .build()
                    .map_err(|e| build_error("batch get keys", e))?,
            );
            let mut delay = Duration::from_millis(25);
            let mut attempt = 0;
            while let Some(request) = pending.take() {
                attempt += 1;
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(table, request)
                    .send()
                    .await
                    .map_err(|e| sdk_error(&format!("batch get from {table}"), e))?;
                if let Some(mut responses) = out.responses {
                    found.extend(responses.remove(table).unwrap_or_default());
                }
                pending = out
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(table))
                    .filter(|k| !k.keys().is_empty());
                if pending.is_some() {
                    if attempt >= WRITE_ATTEMPTS {
                        return Err(StoreError::Throttled(format!(
                            "batch get from {table}: keys still unprocessed"
                        )));
                    }
                    tokio::time::sleep(jittered(delay)).await;
                    delay *= 2;
                }
            }
        }
        Ok(found)
    }
}

/// One `BatchWriteItem` of at most 25 requests, resending unprocessed items with backoff.
async fn batch_write(
    client: &Client,
    table: &str,
    mut requests: Vec<WriteRequest>,
) -> Result<(), StoreError> {
    let mut delay = Duration::from_millis(25);
    for attempt in 1..=WRITE_ATTEMPTS {
        let out = client
            .batch_write_item()
            .request_items(table, requests)
            .send()
            .await
            .map_err(|e| sdk_error(&format!("batch write to {table}"), e))?;
        requests = out
            .unprocessed_items
            .and_then(|mut unprocessed| unprocessed.remove(table))
            .unwrap_or_default();
        if requests.is_empty() {
            return Ok(());
        }
        if attempt < WRITE_ATTEMPTS {
            tokio::time::sleep(jittered(delay)).await;
            delay = (delay * 2).min(Duration::from_secs(2));
        }
    }
    Err(StoreError::Throttled(format!(
        "batch write to {table}: {} items still unprocessed after {WRITE_ATTEMPTS} attempts",
        requests.len()
    )))
}

/// A condition of the transaction failed (the caller says what that means).
fn is_condition(code: Option<&str>) -> bool {
    code == Some("ConditionalCheckFailed")
}

/// Another writer or the table's capacity stopped the transaction: worth retrying.
fn is_contention(code: Option<&str>) -> bool {
    matches!(
        code,
        Some("TransactionConflict" | "ThrottlingError" | "ProvisionedThroughputExceeded")
    )
}

/// `delay` ± 50 %.
fn jittered(delay: Duration) -> Duration {
    use rand::Rng;
    delay.mul_f64(rand::thread_rng().gen_range(0.5..1.5))
}

fn build_error(what: &str, err: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("cannot build {what}: {err}"))
}

/// Whether a plain write failed its condition.
fn condition_failed<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    err.code() == Some("ConditionalCheckFailedException")
}

/// Maps an SDK failure: throttling codes to [`StoreError::Throttled`], the rest to
/// [`StoreError::Backend`] with the full error chain.
pub(crate) fn sdk_error<E, R>(context: &str, err: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let code = err.code().map(str::to_owned);
    classify(
        code.as_deref(),
        format!("{context}: {}", DisplayErrorContext(&err)),
    )
}

fn classify(code: Option<&str>, message: String) -> StoreError {
    match code {
        Some(
            "ProvisionedThroughputExceededException"
            | "ThrottlingException"
            | "RequestLimitExceeded",
        ) => StoreError::Throttled(message),
        Some("TransactionConflictException") => StoreError::Conflict(message),
        _ => StoreError::Backend(message),
    }
}

#[async_trait]
impl Store for DynamoStore {
    async fn create_note(&self, note: &Note) -> Result<(), StoreError> {
        notes::create(self, note).await
    }

    async fn get_note(&self, id: Uuid) -> Result<Option<Note>, StoreError> {
        notes::get(self, id).await
    }

    async fn update_note(
        &self,
        id: Uuid,
        owner: &str,
        change: &NoteChange,
        now: &Timestamp,
    ) -> Result<Note, StoreError> {
        notes::update(self, id, owner, change, now).await
    }

    async fn delete_note(&self, id: Uuid, owner: &str) -> Result<(), StoreError> {
        notes::delete(self, id, owner).await
    }

    async fn list_public_notes(&self, page: &PageRequest) -> Result<Page<Note>, StoreError> {
        notes::list_public(self, page).await
    }

    async fn list_owner_notes(
        &self,
        owner: &str,
        page: &PageRequest,
    ) -> Result<Page<Note>, StoreError> {
        notes::list_owner(self, owner, page).await
    }

    async fn get_user(&self, uid: &str) -> Result<Option<UserProfile>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.users)
            .key("uid", s(uid))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("get user", e))?;
        out.item.as_ref().map(user_from_item).transpose()
    }

    async fn ensure_user(&self, initial: &UserProfile) -> Result<EnsuredUser, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.tables.users)
            .set_item(Some(user_item(initial)))
            .condition_expression("attribute_not_exists(#uid)")
            .expression_attribute_names("#uid", "uid")
            .send()
            .await;
        match result {
            Ok(_) => Ok(EnsuredUser {
                profile: initial.clone(),
                created: true,
            }),
            Err(err) if condition_failed(&err) => match self.get_user(&initial.uid).await? {
                Some(profile) => Ok(EnsuredUser {
                    profile,
                    created: false,
                }),
                None => Err(StoreError::Backend(
                    "user exists but could not be read back".into(),
                )),
            },
            Err(err) => Err(sdk_error("create user", err)),
        }
    }

    async fn update_user(
        &self,
        defaults: &UserProfile,
        edit: &ProfileEdit,
        is_anonymous: Option<bool>,
        now: &Timestamp,
    ) -> Result<UserProfile, StoreError> {
        let mut update = Update::default();
        match &edit.display_name {
            Some(name) => update.set("display_name", s(name)),
            None => update.set_default("display_name", s(&defaults.display_name)),
        }
        for (attribute, edited, default) in [
            ("email", &edit.email, &defaults.email),
            ("avatar_url", &edit.avatar_url, &defaults.avatar_url),
        ] {
            match (edited, default) {
                (Some(Some(value)), _) => update.set(attribute, s(value)),
                (Some(None), _) => update.remove(attribute),
                (None, Some(value)) => update.set_default(attribute, s(value)),
                (None, None) => {}
            }
        }
        match is_anonymous {
            Some(flag) => update.set("is_anonymous", AttributeValue::Bool(flag)),
            None => update.set_default("is_anonymous", AttributeValue::Bool(defaults.is_anonymous)),
        }
        update.set_default("created_at", s(&defaults.created_at));
        update.set("updated_at", s(now));
        let out = self
            .client
            .update_item()
            .table_name(&self.tables.users)
            .key("uid", s(&defaults.uid))
            .update_expression(update.expression())
            .set_expression_attribute_names(Some(update.names))
            .set_expression_attribute_values(Some(update.values))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| sdk_error("update user", e))?;
        match out.attributes {
            Some(item) => user_from_item(&item),
            None => Err(StoreError::Backend(
                "update user returned no attributes".into(),
            )),
        }
    }

    async fn add_comment(&self, comment: &Comment, gate: &CommentGate) -> Result<(), StoreError> {
        comments::add(self, comment, gate).await
    }

    async fn list_comments(
        &self,
        note_id: Uuid,
        page: &PageRequest,
        gate: &CommentGate,
    ) -> Result<Page<Comment>, StoreError> {
        comments::list(self, note_id, page, gate).await
    }

    async fn note_visibility(&self, id: Uuid) -> Result<Option<Visibility>, StoreError> {
        comments::visibility(self, id).await
    }

    async fn purge_deleted(&self, note: Option<Uuid>) -> Result<Purged, StoreError> {
        Purger::new(self.client.clone(), self.tables.comments.clone())
            .purge(note)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_codes_map_to_throttled_conflicts_to_conflict_and_the_rest_to_backend() {
        for code in [
            "ProvisionedThroughputExceededException",
            "ThrottlingException",
            "RequestLimitExceeded",
        ] {
            assert!(matches!(
                classify(Some(code), "x".into()),
                StoreError::Throttled(_)
            ));
        }
        assert!(matches!(
            classify(Some("TransactionConflictException"), "x".into()),
            StoreError::Conflict(_)
        ));
        assert!(matches!(
            classify(Some("ResourceNotFoundException"), "x".into()),
            StoreError::Backend(_)
        ));
        assert!(matches!(classify(None, "x".into()), StoreError::Backend(_)));
        assert!(is_contention(Some("TransactionConflict")));
        assert!(!is_contention(Some("ConditionalCheckFailed")));
    }
}
