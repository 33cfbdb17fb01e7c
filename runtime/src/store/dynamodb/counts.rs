//! The counters behind every `total`: public notes (one counter per feed shard, summed), each
//! user's notes, and each note's comments (on its gate item). Each moves in the same
//! transaction as the write that changes what it counts, so it stays exact under concurrency;
//! reading a total is one or a few small items, whatever the table holds.
//!
//! [`check`] and [`repair`] compare the counters with what the tables hold, in one scan of the
//! Notes table and one of the Comments table: `noteapp data check|repair ENV`. Repair also
//! rebuilds what a note needs but lacks (its gate item, its feed key), so data written by older
//! versions, or seeded straight into the tables, comes into line. Run it when the tables are
//! quiet: a write during the scan can move a counter the repair then overwrites.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update as UpdateItem};
use serde::Serialize;
use uuid::Uuid;

use super::items::{
    DELETING, Fields, GATE_KEY, Gate, Item, feed_shard, gate_from_item, gate_item, n, s,
};
use super::{DynamoStore, build_error, sdk_error};
use crate::store::StoreError;
use crate::store::schema::{FEED_SHARDS, feed_key};

/// The counter of public notes in feed shard `shard`.
pub fn public_counter(shard: u32) -> String {
    format!("#count#public#{shard}")
}

/// The counter of `owner`'s notes.
pub fn owner_counter(owner: &str) -> String {
    format!("#count#owner#{owner}")
}

/// The transaction item that moves counter `id` of the Notes table by `delta`.
pub(super) fn bump(
    store: &DynamoStore,
    id: &str,
    delta: i64,
) -> Result<TransactWriteItem, StoreError> {
    let update = UpdateItem::builder()
        .table_name(&store.tables.notes)
        .key("id", s(id))
        .update_expression("ADD #n :delta")
        .expression_attribute_names("#n", "n")
        .expression_attribute_values(":delta", n(delta))
        .build()
        .map_err(|e| build_error("counter update", e))?;
    Ok(TransactWriteItem::builder().update(update).build())
}

fn counter_value(item: &Item) -> i64 {
    Fields {
        item,
        kind: "counter",
    }
    .number("n")
    .unwrap_or(0)
}

/// The number of public notes: the feed shards' counters, in one `BatchGetItem`.
pub(super) async fn public_total(store: &DynamoStore) -> Result<u64, StoreError> {
    let keys = (0..FEED_SHARDS)
        .map(|shard| Item::from([("id".to_owned(), s(public_counter(shard)))]))
        .collect();
    let items = store.batch_get(&store.tables.notes, keys).await?;
    Ok(items.iter().map(counter_value).sum::<i64>().max(0) as u64)
}

/// The number of `owner`'s notes.
pub(super) async fn owner_total(store: &DynamoStore, owner: &str) -> Result<u64, StoreError> {
    let out = store
        .client
        .get_item()
        .table_name(&store.tables.notes)
        .key("id", s(owner_counter(owner)))
        .send()
        .await
        .map_err(|e| sdk_error("read the owner's note counter", e))?;
    Ok(out.item.as_ref().map(counter_value).unwrap_or(0).max(0) as u64)
}

/// One counter that disagrees with the tables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Drift {
    /// `public notes (shard 2)`, `notes of alice`, `comments of <note id>`, `gate of <note id>`.
    pub what: String,
    /// What the counter says.
    pub stored: i64,
    /// What the tables hold.
    pub actual: i64,
}

/// What a check or a repair found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CountReport {
    /// Items of the Notes table read.
    pub notes_scanned: u64,
    /// Items of the Comments table read.
    pub comments_scanned: u64,
    /// The counters that disagreed with the tables.
    pub drifts: Vec<Drift>,
    /// Notes whose gate item or feed key was missing or wrong (rebuilt by a repair).
    pub notes_fixed: u64,
    /// Comments of no note that is still listed for purging (queued for it by a repair).
    pub orphaned_comment_notes: u64,
    /// Whether this was a repair (the drifts and missing items are then fixed).
    pub repaired: bool,
}

/// What one pass over the tables saw.
#[derive(Default)]
struct Census {
    report: CountReport,
    /// Stored counter values by counter id.
    stored: HashMap<String, i64>,
    /// Public notes per shard, notes per owner.
    public: BTreeMap<u32, i64>,
    owners: BTreeMap<String, i64>,
    /// Notes: owner, public, and whether their feed key is right.
    notes: BTreeMap<Uuid, (String, bool, bool)>,
    gates: HashMap<Uuid, Gate>,
    comments: HashMap<Uuid, i64>,
    deleting: Vec<Uuid>,
}

async fn scan_all(
    store: &DynamoStore,
    table: &str,
    mut each: impl FnMut(&Item),
) -> Result<(), StoreError> {
    let mut start: Option<Item> = None;
    loop {
        let mut request = store
            .client
            .scan()
            .table_name(table)
            .consistent_read(true)
            .set_exclusive_start_key(start.take());
        if let Some(cap) = store.query_page_size {
            request = request.limit(cap as i32);
        }
        let out = request
            .send()
            .await
            .map_err(|e| sdk_error(&format!("scan {table}"), e))?;
        for item in out.items() {
            each(item);
        }
        match out.last_evaluated_key {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => return Ok(()),
        }
    }
}

async fn census(store: &DynamoStore) -> Result<Census, StoreError> {
    let mut c = Census::default();
    scan_all(store, &store.tables.notes.clone(), |item| {
        let Some(AttributeValue::S(id)) = item.get("id") else {
            return;
        };
        if id.starts_with("#count#") {
            c.stored.insert(id.clone(), counter_value(item));
            return;
        }
        let Ok(id) = Uuid::parse_str(id) else { return };
        let f = Fields { item, kind: "note" };
        let owner = f.string("owner_uid").unwrap_or_default();
        let public = item.contains_key("published_at");
        let want_feed = public.then(|| feed_key(feed_shard(id)));
        let feed = f.opt_string("feed").ok().flatten();
        c.report.notes_scanned += 1;
        if public {
            *c.public.entry(feed_shard(id)).or_default() += 1;
        }
        *c.owners.entry(owner.clone()).or_default() += 1;
        c.notes.insert(id, (owner, public, feed == want_feed));
    })
    .await?;
    scan_all(store, &store.tables.comments.clone(), |item| {
        let f = Fields {
            item,
            kind: "comment",
        };
        let (Ok(note), Ok(key)) = (f.string("note_id"), f.string("comment_key")) else {
            return;
        };
        if note == DELETING {
            if let Ok(id) = Uuid::parse_str(&key) {
                c.deleting.push(id);
            }
            return;
        }
        let Ok(note) = Uuid::parse_str(&note) else {
            return;
        };
        if key == GATE_KEY {
            if let Ok(gate) = gate_from_item(item) {
                c.gates.insert(note, gate);
            }
        } else {
            c.report.comments_scanned += 1;
            *c.comments.entry(note).or_default() += 1;
        }
    })
    .await?;
    Ok(c)
}

impl Census {
    /// Every counter and gate that disagrees with the notes and comments counted.
    fn compare(&mut self) -> Vec<(String, i64)> {
        let mut fixes = Vec::new();
        for shard in 0..FEED_SHARDS {
            let id = public_counter(shard);
            let actual = self.public.get(&shard).copied().unwrap_or(0);
            let stored = self.stored.get(&id).copied().unwrap_or(0);
            if stored != actual {
                self.report.drifts.push(Drift {
                    what: format!("public notes (shard {shard})"),
                    stored,
                    actual,
                });
                fixes.push((id, actual));
            }
        }
        let owners: Vec<(String, i64)> = self.owners.clone().into_iter().collect();
        for (owner, actual) in owners {
            let id = owner_counter(&owner);
            let stored = self.stored.get(&id).copied().unwrap_or(0);
            if stored != actual {
                self.report.drifts.push(Drift {
                    what: format!("notes of {owner}"),
                    stored,
                    actual,
                });
                fixes.push((id, actual));
            }
        }
        // Counters of owners who have no notes any more must read 0.
        for (id, stored) in &self.stored {
            if let Some(owner) = id.strip_prefix("#count#owner#")
                && !self.owners.contains_key(owner)
                && *stored != 0
            {
                self.report.drifts.push(Drift {
                    what: format!("notes of {owner}"),
                    stored: *stored,
                    actual: 0,
                });
                fixes.push((id.clone(), 0));
            }
        }
        fixes
    }

    /// Notes whose gate is missing or disagrees (owner, visibility, comment count).
    fn gate_fixes(&mut self) -> Vec<(Uuid, Gate)> {
        let mut fixes = Vec::new();
        for (id, (owner, public, feed_ok)) in &self.notes {
            let actual = self.comments.get(id).copied().unwrap_or(0);
            let want = Gate {
                owner: owner.clone(),
                public: *public,
                deleting: false,
                comments: actual,
            };
            match self.gates.get(id) {
                Some(gate) if *gate == want && *feed_ok => continue,
                Some(gate) if gate.comments != actual => self.report.drifts.push(Drift {
                    what: format!("comments of {id}"),
                    stored: gate.comments,
                    actual,
                }),
                _ => {}
            }
            self.report.notes_fixed += 1;
            fixes.push((*id, want));
        }
        fixes
    }

    /// Notes with comments (or a gate) that no longer exist and are not queued for purging.
    fn orphans(&mut self) -> Vec<Uuid> {
        let mut orphans: Vec<Uuid> = self
            .comments
            .keys()
            .chain(
                self.gates
                    .iter()
                    .filter(|(_, g)| !g.deleting)
                    .map(|(id, _)| id),
            )
            .filter(|id| !self.notes.contains_key(*id) && !self.deleting.contains(*id))
            .copied()
            .collect();
        orphans.sort_unstable();
        orphans.dedup();
        self.report.orphaned_comment_notes = orphans.len() as u64;
        orphans
    }
}

/// Compares every counter with the tables (one scan of each), changing nothing.
pub async fn check(store: &DynamoStore) -> Result<CountReport, StoreError> {
    let mut census = census(store).await?;
    census.compare();
    census.gate_fixes();
    census.orphans();
    Ok(census.report)
}

/// As [`check`], then writes the counts found: counters, gates, feed keys; and queues the
/// comments of notes that are gone for purging.
pub async fn repair(store: &DynamoStore) -> Result<CountReport, StoreError> {
    let mut census = census(store).await?;
    let counters = census.compare();
    let gates = census.gate_fixes();
    let orphans = census.orphans();
    let client = &store.client;
    for (id, value) in counters {
        client
            .put_item()
            .table_name(&store.tables.notes)
            .item("id", s(&id))
            .item("n", n(value))
            .send()
            .await
            .map_err(|e| sdk_error("repair a counter", e))?;
    }
    for (id, gate) in gates {
        client
            .put_item()
            .table_name(&store.tables.comments)
            .set_item(Some(gate_item(id, &gate)))
            .send()
            .await
            .map_err(|e| sdk_error("repair a note's gate", e))?;
        let mut update = client
            .update_item()
            .table_name(&store.tables.notes)
            .key("id", s(id.to_string()))
            .condition_expression("attribute_exists(#id)")
            .expression_attribute_names("#id", "id")
            .expression_attribute_names("#feed", "feed");
        update = if gate.public {
            update
                .update_expression("SET #feed = :feed")
                .expression_attribute_values(":feed", s(feed_key(feed_shard(id))))
        } else {
            update.update_expression("REMOVE #feed")
        };
        if let Err(e) = update.send().await
            && !super::condition_failed(&e)
        {
            return Err(sdk_error("repair a note's feed key", e));
        }
    }
    for id in orphans {
        client
            .put_item()
            .table_name(&store.tables.comments)
            .item("note_id", s(DELETING))
            .item("comment_key", s(id.to_string()))
            .send()
            .await
            .map_err(|e| sdk_error("queue orphaned comments for purging", e))?;
    }
    census.report.repaired = true;
    Ok(census.report)
}
