//! The cache of fetched key sets: how long a set is trusted, when it is fetched again, and the
//! grace period that keeps the last good keys verifying through an outage.
//!
//! A set is fetched on first need and kept for the `Cache-Control: max-age` the response gave
//! (bounded by [`KeyCacheConfig`]); a token naming an unknown `kid` refetches it early, at most
//! once per `min_refresh_interval`, so garbage kids cannot hammer the source. Concurrent callers
//! share one fetch and its outcome, and a failed fetch is reported as
//! [`AuthError::KeysUnavailable`] and not retried for `failure_backoff`.
//!
//! When the set has passed its `max-age` and the refresh fails, the last good keys keep
//! verifying for a grace period ([`KeyCacheConfig::stale_grace`], [`DEFAULT_STALE_GRACE`]: six
//! hours), with a warning per failed refresh, so an outage of Google's endpoint or of the
//! network does not sign everyone out at once. Past it, tokens are refused as unavailable
//! (HTTP 503). Six hours is about what Google's `max-age` already allows, and well inside the
//! time a key stays published after Google stops signing with it; a token's own `exp` (one
//! hour) still applies throughout. Time is read through a [`Clock`], so tests move it.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use jsonwebtoken::DecodingKey;

use super::fetch::JwksFetcher;
use super::jwks::{KeyMap, key_map};
use super::unavailable;
use crate::auth::{AuthError, Rejection};

/// How long past its `max-age` a key set keeps verifying while every refresh fails.
pub const DEFAULT_STALE_GRACE: Duration = Duration::from_secs(6 * 3600);

/// How fetched key sets are cached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyCacheConfig {
    /// Used when the response has no usable `max-age`.
    pub default_max_age: Duration,
    /// The lower bound applied to `max-age` (a `max-age=0` must not turn every request into a
    /// fetch).
    pub min_max_age: Duration,
    /// The upper bound applied to `max-age`.
    pub max_max_age: Duration,
    /// At most one fetch per this interval is triggered by tokens naming an unknown `kid`.
    pub min_refresh_interval: Duration,
    /// After a failed fetch, nothing is refetched for this long (callers get the last good keys
    /// within the grace period, "unavailable" otherwise).
    pub failure_backoff: Duration,
    /// How long past its `max-age` the last good set keeps verifying while refreshes fail.
    pub stale_grace: Duration,
    /// Whole-request timeout of the HTTP fetch.
    pub http_timeout: Duration,
}

impl Default for KeyCacheConfig {
    fn default() -> Self {
        KeyCacheConfig {
            default_max_age: Duration::from_secs(3600),
            min_max_age: Duration::from_secs(60),
            max_max_age: Duration::from_secs(24 * 3600),
            min_refresh_interval: Duration::from_secs(30),
            failure_backoff: Duration::from_secs(5),
            stale_grace: DEFAULT_STALE_GRACE,
            http_timeout: Duration::from_secs(10),
        }
    }
}

/// A monotonic clock, replaceable in tests.
pub(crate) type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

/// Fetched keys, their freshness, and the fetch history the refresh rules need.
pub(crate) struct KeyCache {
    fetcher: Arc<dyn JwksFetcher>,
    config: KeyCacheConfig,
    clock: Clock,
    state: Mutex<CacheState>,
    /// Held for the duration of a fetch, so concurrent callers share one.
    fetching: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct CacheState {
    keys: Option<Arc<KeyMap>>,
    fresh_until: Option<Instant>,
    /// Completed fetch attempts; lets a caller that waited see that someone else fetched.
    attempts: u64,
    last_attempt: Option<Instant>,
    last_attempt_failed: bool,
}

impl CacheState {
    fn is_fresh(&self, now: Instant) -> bool {
        self.keys.is_some() && self.fresh_until.is_some_and(|until| now < until)
    }

    fn fresh_key(&self, kid: &str, now: Instant) -> Option<Arc<DecodingKey>> {
        if !self.is_fresh(now) {
            return None;
        }
        self.keys.as_ref()?.get(kid).cloned()
    }

    /// `kid` from the set as long as it is fresh or within `grace` past its freshness.
    fn usable_key(&self, kid: &str, now: Instant, grace: Duration) -> Option<Arc<DecodingKey>> {
        let until = self.fresh_until?.checked_add(grace)?;
        if now >= until {
            return None;
        }
        self.keys.as_ref()?.get(kid).cloned()
    }

    fn since_last_attempt(&self, now: Instant) -> Option<Duration> {
        self.last_attempt
            .map(|at| now.saturating_duration_since(at))
    }
}

impl KeyCache {
    /// A cache of what `fetcher` returns, reading the time from `clock`; nothing is fetched yet.
    pub(crate) fn with_clock(
        fetcher: Arc<dyn JwksFetcher>,
        config: KeyCacheConfig,
        clock: Clock,
    ) -> Self {
        KeyCache {
            fetcher,
            config,
            clock,
            state: Mutex::new(CacheState::default()),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    fn state(&self) -> MutexGuard<'_, CacheState> {
        // Nothing panics while holding the lock; recover the data if something ever does.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The key named `kid`, fetching or refreshing the set when the rules allow.
    pub(crate) async fn key_for(&self, kid: &str) -> Result<Arc<DecodingKey>, AuthError> {
        let seen_attempts = {
            let state = self.state();
            if let Some(key) = state.fresh_key(kid, (self.clock)()) {
                return Ok(key);
            }
            state.attempts
        };

        let _fetching = self.fetching.lock().await;
        let now = (self.clock)();
        {
            let state = self.state();
            if let Some(key) = state.fresh_key(kid, now) {
                return Ok(key);
            }
            let fresh = state.is_fresh(now);
            if state.attempts != seen_attempts {
                // Someone fetched while we waited: share that outcome instead of fetching again.
                if state.last_attempt_failed {
                    return self.stale_or_unavailable(
                        &state,
                        kid,
                        now,
                        "the shared key fetch failed",
                    );
                }
                if fresh {
                    return Err(Rejection::UnknownKey.into());
                }
            }
            let since_last = state.since_last_attempt(now);
            if fresh {
                // A fresh set without this kid: refresh early, but rate-limited.
                if since_last.is_some_and(|elapsed| elapsed < self.config.min_refresh_interval) {
                    return Err(Rejection::UnknownKey.into());
                }
            } else if state.last_attempt_failed
                && since_last.is_some_and(|elapsed| elapsed < self.config.failure_backoff)
            {
                return self.stale_or_unavailable(
                    &state,
                    kid,
                    now,
                    "key fetch failed moments ago; backing off",
                );
            }
        }

        let outcome = self.fetcher.fetch().await.and_then(|fetched| {
            let map = key_map(&fetched.jwks);
            if map.is_empty() {
                Err("the JWKS has no usable RS256 key".to_owned())
            } else {
                Ok((map, fetched.max_age))
            }
        });
        let now = (self.clock)();
        match outcome {
            Ok((map, max_age)) => {
                // max/min rather than clamp: a misordered config must not panic.
                let ttl = max_age
                    .unwrap_or(self.config.default_max_age)
                    .min(self.config.max_max_age)
                    .max(self.config.min_max_age);
                tracing::info!(
                    keys = map.len(),
                    ttl_secs = ttl.as_secs(),
                    "fetched token signing keys"
                );
                let key = map.get(kid).cloned();
                let mut state = self.state();
                state.attempts += 1;
                state.last_attempt = Some(now);
                state.last_attempt_failed = false;
                state.keys = Some(Arc::new(map));
                state.fresh_until = now.checked_add(ttl);
                key.ok_or_else(|| Rejection::UnknownKey.into())
            }
            Err(detail) => {
                tracing::warn!(error = %detail, "could not fetch token signing keys");
                let mut state = self.state();
                state.attempts += 1;
                state.last_attempt = Some(now);
                state.last_attempt_failed = true;
                if let Some(until) = state.fresh_until
                    && state.keys.is_some()
                    && !state.is_fresh(now)
                {
                    let grace_ends = until.checked_add(self.config.stale_grace);
                    match grace_ends.map(|end| end.saturating_duration_since(now)) {
                        Some(left) if !left.is_zero() => tracing::warn!(
                            stale_secs = now.saturating_duration_since(until).as_secs(),
                            grace_left_secs = left.as_secs(),
                            "verifying with the last good signing keys until the grace period ends"
                        ),
                        _ => tracing::error!(
                            grace_secs = self.config.stale_grace.as_secs(),
                            "the last good signing keys are past their grace period: refusing tokens"
                        ),
                    }
                }
                self.stale_or_unavailable(&state, kid, now, &detail)
            }
        }
    }

    /// The last good key named `kid` while the grace period lasts, else "unavailable".
    fn stale_or_unavailable(
        &self,
        state: &CacheState,
        kid: &str,
        now: Instant,
        detail: &str,
    ) -> Result<Arc<DecodingKey>, AuthError> {
        match state.usable_key(kid, now, self.config.stale_grace) {
            Some(key) => Ok(key),
            None => Err(unavailable(detail)),
        }
    }
}

#[cfg(test)]
mod tests;
