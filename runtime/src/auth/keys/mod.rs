//! Token signing keys: where they come from, and how long they are trusted.
//!
//! A [`KeySource`] (`source.rs`) names where the keys are: Google's published JWKS
//! (production), a JWKS at another URL (tests against a loopback server), a custom
//! [`JwksFetcher`], or a fixed in-memory set (`noteapp local` and tests). [`KeyStore`] is the
//! verifier's view of them: a fixed set is used as it is; a fetched one goes through the HTTP
//! fetch (`fetch.rs`, [`HttpJwksFetcher`]) and the cache with its grace period (`cache.rs`,
//! [`KeyCacheConfig`]). Whatever the source, only RS256 signing keys of 2048 bits or more are
//! kept (`jwks.rs`), and a misconfigured source fails every lookup closed.

mod cache;
mod fetch;
mod jwks;
mod source;
#[cfg(test)]
mod testing;

use std::sync::Arc;

use jsonwebtoken::DecodingKey;

pub(crate) use cache::Clock;
pub use cache::{DEFAULT_STALE_GRACE, KeyCacheConfig};
pub use fetch::{FetchedJwks, HttpJwksFetcher, JwksFetcher, parse_max_age};
pub use source::{GOOGLE_JWKS_URL, KeySource};

use super::{AuthError, Rejection, VerifierConfigError};
use cache::KeyCache;
use jwks::{KeyMap, key_map};

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

fn unavailable(detail: impl Into<String>) -> AuthError {
    AuthError::KeysUnavailable(detail.into())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;
    use std::time::{Duration, Instant};

    use jsonwebtoken::jwk::JwkSet;

    use super::testing::{FakeClock, http_response, jwks_response, serve, signer};
    use super::*;
    use crate::auth::{TokenClaims, Verifier, VerifierConfig};

    const SECOND: Duration = Duration::from_secs(1);

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
