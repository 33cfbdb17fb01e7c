//! Firebase ID-token verification: who is calling, and whether to believe them.
//!
//! This module owns the public types the rest of the runtime uses ([`Identity`], [`AuthError`],
//! [`Verifier`], [`bearer_token`]) and the verification rules themselves, applied exactly as
//! Firebase documents them: RS256 only, a `kid` naming one of the current signing keys,
//! `iss`/`aud` bound to the project, `exp` in the future, `iat` and `auth_time` in the past (with
//! a small clock-skew leeway), and a non-empty `sub` of at most 128 characters. Where the keys
//! come from and how they are cached lives in `keys/` ([`KeySource`]); the signing key that
//! `noteapp local` and the tests use to mint tokens lives in `local.rs` ([`LocalSigner`]).

mod keys;
mod local;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;

pub use keys::{
    DEFAULT_STALE_GRACE, FetchedJwks, GOOGLE_JWKS_URL, HttpJwksFetcher, JwksFetcher,
    KeyCacheConfig, KeySource, parse_max_age,
};
pub use local::{LocalKeyError, LocalSigner, TokenClaims};

use keys::KeyStore;

/// The issuer prefix of every Firebase ID token; the project id follows it.
pub const ISSUER_PREFIX: &str = "https://securetoken.google.com/";

/// The clock skew tolerated on `exp`, `iat` and `auth_time` unless configured otherwise.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);

/// The largest leeway a configuration may ask for.
const MAX_LEEWAY: Duration = Duration::from_secs(600);

/// The longest `sub` (uid) Firebase issues.
pub const MAX_UID_CHARS: usize = 128;

/// Tokens longer than this are refused before any parsing (Firebase ID tokens are ~1 KB).
const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Who is calling, as proven by a verified Firebase ID token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The Firebase uid (`sub`).
    pub uid: String,
    /// Signed in anonymously (`firebase.sign_in_provider` is `anonymous`).
    pub is_anonymous: bool,
    /// The `email` claim, if any.
    pub email: Option<String>,
    /// The `name` claim, if any.
    pub name: Option<String>,
    /// The `picture` claim (an avatar URL), if any.
    pub picture: Option<String>,
}

impl Identity {
    /// The name to show for this user when no profile says otherwise.
    pub fn display_name(&self) -> String {
        match &self.name {
            Some(name) if name.chars().any(|c| !c.is_control() && !c.is_whitespace()) => name
                .chars()
                .filter(|c| !c.is_control())
                .take(crate::domain::MAX_DISPLAY_NAME_CHARS)
                .collect(),
            _ => crate::domain::default_display_name(&self.uid, self.is_anonymous),
        }
    }
}

/// Why a token was refused.
///
/// `Display` is safe to send to clients: it never contains key material, the token or any
/// claim value. `Invalid` means the caller is not authenticated (HTTP 401); `KeysUnavailable`
/// means the server could not obtain the signing keys (HTTP 503) and the string inside is a
/// detail for logs only, deliberately left out of `Display`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The token is missing, malformed, or fails a rule (HTTP 401); the reason is for clients.
    #[error("{0}")]
    Invalid(String),
    /// The signing keys could not be obtained (HTTP 503); the detail is for logs only.
    #[error("token signing keys are temporarily unavailable")]
    KeysUnavailable(String),
}

impl AuthError {
    /// True when the failure is the server's (keys could not be fetched), not the caller's.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, AuthError::KeysUnavailable(_))
    }
}

/// The specific reasons a token is refused; each becomes an [`AuthError::Invalid`] message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Rejection {
    #[error("missing or invalid Authorization header")]
    BadHeader,
    #[error("token is malformed")]
    Malformed,
    #[error("token algorithm must be RS256")]
    Algorithm,
    #[error("token has no key id (kid)")]
    MissingKid,
    #[error("token is signed with an unknown key")]
    UnknownKey,
    #[error("token signature is invalid")]
    BadSignature,
    #[error("token has expired")]
    Expired,
    #[error("token was issued in the future")]
    IssuedInFuture,
    #[error("token authentication time is in the future")]
    AuthTimeInFuture,
    #[error("token issuer is not this project")]
    WrongIssuer,
    #[error("token audience is not this project")]
    WrongAudience,
    #[error("token subject (uid) is empty")]
    EmptySubject,
    #[error("token subject (uid) is longer than 128 characters")]
    SubjectTooLong,
    /// The name is always one of the fixed claim names below, never client text.
    #[error("token has no {0} claim")]
    MissingClaim(&'static str),
}

impl From<Rejection> for AuthError {
    fn from(rejection: Rejection) -> Self {
        AuthError::Invalid(rejection.to_string())
    }
}

/// A configuration the verifier refuses to start with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid auth configuration: {0}")]
pub struct VerifierConfigError(pub String);

/// Everything a [`Verifier`] needs; [`VerifierConfig::new`] fills in the defaults.
#[derive(Debug, Clone)]
pub struct VerifierConfig {
    /// The Firebase project id: `aud` must equal it and `iss` must be [`ISSUER_PREFIX`] + it.
    pub project_id: String,
    /// Where the public signing keys come from.
    pub key_source: KeySource,
    /// Clock skew tolerated on `exp`, `iat` and `auth_time`.
    pub leeway: Duration,
    /// How fetched key sets are cached (ignored for [`KeySource::Static`]).
    pub cache: KeyCacheConfig,
    /// Also accept the Firebase Auth emulator's unsigned tokens (`alg: none`), checking every
    /// claim but no signature, as Firebase's Admin SDKs do when `FIREBASE_AUTH_EMULATOR_HOST` is
    /// set. Local development only: deployed functions refuse to start with that variable.
    pub accept_emulator_tokens: bool,
}

impl VerifierConfig {
    /// Tokens of `project_id` signed by `key_source`'s keys, with the default leeway and
    /// cache, and no emulator tokens.
    pub fn new(project_id: impl Into<String>, key_source: KeySource) -> Self {
        VerifierConfig {
            project_id: project_id.into(),
            key_source,
            leeway: DEFAULT_LEEWAY,
            cache: KeyCacheConfig::default(),
            accept_emulator_tokens: false,
        }
    }
}

/// Verifies Firebase ID tokens. Cheap to clone: every clone shares one key cache.
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<VerifierInner>,
}

struct VerifierInner {
    project_id: String,
    issuer: String,
    leeway_secs: u64,
    validation: Validation,
    keys: KeyStore,
    accept_emulator_tokens: bool,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("project_id", &self.inner.project_id)
            .field("leeway_secs", &self.inner.leeway_secs)
            .field("keys", &self.inner.keys)
            .finish()
    }
}

/// The claims read from a verified token; anything of the wrong type makes the token malformed.
#[derive(Debug, Deserialize)]
struct FirebaseClaims {
    #[serde(default)]
    iss: Option<serde_json::Value>,
    #[serde(default)]
    aud: Option<serde_json::Value>,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    exp: Option<i64>,
    #[serde(default)]
    iat: Option<i64>,
    #[serde(default)]
    auth_time: Option<i64>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    picture: Option<String>,
    #[serde(default)]
    firebase: Option<FirebaseInfo>,
}

#[derive(Debug, Deserialize)]
struct FirebaseInfo {
    #[serde(default)]
    sign_in_provider: Option<String>,
}

impl Verifier {
    /// A verifier for `project_id` with the default leeway and cache settings.
    ///
    /// Never fails: a configuration [`Verifier::from_config`] would refuse (a malformed project
    /// id, a static JWKS without a usable key, a non-https JWKS URL) is logged and yields a
    /// verifier that fails closed, answering every token with [`AuthError::KeysUnavailable`].
    /// Use `from_config` to stop at init instead.
    pub fn new(project_id: impl Into<String>, key_source: KeySource) -> Self {
        let project_id = project_id.into();
        Self::from_config(VerifierConfig::new(project_id.clone(), key_source)).unwrap_or_else(
            |err| {
                tracing::error!(error = %err, "auth is misconfigured; every token will be refused");
                Verifier {
                    inner: Arc::new(VerifierInner {
                        issuer: format!("{ISSUER_PREFIX}{project_id}"),
                        project_id,
                        leeway_secs: 0,
                        validation: Validation::new(Algorithm::RS256),
                        keys: KeyStore::Misconfigured(err.to_string()),
                        accept_emulator_tokens: false,
                    }),
                }
            },
        )
    }

    /// A verifier for `config`, or why the configuration cannot work.
    pub fn from_config(config: VerifierConfig) -> Result<Self, VerifierConfigError> {
        Self::from_config_with_clock(config, Arc::new(std::time::Instant::now))
    }

    /// As [`Verifier::from_config`], with the key cache reading time from `clock` (tests move
    /// it past `max-age` and the grace period without waiting).
    pub(crate) fn from_config_with_clock(
        config: VerifierConfig,
        clock: keys::Clock,
    ) -> Result<Self, VerifierConfigError> {
        let project_id = crate::settings::FirebaseProjectId::parse(&config.project_id)
            .map_err(VerifierConfigError)?
            .to_string();
        if config.leeway > MAX_LEEWAY {
            return Err(VerifierConfigError(
                "the clock-skew leeway must be at most 10 minutes".into(),
            ));
        }
        let keys = KeyStore::new(config.key_source, config.cache, clock)?;
        let issuer = format!("{ISSUER_PREFIX}{project_id}");

        // The library checks the signature (RS256 only), `exp`, `iss` and `aud`;
        // `check_claims` re-checks those exactly and adds the Firebase-specific rules.
        let mut validation = Validation::new(Algorithm::RS256);
        validation.leeway = config.leeway.as_secs();
        validation.validate_exp = true;
        validation.validate_nbf = false;
        validation.validate_aud = true;
        validation.set_issuer(&[&issuer]);
        validation.set_audience(&[&project_id]);
        validation.required_spec_claims = ["exp", "iss", "aud", "sub"]
            .into_iter()
            .map(String::from)
            .collect::<HashSet<_>>();

        Ok(Verifier {
            inner: Arc::new(VerifierInner {
                issuer,
                project_id,
                leeway_secs: config.leeway.as_secs(),
                validation,
                keys,
                accept_emulator_tokens: config.accept_emulator_tokens,
            }),
        })
    }

    /// The project whose tokens this verifier accepts.
    pub fn project_id(&self) -> &str {
        &self.inner.project_id
    }

    /// Verifies a Firebase ID token and returns who it proves the caller to be.
    pub async fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        if token.is_empty() || token.len() > MAX_TOKEN_BYTES {
            return Err(Rejection::Malformed.into());
        }
        if self.inner.accept_emulator_tokens
            && let Some(claims) = emulator_claims(token)?
        {
            return self.check_claims(claims, chrono::Utc::now().timestamp());
        }
        let kid = header_kid(token)?;
        let key = self.inner.keys.key_for(&kid).await?;
        let data = jsonwebtoken::decode::<FirebaseClaims>(token, &key, &self.inner.validation)
            .map_err(|e| AuthError::from(rejection_for(e.kind())))?;
        self.check_claims(data.claims, chrono::Utc::now().timestamp())
    }

    /// The checks the JWT library does not make (or makes more loosely than Firebase requires).
    fn check_claims(&self, claims: FirebaseClaims, now: i64) -> Result<Identity, AuthError> {
        let leeway = i64::try_from(self.inner.leeway_secs).unwrap_or(i64::MAX);
        let latest_issue = now.saturating_add(leeway);

        match claims.iss {
            Some(serde_json::Value::String(iss)) if iss == self.inner.issuer => {}
            Some(_) => return Err(Rejection::WrongIssuer.into()),
            None => return Err(Rejection::MissingClaim("iss").into()),
        }
        match claims.aud {
            Some(serde_json::Value::String(aud)) if aud == self.inner.project_id => {}
            Some(_) => return Err(Rejection::WrongAudience.into()),
            None => return Err(Rejection::MissingClaim("aud").into()),
        }
        let exp = claims.exp.ok_or(Rejection::MissingClaim("exp"))?;
        if exp < now.saturating_sub(leeway) {
            return Err(Rejection::Expired.into());
        }
        let iat = claims.iat.ok_or(Rejection::MissingClaim("iat"))?;
        if iat > latest_issue {
            return Err(Rejection::IssuedInFuture.into());
        }
        let auth_time = claims
            .auth_time
            .ok_or(Rejection::MissingClaim("auth_time"))?;
        if auth_time > latest_issue {
            return Err(Rejection::AuthTimeInFuture.into());
        }
        let uid = claims.sub.ok_or(Rejection::MissingClaim("sub"))?;
        if uid.is_empty() {
            return Err(Rejection::EmptySubject.into());
        }
        if uid.chars().count() > MAX_UID_CHARS {
            return Err(Rejection::SubjectTooLong.into());
        }
        let is_anonymous = claims
            .firebase
            .and_then(|f| f.sign_in_provider)
            .is_some_and(|provider| provider == "anonymous");
        Ok(Identity {
            uid,
            is_anonymous,
            email: claims.email,
            name: claims.name,
            picture: claims.picture,
        })
    }
}

/// The claims of an Auth-emulator token (`alg: none`, empty signature), or `None` for a token of
/// any other shape (which then takes the normal, signed path).
fn emulator_claims(token: &str) -> Result<Option<FirebaseClaims>, AuthError> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Ok(None);
    };
    let Ok(header) = URL_SAFE_NO_PAD.decode(header) else {
        return Ok(None);
    };
    let header: serde_json::Value = serde_json::from_slice(&header).unwrap_or_default();
    if header.get("alg").and_then(|a| a.as_str()) != Some("none") || !signature.is_empty() {
        return Ok(None);
    }
    let payload = URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| Rejection::Malformed)?;
    let claims = serde_json::from_slice(&payload).map_err(|_| Rejection::Malformed)?;
    Ok(Some(claims))
}

/// Reads the protected header without trusting it: `alg` must be exactly RS256 and `kid` present.
/// Done by hand (not by the JWT library) so `alg: none` and unknown algorithms get a precise
/// answer, and so nothing else in the header can influence which key or algorithm is used.
fn header_kid(token: &str) -> Result<String, AuthError> {
    let mut parts = token.split('.');
    let (Some(header), Some(_payload), Some(_signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Rejection::Malformed.into());
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| Rejection::Malformed)?;
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&bytes).map_err(|_| Rejection::Malformed)?;
    if header.get("alg").and_then(|alg| alg.as_str()) != Some("RS256") {
        return Err(Rejection::Algorithm.into());
    }
    match header.get("kid") {
        Some(serde_json::Value::String(kid)) if !kid.is_empty() => Ok(kid.clone()),
        _ => Err(Rejection::MissingKid.into()),
    }
}

/// Maps the JWT library's failure to the reason a client is told.
fn rejection_for(kind: &ErrorKind) -> Rejection {
    match kind {
        ErrorKind::InvalidSignature => Rejection::BadSignature,
        ErrorKind::ExpiredSignature => Rejection::Expired,
        ErrorKind::InvalidIssuer => Rejection::WrongIssuer,
        ErrorKind::InvalidAudience => Rejection::WrongAudience,
        ErrorKind::InvalidAlgorithm => Rejection::Algorithm,
        ErrorKind::MissingRequiredClaim(claim) => match claim.as_str() {
            "exp" => Rejection::MissingClaim("exp"),
            "iss" => Rejection::MissingClaim("iss"),
            "aud" => Rejection::MissingClaim("aud"),
            "sub" => Rejection::MissingClaim("sub"),
            _ => Rejection::Malformed,
        },
        _ => Rejection::Malformed,
    }
}

/// Extracts the token from an `Authorization: Bearer <token>` header value.
///
/// The scheme is matched case-insensitively and must be followed by exactly one space and a
/// non-empty token without whitespace.
pub fn bearer_token(header: Option<&str>) -> Result<&str, AuthError> {
    let invalid = || AuthError::from(Rejection::BadHeader);
    let value = header.ok_or_else(invalid)?;
    let (scheme, token) = value.split_once(' ').ok_or_else(invalid)?;
    if !scheme.eq_ignore_ascii_case("bearer")
        || token.is_empty()
        || token.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(invalid());
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::{Value, json};

    use super::local::test_keys::{other_signer, signer};
    use super::*;

    const PROJECT: &str = "noteapp-test";

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    fn verifier() -> Verifier {
        Verifier::new(PROJECT, KeySource::Static(signer().jwks()))
    }

    fn claims(uid: &str) -> TokenClaims {
        TokenClaims {
            uid: uid.into(),
            project_id: PROJECT.into(),
            anonymous: false,
            name: Some("Ada Lovelace".into()),
            email: Some("ada@example.com".into()),
            issued_at: now() - 10,
            expires_in_secs: 3600,
        }
    }

    /// A valid Firebase-shaped payload, to be bent by each rejection test.
    fn payload() -> Value {
        let now = now();
        json!({
            "iss": format!("{ISSUER_PREFIX}{PROJECT}"),
            "aud": PROJECT,
            "auth_time": now - 100,
            "user_id": "user-1",
            "sub": "user-1",
            "iat": now - 10,
            "exp": now + 3600,
            "firebase": {"identities": {}, "sign_in_provider": "password"}
        })
    }

    fn rs256_header() -> Header {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(signer().kid().to_owned());
        header
    }

    fn forge(edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> String {
        let mut body = payload();
        edit(body.as_object_mut().unwrap());
        signer().sign_raw(rs256_header(), &body).unwrap()
    }

    async fn rejection(token: &str) -> String {
        let err = verifier()
            .verify(token)
            .await
            .expect_err("token must be rejected");
        assert!(!err.is_unavailable(), "{err:?}");
        let message = err.to_string();
        assert!(
            !message.contains(token) || token.is_empty(),
            "the error must not echo the token"
        );
        message
    }

    fn b64(value: &Value) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
    }

    fn emulator_token(payload: &Value) -> String {
        format!(
            "{}.{}.",
            b64(&json!({"alg": "none", "typ": "JWT"})),
            b64(payload)
        )
    }

    fn emulator_verifier() -> Verifier {
        let mut config = VerifierConfig::new(PROJECT, KeySource::Static(signer().jwks()));
        config.accept_emulator_tokens = true;
        Verifier::from_config(config).unwrap()
    }

    #[tokio::test]
    async fn emulator_tokens_are_accepted_only_in_emulator_mode() {
        let mut anonymous = payload();
        anonymous["firebase"]["sign_in_provider"] = json!("anonymous");
        let token = emulator_token(&anonymous);
        let identity = emulator_verifier().verify(&token).await.unwrap();
        assert_eq!(identity.uid, "user-1");
        assert!(identity.is_anonymous);
        assert_eq!(
            rejection(&token).await,
            "token algorithm must be RS256",
            "the same token without emulator mode"
        );
        // Signed tokens keep working alongside.
        assert!(
            emulator_verifier()
                .verify(&signer().sign(&claims("u")).unwrap())
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn emulator_tokens_still_have_their_claims_checked() {
        for (field, value) in [
            ("aud", json!("another-project")),
            (
                "iss",
                json!("https://securetoken.google.com/another-project"),
            ),
            ("exp", json!(now() - 3600)),
            ("sub", json!("")),
        ] {
            let mut body = payload();
            body[field] = value;
            let err = emulator_verifier().verify(&emulator_token(&body)).await;
            assert!(err.is_err(), "{field} must be checked");
        }
        let signed_none = format!("{}x", emulator_token(&payload()));
        assert!(emulator_verifier().verify(&signed_none).await.is_err());
    }

    #[tokio::test]
    async fn valid_token_is_accepted_and_its_claims_are_mapped() {
        let token = signer().sign(&claims("user-1")).unwrap();
        let identity = verifier().verify(&token).await.unwrap();
        assert_eq!(
            identity,
            Identity {
                uid: "user-1".into(),
                is_anonymous: false,
                email: Some("ada@example.com".into()),
                name: Some("Ada Lovelace".into()),
                picture: None,
            }
        );
        assert_eq!(identity.display_name(), "Ada Lovelace");
    }

    #[tokio::test]
    async fn anonymous_token_is_accepted_as_anonymous() {
        let mut claims = claims("guest-42");
        claims.anonymous = true;
        claims.name = None;
        claims.email = None;
        let token = signer().sign(&claims).unwrap();
        let identity = verifier().verify(&token).await.unwrap();
        assert!(identity.is_anonymous);
        assert_eq!(identity.uid, "guest-42");
        assert_eq!(identity.display_name(), "Guest guest-42");
    }

    #[tokio::test]
    async fn picture_claim_is_mapped() {
        let token = forge(|c| {
            c.insert("picture".into(), json!("https://example.com/a.png"));
        });
        let identity = verifier().verify(&token).await.unwrap();
        assert_eq!(
            identity.picture.as_deref(),
            Some("https://example.com/a.png")
        );
        assert_eq!(identity.display_name(), "User user-1");
    }

    #[tokio::test]
    async fn verifier_clones_share_one_configuration() {
        let verifier = verifier();
        let clone = verifier.clone();
        assert!(Arc::ptr_eq(&verifier.inner, &clone.inner));
        assert_eq!(clone.project_id(), PROJECT);
    }

    #[tokio::test]
    async fn expired_token_is_rejected() {
        let token = forge(|c| {
            c.insert("iat".into(), json!(now() - 7200));
            c.insert("exp".into(), json!(now() - 3600));
        });
        assert_eq!(rejection(&token).await, "token has expired");
    }

    #[tokio::test]
    async fn token_expired_within_the_leeway_is_still_accepted() {
        let token = forge(|c| {
            c.insert("exp".into(), json!(now() - 30));
        });
        verifier().verify(&token).await.unwrap();
    }

    #[tokio::test]
    async fn leeway_is_configurable() {
        let token = forge(|c| {
            c.insert("exp".into(), json!(now() - 30));
        });
        let mut config = VerifierConfig::new(PROJECT, KeySource::Static(signer().jwks()));
        config.leeway = Duration::ZERO;
        let strict = Verifier::from_config(config.clone()).unwrap();
        let err = strict.verify(&token).await.unwrap_err();
        assert_eq!(err.to_string(), "token has expired");
        config.leeway = Duration::from_secs(3600);
        assert!(
            Verifier::from_config(config).is_err(),
            "an hour of skew is refused"
        );
    }

    #[tokio::test]
    async fn token_issued_in_the_future_is_rejected() {
        let token = forge(|c| {
            c.insert("iat".into(), json!(now() + 120));
        });
        assert_eq!(rejection(&token).await, "token was issued in the future");
    }

    #[tokio::test]
    async fn token_issued_a_little_in_the_future_within_the_leeway_is_accepted() {
        let token = forge(|c| {
            c.insert("iat".into(), json!(now() + 30));
            c.insert("auth_time".into(), json!(now() + 30));
        });
        verifier().verify(&token).await.unwrap();
    }

    #[tokio::test]
    async fn token_with_auth_time_in_the_future_is_rejected() {
        let token = forge(|c| {
            c.insert("auth_time".into(), json!(now() + 120));
        });
        assert_eq!(
            rejection(&token).await,
            "token authentication time is in the future"
        );
    }

    #[tokio::test]
    async fn token_for_another_audience_is_rejected() {
        let token = forge(|c| {
            c.insert("aud".into(), json!("someone-else"));
        });
        assert_eq!(
            rejection(&token).await,
            "token audience is not this project"
        );
    }

    #[tokio::test]
    async fn token_with_a_list_of_audiences_is_rejected_even_if_it_includes_this_project() {
        let token = forge(|c| {
            c.insert("aud".into(), json!([PROJECT, "someone-else"]));
        });
        assert_eq!(
            rejection(&token).await,
            "token audience is not this project"
        );
    }

    #[tokio::test]
    async fn token_from_another_issuer_is_rejected() {
        let token = forge(|c| {
            c.insert(
                "iss".into(),
                json!("https://securetoken.google.com/someone-else"),
            );
        });
        assert_eq!(rejection(&token).await, "token issuer is not this project");
    }

    #[tokio::test]
    async fn token_missing_a_required_claim_is_rejected() {
        for claim in ["iss", "aud", "exp", "sub", "iat", "auth_time"] {
            let token = forge(|c| {
                c.remove(claim);
            });
            assert_eq!(
                rejection(&token).await,
                format!("token has no {claim} claim")
            );
        }
    }

    #[tokio::test]
    async fn token_with_unknown_kid_is_rejected() {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some("0123456789abcdef".into());
        let token = signer().sign_raw(header, &payload()).unwrap();
        assert_eq!(
            rejection(&token).await,
            "token is signed with an unknown key"
        );
    }

    #[tokio::test]
    async fn token_without_kid_is_rejected() {
        let token = signer()
            .sign_raw(Header::new(Algorithm::RS256), &payload())
            .unwrap();
        assert_eq!(rejection(&token).await, "token has no key id (kid)");
    }

    #[tokio::test]
    async fn unsigned_token_with_alg_none_is_rejected() {
        let header = json!({"alg": "none", "typ": "JWT", "kid": signer().kid()});
        let token = format!("{}.{}.", b64(&header), b64(&payload()));
        assert_eq!(rejection(&token).await, "token algorithm must be RS256");
        // Same without the trailing dot and with an upper-case variant.
        let header = json!({"alg": "NONE", "kid": signer().kid()});
        let token = format!("{}.{}", b64(&header), b64(&payload()));
        assert!(verifier().verify(&token).await.is_err());
    }

    #[tokio::test]
    async fn hs256_token_using_the_public_key_as_hmac_secret_is_rejected() {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(signer().kid().to_owned());
        let pem = signer().public_key_pem();
        let token = jsonwebtoken::encode(
            &header,
            &payload(),
            &EncodingKey::from_secret(pem.as_bytes()),
        )
        .unwrap();
        assert_eq!(rejection(&token).await, "token algorithm must be RS256");
    }

    #[tokio::test]
    async fn other_rsa_algorithms_are_rejected() {
        for alg in [Algorithm::RS384, Algorithm::RS512, Algorithm::PS256] {
            let mut header = Header::new(alg);
            header.kid = Some(signer().kid().to_owned());
            let token = signer().sign_raw(header, &payload()).unwrap();
            assert_eq!(rejection(&token).await, "token algorithm must be RS256");
        }
    }

    #[tokio::test]
    async fn tampered_payload_is_rejected() {
        let token = signer().sign(&claims("user-1")).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        let mut body: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        body["sub"] = json!("admin");
        body["user_id"] = json!("admin");
        let forged = format!("{}.{}.{}", parts[0], b64(&body), parts[2]);
        assert_eq!(rejection(&forged).await, "token signature is invalid");
    }

    #[tokio::test]
    async fn token_signed_by_another_key_under_a_known_kid_is_rejected() {
        let token = other_signer().sign_raw(rs256_header(), &payload()).unwrap();
        assert_eq!(rejection(&token).await, "token signature is invalid");
    }

    #[tokio::test]
    async fn empty_sub_is_rejected() {
        let token = forge(|c| {
            c.insert("sub".into(), json!(""));
        });
        assert_eq!(rejection(&token).await, "token subject (uid) is empty");
    }

    #[tokio::test]
    async fn sub_of_129_chars_is_rejected_and_128_is_accepted() {
        let token = forge(|c| {
            c.insert("sub".into(), json!("u".repeat(129)));
        });
        assert_eq!(
            rejection(&token).await,
            "token subject (uid) is longer than 128 characters"
        );
        let token = forge(|c| {
            c.insert("sub".into(), json!("u".repeat(128)));
        });
        assert_eq!(verifier().verify(&token).await.unwrap().uid.len(), 128);
    }

    #[tokio::test]
    async fn claims_of_the_wrong_type_are_rejected() {
        let token = forge(|c| {
            c.insert("sub".into(), json!(42));
        });
        assert_eq!(rejection(&token).await, "token is malformed");
        let token = forge(|c| {
            c.insert("exp".into(), json!("tomorrow"));
        });
        assert!(verifier().verify(&token).await.is_err());
    }

    #[tokio::test]
    async fn garbage_text_is_rejected() {
        let valid = signer().sign(&claims("user-1")).unwrap();
        let long = "a".repeat(MAX_TOKEN_BYTES + 1);
        for garbage in [
            "",
            "garbage",
            "a.b",
            "a.b.c",
            "...",
            "a.b.c.d",
            "eyJhbGciOiJSUzI1NiJ9.e30",
            &format!("{valid}.extra"),
            &long,
        ] {
            let err = verifier().verify(garbage).await.expect_err(garbage);
            assert!(matches!(err, AuthError::Invalid(_)), "{garbage}: {err:?}");
        }
        assert_eq!(rejection("not a token").await, "token is malformed");
    }

    #[tokio::test]
    async fn rejection_messages_do_not_echo_claims() {
        let token = forge(|c| {
            c.insert("aud".into(), json!("secret-project-name"));
        });
        let message = rejection(&token).await;
        assert!(!message.contains("secret-project-name"));
    }

    #[test]
    fn keys_unavailable_message_hides_the_detail() {
        let err = AuthError::KeysUnavailable("GET https://internal: connection refused".into());
        assert_eq!(
            err.to_string(),
            "token signing keys are temporarily unavailable"
        );
        assert!(err.is_unavailable());
    }

    #[tokio::test]
    async fn configuration_with_an_empty_or_odd_project_id_is_refused_or_fails_closed() {
        let token = signer().sign(&claims("user-1")).unwrap();
        for project in ["", "  ", " demo", "a/b", "proj ect"] {
            let config = VerifierConfig::new(project, KeySource::Static(signer().jwks()));
            assert!(Verifier::from_config(config).is_err(), "{project:?}");
            let verifier = Verifier::new(project, KeySource::Static(signer().jwks()));
            assert!(verifier.verify(&token).await.unwrap_err().is_unavailable());
        }
    }

    #[tokio::test]
    async fn a_static_source_without_usable_keys_is_refused_or_fails_closed() {
        let empty = jsonwebtoken::jwk::JwkSet { keys: vec![] };
        let config = VerifierConfig::new(PROJECT, KeySource::Static(empty.clone()));
        assert!(Verifier::from_config(config).is_err());
        let token = signer().sign(&claims("user-1")).unwrap();
        let err = Verifier::new(PROJECT, KeySource::Static(empty))
            .verify(&token)
            .await;
        assert!(err.unwrap_err().is_unavailable());
    }

    #[test]
    fn bearer_token_is_extracted_from_a_well_formed_header() {
        assert_eq!(
            bearer_token(Some("Bearer abc.def.ghi")).unwrap(),
            "abc.def.ghi"
        );
        assert_eq!(bearer_token(Some("bearer abc")).unwrap(), "abc");
        assert_eq!(bearer_token(Some("BEARER abc")).unwrap(), "abc");
    }

    #[test]
    fn malformed_authorization_headers_are_rejected() {
        for header in [
            None,
            Some(""),
            Some("Bearer"),
            Some("Bearer "),
            Some("Bearer  abc"),
            Some("Bearer abc def"),
            Some("Bearer abc\t"),
            Some("Basic abc"),
            Some("Bearerabc"),
            Some(" Bearer abc"),
        ] {
            let err = bearer_token(header).expect_err(&format!("{header:?}"));
            assert_eq!(err.to_string(), "missing or invalid Authorization header");
        }
    }
}
