//! The control store: short-lived counters and records that steer the app rather than hold its
//! data, kept apart from the connections so the fan-out's scan never reads them.
//!
//! Two kinds live here, each with an expiry (DynamoDB's TTL attribute in the cloud store):
//! - the counters of the rate limits' fixed windows (`rl#<action>#<subject>#<window start>`),
//!   which [`Limiter`] reads and writes: one `ADD` per counted request, the new count deciding
//!   (see [`crate::domain::limits`]); and the fan-out's send budget per second (`budget#<s>`);
//! - the progress of each broadcast (`bc#<event id>`), so a retried broadcast never posts twice
//!   to a connection that got it.
//!
//! A request that is refused is counted too, and that is all it writes: its count tells whether
//! it is the first refusal of its window, the only one logged. So a flood of refused requests
//! costs one small write each and one log line per user per window.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{ScanPosition, StoreError};
use crate::domain::limits::{Action, Rate, RateLimits, Verdict};

/// How long a broadcast's progress is kept: past Lambda's retries of an event (6 h at most).
pub const BROADCAST_PROGRESS_TTL_SECS: i64 = 24 * 3600;

/// How long a counter outlives its window (clocks of two instances may differ by this much).
pub const COUNTER_GRACE_SECS: i64 = 60;

/// What a broadcast with an event id has done so far: the connections whose post failed (to
/// retry) and how far each scan segment got. A broadcast that finished keeps a record with
/// nothing failed and every segment done, so a duplicate delivery of its event posts nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BroadcastProgress {
    /// The broadcast's event id (the key).
    pub event_id: String,
    /// The connections whose post failed, to post to again.
    pub failed: Vec<String>,
    /// How far each scan segment got, by segment index.
    pub segments: Vec<ScanPosition>,
    /// Epoch seconds after which the record is dead.
    pub expires_at: i64,
}

impl BroadcastProgress {
    /// Whether everything was delivered.
    pub fn is_finished(&self) -> bool {
        self.failed.is_empty() && self.segments.iter().all(|s| *s == ScanPosition::Done)
    }
}

/// Counters and broadcast progress, shared by every instance of every function.
#[async_trait]
pub trait ControlStore: Send + Sync + 'static {
    /// Adds `n` to counter `key` (a missing or expired one starts at 0), keeps it until
    /// `expires_at` (epoch seconds) and returns its new value: one write.
    async fn add(&self, key: &str, n: u64, expires_at: i64) -> Result<u64, StoreError>;
    /// The progress of broadcast `event_id`, if an earlier attempt recorded any.
    async fn broadcast_progress(
        &self,
        event_id: &str,
        now: i64,
    ) -> Result<Option<BroadcastProgress>, StoreError>;
    /// Records a broadcast's progress (replacing any earlier record).
    async fn put_broadcast_progress(&self, progress: &BroadcastProgress) -> Result<(), StoreError>;
}

/// The key of the counter of `action` by `subject` in the window starting at `start`.
pub fn window_key(action: Action, subject: &str, start: i64) -> String {
    format!("rl#{}#{subject}#{start}", action.key())
}

/// Applies an environment's [`RateLimits`] through a [`ControlStore`]: the one place a limit is
/// checked, by the API's write routes and the WebSocket handlers alike.
#[derive(Clone)]
pub struct Limiter {
    control: Arc<dyn ControlStore>,
    limits: RateLimits,
}

impl Limiter {
    /// `limits`, counted in `control`.
    pub fn new(control: Arc<dyn ControlStore>, limits: RateLimits) -> Self {
        Self { control, limits }
    }

    /// The limits applied.
    pub fn limits(&self) -> &RateLimits {
        &self.limits
    }

    /// Counts one `action` by `subject` (a uid, a source address or a note id) against its
    /// rate, anonymous or not: [`StoreError::RateLimited`] when over it. One write either way.
    pub async fn check(
        &self,
        action: Action,
        anonymous: bool,
        subject: &str,
    ) -> Result<(), StoreError> {
        let rate = self.limits.rate(action, anonymous);
        self.check_rate(action, rate, subject).await
    }

    /// As [`Limiter::check`], with `rate` given.
    pub async fn check_rate(
        &self,
        action: Action,
        rate: Rate,
        subject: &str,
    ) -> Result<(), StoreError> {
        let now = chrono::Utc::now().timestamp();
        let window = rate.window(now);
        let key = window_key(action, subject, window.start);
        let count = self
            .control
            .add(&key, 1, window.end + COUNTER_GRACE_SECS)
            .await?;
        match rate.verdict(count, window, now) {
            Verdict::Allowed => Ok(()),
            Verdict::Refused {
                retry_after_secs,
                first,
            } => {
                if first {
                    tracing::warn!(
                        action = action.key(),
                        subject,
                        limit = %rate,
                        retry_after_secs,
                        "rate limit reached: refused until the window ends (logged once per window)"
                    );
                }
                Err(StoreError::RateLimited {
                    message: format!(
                        "Too many {}: at most {}. Retry in {retry_after_secs} s.",
                        action.noun(),
                        rate.describe()
                    ),
                    retry_after_secs,
                })
            }
        }
    }
}

/// The key of the fan-out send budget of second `second`.
pub fn budget_key(second: i64) -> String {
    format!("budget#{second}")
}

/// Takes up to `wanted` posts from the environment's send budget of `per_second` posts in second
/// `second`, shared by every fan-out of every instance: returns how many were granted (0 when the
/// second is spent). One write.
pub async fn take_budget(
    control: &dyn ControlStore,
    second: i64,
    wanted: u64,
    per_second: u64,
) -> Result<u64, StoreError> {
    let total = control
        .add(&budget_key(second), wanted, second + COUNTER_GRACE_SECS)
        .await?;
    let before = total.saturating_sub(wanted);
    Ok(per_second.saturating_sub(before).min(wanted))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::embedded::EmbeddedStore;

    #[tokio::test]
    async fn a_limiter_refuses_past_the_limit_with_the_seconds_to_wait_and_counts_per_subject() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
        let limits = RateLimits::DEFAULT
            .with("comments=2/hour,comments_anonymous=1/hour")
            .unwrap();
        let limiter = Limiter::new(store, limits);
        for _ in 0..2 {
            limiter
                .check(Action::Comment, false, "alice")
                .await
                .unwrap();
        }
        let Err(StoreError::RateLimited {
            message,
            retry_after_secs,
        }) = limiter.check(Action::Comment, false, "alice").await
        else {
            panic!("the third comment in the hour is refused");
        };
        assert!((1..=3600).contains(&retry_after_secs));
        assert!(
            message.starts_with("Too many comments: at most 2 an hour"),
            "{message}"
        );
        limiter.check(Action::Comment, false, "bob").await.unwrap();
        limiter.check(Action::Comment, true, "guest").await.unwrap();
        assert!(limiter.check(Action::Comment, true, "guest").await.is_err());
        // Another action has its own counter.
        limiter
            .check(Action::NoteCreate, false, "alice")
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn the_send_budget_of_a_second_is_shared_and_never_overdrawn() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let second = chrono::Utc::now().timestamp();
        assert_eq!(take_budget(&store, second, 60, 100).await.unwrap(), 60);
        assert_eq!(take_budget(&store, second, 60, 100).await.unwrap(), 40);
        assert_eq!(take_budget(&store, second, 60, 100).await.unwrap(), 0);
        assert_eq!(take_budget(&store, second + 1, 60, 100).await.unwrap(), 60);
    }
}
