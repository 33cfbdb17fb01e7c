//! Signature Version 4, checked as AWS checks it: the canonical request rebuilt from what arrived
//! on the wire, the string to sign, the signing key derived from the secret of the access key
//! the request names, and the signature compared. A stand-in that answers only requests whose
//! signature verifies refuses what AWS refuses: an unsigned request, a signature made with
//! another secret, a request changed after it was signed, a request signed for another region or
//! service, or one signed too long ago.
//!
//! Written here from AWS's description ("Create a signed AWS API request", "Elements of an AWS
//! API request signature"), not with the SDK's signer, so that the two check each other.

use std::collections::BTreeMap;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// What a verified signature says about the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// The access key id the request was signed with.
    pub access_key: String,
    /// The region of the credential scope.
    pub region: String,
    /// The signing service of the credential scope.
    pub service: String,
    /// `X-Amz-Security-Token`, for temporary credentials.
    pub session_token: Option<String>,
}

/// Why a signature does not verify, in AWS's words where AWS has them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No `Authorization` header (API Gateway: "Missing Authentication Token").
    Unsigned,
    /// The header is not a SigV4 authorization.
    Malformed(String),
    /// The access key is not one the stand-in knows.
    UnknownKey(String),
    /// The credential scope names another region or service than the endpoint's.
    Scope(String),
    /// `X-Amz-Date` is missing, malformed or too far from now.
    Time(String),
    /// The recomputed signature differs.
    Mismatch,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Unsigned => write!(f, "Missing Authentication Token"),
            Refusal::Malformed(what) => write!(
                f,
                "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature': {what}"
            ),
            Refusal::UnknownKey(key) => write!(
                f,
                "The security token included in the request is invalid (access key {key})"
            ),
            Refusal::Scope(what) => {
                write!(
                    f,
                    "Credential should be scoped to a valid region/service: {what}"
                )
            }
            Refusal::Time(what) => write!(f, "Signature expired or not yet valid: {what}"),
            Refusal::Mismatch => write!(
                f,
                "The request signature we calculated does not match the signature you provided. \
                 Check your AWS Secret Access Key and signing method."
            ),
        }
    }
}

/// The parts of a received request the signature covers.
#[derive(Debug, Clone, Copy)]
pub struct Received<'a> {
    /// `GET`, `POST`, ….
    pub method: &'a str,
    /// The path as sent (percent-encoded once, as on the wire).
    pub path: &'a str,
    /// The query as sent, without `?` (may be empty).
    pub query: &'a str,
    /// Every header as sent.
    pub headers: &'a http::HeaderMap,
    /// The body as sent.
    pub body: &'a [u8],
}

/// What the endpoint expects: its region and signing service, the secrets it knows, and the
/// time to check against.
pub struct Expect<'a> {
    /// The endpoint's region.
    pub region: &'a str,
    /// The endpoint's signing service (`execute-api`, `apigateway`, `sqs`, …).
    pub service: &'a str,
    /// The secret access key of an access key id, if known.
    pub secret: &'a dyn Fn(&str) -> Option<String>,
    /// Now, as seconds since the epoch.
    pub now: i64,
}

/// How far `X-Amz-Date` may be from now (AWS allows five minutes each way).
pub const SKEW_SECONDS: i64 = 5 * 60;

/// Verifies `request`'s SigV4 `Authorization` header as the endpoint `expect` describes.
pub fn verify(request: &Received<'_>, expect: &Expect<'_>) -> Result<Signed, Refusal> {
    let header = |name: &str| {
        request
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let authorization = header("authorization").ok_or(Refusal::Unsigned)?;
    let parsed = parse_authorization(&authorization)?;
    let secret = (expect.secret)(&parsed.access_key)
        .ok_or_else(|| Refusal::UnknownKey(parsed.access_key.clone()))?;
    if parsed.region != expect.region || parsed.service != expect.service {
        return Err(Refusal::Scope(format!(
            "signed for {}/{}, sent to {}/{}",
            parsed.region, parsed.service, expect.region, expect.service
        )));
    }
    let amz_date = header("x-amz-date").ok_or_else(|| Refusal::Time("no X-Amz-Date".into()))?;
    let signed_at = parse_amz_date(&amz_date)
        .ok_or_else(|| Refusal::Time(format!("X-Amz-Date {amz_date:?} is not YYYYMMDDTHHMMSSZ")))?;
    if (signed_at - expect.now).abs() > SKEW_SECONDS {
        return Err(Refusal::Time(format!(
            "signed at {amz_date}, {} s from now",
            signed_at - expect.now
        )));
    }
    if !amz_date.starts_with(&parsed.date) {
        return Err(Refusal::Scope(format!(
            "the scope's date {} is not the request's {amz_date}",
            parsed.date
        )));
    }
    if !parsed.signed_headers.iter().any(|h| h == "host") {
        return Err(Refusal::Malformed("SignedHeaders must include host".into()));
    }
    let canonical = canonical_request(request, &parsed.signed_headers, &parsed.service)?;
    let scope = format!(
        "{}/{}/{}/aws4_request",
        parsed.date, parsed.region, parsed.service
    );
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let key = signing_key(&secret, &parsed.date, &parsed.region, &parsed.service);
    let expected = hex(&hmac(&key, string_to_sign.as_bytes()));
    if !constant_time_eq(expected.as_bytes(), parsed.signature.as_bytes()) {
        return Err(Refusal::Mismatch);
    }
    Ok(Signed {
        access_key: parsed.access_key,
        region: parsed.region,
        service: parsed.service,
        session_token: header("x-amz-security-token"),
    })
}

/// The signing service an `Authorization` header's credential scope names (its fourth part),
/// whether or not the signature verifies: what a stand-in routes a request by before deciding it.
pub fn service_of(authorization: &str) -> Option<String> {
    let scope = authorization
        .split("Credential=")
        .nth(1)?
        .split(',')
        .next()?;
    scope.split('/').nth(3).map(str::to_owned)
}

/// The access key id a SigV4 `Authorization` header names, if it is one.
pub fn access_key_of(authorization: &str) -> Option<String> {
    parse_authorization(authorization)
        .ok()
        .map(|a| a.access_key)
}

struct Authorization {
    access_key: String,
    date: String,
    region: String,
    service: String,
    signed_headers: Vec<String>,
    signature: String,
}

fn parse_authorization(text: &str) -> Result<Authorization, Refusal> {
    let malformed = || Refusal::Malformed(text.to_owned());
    let rest = text
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or_else(malformed)?;
    let mut fields = BTreeMap::new();
    for part in rest.split(',') {
        let (key, value) = part.trim().split_once('=').ok_or_else(malformed)?;
        fields.insert(key.trim(), value.trim());
    }
    let credential = fields.get("Credential").ok_or_else(malformed)?;
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key, date, region, service, "aws4_request"] = scope[..] else {
        return Err(malformed());
    };
    let signed_headers = fields
        .get("SignedHeaders")
        .ok_or_else(malformed)?
        .split(';')
        .map(str::to_owned)
        .collect();
    let signature = fields.get("Signature").ok_or_else(malformed)?;
    Ok(Authorization {
        access_key: access_key.to_owned(),
        date: date.to_owned(),
        region: region.to_owned(),
        service: service.to_owned(),
        signed_headers,
        signature: (*signature).to_owned(),
    })
}

/// `20261207T030102Z` as seconds since the epoch.
fn parse_amz_date(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    if bytes.len() != 16 || bytes[8] != b'T' || bytes[15] != b'Z' {
        return None;
    }
    let number = |range: std::ops::Range<usize>| text.get(range)?.parse::<i64>().ok();
    let (year, month, day) = (number(0..4)?, number(4..6)?, number(6..8)?);
    let (hour, minute, second) = (number(9..11)?, number(11..13)?, number(13..15)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm), then seconds.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hour * 3_600 + minute * 60 + second)
}

/// The canonical request: method, the path encoded once more (S3: as sent, encoded once), the
/// sorted query, the signed headers (names lowercase, values trimmed and their inner spaces
/// folded), their names, and the payload's hash (`X-Amz-Content-Sha256` when sent, else the
/// body's).
fn canonical_request(
    request: &Received<'_>,
    signed: &[String],
    service: &str,
) -> Result<String, Refusal> {
    let path = if request.path.is_empty() {
        "/".to_owned()
    } else if service == "s3" {
        request.path.to_owned()
    } else {
        request
            .path
            .split('/')
            .map(uri_encode)
            .collect::<Vec<_>>()
            .join("/")
    };
    let mut query: Vec<(String, String)> = request
        .query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (uri_encode(&decode(k)), uri_encode(&decode(v)))
        })
        .collect();
    query.sort();
    let query: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut headers = String::new();
    for name in signed {
        let values: Vec<String> = request
            .headers
            .get_all(name.as_str())
            .iter()
            .map(|v| {
                String::from_utf8_lossy(v.as_bytes())
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        if values.is_empty() {
            return Err(Refusal::Malformed(format!(
                "signed header {name} was not sent"
            )));
        }
        headers.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    let payload = match request.headers.get("x-amz-content-sha256") {
        Some(v) => v.to_str().unwrap_or_default().to_owned(),
        None => hex(&Sha256::digest(request.body)),
    };
    Ok(format!(
        "{}\n{path}\n{}\n{headers}\n{}\n{payload}",
        request.method,
        query.join("&"),
        signed.join(";")
    ))
}

/// Percent-encodes everything but the unreserved characters (`A-Z a-z 0-9 - _ . ~`), as SigV4
/// does (a `%` already there becomes `%25`: the path is encoded twice).
fn uri_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Percent-decodes a query key or value.
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(b) = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> Vec<u8> {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, b"aws4_request")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Signs `request`, a POST of `body`, in place with the SDK's own signer as `credentials`, for
/// `service` in `region` at `at`: what the verifier is checked against in the tests.
#[cfg(test)]
pub(crate) fn sign_as_the_sdk<B>(
    request: &mut http::Request<B>,
    body: &[u8],
    credentials: &aws_credential_types::Credentials,
    region: &str,
    service: &str,
    at: std::time::SystemTime,
) {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    use aws_sigv4::sign::v4;
    let identity = credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(at)
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
        .collect();
    let uri = request.uri().to_string();
    let signable = SignableRequest::new(
        request.method().as_str(),
        &uri,
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(body),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    instructions.apply_to_request_http1x(request);
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use aws_credential_types::Credentials;

    use super::*;

    const KEY: &str = "AKIDNOTEAPPTEST";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    /// A request signed at `at` by AWS's own signer (the SDK's).
    fn signed(
        uri: &str,
        body: &[u8],
        region: &str,
        service: &str,
        at: SystemTime,
    ) -> http::Request<Vec<u8>> {
        let mut request = http::Request::builder()
            .method("POST")
            .uri(uri)
            .header("host", "abc123.execute-api.eu-west-1.amazonaws.com")
            .header("content-type", "application/json")
            .body(body.to_vec())
            .unwrap();
        let credentials = Credentials::new(KEY, SECRET, None, None, "test");
        sign_as_the_sdk(&mut request, body, &credentials, region, service, at);
        request
    }

    fn check(
        request: &http::Request<Vec<u8>>,
        region: &str,
        service: &str,
        now: SystemTime,
    ) -> Result<Signed, Refusal> {
        let secret = |key: &str| (key == KEY).then(|| SECRET.to_owned());
        let uri = request.uri();
        verify(
            &Received {
                method: request.method().as_str(),
                path: uri.path(),
                query: uri.query().unwrap_or_default(),
                headers: request.headers(),
                body: request.body(),
            },
            &Expect {
                region,
                service,
                secret: &secret,
                now: now.duration_since(UNIX_EPOCH).unwrap().as_secs() as i64,
            },
        )
    }

    const BROADCAST: &str =
        "https://abc123.execute-api.eu-west-1.amazonaws.com/websocket/broadcast";

    #[test]
    fn the_signing_service_is_read_from_the_credential_scope() {
        let header = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261207/eu-west-1/s3/aws4_request, \
                      SignedHeaders=host;x-amz-date, Signature=00";
        assert_eq!(service_of(header).as_deref(), Some("s3"));
        assert_eq!(service_of("Bearer x"), None);
        assert_eq!(
            service_of("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261207"),
            None
        );
    }

    #[test]
    fn a_request_signed_by_the_sdks_signer_verifies() {
        let now = SystemTime::now();
        let body = br#"{"type":"noteapp.smoke","data":{}}"#;
        for uri in [
            BROADCAST,
            "https://abc123.execute-api.eu-west-1.amazonaws.com/staging/%40connections/Zx9%3D",
            "https://abc123.execute-api.eu-west-1.amazonaws.com/account?b=2&a=1&c=x%20y",
        ] {
            let request = signed(uri, body, "eu-west-1", "execute-api", now);
            let verified = check(&request, "eu-west-1", "execute-api", now)
                .unwrap_or_else(|e| panic!("{uri}: {e}"));
            assert_eq!(verified.access_key, KEY, "{uri}");
        }
    }

    #[test]
    fn what_aws_refuses_is_refused() {
        let now = SystemTime::now();
        let request = signed(BROADCAST, b"{}", "eu-west-1", "execute-api", now);
        let refused = |r: &http::Request<Vec<u8>>, region: &str, service: &str, at: SystemTime| {
            check(r, region, service, at).unwrap_err()
        };
        // Changed after it was signed.
        let mut tampered = request.clone();
        *tampered.body_mut() = b"{\"more\":1}".to_vec();
        assert_eq!(
            refused(&tampered, "eu-west-1", "execute-api", now),
            Refusal::Mismatch
        );
        // Unsigned.
        let mut unsigned = request.clone();
        unsigned.headers_mut().remove("authorization");
        assert_eq!(
            refused(&unsigned, "eu-west-1", "execute-api", now),
            Refusal::Unsigned
        );
        // Another region or service.
        let wrong_region = refused(&request, "us-east-1", "execute-api", now);
        assert!(matches!(wrong_region, Refusal::Scope(_)), "{wrong_region}");
        let wrong_service = refused(&request, "eu-west-1", "apigateway", now);
        assert!(
            matches!(wrong_service, Refusal::Scope(_)),
            "{wrong_service}"
        );
        // Signed too long ago.
        let later = now + Duration::from_secs(SKEW_SECONDS as u64 + 60);
        let late = refused(&request, "eu-west-1", "execute-api", later);
        assert!(matches!(late, Refusal::Time(_)), "{late}");
        // An access key nobody issued, and a signature that only looks like one.
        let authorization = request.headers()["authorization"]
            .to_str()
            .unwrap()
            .to_owned();
        for (header, what) in [
            (authorization.replace(KEY, "AKIDOTHER"), "unknown key"),
            ("AWS4-HMAC-SHA256 nonsense".to_owned(), "malformed"),
            ("Bearer abc".to_owned(), "not SigV4"),
        ] {
            let mut other = request.clone();
            other
                .headers_mut()
                .insert("authorization", header.parse().unwrap());
            let refusal = refused(&other, "eu-west-1", "execute-api", now);
            assert!(
                matches!(refusal, Refusal::UnknownKey(_) | Refusal::Malformed(_)),
                "{what}: {refusal}"
            );
        }
    }

    #[test]
    fn amz_dates_are_read_as_utc_seconds() {
        assert_eq!(parse_amz_date("19700101T000000Z"), Some(0));
        assert_eq!(parse_amz_date("20000301T000000Z"), Some(951_868_800));
        assert_eq!(parse_amz_date("2026-12-07T03:01:02Z"), None);
    }
}
