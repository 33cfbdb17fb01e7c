//! Where the verifier's keys come from: Google's published set, a JWKS at another URL, a custom
//! fetcher, or a fixed set in memory.
//!
//! [`KeySource`] only names the source; [`super::KeyStore::new`] turns a fetched one into a
//! cache of [`super::fetch::HttpJwksFetcher`] results. A fixed set is read here from a JWKS file
//! (`noteapp local`) and refused when it holds no key the verifier could use.

use std::sync::Arc;

use jsonwebtoken::jwk::JwkSet;

use super::fetch::JwksFetcher;
use super::jwks::{key_map, parse_jwks};
use crate::auth::VerifierConfigError;

/// Google's public keys for Firebase ID tokens, as a JWKS.
pub const GOOGLE_JWKS_URL: &str =
    "https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com";

/// Where the verifier gets the public keys that sign ID tokens.
#[derive(Clone)]
pub enum KeySource {
    /// Google's JWKS at [`GOOGLE_JWKS_URL`]: the only source for deployed environments.
    Google,
    /// A JWKS served at another URL. Only settable in code (tests use a loopback server); plain
    /// `http://` is refused unless the host is loopback.
    RemoteJwks {
        /// The JWKS's URL.
        url: String,
    },
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

#[cfg(test)]
mod tests {
    use super::super::testing::jwks_with_kids;
    use super::*;

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
}
