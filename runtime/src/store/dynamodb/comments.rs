//! Comments: gated and counted on the note's small gate item, listed by key range, and purged
//! in the background after their note is deleted.
//!
//! - Writing one is one transaction: the gate's counter moves (on the condition that the note
//!   is commentable by this caller) and the comment is put. The note item is never touched, so
//!   editing a note never conflicts with its comments.
//! - Page 1 is one consistent query of `limit` comments after the gate; page N first reads
//!   the keys of the comments before it from a keys-only index (about 100 bytes each), then
//!   `limit` comments; a cursor goes straight to its page. `total` is the gate's counter.
//! - Deleting a note closes its gate and lists it under `#deleting` in the same transaction;
//!   [`Purger::purge`] then removes the comments in batches of 25, the gate, and the listing,
//!   last. A purge cut short (a crash, a timeout) leaves the note listed, and the next purge
//!   finishes it: every step is a delete, so repeating one is harmless.

use aws_sdk_dynamodb::types::{
    AttributeValue, DeleteRequest, Put, TransactWriteItem, Update as UpdateItem, WriteRequest,
};
use uuid::Uuid;

use super::items::{
    DELETING, Fields, GATE_KEY, Item, comment_from_item, comment_item, gate_from_item, gate_key, n,
    s,
};
use super::{BATCH_WRITE_MAX, DynamoStore, build_error, sdk_error};
use crate::domain::{Comment, Page, PageRequest};
use crate::store::cursor::{List, Position, TIMESTAMP_CEILING, TIMESTAMP_FLOOR};
use crate::store::schema::COMMENT_KEYS_INDEX;
use crate::store::{CommentGate, Purged, StoreError, Visibility};

pub(super) async fn add(
    store: &DynamoStore,
    comment: &Comment,
    gate: &CommentGate,
) -> Result<(), StoreError> {
    let mut update = UpdateItem::builder()
        .table_name(&store.tables.comments)
        .set_key(Some(gate_key(comment.note_id)))
        .update_expression("ADD #comments :one")
        .expression_attribute_names("#comments", "comments")
        .expression_attribute_names("#deleting", "deleting")
        .expression_attribute_names("#key", "comment_key")
        .expression_attribute_values(":one", n(1))
        .expression_attribute_values(":false", AttributeValue::Bool(false));
    update = match gate {
        CommentGate::Public => update
            .condition_expression(
                "attribute_exists(#key) AND (attribute_not_exists(#deleting) OR #deleting = :false) \
                 AND #public = :true",
            )
            .expression_attribute_names("#public", "public")
            .expression_attribute_values(":true", AttributeValue::Bool(true)),
        CommentGate::Owner(uid) => update
            .condition_expression(
                "attribute_exists(#key) AND (attribute_not_exists(#deleting) OR #deleting = :false) \
                 AND #owner = :owner",
            )
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":owner", s(uid)),
    };
    let update = update.build().map_err(|e| build_error("gate update", e))?;
    let put = Put::builder()
        .table_name(&store.tables.comments)
        .set_item(Some(comment_item(comment)))
        .condition_expression("attribute_not_exists(#key)")
        .expression_attribute_names("#key", "comment_key")
        .build()
        .map_err(|e| build_error("comment put", e))?;
    let items = vec![
        TransactWriteItem::builder().update(update).build(),
        TransactWriteItem::builder().put(put).build(),
    ];
    match store.transact("add comment", items).await? {
        Ok(()) => Ok(()),
        Err(reasons) => match reasons.first().map(Option::as_deref) {
            Some(Some("ConditionalCheckFailed")) => Err(StoreError::NotFound),
            _ => Err(StoreError::AlreadyExists),
        },
    }
}

/// The note's gate item, unless it is missing or closed (the note is being deleted).
async fn read_gate(
    store: &DynamoStore,
    note: Uuid,
) -> Result<Option<super::items::Gate>, StoreError> {
    let out = store
        .client
        .get_item()
        .table_name(&store.tables.comments)
        .set_key(Some(gate_key(note)))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| sdk_error("read the note's gate", e))?;
    let gate = out.item.as_ref().map(gate_from_item).transpose()?;
    Ok(gate.filter(|g| !g.deleting))
}

pub(super) async fn visibility(
    store: &DynamoStore,
    note: Uuid,
) -> Result<Option<Visibility>, StoreError> {
    Ok(read_gate(store, note).await?.map(|g| Visibility {
        owner: g.owner,
        public: g.public,
    }))
}

/// The note's gate, if it lets `gate` through (else [`StoreError::NotFound`]): its comment
/// count.
async fn open_gate(store: &DynamoStore, note: Uuid, gate: &CommentGate) -> Result<u64, StoreError> {
    match read_gate(store, note).await? {
        Some(g) => {
            let allowed = match gate {
                CommentGate::Public => g.public,
                CommentGate::Owner(uid) => &g.owner == uid,
            };
            if allowed {
                Ok(g.comments.max(0) as u64)
            } else {
                Err(StoreError::NotFound)
            }
        }
        _ => Err(StoreError::NotFound),
    }
}

/// The cursor after comment key `key` (`created_at#id`) of `note`'s comments.
fn encode_cursor(note: Uuid, key: &str) -> String {
    let (at, id) = key.split_once('#').unwrap_or((key, ""));
    Position::new(at, id).encode(List::Comments(note))
}

/// The lowest key a page that starts after `cursor` (one of `note`'s cursors) may read.
/// Comment keys are fixed width (a timestamp, `#`, a hyphenated UUID), so any key after the
/// cursor's own sorts after that key with anything appended, and the key itself before it.
fn decode_cursor(note: Uuid, cursor: &str) -> Result<String, StoreError> {
    let position = Position::decode(cursor, List::Comments(note))?;
    Ok(format!("{}#{}~", position.at, position.id))
}

/// The comment key of the `offset`-th comment of `note` (counting from 1), from the keys-only
/// index: what page N starts after.
async fn key_at(
    store: &DynamoStore,
    note: Uuid,
    offset: usize,
) -> Result<Option<String>, StoreError> {
    let mut seen = 0usize;
    let mut start: Option<Item> = None;
    loop {
        let out = store
            .client
            .query()
            .table_name(&store.tables.comments)
            .index_name(COMMENT_KEYS_INDEX)
            .key_condition_expression("#ref = :note AND #key BETWEEN :floor AND :ceiling")
            .expression_attribute_names("#ref", "note_ref")
            .expression_attribute_names("#key", "comment_key")
            .expression_attribute_values(":note", s(note.to_string()))
            .expression_attribute_values(":floor", s(TIMESTAMP_FLOOR))
            .expression_attribute_values(":ceiling", s(TIMESTAMP_CEILING))
            .limit(store.page_limit(offset - seen))
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .map_err(|e| sdk_error("skip comment keys", e))?;
        let items = out.items();
        if seen + items.len() >= offset {
            let item = &items[offset - seen - 1];
            return Ok(Some(
                Fields {
                    item,
                    kind: "comment key",
                }
                .string("comment_key")?,
            ));
        }
        seen += items.len();
        match out.last_evaluated_key {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => return Ok(None),
        }
    }
}

pub(super) async fn list(
    store: &DynamoStore,
    note: Uuid,
    request: &PageRequest,
    gate: &CommentGate,
) -> Result<Page<Comment>, StoreError> {
    let total = open_gate(store, note, gate).await?;
    let limit = request.limit as usize;
    // The range read is bounded on both sides to comment keys (timestamps first), so it never
    // reaches the gate (`#note`) whatever the cursor: a page starts at the floor, just after a
    // cursor's key, or just after the last key of the pages before it.
    let from = match request.after() {
        Some(cursor) => decode_cursor(note, cursor)?,
        None if request.cursor.is_some() => TIMESTAMP_FLOOR.to_owned(),
        None if request.offset() as u64 >= total => return Ok(Page::new(Vec::new(), total)),
        None if request.offset() == 0 => TIMESTAMP_FLOOR.to_owned(),
        None => match key_at(store, note, request.offset()).await? {
            Some(key) => format!("{key}~"),
            None => return Ok(Page::new(Vec::new(), total)),
        },
    };
    let mut items: Vec<Item> = Vec::with_capacity(limit + 1);
    let mut start: Option<Item> = None;
    loop {
        let out = store
            .client
            .query()
            .table_name(&store.tables.comments)
            .key_condition_expression("#note = :note AND #key BETWEEN :from AND :ceiling")
            .expression_attribute_names("#note", "note_id")
            .expression_attribute_names("#key", "comment_key")
            .expression_attribute_values(":note", s(note.to_string()))
            .expression_attribute_values(":from", s(&from))
            .expression_attribute_values(":ceiling", s(TIMESTAMP_CEILING))
            .consistent_read(true)
            // One more than the page: whether another follows.
            .limit(store.page_limit(limit + 1 - items.len()))
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .map_err(|e| sdk_error("query comments", e))?;
        items.extend(out.items.unwrap_or_default());
        match out.last_evaluated_key {
            Some(key) if !key.is_empty() && items.len() <= limit => start = Some(key),
            _ => break,
        }
    }
    let more = items.len() > limit;
    items.truncate(limit);
    let comments = items
        .iter()
        .map(comment_from_item)
        .collect::<Result<Vec<_>, _>>()?;
    let next_cursor = items
        .last()
        .filter(|_| more)
        .and_then(|item| {
            Fields {
                item,
                kind: "comment",
            }
            .string("comment_key")
            .ok()
        })
        .map(|key| encode_cursor(note, &key));
    Ok(Page {
        items: comments,
        total,
        next_cursor,
    })
}

/// Removes what deleted notes left in the Comments table: the only thing `bootstrap cleanup`
/// needs, so it holds only that table.
#[derive(Debug, Clone)]
pub struct Purger {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl Purger {
    /// A purger of the comments in `comments_table`.
    pub fn new(client: aws_sdk_dynamodb::Client, comments_table: impl Into<String>) -> Self {
        Self {
            client,
            table: comments_table.into(),
        }
    }

    /// Purges `note` (if it is listed as deleted) or every listed note.
    pub async fn purge(&self, note: Option<Uuid>) -> Result<Purged, StoreError> {
        let mut purged = Purged::default();
        for id in self.listed(note).await? {
            purged.comments += self.purge_note(id).await?;
            purged.notes += 1;
        }
        Ok(purged)
    }

    /// One page (at most 100) of the keys of partition `partition`.
    async fn partition_keys(&self, partition: &str) -> Result<Vec<Item>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#note = :note")
            .expression_attribute_names("#note", "note_id")
            .expression_attribute_names("#key", "comment_key")
            .expression_attribute_values(":note", s(partition))
            .projection_expression("#note, #key")
            .consistent_read(true)
            .limit(100)
            .send()
            .await
            .map_err(|e| sdk_error("list comments to purge", e))?;
        Ok(out.items.unwrap_or_default())
    }

    /// Removes everything of deleted note `note`, in batches of 25, then its listing.
    async fn purge_note(&self, note: Uuid) -> Result<u64, StoreError> {
        let mut comments = 0u64;
        loop {
            let keys = self.partition_keys(&note.to_string()).await?;
            if keys.is_empty() {
                break;
            }
            for chunk in keys.chunks(BATCH_WRITE_MAX) {
                comments += chunk
                    .iter()
                    .filter(|k| k.get("comment_key") != Some(&s(GATE_KEY)))
                    .count() as u64;
                let requests = chunk
                    .iter()
                    .map(|key| {
                        DeleteRequest::builder()
                            .set_key(Some(key.clone()))
                            .build()
                            .map(|delete| WriteRequest::builder().delete_request(delete).build())
                            .map_err(|e| build_error("delete request", e))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                super::batch_write(&self.client, &self.table, requests).await?;
            }
        }
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("note_id", s(DELETING))
            .key("comment_key", s(note.to_string()))
            .send()
            .await
            .map_err(|e| sdk_error("finish a purge", e))?;
        Ok(comments)
    }

    /// The notes listed as being deleted (all of them, or just `note` when it is listed).
    async fn listed(&self, note: Option<Uuid>) -> Result<Vec<Uuid>, StoreError> {
        if let Some(note) = note {
            let out = self
                .client
                .get_item()
                .table_name(&self.table)
                .key("note_id", s(DELETING))
                .key("comment_key", s(note.to_string()))
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| sdk_error("read a purge listing", e))?;
            return Ok(out.item.map(|_| note).into_iter().collect());
        }
        let mut notes = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#note = :deleting")
                .expression_attribute_names("#note", "note_id")
                .expression_attribute_values(":deleting", s(DELETING))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| sdk_error("list purges", e))?;
            for item in out.items() {
                let key = (Fields {
                    item,
                    kind: "purge listing",
                })
                .string("comment_key")?;
                if let Ok(id) = Uuid::parse_str(&key) {
                    notes.push(id);
                }
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(notes),
            }
        }
    }
}
