//! The WebSocket connections store: who is connected, as whom, and to which notes. Nothing else
//! lives with the connections (a broadcast's progress is in the control store), so a scan of
//! them reads live connections and nothing more.
//!
//! Rows expire through a TTL of 2 h 15 min: API Gateway closes every WebSocket connection after
//! 2 h, and `$disconnect` may never arrive. DynamoDB deletes expired rows up to two days late, so
//! every read here filters on the expiry itself: an expired row is never returned.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::StoreError;

/// How long a connection row lives: API Gateway's 2 h connection limit, plus a margin.
pub const CONNECTION_TTL_SECS: i64 = 2 * 3600 + 15 * 60;

/// One WebSocket connection as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    /// API Gateway's id of the connection (the key; what the management API posts to).
    pub connection_id: String,
    /// The signed-in user, when `$connect` carried a valid token.
    pub uid: Option<String>,
    /// Epoch milliseconds.
    pub connected_at_ms: i64,
    /// Epoch seconds after which the row is dead (DynamoDB's TTL attribute).
    pub expires_at: i64,
    /// Notes this connection subscribed to; empty means "every public note".
    pub subscriptions: Vec<Uuid>,
}

impl Connection {
    /// A new connection row, expiring [`CONNECTION_TTL_SECS`] after `connected_at_ms`.
    pub fn new(
        connection_id: impl Into<String>,
        uid: Option<String>,
        connected_at_ms: i64,
    ) -> Self {
        Self {
            connection_id: connection_id.into(),
            uid,
            connected_at_ms,
            expires_at: connected_at_ms / 1000 + CONNECTION_TTL_SECS,
            subscriptions: Vec::new(),
        }
    }

    /// Whether the row is still alive at `now` (epoch seconds).
    pub fn is_live(&self, now: i64) -> bool {
        self.expires_at > now
    }
}

/// One part of a parallel scan: segment `index` of `total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// This segment's number, from 0.
    pub index: u32,
    /// How many segments the scan is split into.
    pub total: u32,
}

impl Segment {
    /// The whole table as one segment.
    pub const WHOLE: Segment = Segment { index: 0, total: 1 };

    /// Every segment of a scan split `total` ways.
    pub fn all(total: u32) -> impl Iterator<Item = Segment> {
        let total = total.max(1);
        (0..total).map(move |index| Segment { index, total })
    }
}

/// One page of a scan over live connections; `next` resumes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionPage {
    /// The live connections of the page (expired rows are left out).
    pub connections: Vec<Connection>,
    /// Where the next page starts; `None` once the segment is read to the end.
    pub next: Option<String>,
}

/// Where one segment of a broadcast's scan stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScanPosition {
    /// Not read at all yet.
    Start,
    /// Read up to (and posted to everything before) this cursor.
    After(String),
    /// Read to the end.
    Done,
}

/// What the WebSocket handlers need from storage.
#[async_trait]
pub trait ConnectionStore: Send + Sync + 'static {
    /// Stores (or replaces) a connection row.
    async fn put_connection(&self, connection: &Connection) -> Result<(), StoreError>;
    /// Removes a row; removing a missing row is not an error.
    async fn delete_connection(&self, connection_id: &str) -> Result<(), StoreError>;
    /// A live row, or `None` when missing or expired at `now` (epoch seconds).
    async fn get_connection(
        &self,
        connection_id: &str,
        now: i64,
    ) -> Result<Option<Connection>, StoreError>;
    /// Adds or removes one note subscription of a live connection, in one conditional write
    /// that also refuses more than `max` subscriptions; [`StoreError::NotFound`] when the row
    /// does not exist, [`StoreError::Limit`] when it holds `max` already.
    async fn set_subscription(
        &self,
        connection_id: &str,
        note_id: Uuid,
        subscribed: bool,
        max: usize,
    ) -> Result<Connection, StoreError>;
    /// Counts one message of the connection in the current `window` (epoch seconds divided by
    /// the window length), in one conditional write; [`StoreError::Limit`] once `max` messages
    /// were counted in that window, [`StoreError::NotFound`] when the row does not exist.
    async fn count_message(
        &self,
        connection_id: &str,
        window: i64,
        max: u32,
    ) -> Result<(), StoreError>;
    /// One page of segment `segment` of a scan over live connections (at most `page_size` rows
    /// examined), resuming after `cursor`.
    async fn scan_connections(
        &self,
        segment: Segment,
        cursor: Option<&str>,
        page_size: u32,
        now: i64,
    ) -> Result<ConnectionPage, StoreError>;
    /// The live connections signed in as `uid`, found through an index on the user: the cost
    /// is that user's rows, not the table's.
    async fn user_connections(&self, uid: &str, now: i64) -> Result<Vec<Connection>, StoreError>;
}
