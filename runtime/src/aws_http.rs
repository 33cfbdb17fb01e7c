//! The HTTPS client under every AWS SDK client the runtime builds: rustls with the trust roots
//! chosen here, never read from the system's certificate files (a `scratch` image has none).

use aws_sdk_apigatewaymanagement::config::SharedHttpClient;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};

/// Which certificates the client trusts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Roots {
    /// The Mozilla roots compiled into the binary: what the handlers use to reach AWS.
    Bundled,
    /// None at all: for plain HTTP on loopback (the local gateway's management API).
    Nothing,
}

/// An SDK HTTP client trusting `roots`.
pub fn sdk_http_client(roots: Roots) -> SharedHttpClient {
    let mut store = TrustStore::empty().with_native_roots(false);
    if roots == Roots::Bundled {
        for cert in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
            store.add_pem_certificate(pem(cert.as_ref()));
        }
    }
    let context = TlsContext::builder()
        .with_trust_store(store)
        .build()
        .expect("a trust store of PEM certificates is always a valid TLS context");
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
        .tls_context(context)
        .build_https()
}

/// One DER certificate as PEM, the form the SDK's trust store takes.
fn pem(der: &[u8]) -> Vec<u8> {
    use base64::Engine as _;
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = b"-----BEGIN CERTIFICATE-----\n".to_vec();
    for line in body.as_bytes().chunks(64) {
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    out.extend_from_slice(b"-----END CERTIFICATE-----\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_wraps_base64_at_64_columns() {
        let text = String::from_utf8(pem(&[0u8; 100])).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.first(), Some(&"-----BEGIN CERTIFICATE-----"));
        assert_eq!(lines.last(), Some(&"-----END CERTIFICATE-----"));
        assert!(lines[1..lines.len() - 1].iter().all(|l| l.len() <= 64));
        assert_eq!(lines[1].len(), 64);
    }
}
