//! The WebSocket connections store: who is connected, as whom, and to which notes.
//!
//! Rows expire through a TTL (24 h). DynamoDB deletes expired rows up to two days late, so every
//! read here filters on the expiry itself: an expired row is never returned.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::StoreError;

/// How long a connection row lives without being refreshed.
pub const CONNECTION_TTL_SECS: i64 = 24 * 3600;

/// One WebSocket connection as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
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

/// One page of a scan over live connections; `next` resumes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionPage {
    pub connections: Vec<Connection>,
    pub next: Option<String>,
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
    /// Adds or removes one note subscription of a live connection, in one conditional write;
    /// [`StoreError::NotFound`] when the row does not exist.
    async fn set_subscription(
        &self,
        connection_id: &str,
        note_id: Uuid,
        subscribed: bool,
    ) -> Result<Connection, StoreError>;
    /// One page of live connections (at most `page_size` rows examined), resuming after `cursor`.
    async fn scan_connections(
        &self,
        cursor: Option<&str>,
        page_size: u32,
        now: i64,
    ) -> Result<ConnectionPage, StoreError>;
}
