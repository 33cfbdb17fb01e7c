//! Importing notes and profiles made elsewhere (`noteapp migrate`, from the seed's tables),
//! written exactly as this store's own API would have written them.
//!
//! An imported note is its Notes item (with its feed key when public) and its comment gate, as
//! a visibility change leaves it. They are two plain writes, the note first: half the write
//! units of a transaction (and far faster on moto, which copies its tables for each one). A run
//! cut short between the two leaves a note whose gate is missing or stale; the caller ends every
//! run with [`super::counts::repair`], which rebuilds such gates and recomputes the counters,
//! which are not moved here either, since an import may be cut short and run again.
//!
//! Every write is decided against what the table holds ([`compare`]) and made on the condition
//! that it still holds it, so running an import again is harmless and converges:
//! - missing: written (on `attribute_not_exists`);
//! - the same item: nothing written;
//! - different, and not newer than the import: replaced (on `updated_at` being the one read);
//! - newer than the import (edited through the API since): kept, and said so.
//!
//! A condition that fails (someone wrote in between) reads the item again, consistently, and
//! decides again.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;
use uuid::Uuid;

use super::counts::owner_counter;
use super::items::{Item, note_item, s, user_item};
use super::notes::gate_upsert;
use super::{DynamoStore, WRITE_ATTEMPTS, condition_failed, sdk_error};
use crate::domain::{Note, UserProfile};
use crate::store::StoreError;

/// What the table holds, against an item to import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "found", content = "attributes")]
pub enum Found {
    /// No item with this key.
    Missing,
    /// Exactly this item.
    Same,
    /// Another version, not newer: these attributes differ (sorted).
    Differs(Vec<String>),
    /// A version updated later than the one imported (edited through the API since): these
    /// attributes differ.
    Newer(Vec<String>),
}

/// What an import write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Imported {
    /// It was missing and is written.
    Created,
    /// An older version was there and is replaced.
    Updated,
    /// The same item was there; nothing written.
    Unchanged,
    /// A newer version was there and was kept.
    KeptNewer,
}

/// The Users item of a profile, as the store writes it.
pub fn profile_item(user: &UserProfile) -> Item {
    user_item(user)
}

/// Compares `want` with `current` (the stored item, if any). Both items carry `updated_at` in
/// the stores' fixed-width form, so text order is time order.
pub fn compare(want: &Item, current: Option<&Item>) -> Found {
    let Some(current) = current else {
        return Found::Missing;
    };
    if want == current {
        return Found::Same;
    }
    let mut attributes: Vec<String> = want
        .keys()
        .chain(current.keys())
        .filter(|k| want.get(*k) != current.get(*k))
        .cloned()
        .collect();
    attributes.sort_unstable();
    attributes.dedup();
    let updated = |item: &Item| match item.get("updated_at") {
        Some(AttributeValue::S(at)) => at.clone(),
        _ => String::new(),
    };
    if updated(current) > updated(want) {
        Found::Newer(attributes)
    } else {
        Found::Differs(attributes)
    }
}

impl DynamoStore {
    /// The stored notes with these ids, as items, by id (eventually consistent reads, 100 keys a
    /// call: a stale answer only costs a failed condition and a consistent read in
    /// [`DynamoStore::import_note`]).
    pub async fn note_items(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, Item>, StoreError> {
        let keys = ids
            .iter()
            .map(|id| Item::from([("id".to_owned(), s(id.to_string()))]))
            .collect();
        let items = self.batch_get(&self.tables.notes, keys).await?;
        Ok(items
            .into_iter()
            .filter_map(|item| {
                let id = match item.get("id") {
                    Some(AttributeValue::S(id)) => Uuid::parse_str(id).ok()?,
                    _ => return None,
                };
                Some((id, item))
            })
            .collect())
    }

    /// The stored profiles with these uids, as items, by uid (as [`DynamoStore::note_items`]).
    pub async fn profile_items(
        &self,
        uids: &[String],
    ) -> Result<HashMap<String, Item>, StoreError> {
        let keys = uids
            .iter()
            .map(|uid| Item::from([("uid".to_owned(), s(uid))]))
            .collect();
        let items = self.batch_get(&self.tables.users, keys).await?;
        Ok(items
            .into_iter()
            .filter_map(|item| match item.get("uid") {
                Some(AttributeValue::S(uid)) => Some((uid.clone(), item)),
                _ => None,
            })
            .collect())
    }

    /// One stored item, read consistently.
    pub async fn stored_item(
        &self,
        table: &str,
        key: (&str, &str),
    ) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(table)
            .key(key.0, s(key.1))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error(&format!("read an item of {table}"), e))?;
        Ok(out.item)
    }

    /// Writes `note` and its comment gate unless the table already holds it (or a newer
    /// version), given `current`, what a read found there. Idempotent; see the module doc.
    pub async fn import_note(
        &self,
        note: &Note,
        current: Option<Item>,
    ) -> Result<Imported, StoreError> {
        let id = note.id.to_string();
        let key = ("id", id.as_str());
        let outcome = self
            .import_item(&self.tables.notes, key, &note_item(note), current)
            .await?;
        if matches!(outcome, Imported::Created | Imported::Updated) {
            self.upsert_gate(note).await?;
        }
        Ok(outcome)
    }

    /// Writes `user`'s profile unless the table already holds it (or a newer version), given
    /// `current`, what a read found there. Idempotent; see the module doc.
    pub async fn import_profile(
        &self,
        user: &UserProfile,
        current: Option<Item>,
    ) -> Result<Imported, StoreError> {
        let key = ("uid", user.uid.as_str());
        self.import_item(&self.tables.users, key, &profile_item(user), current)
            .await
    }

    /// Writes `want` into `table` unless it holds it (or a newer version), deciding against
    /// `current` and, when a write's condition fails, against the item read again.
    async fn import_item(
        &self,
        table: &str,
        key: (&str, &str),
        want: &Item,
        mut current: Option<Item>,
    ) -> Result<Imported, StoreError> {
        for _ in 0..WRITE_ATTEMPTS {
            let condition = match condition(want, current.as_ref()) {
                Ok(condition) => condition,
                Err(done) => return Ok(done),
            };
            if self.conditional_put(table, key.0, want, &condition).await? {
                return Ok(condition.outcome);
            }
            current = self.stored_item(table, key).await?;
        }
        Err(StoreError::Conflict(format!(
            "{} {} in {table} kept changing while it was imported",
            key.0, key.1
        )))
    }

    /// The note's gate as the API's visibility change leaves it (comments counted so far kept).
    async fn upsert_gate(&self, note: &Note) -> Result<(), StoreError> {
        let gate = gate_upsert(self, note.id, &note.owner_uid, note.is_public())?;
        self.client
            .update_item()
            .table_name(gate.table_name())
            .set_key(Some(gate.key().clone()))
            .update_expression(gate.update_expression())
            .set_condition_expression(gate.condition_expression().map(str::to_owned))
            .set_expression_attribute_names(gate.expression_attribute_names().cloned())
            .set_expression_attribute_values(gate.expression_attribute_values().cloned())
            .send()
            .await
            .map_err(|e| sdk_error(&format!("import the comment gate of note {}", note.id), e))?;
        Ok(())
    }

    /// Puts `item` into `table` (keyed on `key`) on `condition`; `false` when the condition
    /// did not hold.
    async fn conditional_put(
        &self,
        table: &str,
        key: &str,
        item: &Item,
        condition: &Condition,
    ) -> Result<bool, StoreError> {
        let mut put = self
            .client
            .put_item()
            .table_name(table)
            .set_item(Some(item.clone()))
            .condition_expression(condition.expression)
            .expression_attribute_names("#key", key);
        if let Some(seen) = &condition.seen {
            put = put
                .expression_attribute_names("#updated_at", "updated_at")
                .expression_attribute_values(":seen", s(seen));
        }
        match put.send().await {
            Ok(_) => Ok(true),
            Err(err) if condition_failed(&err) => Ok(false),
            Err(err) => Err(sdk_error(&format!("import into {table}"), err)),
        }
    }

    /// The note counters of these owners (what each notebook's `total` reads), by owner; an
    /// owner without a counter has 0.
    pub async fn owner_note_totals(
        &self,
        owners: &[String],
    ) -> Result<HashMap<String, i64>, StoreError> {
        let keys = owners
            .iter()
            .map(|owner| Item::from([("id".to_owned(), s(owner_counter(owner)))]))
            .collect();
        let found: HashMap<String, i64> = self
            .batch_get(&self.tables.notes, keys)
            .await?
            .iter()
            .filter_map(|item| {
                let Some(AttributeValue::S(id)) = item.get("id") else {
                    return None;
                };
                let n = match item.get("n") {
                    Some(AttributeValue::N(n)) => n.parse().ok()?,
                    _ => 0,
                };
                Some((id.clone(), n))
            })
            .collect();
        Ok(owners
            .iter()
            .map(|owner| {
                let n = found.get(&owner_counter(owner)).copied().unwrap_or(0);
                (owner.clone(), n)
            })
            .collect())
    }
}

/// The condition an import write is made on, and what it does when it holds.
#[derive(Debug)]
struct Condition {
    expression: &'static str,
    /// The `updated_at` of the version read, which the write replaces.
    seen: Option<String>,
    outcome: Imported,
}

/// The write to make against `current`, or `Err` with the outcome when none is needed.
fn condition(want: &Item, current: Option<&Item>) -> Result<Condition, Imported> {
    match compare(want, current) {
        Found::Same => Err(Imported::Unchanged),
        Found::Newer(_) => Err(Imported::KeptNewer),
        Found::Missing => Ok(Condition {
            expression: "attribute_not_exists(#key)",
            seen: None,
            outcome: Imported::Created,
        }),
        Found::Differs(_) => {
            let seen = match current.and_then(|c| c.get("updated_at")) {
                Some(AttributeValue::S(at)) => Some(at.clone()),
                _ => None,
            };
            Ok(match seen {
                Some(seen) => Condition {
                    expression: "attribute_exists(#key) AND #updated_at = :seen",
                    seen: Some(seen),
                    outcome: Imported::Updated,
                },
                // A stored item without `updated_at` (not one this store wrote): replaced as
                // long as it still exists.
                None => Condition {
                    expression: "attribute_exists(#key)",
                    seen: None,
                    outcome: Imported::Updated,
                },
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(updated: &str, content: &str) -> Item {
        Item::from([
            ("id".to_owned(), s("a")),
            ("updated_at".to_owned(), s(updated)),
            ("content".to_owned(), s(content)),
        ])
    }

    #[test]
    fn compare_names_what_differs_and_whether_the_stored_version_is_newer() {
        let want = item("2025-01-02T00:00:00.000000Z", "new");
        assert_eq!(compare(&want, None), Found::Missing);
        assert_eq!(compare(&want, Some(&want.clone())), Found::Same);
        let older = item("2025-01-01T00:00:00.000000Z", "old");
        assert_eq!(
            compare(&want, Some(&older)),
            Found::Differs(vec!["content".into(), "updated_at".into()])
        );
        let newer = item("2025-01-03T00:00:00.000000Z", "edited in noteapp");
        assert!(matches!(compare(&want, Some(&newer)), Found::Newer(_)));
        // Same time, other content (a publish the seed made without touching updated_at).
        let mut published = want.clone();
        published.insert("published_at".into(), s("2025-01-02T00:00:00.000000Z"));
        assert_eq!(
            compare(&published, Some(&want)),
            Found::Differs(vec!["published_at".into()])
        );
    }

    #[test]
    fn a_rerun_writes_nothing_and_a_change_replaces_only_the_version_read() {
        let want = item("2025-01-02T00:00:00.000000Z", "new");
        assert_eq!(
            condition(&want, Some(&want.clone())).err(),
            Some(Imported::Unchanged)
        );
        let created = condition(&want, None).expect("a write");
        assert_eq!(created.expression, "attribute_not_exists(#key)");
        assert_eq!(created.outcome, Imported::Created);
        let older = item("2025-01-01T00:00:00.000000Z", "old");
        let updated = condition(&want, Some(&older)).expect("a write");
        assert_eq!(updated.seen.as_deref(), Some("2025-01-01T00:00:00.000000Z"));
        assert_eq!(updated.outcome, Imported::Updated);
        let newer = item("2025-01-03T00:00:00.000000Z", "edited");
        assert_eq!(
            condition(&want, Some(&newer)).err(),
            Some(Imported::KeptNewer)
        );
    }
}
