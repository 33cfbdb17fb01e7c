//! Fan-out: one message to many connections, with bounded concurrency and no pauses.
//!
//! Connections are paged out of the store and each post runs as its own task, with at most
//! `concurrency` in flight (a semaphore), so a slow post never holds up a whole chunk and the
//! next page is read while the previous one's posts are still going. A connection the management API reports gone (410) is deleted; a
//! throttled post is retried with jittered exponential backoff; anything else is counted as
//! failed. Nothing is dropped silently: every targeted connection ends as sent, stale or failed.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use rand::Rng;
use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use uuid::Uuid;

use super::messages::Target;
use crate::store::{Connection, ConnectionStore, StoreError};

/// Why one post failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostError {
    /// The connection is gone (410): its row should be removed.
    Gone,
    /// The service asked us to slow down (429): retry later.
    Throttled(String),
    /// Anything else.
    Failed(String),
}

/// Sends data to one connection: the management API's `PostToConnection`.
#[async_trait]
pub trait Poster: Send + Sync + 'static {
    async fn post(&self, connection_id: &str, data: Bytes) -> Result<(), PostError>;
}

/// Tuning for [`fan_out`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FanoutOptions {
    /// Posts in flight at once.
    pub concurrency: usize,
    /// Rows examined per store page.
    pub page_size: u32,
    /// Tries per connection when throttled.
    pub max_attempts: u32,
    /// The first retry waits about this long; each further retry twice as long (±50 %).
    pub base_backoff: Duration,
}

impl Default for FanoutOptions {
    fn default() -> Self {
        Self {
            concurrency: 512,
            page_size: 1000,
            max_attempts: 5,
            base_backoff: Duration::from_millis(50),
        }
    }
}

/// What a broadcast did: `results` in the broadcast response.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FanoutResults {
    pub total_connections: u64,
    pub sent: u64,
    pub failed: u64,
    pub stale_removed: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Sent,
    Stale,
    Failed,
}

/// Whether `connection` should get a message for `target` about `note`.
pub fn wants(connection: &Connection, target: &Target, note: Option<Uuid>) -> bool {
    if let Target::Owner(uid) = target
        && connection.uid.as_deref() != Some(uid.as_str())
    {
        return false;
    }
    match note {
        Some(note) if !connection.subscriptions.is_empty() => {
            connection.subscriptions.contains(&note)
        }
        _ => true,
    }
}

fn backoff(options: &FanoutOptions, attempt: u32) -> Duration {
    let base = options.base_backoff.as_secs_f64() * 2f64.powi(attempt as i32);
    let jitter = rand::thread_rng().gen_range(0.5..1.5);
    Duration::from_secs_f64((base * jitter).min(5.0))
}

/// Posts each message in order; the connection counts as sent only if all of them were.
async fn deliver_all(
    store: &dyn ConnectionStore,
    poster: &dyn Poster,
    connection_id: &str,
    messages: &[Bytes],
    options: &FanoutOptions,
) -> Outcome {
    for message in messages {
        let outcome = deliver(store, poster, connection_id, message.clone(), options).await;
        if outcome != Outcome::Sent {
            return outcome;
        }
    }
    Outcome::Sent
}

async fn deliver(
    store: &dyn ConnectionStore,
    poster: &dyn Poster,
    connection_id: &str,
    message: Bytes,
    options: &FanoutOptions,
) -> Outcome {
    let mut attempt = 0;
    loop {
        match poster.post(connection_id, message.clone()).await {
            Ok(()) => return Outcome::Sent,
            Err(PostError::Gone) => {
                if let Err(e) = store.delete_connection(connection_id).await {
                    tracing::warn!(connection_id, error = %e, "could not remove a stale connection");
                }
                return Outcome::Stale;
            }
            Err(PostError::Throttled(reason)) if attempt + 1 < options.max_attempts => {
                tracing::debug!(connection_id, %reason, attempt, "throttled; backing off");
                tokio::time::sleep(backoff(options, attempt)).await;
                attempt += 1;
            }
            Err(PostError::Throttled(reason) | PostError::Failed(reason)) => {
                tracing::warn!(connection_id, %reason, "post to connection failed");
                return Outcome::Failed;
            }
        }
    }
}

/// Sends `messages` (in order) to every live connection `target` and `note` select.
pub async fn fan_out(
    store: Arc<dyn ConnectionStore>,
    poster: Arc<dyn Poster>,
    messages: Vec<Bytes>,
    target: &Target,
    note: Option<Uuid>,
    options: FanoutOptions,
) -> Result<FanoutResults, StoreError> {
    let now = chrono::Utc::now().timestamp();
    let permits = Arc::new(Semaphore::new(options.concurrency.max(1)));
    let mut tasks = JoinSet::new();
    let mut results = FanoutResults::default();
    let messages: Arc<[Bytes]> = messages.into();
    let mut cursor: Option<String> = None;
    let scanned = loop {
        let page = match store
            .scan_connections(cursor.as_deref(), options.page_size, now)
            .await
        {
            Ok(page) => page,
            Err(e) => break Err(e),
        };
        for connection in page
            .connections
            .into_iter()
            .filter(|c| wants(c, target, note))
        {
            // Waiting for a permit is the back-pressure: never more than `concurrency` posts.
            let Ok(permit) = permits.clone().acquire_owned().await else {
                break;
            };
            let (store, poster, messages) = (store.clone(), poster.clone(), messages.clone());
            tasks.spawn(async move {
                let outcome = deliver_all(
                    &*store,
                    &*poster,
                    &connection.connection_id,
                    &messages,
                    &options,
                )
                .await;
                drop(permit);
                outcome
            });
            while let Some(done) = tasks.try_join_next() {
                tally(&mut results, done);
            }
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => break Ok(()),
        }
    };
    while let Some(done) = tasks.join_next().await {
        tally(&mut results, done);
    }
    scanned.map(|()| results)
}

fn tally(results: &mut FanoutResults, done: Result<Outcome, tokio::task::JoinError>) {
    results.total_connections += 1;
    match done {
        Ok(Outcome::Sent) => results.sent += 1,
        Ok(Outcome::Stale) => results.stale_removed += 1,
        Ok(Outcome::Failed) | Err(_) => results.failed += 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::embedded::EmbeddedStore;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// Gone for ids ending in "-gone", throttled twice for ids ending in "-busy".
    #[derive(Default)]
    struct FakePoster {
        delivered: Mutex<Vec<String>>,
        throttles: AtomicU32,
    }

    #[async_trait]
    impl Poster for FakePoster {
        async fn post(&self, id: &str, _data: Bytes) -> Result<(), PostError> {
            if id.ends_with("-gone") {
                return Err(PostError::Gone);
            }
            if id.ends_with("-busy") && self.throttles.fetch_add(1, Ordering::SeqCst) < 2 {
                return Err(PostError::Throttled("slow down".into()));
            }
            if id.ends_with("-broken") {
                return Err(PostError::Failed("boom".into()));
            }
            self.delivered.lock().unwrap().push(id.to_string());
            Ok(())
        }
    }

    async fn store_with(ids: &[(&str, Option<&str>)]) -> (tempfile::TempDir, Arc<EmbeddedStore>) {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
        let now = chrono::Utc::now().timestamp_millis();
        for (id, uid) in ids {
            store
                .put_connection(&Connection::new(*id, uid.map(str::to_string), now))
                .await
                .unwrap();
        }
        (dir, store)
    }

    fn fast() -> FanoutOptions {
        FanoutOptions {
            page_size: 2,
            base_backoff: Duration::from_millis(1),
            ..FanoutOptions::default()
        }
    }

    #[tokio::test]
    async fn every_connection_is_sent_stale_or_failed_and_stale_rows_are_removed() {
        let (_dir, store) = store_with(&[
            ("a", None),
            ("b-gone", None),
            ("c-busy", None),
            ("d-broken", None),
            ("e", Some("alice")),
        ])
        .await;
        let poster = Arc::new(FakePoster::default());
        let results = fan_out(
            store.clone(),
            poster.clone(),
            vec![Bytes::from_static(b"{}")],
            &Target::Everyone,
            None,
            fast(),
        )
        .await
        .unwrap();
        assert_eq!(
            results,
            FanoutResults {
                total_connections: 5,
                sent: 3,
                failed: 1,
                stale_removed: 1
            }
        );
        assert!(store.get_connection("b-gone", 0).await.unwrap().is_none());
        let mut delivered = poster.delivered.lock().unwrap().clone();
        delivered.sort();
        assert_eq!(delivered, ["a", "c-busy", "e"]);
    }

    #[tokio::test]
    async fn an_owner_target_reaches_only_that_users_connections() {
        let (_dir, store) =
            store_with(&[("a", Some("alice")), ("b", Some("bob")), ("c", None)]).await;
        let poster = Arc::new(FakePoster::default());
        let target = Target::Owner("alice".into());
        let results = fan_out(
            store,
            poster.clone(),
            vec![Bytes::new()],
            &target,
            None,
            fast(),
        )
        .await
        .unwrap();
        assert_eq!(results.sent, 1);
        assert_eq!(*poster.delivered.lock().unwrap(), ["a"]);
    }

    #[tokio::test]
    async fn subscribed_connections_get_only_their_notes_and_expired_rows_nothing() {
        let (_dir, store) = store_with(&[("a", None), ("b", None)]).await;
        let note = Uuid::new_v4();
        store
            .set_subscription("a", Uuid::new_v4(), true)
            .await
            .unwrap();
        let mut old = Connection::new("old", None, 0);
        old.expires_at = 1;
        store.put_connection(&old).await.unwrap();
        let poster = Arc::new(FakePoster::default());
        let results = fan_out(
            store,
            poster.clone(),
            vec![Bytes::new()],
            &Target::Everyone,
            Some(note),
            fast(),
        )
        .await
        .unwrap();
        assert_eq!(results.total_connections, 1);
        assert_eq!(*poster.delivered.lock().unwrap(), ["b"]);
    }

    #[test]
    fn backoff_grows_and_stays_jittered_within_bounds() {
        let options = FanoutOptions {
            base_backoff: Duration::from_millis(100),
            ..FanoutOptions::default()
        };
        for attempt in 0..4 {
            let d = backoff(&options, attempt).as_secs_f64();
            let base = 0.1 * 2f64.powi(attempt as i32);
            assert!(d >= base * 0.5 && d <= base * 1.5, "attempt {attempt}: {d}");
        }
    }
}
