//! Notes: writes that keep the counters and the gate in step, and lists that read keys first.
//!
//! Every list reads a keys-only index for the keys of its page (page N reads at most N × limit
//! keys per feed shard, nothing past the list's end), then `BatchGetItem`s the page's notes:
//! about `limit` items whatever the table holds. A cursor (the last key of the previous page,
//! opaque to clients) reads the next page at the cost of one page, at any depth.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, Put, ReturnValue, TransactWriteItem, Update as UpdateItem,
};
use futures_util::future::try_join_all;
use uuid::Uuid;

use super::counts::{bump, owner_counter, owner_total, public_counter, public_total};
use super::items::{
    DELETING, Fields, Item, Update, feed_shard, gate_key, note_from_item, note_item, s,
};
use super::{DynamoStore, WRITE_ATTEMPTS, build_error, condition_failed, jittered, sdk_error};
use crate::domain::{Note, Page, PageRequest, Timestamp};
use crate::store::cursor::{List, Position, TIMESTAMP_CEILING, TIMESTAMP_FLOOR};
use crate::store::schema::{FEED_INDEX, FEED_SHARDS, OWNER_INDEX, feed_key};
use crate::store::{NoteChange, StoreError};

/// How stale the first page of the public feed may be in one process: a note published (or
/// changed) elsewhere shows there within this long; writes through this process show at once.
pub const FEED_CACHE_TTL: Duration = Duration::from_secs(1);

/// The first page of the feed, per `limit`, for [`FEED_CACHE_TTL`]: at 5,000 reads a second
/// per process, DynamoDB sees one.
#[derive(Debug, Clone)]
pub(super) struct FeedCache {
    pages: Option<Arc<Mutex<CachedPages>>>,
}

/// The cached first pages by `limit`, with when each was read.
type CachedPages = HashMap<u32, (Instant, Page<Note>)>;

impl Default for FeedCache {
    fn default() -> Self {
        Self {
            pages: Some(Arc::default()),
        }
    }
}

impl FeedCache {
    pub(super) fn disabled() -> Self {
        Self { pages: None }
    }

    fn get(&self, limit: u32) -> Option<Page<Note>> {
        let pages = self
            .pages
            .as_ref()?
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        pages
            .get(&limit)
            .filter(|(at, _)| at.elapsed() < FEED_CACHE_TTL)
            .map(|(_, page)| page.clone())
    }

    fn put(&self, limit: u32, page: &Page<Note>) {
        if let Some(pages) = &self.pages {
            let mut pages = pages.lock().unwrap_or_else(|e| e.into_inner());
            pages.insert(limit, (Instant::now(), page.clone()));
        }
    }

    /// Forgets every cached page (a public note changed through this process).
    fn clear(&self) {
        if let Some(pages) = &self.pages {
            pages.lock().unwrap_or_else(|e| e.into_inner()).clear();
        }
    }
}

fn transact_put(item: Put) -> TransactWriteItem {
    TransactWriteItem::builder().put(item).build()
}

fn transact_update(item: UpdateItem) -> TransactWriteItem {
    TransactWriteItem::builder().update(item).build()
}

/// The gate update for a visibility change: upserts the gate (self-healing one an older
/// version never wrote), refusing a note being deleted.
fn gate_update(
    store: &DynamoStore,
    id: Uuid,
    owner: &str,
    public: bool,
) -> Result<TransactWriteItem, StoreError> {
    Ok(transact_update(gate_upsert(store, id, owner, public)?))
}

/// The gate upsert of [`gate_update`], on its own.
pub(super) fn gate_upsert(
    store: &DynamoStore,
    id: Uuid,
    owner: &str,
    public: bool,
) -> Result<UpdateItem, StoreError> {
    UpdateItem::builder()
        .table_name(&store.tables.comments)
        .set_key(Some(gate_key(id)))
        .update_expression(
            "SET #public = :public, #owner = :owner, #comments = if_not_exists(#comments, :zero), \
             #deleting = if_not_exists(#deleting, :false)",
        )
        .condition_expression("attribute_not_exists(#deleting) OR #deleting = :false")
        .expression_attribute_names("#public", "public")
        .expression_attribute_names("#owner", "owner")
        .expression_attribute_names("#comments", "comments")
        .expression_attribute_names("#deleting", "deleting")
        .expression_attribute_values(":public", AttributeValue::Bool(public))
        .expression_attribute_values(":owner", s(owner))
        .expression_attribute_values(":zero", super::items::n(0))
        .expression_attribute_values(":false", AttributeValue::Bool(false))
        .build()
        .map_err(|e| build_error("gate update", e))
}

pub(super) async fn create(store: &DynamoStore, note: &Note) -> Result<(), StoreError> {
    let put = Put::builder()
        .table_name(&store.tables.notes)
        .set_item(Some(note_item(note)))
        .condition_expression("attribute_not_exists(#id)")
        .expression_attribute_names("#id", "id")
        .build()
        .map_err(|e| build_error("note put", e))?;
    let gate = Put::builder()
        .table_name(&store.tables.comments)
        .set_item(Some(super::items::gate_item(
            note.id,
            &super::items::Gate {
                owner: note.owner_uid.clone(),
                public: note.is_public(),
                deleting: false,
                comments: 0,
            },
        )))
        .build()
        .map_err(|e| build_error("gate put", e))?;
    let mut items = vec![
        transact_put(put),
        bump(store, &owner_counter(&note.owner_uid), 1)?,
        transact_put(gate),
    ];
    if note.is_public() {
        items.push(bump(store, &public_counter(feed_shard(note.id)), 1)?);
        store.feed_cache.clear();
    }
    match store.transact("create note", items).await? {
        Ok(()) => Ok(()),
        Err(_) => Err(StoreError::AlreadyExists),
    }
}

pub(super) async fn get(store: &DynamoStore, id: Uuid) -> Result<Option<Note>, StoreError> {
    let out = store
        .client
        .get_item()
        .table_name(&store.tables.notes)
        .key("id", s(id.to_string()))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| sdk_error("get note", e))?;
    out.item.as_ref().map(note_from_item).transpose()
}

/// `owner`'s note `id`, or [`StoreError::NotFound`].
async fn owned(store: &DynamoStore, id: Uuid, owner: &str) -> Result<Note, StoreError> {
    match get(store, id).await? {
        Some(note) if note.owner_uid == owner => Ok(note),
        _ => Err(StoreError::NotFound),
    }
}

pub(super) async fn update(
    store: &DynamoStore,
    id: Uuid,
    owner: &str,
    change: &NoteChange,
    now: &Timestamp,
) -> Result<Note, StoreError> {
    match change {
        NoteChange::Edit(edit) => {
            let mut update = Update::default();
            match &edit.title {
                Some(Some(title)) => update.set("title", s(title)),
                Some(None) => update.remove("title"),
                None => {}
            }
            if let Some(content) = &edit.content {
                update.set("content", s(content));
            }
            update.set("updated_at", s(now));
            let id_name = update.name("id");
            let owner_name = update.name("owner_uid");
            let owner_value = update.value("owner", s(owner));
            let result = store
                .client
                .update_item()
                .table_name(&store.tables.notes)
                .key("id", s(id.to_string()))
                .update_expression(update.expression())
                .condition_expression(format!(
                    "attribute_exists({id_name}) AND {owner_name} = {owner_value}"
                ))
                .set_expression_attribute_names(Some(update.names))
                .set_expression_attribute_values(Some(update.values))
                .return_values(ReturnValue::AllNew)
                .send()
                .await;
            let note = match result {
                Ok(out) => match out.attributes {
                    Some(item) => note_from_item(&item)?,
                    None => {
                        return Err(StoreError::Backend(
                            "update note returned no attributes".into(),
                        ));
                    }
                },
                Err(err) if condition_failed(&err) => return Err(StoreError::NotFound),
                Err(err) => return Err(sdk_error("update note", err)),
            };
            if note.is_public() {
                store.feed_cache.clear();
            }
            Ok(note)
        }
        NoteChange::Publish => set_visibility(store, id, owner, true, now).await,
        NoteChange::Unpublish => set_visibility(store, id, owner, false, now).await,
    }
}

/// Publishes or unpublishes, moving the public counter and the gate in the same transaction.
/// A note already in the wanted state is returned as it is (a re-publish keeps `publishedAt`).
async fn set_visibility(
    store: &DynamoStore,
    id: Uuid,
    owner: &str,
    public: bool,
    now: &Timestamp,
) -> Result<Note, StoreError> {
    for _ in 0..WRITE_ATTEMPTS {
        let mut note = owned(store, id, owner).await?;
        if note.is_public() == public {
            return Ok(note);
        }
        let mut update = Update::default();
        if public {
            update.set("published_at", s(now));
            update.set("feed", s(feed_key(feed_shard(id))));
        } else {
            update.remove("published_at");
            update.remove("feed");
        }
        update.set("updated_at", s(now));
        let published = update.name("published_at");
        let owner_name = update.name("owner_uid");
        let owner_value = update.value("owner", s(owner));
        let state = if public {
            format!("attribute_not_exists({published})")
        } else {
            format!("attribute_exists({published})")
        };
        let note_update = UpdateItem::builder()
            .table_name(&store.tables.notes)
            .key("id", s(id.to_string()))
            .update_expression(update.expression())
            .condition_expression(format!("{owner_name} = {owner_value} AND {state}"))
            .set_expression_attribute_names(Some(update.names))
            .set_expression_attribute_values(Some(update.values))
            .build()
            .map_err(|e| build_error("note update", e))?;
        let delta = if public { 1 } else { -1 };
        let items = vec![
            transact_update(note_update),
            bump(store, &public_counter(feed_shard(id)), delta)?,
            gate_update(store, id, owner, public)?,
        ];
        let what = if public {
            "publish note"
        } else {
            "unpublish note"
        };
        match store.transact(what, items).await? {
            Ok(()) => {
                store.feed_cache.clear();
                note.published_at = public.then(|| now.clone());
                note.updated_at.clone_from(now);
                return Ok(note);
            }
            // Changed (or deleted) since it was read: read it again.
            Err(_) => tokio::time::sleep(jittered(Duration::from_millis(10))).await,
        }
    }
    Err(StoreError::Conflict(format!(
        "note {id} kept changing during its visibility change"
    )))
}

pub(super) async fn delete(store: &DynamoStore, id: Uuid, owner: &str) -> Result<(), StoreError> {
    for _ in 0..WRITE_ATTEMPTS {
        let note = owned(store, id, owner).await?;
        let mut delete = Delete::builder()
            .table_name(&store.tables.notes)
            .key("id", s(id.to_string()))
            .expression_attribute_names("#owner", "owner_uid")
            .expression_attribute_names("#published", "published_at")
            .expression_attribute_values(":owner", s(owner));
        delete = match &note.published_at {
            Some(at) => delete
                .condition_expression("#owner = :owner AND #published = :published")
                .expression_attribute_values(":published", s(at)),
            None => {
                delete.condition_expression("#owner = :owner AND attribute_not_exists(#published)")
            }
        };
        let delete = delete.build().map_err(|e| build_error("note delete", e))?;
        let closing = UpdateItem::builder()
            .table_name(&store.tables.comments)
            .set_key(Some(gate_key(id)))
            .update_expression("SET #deleting = :true, #owner = :owner, #public = :false")
            .expression_attribute_names("#deleting", "deleting")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_names("#public", "public")
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .expression_attribute_values(":owner", s(owner))
            .build()
            .map_err(|e| build_error("gate update", e))?;
        let tombstone = Put::builder()
            .table_name(&store.tables.comments)
            .item("note_id", s(DELETING))
            .item("comment_key", s(id.to_string()))
            .build()
            .map_err(|e| build_error("tombstone put", e))?;
        let mut items = vec![
            TransactWriteItem::builder().delete(delete).build(),
            bump(store, &owner_counter(owner), -1)?,
            transact_update(closing),
            transact_put(tombstone),
        ];
        if note.is_public() {
            items.push(bump(store, &public_counter(feed_shard(id)), -1)?);
        }
        match store.transact("delete note", items).await? {
            Ok(()) => {
                if note.is_public() {
                    store.feed_cache.clear();
                }
                return Ok(());
            }
            Err(_) => tokio::time::sleep(jittered(Duration::from_millis(10))).await,
        }
    }
    Err(StoreError::Conflict(format!(
        "note {id} kept changing while it was being deleted"
    )))
}

/// One keys-only index partition, newest first.
struct KeyQuery<'a> {
    index: &'static str,
    hash_name: &'static str,
    hash_value: String,
    range_name: &'static str,
    /// Only keys at or before this position (a cursor).
    before: Option<&'a Position>,
    /// The list this query reads (part of it, for the feed's shards).
    list: List<'a>,
}

/// Up to `wanted` positions of `q`, newest first, following `LastEvaluatedKey`.
async fn positions(
    store: &DynamoStore,
    q: KeyQuery<'_>,
    wanted: usize,
) -> Result<(Vec<Position>, bool), StoreError> {
    let mut out = Vec::with_capacity(wanted.min(1000));
    let mut start: Option<Item> = None;
    // Bounded on both sides to timestamps, whatever the cursor: only notes carry these keys,
    // and the bounds keep it so for any key a later item kind might add.
    let ceiling = q
        .before
        .map_or(TIMESTAMP_CEILING, |before| before.at.as_str());
    let extra = 1 + usize::from(q.before.is_some());
    loop {
        let request = store
            .client
            .query()
            .table_name(&store.tables.notes)
            .index_name(q.index)
            .key_condition_expression("#h = :h AND #r BETWEEN :floor AND :ceiling")
            .expression_attribute_names("#h", q.hash_name)
            .expression_attribute_names("#r", q.range_name)
            .expression_attribute_values(":h", s(&q.hash_value))
            .expression_attribute_values(":floor", s(TIMESTAMP_FLOOR))
            .expression_attribute_values(":ceiling", s(ceiling))
            .scan_index_forward(false)
            // One more than wanted: whether the list goes on (and the cursor's own key, which
            // `<=` reads again).
            .limit(store.page_limit(extra + wanted - out.len().min(wanted)))
            .set_exclusive_start_key(start.take());
        let page = request
            .send()
            .await
            .map_err(|e| sdk_error(&format!("query {}", q.index), e))?;
        for item in page.items() {
            let f = Fields {
                item,
                kind: "index key",
            };
            let position = Position {
                at: f.string(q.range_name)?,
                id: f.string("id")?,
            };
            // Ties at the cursor's time sort by id: keep only what comes after the cursor.
            if q.before
                .is_some_and(|before| !position.follows(before, q.list))
            {
                continue;
            }
            out.push(position);
        }
        match page.last_evaluated_key {
            Some(key) if !key.is_empty() && out.len() <= wanted => start = Some(key),
            _ => break,
        }
    }
    let more = out.len() > wanted;
    out.truncate(wanted);
    Ok((out, more))
}

/// The notes at `positions`, in that order (one dropped when `keep` refuses it: it changed
/// between the index and the table).
async fn fetch(
    store: &DynamoStore,
    positions: &[Position],
    keep: impl Fn(&Note) -> bool,
) -> Result<Vec<Note>, StoreError> {
    let keys = positions
        .iter()
        .map(|p| Item::from([("id".to_owned(), s(&p.id))]))
        .collect();
    let mut found: HashMap<Uuid, Note> = store
        .batch_get(&store.tables.notes, keys)
        .await?
        .iter()
        .map(note_from_item)
        .map(|note| note.map(|n| (n.id, n)))
        .collect::<Result<_, _>>()?;
    Ok(positions
        .iter()
        .filter_map(|p| Uuid::parse_str(&p.id).ok())
        .filter_map(|id| found.remove(&id))
        .filter(keep)
        .collect())
}

/// The page `request` asks for out of `total` items, from `queries` (each newest first).
async fn page_of(
    store: &DynamoStore,
    list: List<'_>,
    queries: Vec<KeyQuery<'_>>,
    request: &PageRequest,
    total: u64,
    keep: impl Fn(&Note) -> bool,
) -> Result<Page<Note>, StoreError> {
    let limit = request.limit as usize;
    let cursor_mode = request.cursor.is_some();
    let wanted = if cursor_mode { limit } else { request.end() };
    if !cursor_mode && request.offset() as u64 >= total {
        return Ok(Page::new(Vec::new(), total));
    }
    // Never read past the list's end, whatever page is asked for.
    let wanted = wanted.min(usize::try_from(total).unwrap_or(usize::MAX).max(limit));
    let parts = try_join_all(queries.into_iter().map(|q| positions(store, q, wanted))).await?;
    let mut more = parts.iter().any(|(_, more)| *more);
    let mut merged: Vec<Position> = parts.into_iter().flat_map(|(p, _)| p).collect();
    merged.sort_by(|a, b| b.cmp(a));
    if merged.len() > wanted {
        more = true;
        merged.truncate(wanted);
    }
    let slice = if cursor_mode {
        &merged[..]
    } else {
        &merged[request.offset().min(merged.len())..]
    };
    let items = fetch(store, slice, keep).await?;
    let last = slice.last();
    let next = if cursor_mode {
        more
    } else {
        (request.end() as u64) < total
    };
    Ok(Page {
        items,
        total,
        next_cursor: last.filter(|_| next).map(|p| p.encode(list)),
    })
}

pub(super) async fn list_public(
    store: &DynamoStore,
    request: &PageRequest,
) -> Result<Page<Note>, StoreError> {
    let first_page = request.page == 1 && request.cursor.is_none();
    if first_page && let Some(page) = store.feed_cache.get(request.limit) {
        return Ok(page);
    }
    let list = List::PublicFeed;
    let before = request
        .after()
        .map(|cursor| Position::decode(cursor, list))
        .transpose()?;
    let total = public_total(store).await?;
    let queries = (0..FEED_SHARDS)
        .map(|shard| KeyQuery {
            index: FEED_INDEX,
            hash_name: "feed",
            hash_value: feed_key(shard),
            range_name: "published_at",
            before: before.as_ref(),
            list,
        })
        .collect();
    let page = page_of(store, list, queries, request, total, Note::is_public).await?;
    if first_page {
        store.feed_cache.put(request.limit, &page);
    }
    Ok(page)
}

pub(super) async fn list_owner(
    store: &DynamoStore,
    owner: &str,
    request: &PageRequest,
) -> Result<Page<Note>, StoreError> {
    let list = List::Owner(owner);
    let before = request
        .after()
        .map(|cursor| Position::decode(cursor, list))
        .transpose()?;
    let total = owner_total(store, owner).await?;
    let query = KeyQuery {
        index: OWNER_INDEX,
        hash_name: "owner_uid",
        hash_value: owner.to_owned(),
        range_name: "created_at",
        before: before.as_ref(),
        list,
    };
    page_of(store, list, vec![query], request, total, |n| {
        n.owner_uid == owner
    })
    .await
}
