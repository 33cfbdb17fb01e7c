//! The WebSocket connections of the embedded store: [`ConnectionStore`], in memory only.
//!
//! A restart of `noteapp local` closes every socket, so a persisted row could only ever be
//! stale: connections and their message counts are never logged.
//! Scans page in connection-id order and split the rows into segments by a hash of their id, as
//! DynamoDB's parallel scan splits them.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;
use uuid::Uuid;

use super::EmbeddedStore;
use crate::store::{Connection, ConnectionPage, ConnectionStore, Segment, StoreError};

/// The live connections and what is counted about them.
#[derive(Default)]
pub(super) struct Connections {
    /// Connections by id.
    rows: RwLock<BTreeMap<String, Connection>>,
    /// Messages per connection in its current rate window: (window, count).
    message_counts: Mutex<HashMap<String, (i64, u32)>>,
}

// Nothing panics while holding these locks; the guards recover the data if something ever does.
impl Connections {
    fn rows(&self) -> RwLockReadGuard<'_, BTreeMap<String, Connection>> {
        self.rows.read().unwrap_or_else(|e| e.into_inner())
    }

    fn rows_mut(&self) -> RwLockWriteGuard<'_, BTreeMap<String, Connection>> {
        self.rows.write().unwrap_or_else(|e| e.into_inner())
    }

    fn message_counts(&self) -> MutexGuard<'_, HashMap<String, (i64, u32)>> {
        self.message_counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl ConnectionStore for EmbeddedStore {
    async fn put_connection(&self, connection: &Connection) -> Result<(), StoreError> {
        let mut map = self.connections.rows_mut();
        map.insert(connection.connection_id.clone(), connection.clone());
        Ok(())
    }

    async fn delete_connection(&self, connection_id: &str) -> Result<(), StoreError> {
        let mut map = self.connections.rows_mut();
        map.remove(connection_id);
        drop(map);
        let mut counts = self.connections.message_counts();
        counts.remove(connection_id);
        Ok(())
    }

    async fn get_connection(
        &self,
        connection_id: &str,
        now: i64,
    ) -> Result<Option<Connection>, StoreError> {
        let map = self.connections.rows();
        Ok(map.get(connection_id).filter(|c| c.is_live(now)).cloned())
    }

    async fn set_subscription(
        &self,
        connection_id: &str,
        note_id: Uuid,
        subscribed: bool,
        max: usize,
    ) -> Result<Connection, StoreError> {
        let mut map = self.connections.rows_mut();
        let connection = map.get_mut(connection_id).ok_or(StoreError::NotFound)?;
        let present = connection.subscriptions.contains(&note_id);
        if subscribed && !present {
            if connection.subscriptions.len() >= max {
                return Err(StoreError::Limit);
            }
            connection.subscriptions.push(note_id);
            connection.subscriptions.sort_unstable();
        } else if !subscribed && present {
            connection.subscriptions.retain(|n| *n != note_id);
        }
        Ok(connection.clone())
    }

    async fn count_message(
        &self,
        connection_id: &str,
        window: i64,
        max: u32,
    ) -> Result<(), StoreError> {
        if !self.connections.rows().contains_key(connection_id) {
            return Err(StoreError::NotFound);
        }
        let mut counts = self.connections.message_counts();
        let count = counts
            .entry(connection_id.to_owned())
            .or_insert((window, 0));
        if count.0 != window {
            *count = (window, 0);
        }
        if count.1 >= max {
            return Err(StoreError::Limit);
        }
        count.1 += 1;
        Ok(())
    }

    async fn scan_connections(
        &self,
        segment: Segment,
        cursor: Option<&str>,
        page_size: u32,
        now: i64,
    ) -> Result<ConnectionPage, StoreError> {
        use std::ops::Bound;
        let map = self.connections.rows();
        let start = match cursor {
            Some(after) => Bound::Excluded(after.to_string()),
            None => Bound::Unbounded,
        };
        // Segments split the rows by a hash of their id, as DynamoDB's parallel scan splits them.
        let in_segment =
            |id: &str| segment.total <= 1 || segment_of(id, segment.total) == segment.index;
        let mut last = None;
        let mut connections = Vec::new();
        for (id, connection) in map
            .range((start, Bound::Unbounded))
            .filter(|(id, _)| in_segment(id))
            .take(page_size as usize)
        {
            last = Some(id.clone());
            if connection.is_live(now) {
                connections.push(connection.clone());
            }
        }
        let more = match &last {
            Some(last) => map
                .range::<String, _>((Bound::Excluded(last.clone()), Bound::Unbounded))
                .any(|(id, _)| in_segment(id)),
            None => false,
        };
        Ok(ConnectionPage {
            connections,
            next: if more { last } else { None },
        })
    }

    async fn user_connections(&self, uid: &str, now: i64) -> Result<Vec<Connection>, StoreError> {
        let map = self.connections.rows();
        Ok(map
            .values()
            .filter(|c| c.uid.as_deref() == Some(uid) && c.is_live(now))
            .cloned()
            .collect())
    }
}

/// The parallel-scan segment of connection `id` among `total`.
fn segment_of(id: &str, total: u32) -> u32 {
    let hash = id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x1000_0000_01b3)
    });
    (hash % u64::from(total)) as u32
}
