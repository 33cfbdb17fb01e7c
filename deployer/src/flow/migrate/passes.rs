//! The passes over the seed's tables: the plan (read and map, write nothing), the copy (read,
//! map, compare with the target, write what is missing or different) and the verification
//! (read, map, compare item by item, then the owners' counts, the counters, and what the
//! target holds that the seed does not).
//!
//! Every pass is a full, paced, parallel scan of each source table. A copy pass reads the
//! target's version of each page (one BatchGetItem per 100 items) and writes only what differs,
//! each write conditional on what it read ([`DynamoStore::import_note`]), so a pass repeated,
//! or cut short and run again, converges on the same tables. The catch-up is a second copy
//! pass: what was written or edited on the seed while the first one ran is what it writes.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;

use aws_sdk_dynamodb::Client;
use noteapp_runtime::domain::{Note, PageRequest, UserProfile};
use noteapp_runtime::store::Store;
use noteapp_runtime::store::StoreError;
use noteapp_runtime::store::dynamodb::import::{Found, Imported, compare, profile_item};
use noteapp_runtime::store::dynamodb::{DynamoStore, Item, counts, note_item};
use serde::Serialize;
use uuid::Uuid;

use super::scan::{Pacer, ScanOptions, Ticker, scan};
use super::transform::{self, Issue, Mapped};
use crate::error::Error;
use crate::progress::Progress;

/// A store failure during a migration, naming what was being done.
pub fn store_error(action: &str) -> impl Fn(StoreError) -> Error + '_ {
    move |e| Error::Aws {
        action: action.to_owned(),
        reason: e.to_string(),
    }
}

/// One of the two kinds of record a migration moves.
trait Kind {
    type Record;
    /// `notes` or `users`.
    const NAME: &'static str;
    /// The target table's key attribute.
    const KEY: &'static str;
    fn map(item: &Item) -> Mapped<Self::Record>;
    fn key(record: &Self::Record) -> String;
    /// The record as the target stores it.
    fn item(record: &Self::Record) -> Item;
    fn target_table(store: &DynamoStore) -> &str;
    /// The source table and its item estimate.
    fn source<'a>(passes: &Passes<'a>) -> (&'a str, Option<u64>);
    /// The target's items for these records, by key.
    async fn current(
        store: &DynamoStore,
        records: &[Self::Record],
    ) -> Result<HashMap<String, Item>, StoreError>;
    async fn import(
        store: &DynamoStore,
        record: &Self::Record,
        current: Option<Item>,
    ) -> Result<Imported, StoreError>;
}

struct Notes;
struct Users;

impl Kind for Notes {
    type Record = Note;
    const NAME: &'static str = "notes";
    const KEY: &'static str = "id";

    fn map(item: &Item) -> Mapped<Note> {
        transform::note(item)
    }
    fn key(note: &Note) -> String {
        note.id.to_string()
    }
    fn item(note: &Note) -> Item {
        note_item(note)
    }
    fn target_table(store: &DynamoStore) -> &str {
        &store.tables().notes
    }
    fn source<'a>(passes: &Passes<'a>) -> (&'a str, Option<u64>) {
        (passes.notes_table, passes.estimates.0)
    }
    async fn current(
        store: &DynamoStore,
        notes: &[Note],
    ) -> Result<HashMap<String, Item>, StoreError> {
        let ids: Vec<Uuid> = notes.iter().map(|n| n.id).collect();
        Ok(store
            .note_items(&ids)
            .await?
            .into_iter()
            .map(|(id, item)| (id.to_string(), item))
            .collect())
    }
    async fn import(
        store: &DynamoStore,
        note: &Note,
        current: Option<Item>,
    ) -> Result<Imported, StoreError> {
        store.import_note(note, current).await
    }
}

impl Kind for Users {
    type Record = UserProfile;
    const NAME: &'static str = "users";
    const KEY: &'static str = "uid";

    fn map(item: &Item) -> Mapped<UserProfile> {
        transform::user(item)
    }
    fn key(user: &UserProfile) -> String {
        user.uid.clone()
    }
    fn item(user: &UserProfile) -> Item {
        profile_item(user)
    }
    fn target_table(store: &DynamoStore) -> &str {
        &store.tables().users
    }
    fn source<'a>(passes: &Passes<'a>) -> (&'a str, Option<u64>) {
        (passes.users_table, passes.estimates.1)
    }
    async fn current(
        store: &DynamoStore,
        users: &[UserProfile],
    ) -> Result<HashMap<String, Item>, StoreError> {
        let uids: Vec<String> = users.iter().map(|u| u.uid.clone()).collect();
        store.profile_items(&uids).await
    }
    async fn import(
        store: &DynamoStore,
        user: &UserProfile,
        current: Option<Item>,
    ) -> Result<Imported, StoreError> {
        store.import_profile(user, current).await
    }
}

/// What the migration reads and writes, and how fast.
pub struct Passes<'a> {
    /// The source's DynamoDB client.
    pub source: &'a Client,
    /// The seed's notes table (keyed on `id`).
    pub notes_table: &'a str,
    /// The seed's users table (keyed on `uid`).
    pub users_table: &'a str,
    /// The target: noteapp's tables, written by the copy and read by the verification.
    pub store: &'a DynamoStore,
    /// The segments and page size of every scan of the source.
    pub options: ScanOptions,
    /// The source items per second, shared by every segment of every pass.
    pub pacer: &'a Pacer,
    /// Where each pass's running count is shown.
    pub progress: &'a Progress,
    /// Item estimates of the source tables (for the progress line).
    pub estimates: (Option<u64>, Option<u64>),
}

/// How many items of one table the plan found, and of which kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TableCounts {
    /// Items read from the table, the skipped ones included.
    pub items: u64,
    /// Notes: public; users: regular.
    pub public_or_regular: u64,
    /// Notes: private; users: anonymous.
    pub private_or_anonymous: u64,
    /// Items that will not be migrated (each named in the plan's `issues`).
    pub skipped: u64,
}

/// The plan: what the seed holds, how it maps, and every item not in the seed's exact shape.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Plan {
    /// What the seed's notes table holds.
    pub notes: TableCounts,
    /// What the seed's users table holds.
    pub users: TableCounts,
    /// Owners of at least one note that will be migrated.
    pub owners: u64,
    /// Every item not in the seed's exact shape, sorted by table, key and attribute; empty
    /// when every item is.
    pub issues: Vec<Issue>,
}

/// What a copy pass did to one table.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PassStats {
    /// Source items read.
    pub scanned: u64,
    /// Items the target lacked, written.
    pub created: u64,
    /// Items the target held in an older version, replaced.
    pub updated: u64,
    /// Items the target already held as mapped; nothing written.
    pub unchanged: u64,
    /// Newer in the target (edited through noteapp since) and kept.
    pub kept_newer: u64,
    /// Source items not migrated (the plan names each).
    pub skipped: u64,
    /// How long the pass took, in seconds.
    pub seconds: f64,
    /// `scanned` divided by `seconds`.
    pub items_per_second: f64,
}

impl PassStats {
    fn count(&mut self, outcome: Imported) {
        match outcome {
            Imported::Created => self.created += 1,
            Imported::Updated => self.updated += 1,
            Imported::Unchanged => self.unchanged += 1,
            Imported::KeptNewer => self.kept_newer += 1,
        }
    }

    fn timed(mut self, (scanned, seconds): (u64, f64)) -> Self {
        self.scanned = scanned;
        self.seconds = seconds;
        self.items_per_second = scanned as f64 / seconds.max(0.001);
        self
    }

    /// Items this pass wrote.
    pub fn written(&self) -> u64 {
        self.created + self.updated
    }
}

/// What one copy pass did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PassReport {
    /// The notes table's pass.
    pub notes: PassStats,
    /// The users table's pass.
    pub users: PassStats,
}

/// One way the target disagrees with the seed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// `notes`, `users`, `owners` or `counters`.
    pub table: String,
    /// The item's key (`id` or `uid`), the owner's uid, or which counter (`public notes`,
    /// `comment gates`, or the counter's own description).
    pub key: String,
    /// What disagrees, in words.
    pub problem: String,
}

/// What the verification compared and found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Verification {
    /// Seed notes compared with the target's, item by item (skipped ones aside).
    pub notes_checked: u64,
    /// Seed users compared with the target's, item by item (skipped ones aside).
    pub users_checked: u64,
    /// Owners whose note counter was compared with their notes in the seed.
    pub owners_checked: u64,
    /// Public notes in the seed, compared with the total of noteapp's public feed.
    pub public_notes: u64,
    /// Every way the target disagrees with the seed; empty when they agree.
    pub differences: Vec<Difference>,
}

/// What a verification pass over one table saw of the seed.
#[derive(Default)]
struct Seen {
    keys: HashSet<String>,
    checked: u64,
    /// Notes per owner, and public notes.
    owners: BTreeMap<String, i64>,
    public: u64,
    differences: Vec<Difference>,
}

impl Passes<'_> {
    /// Scans `table`, mapping each item as `K` does, handing each page's mapped items to `each`;
    /// returns the items scanned and the seconds taken.
    async fn pass<K: Kind, F, Fut>(&self, label: &str, each: F) -> Result<(u64, f64), Error>
    where
        F: Fn(Vec<Mapped<K::Record>>) -> Fut,
        Fut: std::future::Future<Output = Result<(), Error>>,
    {
        let (table, estimate) = K::source(self);
        let ticker = Ticker::new(self.progress, format!("{label} {}", K::NAME), estimate);
        scan(self.source, table, self.options, self.pacer, |page| {
            ticker.add(page.len() as u64);
            each(page.iter().map(K::map).collect())
        })
        .await?;
        let done = ticker.finish();
        self.progress.clear();
        Ok(done)
    }

    /// The plan: one read of each table, nothing written.
    pub async fn plan(&self) -> Result<Plan, Error> {
        let plan = Mutex::new(Plan::default());
        let owners = Mutex::new(HashSet::new());
        let note = |mapped: Vec<Mapped<Note>>| {
            let mut plan = plan.lock().unwrap_or_else(|e| e.into_inner());
            let mut owners = owners.lock().unwrap_or_else(|e| e.into_inner());
            for m in mapped {
                let counts = &mut plan.notes;
                counts.items += 1;
                match &m.record {
                    Some(n) if n.is_public() => counts.public_or_regular += 1,
                    Some(_) => counts.private_or_anonymous += 1,
                    None => counts.skipped += 1,
                }
                if let Some(n) = &m.record {
                    owners.insert(n.owner_uid.clone());
                }
                plan.issues.extend(m.issues);
            }
            std::future::ready(Ok::<(), Error>(()))
        };
        self.pass::<Notes, _, _>("planning", note).await?;
        let user = |mapped: Vec<Mapped<UserProfile>>| {
            let mut plan = plan.lock().unwrap_or_else(|e| e.into_inner());
            for m in mapped {
                let counts = &mut plan.users;
                counts.items += 1;
                match &m.record {
                    Some(u) if u.is_anonymous => counts.private_or_anonymous += 1,
                    Some(_) => counts.public_or_regular += 1,
                    None => counts.skipped += 1,
                }
                plan.issues.extend(m.issues);
            }
            std::future::ready(Ok::<(), Error>(()))
        };
        self.pass::<Users, _, _>("planning", user).await?;
        let mut plan = plan.into_inner().unwrap_or_else(|e| e.into_inner());
        plan.owners = owners.into_inner().unwrap_or_else(|e| e.into_inner()).len() as u64;
        plan.issues
            .sort_by(|a, b| (a.table, &a.key, &a.attribute).cmp(&(b.table, &b.key, &b.attribute)));
        Ok(plan)
    }

    /// One copy pass over both tables (the copy, and again for the catch-up).
    pub async fn copy(&self, label: &str) -> Result<PassReport, Error> {
        Ok(PassReport {
            notes: self.copy_table::<Notes>(label).await?,
            users: self.copy_table::<Users>(label).await?,
        })
    }

    async fn copy_table<K: Kind>(&self, label: &str) -> Result<PassStats, Error> {
        let stats = Mutex::new(PassStats::default());
        let store = self.store;
        let stats_ref = &stats;
        let timing = self
            .pass::<K, _, _>(label, |mapped| async move {
                let total = mapped.len() as u64;
                let records: Vec<K::Record> = mapped.into_iter().filter_map(|m| m.record).collect();
                let skipped = total - records.len() as u64;
                let mut current = K::current(store, &records)
                    .await
                    .map_err(store_error("failed to read the target's items"))?;
                let mut outcomes = Vec::with_capacity(records.len());
                for record in &records {
                    let key = K::key(record);
                    let outcome = K::import(store, record, current.remove(&key))
                        .await
                        .map_err(|e| Error::Aws {
                            action: format!("failed to write {} {key}", K::NAME),
                            reason: e.to_string(),
                        })?;
                    outcomes.push(outcome);
                }
                let mut stats = stats_ref.lock().unwrap_or_else(|e| e.into_inner());
                stats.skipped += skipped;
                for outcome in outcomes {
                    stats.count(outcome);
                }
                Ok(())
            })
            .await?;
        Ok(stats
            .into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .timed(timing))
    }

    /// Compares every item of one source table with the target's, item by item.
    async fn verify_table<K: Kind>(
        &self,
        owner: fn(&K::Record) -> Option<(String, bool)>,
    ) -> Result<Seen, Error> {
        let seen = Mutex::new(Seen::default());
        let store = self.store;
        let seen_ref = &seen;
        self.pass::<K, _, _>("verifying", |mapped| async move {
            let records: Vec<K::Record> = mapped.into_iter().filter_map(|m| m.record).collect();
            let current = K::current(store, &records)
                .await
                .map_err(store_error("failed to read the target's items"))?;
            let mut found = Vec::with_capacity(records.len());
            for record in &records {
                let key = K::key(record);
                let want = K::item(record);
                let mut result = compare(&want, current.get(&key));
                if result != Found::Same {
                    // The batch read is eventually consistent: ask again before saying so.
                    let again = store
                        .stored_item(K::target_table(store), (K::KEY, &key))
                        .await
                        .map_err(store_error("failed to read a target item"))?;
                    result = compare(&want, again.as_ref());
                }
                found.push((key, result, owner(record)));
            }
            let mut seen = seen_ref.lock().unwrap_or_else(|e| e.into_inner());
            for (key, result, owner) in found {
                seen.checked += 1;
                if let Some((owner, public)) = owner {
                    *seen.owners.entry(owner).or_default() += 1;
                    seen.public += u64::from(public);
                }
                if let Some(problem) = describe(&result) {
                    seen.differences.push(Difference {
                        table: K::NAME.to_owned(),
                        key: key.clone(),
                        problem,
                    });
                }
                seen.keys.insert(key);
            }
            Ok(())
        })
        .await?;
        Ok(seen.into_inner().unwrap_or_else(|e| e.into_inner()))
    }

    /// The keys the target's table holds that the seed's does not (counters aside).
    async fn extra_keys<K: Kind>(&self, seed: &HashSet<String>) -> Result<Vec<Difference>, Error> {
        let extra = Mutex::new(Vec::new());
        let unpaced = Pacer::new(0);
        let options = ScanOptions::paced(self.options.segments, 0);
        let table = K::target_table(self.store);
        scan(self.store.client(), table, options, &unpaced, |page| {
            let mut extra = extra.lock().unwrap_or_else(|e| e.into_inner());
            for item in page {
                let key = match item.get(K::KEY) {
                    Some(aws_sdk_dynamodb::types::AttributeValue::S(key)) => key.clone(),
                    _ => continue,
                };
                if !key.starts_with('#') && !seed.contains(&key) {
                    extra.push(Difference {
                        table: K::NAME.to_owned(),
                        key,
                        problem: "in noteapp but not in the seed: deleted on the seed after it \
                                  was copied, or created in noteapp"
                            .into(),
                    });
                }
            }
            std::future::ready(Ok::<(), Error>(()))
        })
        .await?;
        let mut extra = extra.into_inner().unwrap_or_else(|e| e.into_inner());
        extra.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(extra)
    }

    /// The verification: every note and user item by item, each owner's note count, the
    /// public total, and the counters against the items.
    pub async fn verify(&self) -> Result<Verification, Error> {
        let notes = self
            .verify_table::<Notes>(|n| Some((n.owner_uid.clone(), n.is_public())))
            .await?;
        let users = self.verify_table::<Users>(|_| None).await?;
        let mut differences = notes.differences;
        differences.extend(users.differences);
        differences.extend(self.extra_keys::<Notes>(&notes.keys).await?);
        differences.extend(self.extra_keys::<Users>(&users.keys).await?);
        self.progress.status("verifying each owner's note count");
        let owners: Vec<String> = notes.owners.keys().cloned().collect();
        let totals = self
            .store
            .owner_note_totals(&owners)
            .await
            .map_err(store_error("failed to read the owners' note counters"))?;
        for (owner, seed) in &notes.owners {
            let counted = totals.get(owner).copied().unwrap_or(0);
            if counted != *seed {
                differences.push(Difference {
                    table: "owners".into(),
                    key: owner.clone(),
                    problem: format!("the seed has {seed} notes, noteapp counts {counted}"),
                });
            }
        }
        let public = self
            .store
            .list_public_notes(&PageRequest::at(1, 1))
            .await
            .map_err(store_error("failed to read the public feed"))?
            .total;
        if public != notes.public {
            differences.push(Difference {
                table: "counters".into(),
                key: "public notes".into(),
                problem: format!(
                    "the seed has {} public notes, noteapp's feed counts {public}",
                    notes.public
                ),
            });
        }
        self.progress
            .status("checking the counters against the tables");
        let check = counts::check(self.store)
            .await
            .map_err(store_error("failed to check the counters"))?;
        for drift in check.drifts {
            differences.push(Difference {
                table: "counters".into(),
                key: drift.what,
                problem: format!("counted {}, the tables hold {}", drift.stored, drift.actual),
            });
        }
        if check.notes_fixed > 0 {
            differences.push(Difference {
                table: "counters".into(),
                key: "comment gates".into(),
                problem: format!(
                    "{} notes lack or disagree with their comment gate",
                    check.notes_fixed
                ),
            });
        }
        self.progress.clear();
        Ok(Verification {
            notes_checked: notes.checked,
            users_checked: users.checked,
            owners_checked: owners.len() as u64,
            public_notes: notes.public,
            differences,
        })
    }
}

/// A difference in words, `None` when there is none.
fn describe(found: &Found) -> Option<String> {
    match found {
        Found::Same => None,
        Found::Missing => Some("missing in noteapp".into()),
        Found::Differs(attributes) => Some(format!("differs in {}", attributes.join(", "))),
        Found::Newer(attributes) => Some(format!(
            "changed in noteapp since it was copied (kept): differs in {}",
            attributes.join(", ")
        )),
    }
}
