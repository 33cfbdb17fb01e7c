//! The control store of the embedded store: [`ControlStore`], in memory only.
//!
//! Counters and broadcast progress live minutes to hours and steer one running server, so they
//! are never logged: a restart starts every window afresh (it also closes every socket). One
//! process holds the store, so a mutex gives what DynamoDB's atomic `ADD` gives the cloud store.
//! Expired entries are dropped whenever the map has doubled since the last sweep, so memory
//! follows the live windows, not the history.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;

use super::EmbeddedStore;
use crate::store::{BroadcastProgress, ControlStore, StoreError};

/// Counters and broadcast progress.
#[derive(Default)]
pub(super) struct Control {
    inner: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    /// Counter → (value, expires at).
    counters: HashMap<String, (u64, i64)>,
    /// Broadcast progress by event id.
    broadcasts: HashMap<String, BroadcastProgress>,
    /// The size after the last sweep: the next one runs at twice that.
    swept_at: usize,
}

impl Control {
    fn entries(&self) -> MutexGuard<'_, Entries> {
        // Nothing panics while holding the lock; recover the data if something ever does.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Entries {
    fn sweep(&mut self, now: i64) {
        let size = self.counters.len() + self.broadcasts.len();
        if size < (2 * self.swept_at).max(1024) {
            return;
        }
        self.counters.retain(|_, (_, expires)| *expires > now);
        self.broadcasts.retain(|_, p| p.expires_at > now);
        self.swept_at = self.counters.len() + self.broadcasts.len();
    }
}

#[async_trait]
impl ControlStore for EmbeddedStore {
    async fn add(&self, key: &str, n: u64, expires_at: i64) -> Result<u64, StoreError> {
        let now = chrono::Utc::now().timestamp();
        let mut entries = self.control.entries();
        entries.sweep(now);
        let entry = entries
            .counters
            .entry(key.to_owned())
            .or_insert((0, expires_at));
        if entry.1 <= now {
            *entry = (0, expires_at);
        }
        entry.0 += n;
        entry.1 = entry.1.max(expires_at);
        Ok(entry.0)
    }

    async fn broadcast_progress(
        &self,
        event_id: &str,
        now: i64,
    ) -> Result<Option<BroadcastProgress>, StoreError> {
        let entries = self.control.entries();
        Ok(entries
            .broadcasts
            .get(event_id)
            .filter(|p| p.expires_at > now)
            .cloned())
    }

    async fn put_broadcast_progress(&self, progress: &BroadcastProgress) -> Result<(), StoreError> {
        let mut entries = self.control.entries();
        entries.sweep(chrono::Utc::now().timestamp());
        entries
            .broadcasts
            .insert(progress.event_id.clone(), progress.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn counters_add_up_and_start_again_once_expired() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let later = chrono::Utc::now().timestamp() + 60;
        assert_eq!(store.add("a", 1, later).await.unwrap(), 1);
        assert_eq!(store.add("a", 2, later).await.unwrap(), 3);
        assert_eq!(store.add("b", 1, later).await.unwrap(), 1);
        assert_eq!(store.add("old", 5, 1).await.unwrap(), 5);
        assert_eq!(store.add("old", 1, later).await.unwrap(), 1);
    }

    #[test]
    fn a_sweep_drops_expired_entries_once_the_map_has_doubled() {
        let mut entries = Entries::default();
        for i in 0..2000 {
            entries
                .counters
                .insert(format!("k{i}"), (1, i64::from(i % 2)));
        }
        entries.sweep(1);
        assert_eq!(entries.counters.len(), 0);
        entries.counters.insert("live".into(), (1, 10));
        entries.sweep(1);
        assert_eq!(entries.counters.len(), 1);
    }
}
