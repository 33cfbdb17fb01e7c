//! Fan-out: one message to many connections, with bounded concurrency, at a set pace, and
//! resumable.
//!
//! Connections are read by a scan split into parallel segments (each pages on its own cursor)
//! or, for a private note's owner, through the user index (only that user's rows). Each post
//! runs as its own task, with at most `concurrency` in flight (a semaphore) and, when a send
//! rate is set, no faster than that many posts a second across the whole fan-out, so a big
//! broadcast never takes the account's shared API Gateway quota from everything else. A
//! connection the management API reports gone (410) is deleted; a throttled post is retried
//! with jittered exponential backoff; anything else is counted as failed and named in the
//! outcome. Nothing is dropped silently: every targeted connection ends as sent, stale or
//! failed.
//!
//! A fan-out can start where an earlier attempt stopped ([`Resume`]: the connections it failed
//! to reach, and where each scan segment got to), and stops reading new pages when a deadline
//! nears (the Lambda's), so a retried broadcast posts only to what was not reached.
//!
//! With a [`SendBudget`], every fan-out of every instance draws its posts from one budget of
//! `per_second` posts per clock second, kept in the control store (taken a chunk at a time, one
//! write per chunk): however many broadcasts run at once, together they post at the
//! environment's send rate, never faster. A post that finds the second spent waits for the
//! next one. A live comment is only worth sending while it is fresh: once the budget's
//! `give_up_at` has passed, or when a post's room would come only after it, that post and every
//! connection not yet reached are skipped (counted as `skipped`, the scan stopped), and those
//! clients see the comment on their next read of the list.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use rand::Rng;
use serde::Serialize;
use tokio::sync::{Mutex, Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio::time::Instant;
use uuid::Uuid;

use super::messages::Target;
use crate::store::control::take_budget;
use crate::store::{Connection, ConnectionStore, ControlStore, ScanPosition, Segment, StoreError};

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
    /// Posts `data` to `connection_id`.
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
    /// Scan segments read in parallel.
    pub segments: u32,
    /// Posts per second at most, across the fan-out (`None`: as fast as `concurrency` allows).
    pub send_rate: Option<u32>,
}

impl Default for FanoutOptions {
    fn default() -> Self {
        Self {
            concurrency: 512,
            page_size: 1000,
            max_attempts: 5,
            base_backoff: Duration::from_millis(50),
            segments: 1,
            send_rate: None,
        }
    }
}

/// What a broadcast did: `results` in the broadcast response.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FanoutResults {
    /// Connections the message was for, this attempt: `sent + failed + stale_removed`.
    pub total_connections: u64,
    /// Connections it was posted to.
    pub sent: u64,
    /// Connections it could not be posted to (named in the outcome; a retried event tries them
    /// again).
    pub failed: u64,
    /// Connections that were gone (410) and were removed.
    pub stale_removed: u64,
    /// Connections left out because the send budget had no room before the message went stale
    /// ([`SendBudget::give_up_at_ms`]); absent when 0.
    #[serde(skip_serializing_if = "is_zero")]
    pub skipped: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The environment's send budget, shared by every fan-out through the control store.
#[derive(Clone)]
pub struct SendBudget {
    /// Where the budget of each second is counted.
    pub control: Arc<dyn ControlStore>,
    /// Posts per second, across every fan-out.
    pub per_second: u32,
    /// Epoch milliseconds past which a post that must wait for the budget is skipped instead
    /// (`None`: wait as long as it takes).
    pub give_up_at_ms: Option<i64>,
}

/// The budget as one fan-out draws on it: a local pool of posts taken from the shared budget of
/// the current second, refilled one chunk at a time by one task at a time.
struct Budget {
    shared: SendBudget,
    chunk: u64,
    /// (second, posts left in this fan-out's pool for that second).
    pool: std::sync::Mutex<(i64, u64)>,
    /// Held while the pool is refilled, so concurrent posts make one write, not one each.
    refill: Mutex<()>,
    /// Set once a post gave up: the rest are skipped at once.
    gave_up: AtomicBool,
}

impl Budget {
    fn new(shared: SendBudget) -> Self {
        let chunk = u64::from((shared.per_second / 10).clamp(1, 100));
        Self {
            shared,
            chunk,
            pool: std::sync::Mutex::new((0, 0)),
            refill: Mutex::new(()),
            gave_up: AtomicBool::new(false),
        }
    }

    fn take_local(&self, second: i64) -> bool {
        let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
        if pool.0 == second && pool.1 > 0 {
            pool.1 -= 1;
            return true;
        }
        false
    }

    /// One post's room in the budget, for now: `false` once `give_up_at` has passed, or when
    /// the room would come only after it.
    async fn take(&self) -> bool {
        loop {
            if self.gave_up.load(Ordering::Relaxed) {
                return false;
            }
            let now_ms = chrono::Utc::now().timestamp_millis();
            if self.stale_by(now_ms) {
                return false;
            }
            let second = now_ms.div_euclid(1000);
            if self.take_local(second) {
                return true;
            }
            {
                let _refilling = self.refill.lock().await;
                if self.take_local(second) {
                    return true;
                }
                let per_second = u64::from(self.shared.per_second);
                match take_budget(&*self.shared.control, second, self.chunk, per_second).await {
                    Ok(0) => {}
                    Ok(granted) => {
                        let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
                        *pool = (second, granted - 1);
                        return true;
                    }
                    Err(e) => {
                        // The API's own throttling (retried with backoff) still guards the quota.
                        tracing::warn!(error = %e, "the send budget could not be read: posting unpaced by it");
                        return true;
                    }
                }
            }
            let next_second_ms = (second + 1) * 1000;
            if self.stale_by(next_second_ms) {
                return false;
            }
            let wait = u64::try_from(next_second_ms - now_ms).unwrap_or(0);
            tokio::time::sleep(Duration::from_millis(wait.max(1))).await;
        }
    }

    /// Whether a post made at `at_ms` would be past `give_up_at`; the first time it is, the
    /// fan-out gives up (logged once).
    fn stale_by(&self, at_ms: i64) -> bool {
        let stale = self.shared.give_up_at_ms.is_some_and(|limit| at_ms > limit);
        if stale && !self.gave_up.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                per_second = self.shared.per_second,
                "the send budget has no room for this message before it goes stale: the \
                 connections not reached yet are skipped"
            );
        }
        stale
    }
}

/// Where a fan-out starts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Resume {
    /// Connections an earlier attempt failed to reach: tried again first.
    pub retry: Vec<String>,
    /// Where each scan segment got to (empty: a fresh start with `FanoutOptions::segments`).
    pub segments: Vec<ScanPosition>,
}

/// How a fan-out ended.
#[derive(Debug, Clone, Default)]
pub struct FanoutOutcome {
    /// The counts, for the response and the logs.
    pub results: FanoutResults,
    /// Connections whose post failed for good this time.
    pub failed: Vec<String>,
    /// Where each scan segment stopped (all `Done` when the scan was read to the end).
    pub segments: Vec<ScanPosition>,
    /// Why the scan stopped early, when it did (a throttled or failing store).
    pub scan_error: Option<String>,
    /// The deadline stopped the scan before its end.
    pub out_of_time: bool,
    /// Posts the management API throttled (each retried, or failed once out of tries).
    pub throttled: u64,
}

impl FanoutOutcome {
    /// Every targeted connection was reached (or found gone).
    pub fn is_complete(&self) -> bool {
        self.failed.is_empty()
            && self.scan_error.is_none()
            && self.segments.iter().all(|s| *s == ScanPosition::Done)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Sent,
    Stale,
    Failed,
    Skipped,
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

/// A shared pace: at most one post per `interval`, across every task.
struct Pace {
    interval: Duration,
    next: Mutex<Instant>,
}

impl Pace {
    fn new(rate: Option<u32>) -> Option<Self> {
        let rate = rate.filter(|r| *r > 0)?;
        Some(Self {
            interval: Duration::from_secs_f64(1.0 / f64::from(rate)),
            next: Mutex::new(Instant::now()),
        })
    }

    /// Waits for this post's slot.
    async fn wait(&self) {
        let slot = {
            let mut next = self.next.lock().await;
            let slot = (*next).max(Instant::now());
            *next = slot + self.interval;
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

/// What every delivery task shares.
struct Shared {
    store: Arc<dyn ConnectionStore>,
    poster: Arc<dyn Poster>,
    messages: Arc<[Bytes]>,
    options: FanoutOptions,
    pace: Option<Pace>,
    /// Throttled posts so far.
    throttled: std::sync::atomic::AtomicU64,
    budget: Option<Budget>,
}

impl Shared {
    /// Posts each message in order; the connection counts as sent only if all of them were.
    async fn deliver_all(&self, connection_id: &str) -> Outcome {
        for message in self.messages.iter() {
            let outcome = self.deliver(connection_id, message.clone()).await;
            if outcome != Outcome::Sent {
                return outcome;
            }
        }
        Outcome::Sent
    }

    fn count_throttle(&self) {
        self.throttled
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    async fn deliver(&self, connection_id: &str, message: Bytes) -> Outcome {
        let mut attempt = 0;
        loop {
            if let Some(pace) = &self.pace {
                pace.wait().await;
            }
            // Taken right before the post, so a post counts in the second it is made.
            if let Some(budget) = &self.budget
                && !budget.take().await
            {
                return Outcome::Skipped;
            }
            match self.poster.post(connection_id, message.clone()).await {
                Ok(()) => return Outcome::Sent,
                Err(PostError::Gone) => {
                    if let Err(e) = self.store.delete_connection(connection_id).await {
                        tracing::warn!(connection_id, error = %e, "could not remove a stale connection");
                    }
                    return Outcome::Stale;
                }
                Err(PostError::Throttled(reason)) if attempt + 1 < self.options.max_attempts => {
                    self.count_throttle();
                    tracing::debug!(connection_id, %reason, attempt, "throttled; backing off");
                    tokio::time::sleep(backoff(&self.options, attempt)).await;
                    attempt += 1;
                }
                Err(PostError::Throttled(reason)) => {
                    self.count_throttle();
                    tracing::warn!(connection_id, %reason, "post to connection failed");
                    return Outcome::Failed;
                }
                Err(PostError::Failed(reason)) => {
                    tracing::warn!(connection_id, %reason, "post to connection failed");
                    return Outcome::Failed;
                }
            }
        }
    }
}

/// What a scan segment sends the dispatcher: a connection to post to, or its new position.
enum Found {
    Connection(String),
    Position(usize, ScanPosition),
    Error(String),
    OutOfTime,
}

/// How long before the deadline no new page is read (the posts in flight still finish).
const DEADLINE_MARGIN: Duration = Duration::from_secs(10);

/// Reads segment `index` from `from` and hands each wanted connection to `found`.
#[allow(clippy::too_many_arguments)]
async fn scan_segment(
    store: Arc<dyn ConnectionStore>,
    segment: Segment,
    index: usize,
    from: ScanPosition,
    target: Target,
    note: Option<Uuid>,
    options: FanoutOptions,
    deadline: Option<Instant>,
    stop: Arc<AtomicBool>,
    found: mpsc::Sender<Found>,
) {
    let now = chrono::Utc::now().timestamp();
    let mut cursor = match from {
        ScanPosition::Done => return,
        ScanPosition::Start => None,
        ScanPosition::After(cursor) => Some(cursor),
    };
    loop {
        if stop.load(Ordering::Relaxed) {
            // The message went stale: what is left of the segment is skipped, not retried.
            let _ = found.send(Found::Position(index, ScanPosition::Done)).await;
            return;
        }
        if deadline.is_some_and(|d| Instant::now() + DEADLINE_MARGIN >= d) {
            let _ = found.send(Found::OutOfTime).await;
            return;
        }
        let page = match store
            .scan_connections(segment, cursor.as_deref(), options.page_size, now)
            .await
        {
            Ok(page) => page,
            Err(e) => {
                let _ = found.send(Found::Error(e.to_string())).await;
                return;
            }
        };
        for connection in page
            .connections
            .into_iter()
            .filter(|c| wants(c, &target, note))
        {
            if found
                .send(Found::Connection(connection.connection_id))
                .await
                .is_err()
            {
                return;
            }
        }
        // Everything before `next` is handed over: a resumed scan starts there.
        let position = match &page.next {
            Some(next) => ScanPosition::After(next.clone()),
            None => ScanPosition::Done,
        };
        if found.send(Found::Position(index, position)).await.is_err() {
            return;
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => return,
        }
    }
}

/// Sends `messages` (in order) to every live connection `target` and `note` select: a fresh
/// fan-out that reports a failed scan as an error.
pub async fn fan_out(
    store: Arc<dyn ConnectionStore>,
    poster: Arc<dyn Poster>,
    messages: Vec<Bytes>,
    target: &Target,
    note: Option<Uuid>,
    options: FanoutOptions,
) -> Result<FanoutResults, StoreError> {
    let outcome = fan_out_from(
        store,
        poster,
        messages,
        target,
        note,
        options,
        Resume::default(),
        None,
        None,
    )
    .await;
    match outcome.scan_error {
        Some(e) => Err(StoreError::Backend(e)),
        None => Ok(outcome.results),
    }
}

/// A fan-out from `resume`, stopping new reads near `deadline`, drawing on `budget` when
/// given; its outcome says what is left.
#[allow(clippy::too_many_arguments)]
pub async fn fan_out_from(
    store: Arc<dyn ConnectionStore>,
    poster: Arc<dyn Poster>,
    messages: Vec<Bytes>,
    target: &Target,
    note: Option<Uuid>,
    options: FanoutOptions,
    resume: Resume,
    deadline: Option<Instant>,
    budget: Option<SendBudget>,
) -> FanoutOutcome {
    let shared = Arc::new(Shared {
        store: store.clone(),
        poster,
        messages: messages.into(),
        options,
        pace: Pace::new(options.send_rate),
        throttled: std::sync::atomic::AtomicU64::new(0),
        budget: budget.map(Budget::new),
    });
    let stop = Arc::new(AtomicBool::new(false));
    let permits = Arc::new(Semaphore::new(options.concurrency.max(1)));
    let mut tasks: JoinSet<(String, Outcome)> = JoinSet::new();
    let mut outcome = FanoutOutcome {
        segments: if resume.segments.is_empty() {
            vec![ScanPosition::Start; options.segments.max(1) as usize]
        } else {
            resume.segments.clone()
        },
        ..FanoutOutcome::default()
    };
    let spawn = |tasks: &mut JoinSet<(String, Outcome)>, permit, id: String| {
        let shared = shared.clone();
        tasks.spawn(async move {
            let result = shared.deliver_all(&id).await;
            drop::<tokio::sync::OwnedSemaphorePermit>(permit);
            (id, result)
        });
    };
    let tally = |outcome: &mut FanoutOutcome,
                 done: Result<(String, Outcome), tokio::task::JoinError>| {
        outcome.results.total_connections += 1;
        match done {
            Ok((_, Outcome::Sent)) => outcome.results.sent += 1,
            Ok((_, Outcome::Stale)) => outcome.results.stale_removed += 1,
            Ok((_, Outcome::Skipped)) => outcome.results.skipped += 1,
            Ok((id, Outcome::Failed)) => {
                outcome.results.failed += 1;
                outcome.failed.push(id);
            }
            Err(_) => outcome.results.failed += 1,
        }
    };

    // The connections an earlier attempt could not reach, first.
    for id in resume.retry {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        spawn(&mut tasks, permit, id);
    }

    // The rest: a user's connections through the index, or the scan's segments in parallel.
    let (sender, mut found) = mpsc::channel::<Found>(options.page_size.max(1) as usize);
    match target {
        Target::Owner(uid) if outcome.segments.iter().any(|s| *s != ScanPosition::Done) => {
            let (store, uid, target, sender) =
                (store.clone(), uid.clone(), target.clone(), sender.clone());
            let segments = outcome.segments.len();
            tokio::spawn(async move {
                let now = chrono::Utc::now().timestamp();
                match store.user_connections(&uid, now).await {
                    Ok(connections) => {
                        for c in connections.into_iter().filter(|c| wants(c, &target, note)) {
                            let _ = sender.send(Found::Connection(c.connection_id)).await;
                        }
                        for index in 0..segments {
                            let _ = sender
                                .send(Found::Position(index, ScanPosition::Done))
                                .await;
                        }
                    }
                    Err(e) => {
                        let _ = sender.send(Found::Error(e.to_string())).await;
                    }
                }
            });
        }
        Target::Owner(_) => {}
        Target::Everyone => {
            let total = outcome.segments.len() as u32;
            for (index, position) in outcome.segments.clone().into_iter().enumerate() {
                let segment = Segment {
                    index: index as u32,
                    total,
                };
                tokio::spawn(scan_segment(
                    store.clone(),
                    segment,
                    index,
                    position,
                    target.clone(),
                    note,
                    options,
                    deadline,
                    stop.clone(),
                    sender.clone(),
                ));
            }
        }
    }
    drop(sender);
    // Positions are applied only once the connections before them are dispatched (the
    // channel keeps order per segment).
    while let Some(item) = found.recv().await {
        match item {
            Found::Connection(id) => {
                // Waiting for a permit is the back-pressure: never more than `concurrency`.
                let Ok(permit) = permits.clone().acquire_owned().await else {
                    break;
                };
                spawn(&mut tasks, permit, id);
                while let Some(done) = tasks.try_join_next() {
                    tally(&mut outcome, done);
                }
                if shared
                    .budget
                    .as_ref()
                    .is_some_and(|b| b.gave_up.load(Ordering::Relaxed))
                {
                    stop.store(true, Ordering::Relaxed);
                }
            }
            Found::Position(index, position) => outcome.segments[index] = position,
            Found::Error(e) => {
                tracing::warn!(error = %e, "the connections scan stopped");
                outcome.scan_error.get_or_insert(e);
            }
            Found::OutOfTime => outcome.out_of_time = true,
        }
    }
    while let Some(done) = tasks.join_next().await {
        tally(&mut outcome, done);
    }
    outcome.throttled = shared.throttled.load(std::sync::atomic::Ordering::Relaxed);
    outcome
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
                stale_removed: 1,
                skipped: 0,
            }
        );
        assert!(store.get_connection("b-gone", 0).await.unwrap().is_none());
        let mut delivered = poster.delivered.lock().unwrap().clone();
        delivered.sort();
        assert_eq!(delivered, ["a", "c-busy", "e"]);
    }

    #[tokio::test]
    async fn throttled_posts_are_counted_for_the_metrics_even_when_retried() {
        let (_dir, store) = store_with(&[("a", None), ("c-busy", None)]).await;
        let outcome = fan_out_from(
            store,
            Arc::new(FakePoster::default()),
            vec![Bytes::from_static(b"{}")],
            &Target::Everyone,
            None,
            fast(),
            Resume::default(),
            None,
            None,
        )
        .await;
        assert_eq!(outcome.throttled, 2);
        assert_eq!(outcome.results.sent, 2);
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
            .set_subscription("a", Uuid::new_v4(), true, 50)
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
