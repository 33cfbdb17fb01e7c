//! Reading a JWKS, and keeping only the keys the verifier may use.
//!
//! A set is parsed leniently (one key the JWT library cannot represent does not void the
//! others), then filtered to RS256 signing keys: RSA, a `kid`, `alg` absent or RS256, `use`
//! absent or `sig`, and a modulus of at least 2048 bits. Every source, fixed or fetched, goes
//! through [`key_map`], so a set without a usable key is refused the same way wherever it
//! comes from.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse};

/// Keys shorter than this are ignored (Google's are 2048-bit).
const MIN_RSA_MODULUS_BITS: usize = 2048;

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

#[cfg(test)]
mod tests {
    use super::super::testing::jwks_with_kids;
    use super::*;

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
}
