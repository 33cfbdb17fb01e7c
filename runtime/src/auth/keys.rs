//! Where token signing keys come from, and how long they are trusted.
//!
//! A [`KeySource`] is either Google's published JWKS (production), a JWKS at another URL (tests
//! against a loopback server), a custom [`JwksFetcher`], or a fixed in-memory set (`noteapp local`
//! and tests). Fetched sets go through [`KeyCache`]: fetched on first need, kept for the
//! `Cache-Control: max-age` the response gave, refetched early when a token names an unknown
//! `kid` (at most once per `min_refresh_interval`, so garbage kids cannot hammer the source),
//! one fetch shared by all concurrent callers, and a failed fetch reported as
//! [`AuthError::KeysUnavailable`]. The HTTP fetch itself ([`HttpJwksFetcher`]) is kept thin so the
//! cache logic can be tested with a fake fetcher and a fake clock.
//!
//! When the set has passed its `max-age` and the refresh fails, the last good keys keep
//! verifying for a grace period ([`KeyCacheConfig::stale_grace`], [`DEFAULT_STALE_GRACE`]: six
//! hours), with a warning per failed refresh, so an outage of Google's endpoint or of the
//! network does not sign everyone out at once. Past it, tokens are refused as unavailable
//! (HTTP 503). Six hours is about what Google's `max-age` already allows, and well inside the
//! time a key stays published after Google stops signing with it; a token's own `exp` (one
//! hour) still applies throughout.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse};

use super::{AuthError, Rejection, VerifierConfigError};

/// Google's public keys for Firebase ID tokens, as a JWKS.
pub const GOOGLE_JWKS_URL: &str =
    "https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com";

/// Keys shorter than this are ignored (Google's are 2048-bit).
const MIN_RSA_MODULUS_BITS: usize = 2048;
/// A JWKS response larger than this is refused (Google's is about 2 KB).
const MAX_JWKS_BYTES: usize = 256 * 1024;

/// How long past its `max-age` a key set keeps verifying while every refresh fails.
pub const DEFAULT_STALE_GRACE: Duration = Duration::from_secs(6 * 3600);

/// Where the verifier gets the public keys that sign ID tokens.
#[derive(Clone)]
pub enum KeySource {
    /// Google's JWKS at [`GOOGLE_JWKS_URL`]: the only source for deployed environments.
    Google,
    /// A JWKS served at another URL. Only settable in code (tests use a loopback server); plain
    /// `http://` is refused unless the host is loopback.
    RemoteJwks { url: String },
    /// Any other fetcher, cached exactly like the remote sources.
    Fetcher(Arc<dyn JwksFetcher>),
    /// A fixed set held in memory (`noteapp local`, tests). Never refreshed.
    Static(JwkSet),
}

impl KeySource {
    /// Google's published Firebase signing keys.
    pub fn google() -> Self {
        KeySource::Google
    }

    /// A fixed JWKS read from a file (`noteapp local`); refused if it holds no usable RS256 key.
    pub fn from_jwks_file(path: impl AsRef<std::path::Path>) -> Result<Self, VerifierConfigError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| {
            VerifierConfigError(format!("cannot read the JWKS file {}: {e}", path.display()))
        })?;
        let jwks = parse_jwks(&bytes)
            .map_err(|e| VerifierConfigError(format!("the JWKS file {} is {e}", path.display())))?;
        if key_map(&jwks).is_empty() {
            return Err(VerifierConfigError(format!(
                "the JWKS file {} has no usable RS256 key",
                path.display()
            )));
        }
        Ok(KeySource::Static(jwks))
    }
}

impl std::fmt::Debug for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::Google => f.write_str("Google"),
            KeySource::RemoteJwks { url } => {
                f.debug_struct("RemoteJwks").field("url", url).finish()
            }
            KeySource::Fetcher(_) => f.write_str("Fetcher(..)"),
            KeySource::Static(set) => write!(f, "Static({} keys)", set.keys.len()),
        }
    }
}

/// One successful fetch: the key set and how long the source allows it to be cached.
#[derive(Debug, Clone)]
pub struct FetchedJwks {
    pub jwks: JwkSet,
    /// `Cache-Control: max-age`, when the response gave one.
    pub max_age: Option<Duration>,
}

/// Fetches a JWKS. The error string is for logs; clients only ever see "unavailable".
#[async_trait]
pub trait JwksFetcher: Send + Sync + 'static {
    async fn fetch(&self) -> Result<FetchedJwks, String>;
}

/// How fetched key sets are cached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyCacheConfig {
    /// Used when the response has no usable `max-age`.
    pub default_max_age: Duration,
    /// Bounds applied to `max-age` (a `max-age=0` must not turn every request into a fetch).
    pub min_max_age: Duration,
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

/// Reads `max-age` from a `Cache-Control` value (`"public, max-age=19302, must-revalidate"`).
pub fn parse_max_age(cache_control: &str) -> Option<Duration> {
    cache_control.split(',').find_map(|directive| {
        let (name, value) = directive.trim().split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("max-age") {
            return None;
        }
        let secs: u64 = value.trim().trim_matches('"').parse().ok()?;
        Some(Duration::from_secs(secs))
    })
}

/// GETs a JWKS over HTTP(S) and reads its `Cache-Control` header.
pub struct HttpJwksFetcher {
    client: reqwest::Client,
    url: String,
}

impl HttpJwksFetcher {
    pub fn new(url: impl Into<String>, timeout: Duration) -> Result<Self, VerifierConfigError> {
        let url = url.into();
        let parsed = reqwest::Url::parse(&url)
            .map_err(|e| VerifierConfigError(format!("JWKS URL {url:?} is not a URL: {e}")))?;
        let loopback = is_loopback(&parsed);
        match parsed.scheme() {
            "https" => {}
            "http" if loopback => {}
            _ => {
                return Err(VerifierConfigError(format!(
                    "JWKS URL {url:?} must be https (plain http only for loopback hosts)"
                )));
            }
        }
        crate::aws_http::install_crypto();
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("noteapp-runtime/", env!("CARGO_PKG_VERSION")));
        if loopback {
            builder = builder.no_proxy();
        }
        let client = builder.build().map_err(|e| {
            VerifierConfigError(format!("cannot build the HTTP client for JWKS: {e}"))
        })?;
        Ok(HttpJwksFetcher { client, url })
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

fn is_loopback(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[async_trait]
impl JwksFetcher for HttpJwksFetcher {
    async fn fetch(&self) -> Result<FetchedJwks, String> {
        let url = &self.url;
        let mut response = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("GET {url}: HTTP {status}"));
        }
        let max_age = response
            .headers()
            .get(reqwest::header::CACHE_CONTROL)
            .and_then(|value| value.to_str().ok())
            .and_then(parse_max_age);
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?
        {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(format!(
                    "GET {url}: response larger than {MAX_JWKS_BYTES} bytes"
                ));
            }
            body.extend_from_slice(&chunk);
        }
        let jwks = parse_jwks(&body).map_err(|e| format!("GET {url}: {e}"))?;
        Ok(FetchedJwks { jwks, max_age })
    }
}

/// Parses a JWKS leniently: one key the JWT library cannot represent does not void the others.
pub(crate) fn parse_jwks(body: &[u8]) -> Result<JwkSet, String> {
    #[derive(serde::Deserialize)]
    struct RawSet {
        keys: Vec<serde_json::Value>,
    }
    let raw: RawSet = serde_json::from_slice(body).map_err(|e| format!("not a JWKS: {e}"))?;
    let keys = raw
        .keys
        .into_iter()
        .filter_map(|key| serde_json::from_value::<Jwk>(key).ok());
    Ok(JwkSet {
        keys: keys.collect(),
    })
}

/// Verification keys by `kid`.
pub(crate) type KeyMap = HashMap<String, Arc<DecodingKey>>;

/// Keeps the keys usable for RS256: RSA, a `kid`, `alg` absent or RS256, `use` absent or `sig`,
/// and a modulus of at least 2048 bits. Anything else is skipped (and logged).
pub(crate) fn key_map(jwks: &JwkSet) -> KeyMap {
    let mut map = KeyMap::new();
    for jwk in &jwks.keys {
        let kid = jwk.common.key_id.as_deref().unwrap_or_default();
        match usable_key(jwk) {
            Ok(key) if !kid.is_empty() => {
                map.insert(kid.to_owned(), Arc::new(key));
            }
            Ok(_) => tracing::warn!("ignoring a JWKS key without a kid"),
            Err(why) => tracing::warn!(kid, why, "ignoring a JWKS key"),
        }
    }
    map
}

fn usable_key(jwk: &Jwk) -> Result<DecodingKey, &'static str> {
    let AlgorithmParameters::RSA(rsa) = &jwk.algorithm else {
        return Err("not an RSA key");
    };
    if !matches!(jwk.common.key_algorithm, None | Some(KeyAlgorithm::RS256)) {
        return Err("alg is not RS256");
    }
    if !matches!(
        jwk.common.public_key_use,
        None | Some(PublicKeyUse::Signature)
    ) {
        return Err("use is not sig");
    }
    let modulus = URL_SAFE_NO_PAD
        .decode(&rsa.n)
        .map_err(|_| "modulus is not base64url")?;
    let significant = modulus.iter().skip_while(|b| **b == 0).count();
    if significant * 8 < MIN_RSA_MODULUS_BITS {
        return Err("modulus shorter than 2048 bits");
    }
    DecodingKey::from_rsa_components(&rsa.n, &rsa.e).map_err(|_| "bad RSA components")
}

/// A monotonic clock, replaceable in tests.
pub(crate) type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

/// The verifier's view of its keys: fixed, or fetched through a cache.
pub(crate) enum KeyStore {
    Static(KeyMap),
    Cached(KeyCache),
    /// The configuration was refused; every lookup fails closed with this reason.
    Misconfigured(String),
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyStore::Static(map) => write!(f, "Static({} keys)", map.len()),
            KeyStore::Cached(_) => f.write_str("Cached"),
            KeyStore::Misconfigured(why) => write!(f, "Misconfigured({why})"),
        }
    }
}

impl KeyStore {
    /// The keys of `source`; a fetched set is cached by `clock`'s time.
    pub(crate) fn new(
        source: KeySource,
        config: KeyCacheConfig,
        clock: Clock,
    ) -> Result<Self, VerifierConfigError> {
        let fetcher: Arc<dyn JwksFetcher> = match source {
            KeySource::Static(jwks) => {
                let map = key_map(&jwks);
                if map.is_empty() {
                    return Err(VerifierConfigError(
                        "the static JWKS has no usable RS256 key".into(),
                    ));
                }
                return Ok(KeyStore::Static(map));
            }
            KeySource::Google => {
                Arc::new(HttpJwksFetcher::new(GOOGLE_JWKS_URL, config.http_timeout)?)
            }
            KeySource::RemoteJwks { url } => {
                Arc::new(HttpJwksFetcher::new(url, config.http_timeout)?)
            }
            KeySource::Fetcher(fetcher) => fetcher,
        };
        Ok(KeyStore::Cached(KeyCache::with_clock(
            fetcher, config, clock,
        )))
    }

    pub(crate) async fn key_for(&self, kid: &str) -> Result<Arc<DecodingKey>, AuthError> {
        match self {
            KeyStore::Static(map) => map
                .get(kid)
                .cloned()
                .ok_or_else(|| Rejection::UnknownKey.into()),
            KeyStore::Cached(cache) => cache.key_for(kid).await,
            KeyStore::Misconfigured(why) => Err(unavailable(why.clone())),
        }
    }
}

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

fn unavailable(detail: impl Into<String>) -> AuthError {
    AuthError::KeysUnavailable(detail.into())
}

impl KeyCache {
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
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::super::local::test_keys::signer;
    use super::super::{TokenClaims, Verifier, VerifierConfig};
    use super::*;

    /// The test key published under each of `kids`.
    fn jwks_with_kids(kids: &[&str]) -> JwkSet {
        let template = signer().jwks().keys.remove(0);
        let keys = kids
            .iter()
            .map(|kid| {
                let mut jwk = template.clone();
                jwk.common.key_id = Some((*kid).to_owned());
                jwk
            })
            .collect();
        JwkSet { keys }
    }

    /// A clock that only moves when told to.
    struct FakeClock {
        start: Instant,
        offset: Mutex<Duration>,
    }

    impl FakeClock {
        fn new() -> Arc<Self> {
            Arc::new(FakeClock {
                start: Instant::now(),
                offset: Mutex::new(Duration::ZERO),
            })
        }
        fn advance(&self, by: Duration) {
            *self.offset.lock().unwrap() += by;
        }
        fn clock(self: &Arc<Self>) -> Clock {
            let this = Arc::clone(self);
            Arc::new(move || this.start + *this.offset.lock().unwrap())
        }
    }

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

    #[test]
    fn max_age_is_read_from_cache_control() {
        let cases = [
            (
                "public, max-age=19302, must-revalidate, no-transform",
                Some(19302),
            ),
            ("max-age=60", Some(60)),
            ("MAX-AGE = 5", Some(5)),
            ("private, max-age=\"7\"", Some(7)),
            ("no-cache", None),
            ("s-maxage=10", None),
            ("max-age=soon", None),
            ("max-age=-1", None),
            ("", None),
        ];
        for (header, secs) in cases {
            assert_eq!(
                parse_max_age(header),
                secs.map(Duration::from_secs),
                "{header}"
            );
        }
    }

    #[test]
    fn only_rs256_signing_keys_of_2048_bits_or_more_are_kept() {
        let good = jwks_with_kids(&["good"]).keys.remove(0);
        let mut wrong_alg = good.clone();
        wrong_alg.common.key_id = Some("wrong-alg".into());
        wrong_alg.common.key_algorithm = Some(KeyAlgorithm::RS512);
        let mut encryption = good.clone();
        encryption.common.key_id = Some("enc".into());
        encryption.common.public_key_use = Some(PublicKeyUse::Encryption);
        let mut no_kid = good.clone();
        no_kid.common.key_id = None;
        let mut short = good.clone();
        short.common.key_id = Some("short".into());
        if let AlgorithmParameters::RSA(rsa) = &mut short.algorithm {
            rsa.n = URL_SAFE_NO_PAD.encode([0xffu8; 128]);
        }
        let hmac: Jwk = serde_json::from_value(serde_json::json!({
            "kty": "oct", "kid": "hmac", "k": "c2VjcmV0"
        }))
        .unwrap();
        let set = JwkSet {
            keys: vec![good, wrong_alg, encryption, no_kid, short, hmac],
        };
        let map = key_map(&set);
        assert_eq!(map.keys().collect::<Vec<_>>(), vec!["good"]);
    }

    #[test]
    fn a_jwks_with_one_unparseable_key_keeps_the_others() {
        let mut value = serde_json::to_value(jwks_with_kids(&["a"])).unwrap();
        value["keys"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"kty": "RSA", "alg": "XYZ999"}));
        let set = parse_jwks(&serde_json::to_vec(&value).unwrap()).unwrap();
        assert_eq!(key_map(&set).len(), 1);
        assert!(parse_jwks(b"<html>").is_err());
    }

    #[test]
    fn remote_sources_must_use_https_unless_loopback() {
        let timeout = Duration::from_secs(1);
        assert!(HttpJwksFetcher::new(GOOGLE_JWKS_URL, timeout).is_ok());
        assert!(HttpJwksFetcher::new("http://127.0.0.1:9/jwks", timeout).is_ok());
        assert!(HttpJwksFetcher::new("http://localhost:9/jwks", timeout).is_ok());
        assert!(HttpJwksFetcher::new("http://[::1]:9/jwks", timeout).is_ok());
        assert!(HttpJwksFetcher::new("http://example.com/jwks", timeout).is_err());
        assert!(HttpJwksFetcher::new("ftp://127.0.0.1/jwks", timeout).is_err());
        assert!(HttpJwksFetcher::new("not a url", timeout).is_err());
    }

    #[test]
    fn a_jwks_file_is_read_into_a_static_source() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jwks.json");
        std::fs::write(&path, serde_json::to_vec(&jwks_with_kids(&["a"])).unwrap()).unwrap();
        assert!(
            matches!(KeySource::from_jwks_file(&path).unwrap(), KeySource::Static(set) if set.keys.len() == 1)
        );
        std::fs::write(&path, br#"{"keys": []}"#).unwrap();
        assert!(
            KeySource::from_jwks_file(&path)
                .unwrap_err()
                .to_string()
                .contains("no usable")
        );
        std::fs::write(&path, b"garbage").unwrap();
        assert!(KeySource::from_jwks_file(&path).is_err());
        assert!(KeySource::from_jwks_file(dir.path().join("missing.json")).is_err());
    }

    #[test]
    fn a_static_source_without_usable_keys_is_refused() {
        assert!(
            KeyStore::new(
                KeySource::Static(JwkSet { keys: vec![] }),
                KeyCacheConfig::default(),
                Arc::new(Instant::now),
            )
            .is_err()
        );
    }

    /// A one-route HTTP/1.1 server on loopback that answers every request with `response()`.
    struct LoopbackServer {
        url: String,
        hits: Arc<AtomicUsize>,
        response: Arc<Mutex<String>>,
        task: tokio::task::JoinHandle<()>,
    }

    impl Drop for LoopbackServer {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    fn http_response(status: &str, headers: &[&str], body: &str) -> String {
        let mut response = format!("HTTP/1.1 {status}\r\n");
        for header in headers {
            response.push_str(header);
            response.push_str("\r\n");
        }
        response.push_str(&format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ));
        response
    }

    fn jwks_response(kids: &[&str], cache_control: &str) -> String {
        let body = serde_json::to_string(&jwks_with_kids(kids)).unwrap();
        let cache_control = format!("Cache-Control: {cache_control}");
        http_response(
            "200 OK",
            &[
                "Content-Type: application/json; charset=UTF-8",
                &cache_control,
            ],
            &body,
        )
    }

    async fn serve(response: String) -> LoopbackServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwk/securetoken", listener.local_addr().unwrap());
        let hits = Arc::new(AtomicUsize::new(0));
        let response = Arc::new(Mutex::new(response));
        let task = tokio::spawn({
            let hits = Arc::clone(&hits);
            let response = Arc::clone(&response);
            async move {
                while let Ok((mut socket, _)) = listener.accept().await {
                    let mut request = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    assert!(request.starts_with(b"GET /jwk/securetoken HTTP/1.1\r\n"));
                    hits.fetch_add(1, Ordering::SeqCst);
                    let body = response.lock().unwrap().clone();
                    let _ = socket.write_all(body.as_bytes()).await;
                    let _ = socket.shutdown().await;
                }
            }
        });
        LoopbackServer {
            url,
            hits,
            response,
            task,
        }
    }

    #[tokio::test]
    async fn http_fetcher_reads_the_jwks_and_its_cache_control_max_age() {
        let server = serve(jwks_response(
            &["k1", "k2"],
            "public, max-age=19302, must-revalidate, no-transform",
        ))
        .await;
        let fetcher = HttpJwksFetcher::new(&server.url, Duration::from_secs(5)).unwrap();
        let fetched = fetcher.fetch().await.unwrap();
        assert_eq!(fetched.max_age, Some(Duration::from_secs(19302)));
        let kids: Vec<_> = fetched
            .jwks
            .keys
            .iter()
            .filter_map(|k| k.common.key_id.clone())
            .collect();
        assert_eq!(kids, ["k1", "k2"]);
        assert_eq!(server.hits.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn verifier_fetches_keys_from_a_loopback_jwks_server_once_and_refreshes_on_a_new_kid() {
        let kid = signer().kid().to_owned();
        let server = serve(jwks_response(&["old-key"], "public, max-age=3600")).await;
        let mut config = VerifierConfig::new(
            "noteapp-test",
            KeySource::RemoteJwks {
                url: server.url.clone(),
            },
        );
        config.cache.min_refresh_interval = Duration::ZERO;
        let verifier = Verifier::from_config(config).unwrap();
        let token = signer()
            .sign(&TokenClaims::new("user-1", "noteapp-test"))
            .unwrap();

        // The server does not know the signing kid yet: the first-use fetch cannot find it.
        let err = verifier.verify(&token).await.unwrap_err();
        assert_eq!(err.to_string(), "token is signed with an unknown key");
        assert_eq!(server.hits.load(Ordering::SeqCst), 1);

        // The key is rotated in: the unknown kid triggers a refresh that finds it.
        *server.response.lock().unwrap() =
            jwks_response(&["old-key", &kid], "public, max-age=3600");
        assert_eq!(verifier.verify(&token).await.unwrap().uid, "user-1");
        assert_eq!(server.hits.load(Ordering::SeqCst), 2);

        // From now on the cache answers.
        for _ in 0..5 {
            verifier.clone().verify(&token).await.unwrap();
        }
        assert_eq!(server.hits.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn http_error_from_the_key_server_is_keys_unavailable() {
        let server = serve(http_response("500 Internal Server Error", &[], "oops")).await;
        let verifier = Verifier::new(
            "noteapp-test",
            KeySource::RemoteJwks {
                url: server.url.clone(),
            },
        );
        let token = signer()
            .sign(&TokenClaims::new("user-1", "noteapp-test"))
            .unwrap();
        let err = verifier.verify(&token).await.unwrap_err();
        assert!(err.is_unavailable(), "{err:?}");
        let AuthError::KeysUnavailable(detail) = &err else {
            unreachable!()
        };
        assert!(detail.contains("500"), "{detail}");

        *server.response.lock().unwrap() = http_response("200 OK", &[], "not json");
        let fetcher = HttpJwksFetcher::new(&server.url, Duration::from_secs(5)).unwrap();
        assert!(fetcher.fetch().await.unwrap_err().contains("not a JWKS"));
    }

    #[tokio::test]
    async fn unreachable_key_server_is_keys_unavailable() {
        // Bind then drop a listener so the port is (almost certainly) closed.
        let port = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}/jwks");
        let verifier = Verifier::new("noteapp-test", KeySource::RemoteJwks { url });
        let token = signer()
            .sign(&TokenClaims::new("user-1", "noteapp-test"))
            .unwrap();
        assert!(verifier.verify(&token).await.unwrap_err().is_unavailable());
    }

    #[tokio::test]
    async fn a_loopback_key_server_that_fails_after_max_age_is_trusted_for_the_grace_period_only() {
        let kid = signer().kid().to_owned();
        // A short max-age (raised to the one-minute minimum), then the server fails.
        let server = serve(jwks_response(&[&kid], "public, max-age=1")).await;
        let clock = FakeClock::new();
        let mut config = VerifierConfig::new(
            "noteapp-test",
            KeySource::RemoteJwks {
                url: server.url.clone(),
            },
        );
        config.cache.stale_grace = Duration::from_secs(3600);
        let verifier = Verifier::from_config_with_clock(config, clock.clock()).unwrap();
        let token = signer()
            .sign(&TokenClaims::new("user-1", "noteapp-test"))
            .unwrap();
        assert_eq!(verifier.verify(&token).await.unwrap().uid, "user-1");
        assert_eq!(server.hits.load(Ordering::SeqCst), 1);

        *server.response.lock().unwrap() =
            http_response("503 Service Unavailable", &[], "try later");
        clock.advance(61 * SECOND);
        assert_eq!(verifier.verify(&token).await.unwrap().uid, "user-1");
        assert_eq!(
            server.hits.load(Ordering::SeqCst),
            2,
            "the refresh was tried"
        );

        clock.advance(59 * 60 * SECOND);
        assert_eq!(verifier.verify(&token).await.unwrap().uid, "user-1");
        assert_eq!(server.hits.load(Ordering::SeqCst), 3);

        clock.advance(61 * SECOND);
        let err = verifier.verify(&token).await.unwrap_err();
        assert!(err.is_unavailable(), "{err:?}");
        assert_eq!(
            err.to_string(),
            "token signing keys are temporarily unavailable"
        );
        assert_eq!(server.hits.load(Ordering::SeqCst), 4);
    }
}
