//! The RSA key that `noteapp local` and the tests sign Firebase-shaped ID tokens with.
//!
//! [`LocalSigner`] owns one 2048-bit RSA private key, kept as PKCS#8 PEM in
//! `<data_dir>/local-signing-key.pem` (mode 0600) so tokens survive restarts. Its public half is
//! offered as a JWKS for [`KeySource::Static`](super::KeySource::Static); its `kid` is derived
//! from the public key (the first 16 hex digits of its RFC 7638 SHA-256 thumbprint), so it is
//! stable for a given key. [`LocalSigner::sign`] mints tokens shaped like Firebase's, and
//! [`LocalSigner::sign_raw`] signs any header and claims so tests can forge bad tokens. Nothing
//! here is reachable from a deployed environment: the verifier there only trusts Google's keys.

use std::fmt::Write as _;
use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse,
    RSAKeyParameters, RSAKeyType, ThumbprintHash,
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{Value, json};

use super::ISSUER_PREFIX;

/// Size of newly generated keys, and the minimum accepted from a PEM.
const KEY_BITS: usize = 2048;

/// Why the local signing key could not be loaded, created or used.
#[derive(Debug, thiserror::Error)]
pub enum LocalKeyError {
    /// Reading or writing the key file failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done (`read`, `create directory`, `set permissions on`).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// Why it failed.
        #[source]
        source: io::Error,
    },
    /// The key file holds no usable key; deleting it makes a new one.
    #[error("{} is not a usable local signing key ({reason}); delete it to create a new one", path.display())]
    InvalidKeyFile {
        /// The key file.
        path: PathBuf,
        /// What is wrong with its key.
        reason: String,
    },
    /// The key is not a usable RSA private key (the reason inside).
    #[error("not a usable RSA private key: {0}")]
    InvalidKey(String),
    /// Generating a new key failed (the reason inside).
    #[error("cannot generate an RSA key: {0}")]
    Generate(String),
    /// Signing a token failed (the reason inside).
    #[error("cannot sign the token: {0}")]
    Sign(String),
}

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> LocalKeyError {
    let path = path.to_path_buf();
    move |source| LocalKeyError::Io {
        action,
        path,
        source,
    }
}

/// What a locally minted token says. Signing does not validate it, so tests can mint bad ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenClaims {
    /// The user's uid (`sub` and `user_id`).
    pub uid: String,
    /// The Firebase project the token is for (`aud`, and the end of `iss`).
    pub project_id: String,
    /// An anonymous sign-in (`firebase.sign_in_provider` is `anonymous`, else `password`).
    pub anonymous: bool,
    /// The `name` claim, if any.
    pub name: Option<String>,
    /// The `email` claim, if any.
    pub email: Option<String>,
    /// Unix seconds; also used as `auth_time`.
    pub issued_at: i64,
    /// Seconds from `issued_at` to `exp`.
    pub expires_in_secs: i64,
}

impl TokenClaims {
    /// A regular (password) user's token issued now, valid for one hour.
    pub fn new(uid: impl Into<String>, project_id: impl Into<String>) -> Self {
        TokenClaims {
            uid: uid.into(),
            project_id: project_id.into(),
            anonymous: false,
            name: None,
            email: None,
            issued_at: chrono::Utc::now().timestamp(),
            expires_in_secs: 3600,
        }
    }
}

/// Signs ID tokens with a local RSA key.
#[derive(Clone)]
pub struct LocalSigner {
    private: RsaPrivateKey,
    encoding: EncodingKey,
    public_jwk: Jwk,
    kid: String,
}

impl std::fmt::Debug for LocalSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalSigner")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl LocalSigner {
    /// The file, inside the data directory, that holds the local signing key.
    pub const KEY_FILE_NAME: &'static str = "local-signing-key.pem";

    /// Loads `<data_dir>/local-signing-key.pem`, or creates it (and the directory) if absent.
    ///
    /// A file that exists but is not a usable key is an error, never silently replaced: tokens
    /// already handed out would stop verifying.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, LocalKeyError> {
        let path = data_dir.join(Self::KEY_FILE_NAME);
        if let Some(signer) = Self::load(&path)? {
            return Ok(signer);
        }
        fs::create_dir_all(data_dir).map_err(io_error("create directory", data_dir))?;
        let signer = Self::generate()?;
        let pem = signer.private_pem()?;

        // Write a private temp file, then link it into place: a concurrent creator's key is
        // never overwritten, and no reader ever sees a half-written file.
        let tmp = data_dir.join(format!(
            ".{}.{:016x}.tmp",
            Self::KEY_FILE_NAME,
            rand::random::<u64>()
        ));
        write_new_private_file(&tmp, pem.as_bytes())?;
        let linked = fs::hard_link(&tmp, &path);
        let _ = fs::remove_file(&tmp);
        match linked {
            Ok(()) => {
                tracing::info!(path = %path.display(), kid = %signer.kid, "created the local signing key");
                Ok(signer)
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                Self::load(&path)?.ok_or_else(|| LocalKeyError::InvalidKeyFile {
                    path: path.clone(),
                    reason: "it vanished while being created".into(),
                })
            }
            // Filesystems without hard links: exclusive create of the final name instead.
            Err(_) => {
                write_new_private_file(&path, pem.as_bytes())?;
                Ok(signer)
            }
        }
    }

    fn load(path: &Path) -> Result<Option<Self>, LocalKeyError> {
        let pem = match fs::read_to_string(path) {
            Ok(pem) => pem,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error("read", path)(e)),
        };
        tighten_permissions(path)?;
        Self::from_pem(&pem)
            .map(Some)
            .map_err(|e| LocalKeyError::InvalidKeyFile {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })
    }

    /// A signer for a PEM private key (PKCS#8 `PRIVATE KEY` or PKCS#1 `RSA PRIVATE KEY`).
    pub fn from_pem(pem: &str) -> Result<Self, LocalKeyError> {
        let private = RsaPrivateKey::from_pkcs8_pem(pem)
            .or_else(|_| RsaPrivateKey::from_pkcs1_pem(pem))
            .map_err(|_| {
                LocalKeyError::InvalidKey("expected a PKCS#8 or PKCS#1 RSA private key PEM".into())
            })?;
        Self::from_private_key(private)
    }

    /// A signer with a freshly generated 2048-bit key (not persisted).
    pub fn generate() -> Result<Self, LocalKeyError> {
        let private = RsaPrivateKey::new(&mut rand::rngs::OsRng, KEY_BITS)
            .map_err(|e| LocalKeyError::Generate(e.to_string()))?;
        Self::from_private_key(private)
    }

    fn from_private_key(private: RsaPrivateKey) -> Result<Self, LocalKeyError> {
        if private.size() * 8 < KEY_BITS {
            return Err(LocalKeyError::InvalidKey(format!(
                "the key has {} bits; at least {KEY_BITS} are required",
                private.size() * 8
            )));
        }
        private
            .validate()
            .map_err(|e| LocalKeyError::InvalidKey(e.to_string()))?;
        let der = private
            .to_pkcs1_der()
            .map_err(|e| LocalKeyError::InvalidKey(e.to_string()))?;
        let encoding = EncodingKey::from_rsa_der(der.as_bytes());

        let mut public_jwk = Jwk {
            common: CommonParameters {
                public_key_use: Some(PublicKeyUse::Signature),
                key_algorithm: Some(KeyAlgorithm::RS256),
                ..CommonParameters::default()
            },
            algorithm: AlgorithmParameters::RSA(RSAKeyParameters {
                key_type: RSAKeyType::RSA,
                n: URL_SAFE_NO_PAD.encode(private.n().to_bytes_be()),
                e: URL_SAFE_NO_PAD.encode(private.e().to_bytes_be()),
            }),
        };
        let thumbprint = public_jwk
            .thumbprint(ThumbprintHash::SHA256)
            .ok()
            .and_then(|t| URL_SAFE_NO_PAD.decode(t).ok())
            .ok_or_else(|| LocalKeyError::InvalidKey("cannot compute the key thumbprint".into()))?;
        let kid = thumbprint
            .iter()
            .take(8)
            .fold(String::with_capacity(16), |mut hex, byte| {
                let _ = write!(hex, "{byte:02x}");
                hex
            });
        public_jwk.common.key_id = Some(kid.clone());
        Ok(LocalSigner {
            private,
            encoding,
            public_jwk,
            kid,
        })
    }

    /// The key id put in every token's header and in the JWKS.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as a JWKS (one RS256 signing key; no private parameters).
    pub fn jwks(&self) -> JwkSet {
        JwkSet {
            keys: vec![self.public_jwk.clone()],
        }
    }

    /// The public key as SPKI PEM.
    pub fn public_key_pem(&self) -> String {
        RsaPublicKey::from(&self.private)
            .to_public_key_pem(LineEnding::LF)
            .expect("an RSA public key always encodes as PEM")
    }

    /// The private key as PKCS#8 PEM, as stored in the key file.
    pub fn private_pem(&self) -> Result<String, LocalKeyError> {
        self.private
            .to_pkcs8_pem(LineEnding::LF)
            .map(|pem| pem.to_string())
            .map_err(|e| LocalKeyError::InvalidKey(e.to_string()))
    }

    /// A Firebase-shaped ID token for `claims`, signed RS256 under this key's `kid`.
    pub fn sign(&self, claims: &TokenClaims) -> Result<String, LocalKeyError> {
        let provider = if claims.anonymous {
            "anonymous"
        } else {
            "password"
        };
        let mut body = json!({
            "iss": format!("{ISSUER_PREFIX}{}", claims.project_id),
            "aud": claims.project_id,
            "auth_time": claims.issued_at,
            "user_id": claims.uid,
            "sub": claims.uid,
            "iat": claims.issued_at,
            "exp": claims.issued_at.saturating_add(claims.expires_in_secs),
            "firebase": {"identities": {}, "sign_in_provider": provider},
        });
        if let Some(email) = &claims.email {
            body["email"] = json!(email);
            body["email_verified"] = json!(false);
        }
        if let Some(name) = &claims.name {
            body["name"] = json!(name);
        }
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        self.sign_raw(header, &body)
    }

    /// Signs arbitrary claims under an arbitrary header (tests forge bad tokens with it). The
    /// header's `alg` must be an RSA one (RS*/PS*); the `kid` is whatever the header says.
    pub fn sign_raw(&self, header: Header, claims: &Value) -> Result<String, LocalKeyError> {
        jsonwebtoken::encode(&header, claims, &self.encoding)
            .map_err(|e| LocalKeyError::Sign(e.to_string()))
    }
}

/// Creates `path` exclusively, readable only by its owner, and writes `contents` durably.
fn write_new_private_file(path: &Path, contents: &[u8]) -> Result<(), LocalKeyError> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io_error("create", path))?;
    file.write_all(contents).map_err(io_error("write", path))?;
    file.sync_all().map_err(io_error("write", path))
}

/// A key file readable by others is narrowed back to 0600 (unix only).
fn tighten_permissions(path: &Path) -> Result<(), LocalKeyError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = fs::metadata(path)
            .map_err(io_error("inspect", path))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            tracing::warn!(path = %path.display(), "local signing key was readable by others; setting mode 0600");
            fs::set_permissions(path, fs::Permissions::from_mode(0o600))
                .map_err(io_error("set permissions on", path))?;
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Test keys, generated once per test binary.
#[cfg(test)]
pub(crate) mod test_keys {
    use std::sync::OnceLock;

    use super::LocalSigner;

    /// The key every test token is signed with.
    pub(crate) fn signer() -> &'static LocalSigner {
        static SIGNER: OnceLock<LocalSigner> = OnceLock::new();
        SIGNER.get_or_init(|| LocalSigner::generate().expect("generate the test key"))
    }

    /// A second, unrelated key.
    pub(crate) fn other_signer() -> &'static LocalSigner {
        static SIGNER: OnceLock<LocalSigner> = OnceLock::new();
        SIGNER.get_or_init(|| LocalSigner::generate().expect("generate the second test key"))
    }
}

#[cfg(test)]
mod tests {
    use super::test_keys::{other_signer, signer};
    use super::*;

    fn decode_part(token: &str, index: usize) -> Value {
        let part = token.split('.').nth(index).unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    #[test]
    fn kid_is_16_hex_digits_derived_from_the_public_key() {
        let kid = signer().kid();
        assert_eq!(kid.len(), 16);
        assert!(
            kid.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_ne!(kid, other_signer().kid());
        let again = LocalSigner::from_pem(&signer().private_pem().unwrap()).unwrap();
        assert_eq!(again.kid(), kid);
    }

    #[test]
    fn jwks_holds_only_the_public_key() {
        let jwks = serde_json::to_value(signer().jwks()).unwrap();
        let key = &jwks["keys"][0];
        assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
        assert_eq!(key["kty"], "RSA");
        assert_eq!(key["alg"], "RS256");
        assert_eq!(key["use"], "sig");
        assert_eq!(key["kid"], signer().kid());
        assert_eq!(key["e"], "AQAB");
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(key.get(private).is_none(), "{private} leaked");
        }
    }

    #[test]
    fn signed_token_has_the_firebase_shape() {
        let claims = TokenClaims {
            uid: "user-1".into(),
            project_id: "demo".into(),
            anonymous: false,
            name: Some("Ada".into()),
            email: Some("ada@example.com".into()),
            issued_at: 1_700_000_000,
            expires_in_secs: 3600,
        };
        let token = signer().sign(&claims).unwrap();
        let header = decode_part(&token, 0);
        assert_eq!(header["alg"], "RS256");
        assert_eq!(header["kid"], signer().kid());
        let body = decode_part(&token, 1);
        assert_eq!(body["iss"], "https://securetoken.google.com/demo");
        assert_eq!(body["aud"], "demo");
        assert_eq!(body["sub"], "user-1");
        assert_eq!(body["user_id"], "user-1");
        assert_eq!(body["iat"], 1_700_000_000);
        assert_eq!(body["auth_time"], 1_700_000_000);
        assert_eq!(body["exp"], 1_700_003_600);
        assert_eq!(body["email"], "ada@example.com");
        assert_eq!(body["name"], "Ada");
        assert_eq!(body["firebase"]["sign_in_provider"], "password");
        assert_eq!(body["firebase"]["identities"], json!({}));

        let anonymous = TokenClaims {
            anonymous: true,
            name: None,
            email: None,
            ..claims
        };
        let body = decode_part(&signer().sign(&anonymous).unwrap(), 1);
        assert_eq!(body["firebase"]["sign_in_provider"], "anonymous");
        assert!(body.get("email").is_none() && body.get("name").is_none());
    }

    #[test]
    fn load_or_create_writes_a_private_pkcs8_key_and_reuses_it() {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("nested").join("data");
        let created = LocalSigner::load_or_create(&data_dir).unwrap();
        let path = data_dir.join(LocalSigner::KEY_FILE_NAME);
        let pem = fs::read_to_string(&path).unwrap();
        assert!(
            pem.starts_with("-----BEGIN PRIVATE KEY-----\n"),
            "PKCS#8 PEM expected"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let leftovers: Vec<_> = fs::read_dir(&data_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            leftovers,
            [LocalSigner::KEY_FILE_NAME],
            "no temp files are left behind"
        );

        let loaded = LocalSigner::load_or_create(&data_dir).unwrap();
        assert_eq!(loaded.kid(), created.kid());
        assert_eq!(loaded.jwks(), created.jwks());
    }

    #[cfg(unix)]
    #[test]
    fn a_key_file_readable_by_others_is_narrowed_to_0600() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LocalSigner::KEY_FILE_NAME);
        fs::write(&path, signer().private_pem().unwrap()).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let loaded = LocalSigner::load_or_create(dir.path()).unwrap();
        assert_eq!(loaded.kid(), signer().kid());
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn a_corrupt_key_file_is_reported_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LocalSigner::KEY_FILE_NAME);
        fs::write(&path, "not a key").unwrap();
        let err = LocalSigner::load_or_create(dir.path()).unwrap_err();
        assert!(
            matches!(err, LocalKeyError::InvalidKeyFile { .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("delete it"), "{err}");
        assert_eq!(fs::read_to_string(&path).unwrap(), "not a key");
    }

    #[test]
    fn from_pem_accepts_pkcs1_and_rejects_garbage_and_short_keys() {
        let pkcs1 = signer().private.to_pkcs1_pem(LineEnding::LF).unwrap();
        assert_eq!(LocalSigner::from_pem(&pkcs1).unwrap().kid(), signer().kid());
        assert!(LocalSigner::from_pem("").is_err());
        assert!(LocalSigner::from_pem(&signer().public_key_pem()).is_err());
        let short = RsaPrivateKey::new(&mut rand::rngs::OsRng, 1024).unwrap();
        let short = short.to_pkcs8_pem(LineEnding::LF).unwrap();
        let err = LocalSigner::from_pem(&short).unwrap_err();
        assert!(err.to_string().contains("1024 bits"), "{err}");
    }

    #[test]
    fn signer_debug_output_hides_the_private_key() {
        let debug = format!("{:?}", signer());
        assert!(debug.contains(signer().kid()));
        assert!(!debug.contains("BEGIN"));
        assert!(debug.len() < 80, "{debug}");
    }
}
