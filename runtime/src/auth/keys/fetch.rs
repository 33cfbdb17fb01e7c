//! Fetching a JWKS: the [`JwksFetcher`] seam the cache calls, and its HTTP implementation.
//!
//! [`HttpJwksFetcher`] GETs the set (HTTPS only, plain HTTP only for loopback hosts; at most
//! 256 KiB; a whole-request timeout) and reads how long it may be cached from `Cache-Control:
//! max-age` ([`parse_max_age`]). It is kept thin, with no retry or caching of its own, so the
//! cache's rules can be tested with a fake fetcher and a fake clock. A failure is a string for
//! the logs: callers only ever see "unavailable".

use std::time::Duration;

use async_trait::async_trait;
use jsonwebtoken::jwk::JwkSet;

use super::jwks::parse_jwks;
use crate::auth::VerifierConfigError;

/// A JWKS response larger than this is refused (Google's is about 2 KB).
const MAX_JWKS_BYTES: usize = 256 * 1024;

/// One successful fetch: the key set and how long the source allows it to be cached.
#[derive(Debug, Clone)]
pub struct FetchedJwks {
    /// The key set, as the source published it.
    pub jwks: JwkSet,
    /// `Cache-Control: max-age`, when the response gave one.
    pub max_age: Option<Duration>,
}

/// Fetches a JWKS. The error string is for logs; clients only ever see "unavailable".
#[async_trait]
pub trait JwksFetcher: Send + Sync + 'static {
    /// One fetch of the whole set.
    async fn fetch(&self) -> Result<FetchedJwks, String>;
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
    /// A fetcher of `url` with a whole-request `timeout`; refused unless `url` is HTTPS, or plain
    /// HTTP to a loopback host.
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

    /// The URL this fetcher GETs.
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use tokio::net::TcpListener;

    use super::super::testing::{http_response, jwks_response, serve, signer};
    use super::*;
    use crate::auth::{AuthError, GOOGLE_JWKS_URL, KeySource, TokenClaims, Verifier};

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
}
