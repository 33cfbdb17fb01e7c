//! The cache's rules against a fake fetcher and a fake clock: first-use fetch, `max-age` and its
//! bounds, early refresh for unknown kids and its rate limit, backoff after a failure, the grace
//! period, and concurrent callers sharing one fetch.

use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;

use super::super::fetch::FetchedJwks;
use super::super::testing::{FakeClock, jwks_with_kids};
use super::*;

/// Serves whatever response it currently holds and counts the calls.
struct FakeFetcher {
    response: Mutex<Result<FetchedJwks, String>>,
    calls: AtomicUsize,
    delay: Duration,
}

impl FakeFetcher {
    fn serving(kids: &[&str], max_age: Option<Duration>) -> Arc<Self> {
        Arc::new(FakeFetcher {
            response: Mutex::new(Ok(FetchedJwks {
                jwks: jwks_with_kids(kids),
                max_age,
            })),
            calls: AtomicUsize::new(0),
            delay: Duration::ZERO,
        })
    }
    fn set(&self, response: Result<FetchedJwks, String>) {
        *self.response.lock().unwrap() = response;
    }
    fn serve_kids(&self, kids: &[&str], max_age: Option<Duration>) {
        self.set(Ok(FetchedJwks {
            jwks: jwks_with_kids(kids),
            max_age,
        }));
    }
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl JwksFetcher for FakeFetcher {
    async fn fetch(&self) -> Result<FetchedJwks, String> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        self.response.lock().unwrap().clone()
    }
}

fn cache(fetcher: &Arc<FakeFetcher>, clock: &Arc<FakeClock>) -> KeyCache {
    KeyCache::with_clock(fetcher.clone(), KeyCacheConfig::default(), clock.clock())
}

fn unknown(err: AuthError) -> bool {
    err == AuthError::from(Rejection::UnknownKey)
}

const SECOND: Duration = Duration::from_secs(1);

#[tokio::test]
async fn keys_are_fetched_on_first_use_and_then_served_from_the_cache() {
    let fetcher = FakeFetcher::serving(&["a", "b"], Some(Duration::from_secs(600)));
    let clock = FakeClock::new();
    let cache = cache(&fetcher, &clock);
    assert_eq!(fetcher.calls(), 0, "nothing is fetched before it is needed");
    cache.key_for("a").await.unwrap();
    cache.key_for("b").await.unwrap();
    clock.advance(599 * SECOND);
    cache.key_for("a").await.unwrap();
    assert_eq!(fetcher.calls(), 1);
}

#[tokio::test]
async fn keys_are_refetched_once_the_max_age_the_source_gave_has_passed() {
    let fetcher = FakeFetcher::serving(&["a"], Some(Duration::from_secs(120)));
    let clock = FakeClock::new();
    let cache = cache(&fetcher, &clock);
    cache.key_for("a").await.unwrap();
    clock.advance(119 * SECOND);
    cache.key_for("a").await.unwrap();
    assert_eq!(fetcher.calls(), 1);
    clock.advance(2 * SECOND);
    cache.key_for("a").await.unwrap();
    assert_eq!(fetcher.calls(), 2);
}

#[tokio::test]
async fn without_a_max_age_keys_are_kept_for_the_default_hour() {
    let fetcher = FakeFetcher::serving(&["a"], None);
    let clock = FakeClock::new();
    let cache = cache(&fetcher, &clock);
    cache.key_for("a").await.unwrap();
    clock.advance(3599 * SECOND);
    cache.key_for("a").await.unwrap();
    assert_eq!(fetcher.calls(), 1);
    clock.advance(2 * SECOND);
    cache.key_for("a").await.unwrap();
    assert_eq!(fetcher.calls(), 2);
}

#[tokio::test]
async fn a_max_age_of_zero_is_raised_to_the_minimum() {
    let fetcher = FakeFetcher::serving(&["a"], Some(Duration::ZERO));
    let clock = FakeClock::new();
    let cache = cache(&fetcher, &clock);
    for _ in 0..5 {
        cache.key_for("a").await.unwrap();
    }
    assert_eq!(fetcher.calls(), 1);
}

#[tokio::test]
async fn unknown_kid_triggers_one_refresh_that_finds_a_rotated_key() {
    let fetcher = FakeFetcher::serving(&["old"], Some(Duration::from_secs(3600)));
    let clock = FakeClock::new();
    let cache = cache(&fetcher, &clock);
    cache.key_for("old").await.unwrap();
    fetcher.serve_kids(&["old", "new"], Some(Duration::from_secs(3600)));
    clock.advance(31 * SECOND);
    cache.key_for("new").await.unwrap();
    assert_eq!(fetcher.calls(), 2);
    cache.key_for("new").await.unwrap();
    cache.key_for("old").await.unwrap();
    assert_eq!(fetcher.calls(), 2);
}

#[tokio::test]
async fn refreshes_for_unknown_kids_are_rate_limited() {
    let fetcher = FakeFetcher::serving(&["a"], Some(Duration::from_secs(3600)));
    let clock = FakeClock::new();
    let cache = cache(&fetcher, &clock);
    cache.key_for("a").await.unwrap();
    clock.advance(31 * SECOND);
    assert!(unknown(cache.key_for("garbage-1").await.unwrap_err()));
    assert_eq!(fetcher.calls(), 2, "the first unknown kid refreshes");
    for i in 0..20 {
        clock.advance(SECOND);
        assert!(unknown(
            cache.key_for(&format!("garbage-{i}")).await.unwrap_err()
        ));
    }
    assert_eq!(
        fetcher.calls(),
        2,
        "further unknown kids within 30 s do not"
    );
    clock.advance(10 * SECOND);
    assert!(unknown(cache.key_for("garbage-x").await.unwrap_err()));
    assert_eq!(fetcher.calls(), 3, "after 30 s one more refresh is allowed");
    cache.key_for("a").await.unwrap();
    assert_eq!(fetcher.calls(), 3);
}

#[tokio::test]
async fn failed_fetch_is_reported_as_keys_unavailable_and_retried_after_a_backoff() {
    let fetcher = FakeFetcher::serving(&["a"], None);
    fetcher.set(Err("connection refused".into()));
    let clock = FakeClock::new();
    let cache = cache(&fetcher, &clock);
    let err = cache.key_for("a").await.unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
    assert_eq!(
        err.to_string(),
        "token signing keys are temporarily unavailable"
    );
    assert!(cache.key_for("a").await.unwrap_err().is_unavailable());
    assert_eq!(fetcher.calls(), 1, "no refetch during the backoff");
    fetcher.serve_kids(&["a"], None);
    clock.advance(6 * SECOND);
    cache.key_for("a").await.unwrap();
    assert_eq!(fetcher.calls(), 2);
}

#[tokio::test]
async fn failed_refresh_keeps_the_keys_already_cached() {
    let fetcher = FakeFetcher::serving(&["a"], Some(Duration::from_secs(3600)));
    let clock = FakeClock::new();
    let cache = cache(&fetcher, &clock);
    cache.key_for("a").await.unwrap();
    fetcher.set(Err("HTTP 500".into()));
    clock.advance(31 * SECOND);
    assert!(cache.key_for("b").await.unwrap_err().is_unavailable());
    cache.key_for("a").await.unwrap();
    assert_eq!(fetcher.calls(), 2);
}

#[tokio::test]
async fn stale_keys_verify_through_the_grace_period_while_refreshes_fail() {
    let fetcher = FakeFetcher::serving(&["a"], Some(Duration::from_secs(120)));
    let clock = FakeClock::new();
    let cache = cache(&fetcher, &clock);
    cache.key_for("a").await.unwrap();
    fetcher.set(Err("connection refused".into()));

    // Past max-age: the refresh fails, the last good key still answers.
    clock.advance(121 * SECOND);
    cache.key_for("a").await.unwrap();
    assert_eq!(fetcher.calls(), 2);
    // Within the backoff nothing is refetched, and the stale key keeps answering.
    cache.key_for("a").await.unwrap();
    assert_eq!(fetcher.calls(), 2);
    // A kid the last good set never had is not invented.
    assert!(cache.key_for("b").await.unwrap_err().is_unavailable());

    // Up to the end of the grace period, every retry fails and the key still answers.
    clock.advance(DEFAULT_STALE_GRACE - 10 * SECOND);
    cache.key_for("a").await.unwrap();
    // After it, tokens are refused as unavailable.
    clock.advance(10 * SECOND);
    let err = cache.key_for("a").await.unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
    clock.advance(6 * SECOND);
    assert!(cache.key_for("a").await.unwrap_err().is_unavailable());

    // The first successful refresh ends it.
    fetcher.serve_kids(&["a"], Some(Duration::from_secs(120)));
    clock.advance(6 * SECOND);
    cache.key_for("a").await.unwrap();
}

#[tokio::test]
async fn a_key_set_without_usable_keys_counts_as_a_failed_fetch() {
    let fetcher = FakeFetcher::serving(&[], None);
    let clock = FakeClock::new();
    let cache = cache(&fetcher, &clock);
    assert!(cache.key_for("a").await.unwrap_err().is_unavailable());
}

#[tokio::test]
async fn concurrent_callers_share_one_fetch() {
    let fetcher = Arc::new(FakeFetcher {
        response: Mutex::new(Ok(FetchedJwks {
            jwks: jwks_with_kids(&["a"]),
            max_age: None,
        })),
        calls: AtomicUsize::new(0),
        delay: Duration::from_millis(50),
    });
    let cache = Arc::new(KeyCache::with_clock(
        fetcher.clone(),
        KeyCacheConfig::default(),
        Arc::new(Instant::now),
    ));
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let cache = Arc::clone(&cache);
            tokio::spawn(async move { cache.key_for("a").await.map(|_| ()) })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(fetcher.calls(), 1);
}

#[tokio::test]
async fn concurrent_callers_share_one_failure() {
    let fetcher = Arc::new(FakeFetcher {
        response: Mutex::new(Err("timeout".into())),
        calls: AtomicUsize::new(0),
        delay: Duration::from_millis(50),
    });
    let cache = Arc::new(KeyCache::with_clock(
        fetcher.clone(),
        KeyCacheConfig::default(),
        Arc::new(Instant::now),
    ));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let cache = Arc::clone(&cache);
            tokio::spawn(async move { cache.key_for("a").await.map(|_| ()) })
        })
        .collect();
    for task in tasks {
        assert!(task.await.unwrap().unwrap_err().is_unavailable());
    }
    assert_eq!(fetcher.calls(), 1);
}
