//! HTTP to AWS, built here once for every SDK client and every signed request noteapp makes.
//!
//! - [`sdk_http_client`]: the HTTPS client under every AWS SDK client (rustls on the `ring`
//!   provider), with the trust roots chosen here, never read from the system's certificate
//!   files alone (a `scratch` image has none). One TLS stack for the whole workspace: no
//!   aws-lc C build.
//! - [`https_client`]: the same stack for plain HTTPS calls (Google's signing keys, signed AWS
//!   requests outside the SDK).
//! - [`Partition`]: which AWS partition a region is in, its ARN prefix and its DNS suffix, so
//!   nothing says `arn:aws` or `amazonaws.com` where China or GovCloud differ.
//! - [`Signer`] and [`invoke_async`]: SigV4 for the few calls noteapp makes without an SDK
//!   crate (a Lambda `Event` invocation, the broadcast route): a whole SDK crate for one call
//!   would cost more compile time than everything else the runtime needs from it.

use std::time::{Duration, SystemTime};

use aws_sdk_apigatewaymanagement::config::SharedHttpClient;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};

/// Which certificates a client trusts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Roots {
    /// The Mozilla roots compiled into the binary: what the handlers use to reach AWS.
    Bundled,
    /// The machine's own roots as well as the bundled ones (the CLI, behind a corporate proxy).
    NativeAndBundled,
    /// None at all: for plain HTTP on loopback (the local gateway's management API, moto).
    Nothing,
}

/// Installs the process's rustls provider (`ring`); later calls are no-ops.
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// An SDK HTTP client trusting `roots`.
pub fn sdk_http_client(roots: Roots) -> SharedHttpClient {
    let mut store = TrustStore::empty().with_native_roots(roots == Roots::NativeAndBundled);
    if roots != Roots::Nothing {
        for cert in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
            store.add_pem_certificate(pem(cert.as_ref()));
        }
    }
    let context = TlsContext::builder()
        .with_trust_store(store)
        .build()
        .expect("a trust store of PEM certificates is always a valid TLS context");
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .tls_context(context)
        .build_https()
}

/// The SDK configuration for an AWS API on loopback (`noteapp local`'s management endpoint, a
/// DynamoDB API such as `moto_server`, the tests' stand-ins): plain HTTP through a client that
/// trusts no certificate (so it never looks for the system's roots, which a `scratch` container
/// lacks), `region`, and fixed local credentials. Build any SDK client from it; the one place
/// such a configuration is made.
pub fn loopback_config(endpoint: &str, region: &str) -> aws_config::SdkConfig {
    let credentials = aws_credential_types::Credentials::new(
        "noteapp-local",
        "noteapp-local",
        None,
        None,
        "noteapp-local",
    );
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .http_client(sdk_http_client(Roots::Nothing))
        .region(aws_config::Region::new(region.to_owned()))
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(credentials),
        )
        .endpoint_url(endpoint)
        .build()
}

/// A plain HTTPS client (bundled web PKI roots) with a whole-request `timeout`.
pub fn https_client(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    install_crypto();
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .user_agent(concat!("noteapp/", env!("CARGO_PKG_VERSION")))
        .build()
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

/// An AWS partition: the standard one, China, GovCloud, or an isolated region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partition {
    /// The ARN prefix: `aws`, `aws-cn`, `aws-us-gov`, `aws-iso`, `aws-iso-b`, …
    pub name: &'static str,
    /// The DNS suffix of its endpoints: `amazonaws.com`, `amazonaws.com.cn`, …
    pub dns_suffix: &'static str,
}

impl Partition {
    /// The partition `region` belongs to (by its name, as AWS's endpoint rules decide it).
    pub fn of(region: &str) -> Self {
        let (name, dns_suffix) = if region.starts_with("cn-") {
            ("aws-cn", "amazonaws.com.cn")
        } else if region.starts_with("us-gov-") {
            ("aws-us-gov", "amazonaws.com")
        } else if region.starts_with("us-isob-") {
            ("aws-iso-b", "sc2s.sgov.gov")
        } else if region.starts_with("us-isof-") {
            ("aws-iso-f", "csp.hci.ic.gov")
        } else if region.starts_with("us-iso-") {
            ("aws-iso", "c2s.ic.gov")
        } else if region.starts_with("eu-isoe-") {
            ("aws-iso-e", "cloud.adc-e.uk")
        } else {
            ("aws", "amazonaws.com")
        };
        Self { name, dns_suffix }
    }

    /// `https://{service}.{region}.{suffix}`, the regional endpoint of `service`.
    pub fn endpoint(&self, service: &str, region: &str) -> String {
        format!("https://{service}.{region}.{}", self.dns_suffix)
    }
}

/// The endpoint of `service` (its SDK id in `AWS_ENDPOINT_URL_<ID>`, e.g. `LAMBDA`) in `region`:
/// the service's endpoint variable, else `AWS_ENDPOINT_URL`, else the partition's endpoint —
/// the order the SDK itself follows.
pub fn service_endpoint(
    vars: impl Fn(&str) -> Option<String>,
    env_id: &str,
    host_prefix: &str,
    region: &str,
) -> String {
    let set = |name: &str| vars(name).filter(|v| !v.trim().is_empty());
    set(&format!("AWS_ENDPOINT_URL_{env_id}"))
        .or_else(|| set("AWS_ENDPOINT_URL"))
        .map(|url| url.trim_end_matches('/').to_owned())
        .unwrap_or_else(|| Partition::of(region).endpoint(host_prefix, region))
}

/// Signs requests with SigV4 for one region, with credentials from an SDK configuration.
#[derive(Clone, Debug)]
pub struct Signer {
    credentials: aws_credential_types::provider::SharedCredentialsProvider,
    region: String,
}

/// Why a signed request could not be made or was refused.
#[derive(Debug, thiserror::Error)]
pub enum SignedError {
    /// The credentials provider gave none (the reason inside).
    #[error("no AWS credentials: {0}")]
    Credentials(String),
    /// SigV4 signing failed (the reason inside).
    #[error("cannot sign the request: {0}")]
    Signing(String),
    /// The request did not get an answer (connection, TLS, timeout).
    #[error("{0}")]
    Transport(String),
    /// The service answered with an error status.
    #[error("HTTP {status}: {body}")]
    Status {
        /// The HTTP status code.
        status: u16,
        /// The answer's body, as text.
        body: String,
    },
}

impl Signer {
    /// A signer using `sdk`'s credentials and region (`None` when it has either missing).
    pub fn from_sdk(sdk: &aws_config::SdkConfig) -> Option<Self> {
        Some(Self {
            credentials: sdk.credentials_provider()?,
            region: sdk.region()?.to_string(),
        })
    }

    /// A signer with explicit credentials (tests, local).
    pub fn new(
        credentials: aws_credential_types::provider::SharedCredentialsProvider,
        region: impl Into<String>,
    ) -> Self {
        Self {
            credentials,
            region: region.into(),
        }
    }

    /// A signer with fixed keys: tests, and calls to stand-ins on loopback.
    pub fn with_keys(access_key: &str, secret_key: &str, region: impl Into<String>) -> Self {
        let credentials = aws_credential_types::Credentials::new(
            access_key,
            secret_key,
            None,
            None,
            "noteapp-fixed",
        );
        Self::new(
            aws_credential_types::provider::SharedCredentialsProvider::new(credentials),
            region,
        )
    }

    /// The same credentials, signing for `region` (IAM, a global service, signs for its
    /// partition's first region).
    pub fn for_region(&self, region: impl Into<String>) -> Self {
        Self {
            credentials: self.credentials.clone(),
            region: region.into(),
        }
    }

    /// The region requests are signed for.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// Adds the SigV4 headers for `service` to `request` (its body is signed too).
    pub async fn sign(
        &self,
        service: &str,
        request: &mut http::Request<bytes::Bytes>,
    ) -> Result<(), SignedError> {
        use aws_credential_types::provider::ProvideCredentials;
        use aws_sigv4::http_request::{SignableBody, SignableRequest, sign};
        let credentials = self
            .credentials
            .provide_credentials()
            .await
            .map_err(|e| SignedError::Credentials(e.to_string()))?;
        let identity = credentials.into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(service)
            .time(SystemTime::now())
            .settings(settings_for(service))
            .build()
            .map_err(|e| SignedError::Signing(e.to_string()))?
            .into();
        let uri = request.uri().to_string();
        let headers = request
            .headers()
            .iter()
            .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)));
        let signable = SignableRequest::new(
            request.method().as_str(),
            &uri,
            headers,
            SignableBody::Bytes(request.body()),
        )
        .map_err(|e| SignedError::Signing(e.to_string()))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| SignedError::Signing(e.to_string()))?
            .into_parts();
        instructions.apply_to_request_http1x(request);
        Ok(())
    }

    /// Signs `request` for `service` and sends it with `client`: the status and body of a 2xx
    /// answer, or [`SignedError::Status`].
    pub async fn send(
        &self,
        client: &reqwest::Client,
        service: &str,
        mut request: http::Request<bytes::Bytes>,
    ) -> Result<(u16, bytes::Bytes), SignedError> {
        self.sign(service, &mut request).await?;
        let request = reqwest::Request::try_from(request)
            .map_err(|e| SignedError::Transport(e.to_string()))?;
        let url = request.url().to_string();
        let response = client
            .execute(request)
            .await
            .map_err(|e| SignedError::Transport(format!("{url}: {e}")))?;
        let status = response.status().as_u16();
        let body = response
            .bytes()
            .await
            .map_err(|e| SignedError::Transport(format!("{url}: {e}")))?;
        if (200..300).contains(&status) {
            Ok((status, body))
        } else {
            Err(SignedError::Status {
                status,
                body: String::from_utf8_lossy(&body).chars().take(500).collect(),
            })
        }
    }
}

/// How `service` wants its requests signed: S3 encodes the path once, leaves it as it is, and
/// signs the payload's hash in `x-amz-content-sha256`; every other service uses SigV4's
/// defaults.
fn settings_for(service: &str) -> aws_sigv4::http_request::SigningSettings {
    use aws_sigv4::http_request::{
        PayloadChecksumKind, PercentEncodingMode, SigningSettings, UriPathNormalizationMode,
    };
    let mut settings = SigningSettings::default();
    if service == "s3" {
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    }
    settings
}

/// Queues `payload` for function `function` (Lambda `Invoke` with `InvocationType: Event`):
/// Lambda answers 202 at once and runs the function with its own retries. Throttling, 5xx and
/// transport failures are retried here twice, with backoff.
pub async fn invoke_async(
    client: &reqwest::Client,
    signer: &Signer,
    endpoint: &str,
    function: &str,
    payload: bytes::Bytes,
) -> Result<(), SignedError> {
    let url = format!(
        "{endpoint}/2015-03-31/functions/{}/invocations",
        percent_encode(function)
    );
    let mut delay = Duration::from_millis(100);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let request = http::Request::post(&url)
            .header("content-type", "application/json")
            .header("x-amz-invocation-type", "Event")
            .body(payload.clone())
            .map_err(|e| SignedError::Signing(e.to_string()))?;
        match signer.send(client, "lambda", request).await {
            Ok(_) => return Ok(()),
            Err(e) if attempt < 3 && is_retryable(&e) => {
                tokio::time::sleep(delay).await;
                delay *= 4;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Throttling, a server error or a broken connection: worth another try.
fn is_retryable(error: &SignedError) -> bool {
    match error {
        SignedError::Status { status, .. } => *status == 429 || *status >= 500,
        SignedError::Transport(_) => true,
        _ => false,
    }
}

/// A function name or ARN as one path segment.
pub(crate) fn percent_encode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
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

    #[test]
    fn partitions_follow_the_region_name() {
        assert_eq!(Partition::of("ap-northeast-1").name, "aws");
        assert_eq!(
            Partition::of("cn-north-1"),
            Partition {
                name: "aws-cn",
                dns_suffix: "amazonaws.com.cn"
            }
        );
        assert_eq!(Partition::of("us-gov-west-1").name, "aws-us-gov");
        assert_eq!(Partition::of("us-gov-west-1").dns_suffix, "amazonaws.com");
        assert_eq!(Partition::of("us-iso-east-1").dns_suffix, "c2s.ic.gov");
        assert_eq!(
            Partition::of("cn-northwest-1").endpoint("lambda", "cn-northwest-1"),
            "https://lambda.cn-northwest-1.amazonaws.com.cn"
        );
    }

    #[test]
    fn a_service_endpoint_variable_wins_over_the_global_one() {
        let vars = |name: &str| match name {
            "AWS_ENDPOINT_URL_LAMBDA" => Some("http://127.0.0.1:9/".to_owned()),
            "AWS_ENDPOINT_URL" => Some("http://127.0.0.1:8".to_owned()),
            _ => None,
        };
        assert_eq!(
            service_endpoint(vars, "LAMBDA", "lambda", "eu-west-1"),
            "http://127.0.0.1:9"
        );
        let global = |name: &str| (name == "AWS_ENDPOINT_URL").then(|| "http://moto".to_owned());
        assert_eq!(
            service_endpoint(global, "LAMBDA", "lambda", "eu-west-1"),
            "http://moto"
        );
        assert_eq!(
            service_endpoint(|_| None, "LAMBDA", "lambda", "eu-west-1"),
            "https://lambda.eu-west-1.amazonaws.com"
        );
        assert_eq!(percent_encode("a:b/c"), "a%3Ab%2Fc");
    }

    /// A loopback stand-in of the Lambda API: answers `statuses` in turn and keeps each raw
    /// request it read.
    async fn lambda_stand_in(statuses: Vec<u16>) -> (String, tokio::task::JoinHandle<Vec<String>>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let mut seen = Vec::new();
            for status in statuses {
                let (mut stream, _) = listener.accept().await.unwrap();
                let mut request = Vec::new();
                let mut buffer = [0u8; 4096];
                loop {
                    let n = stream.read(&mut buffer).await.unwrap();
                    request.extend_from_slice(&buffer[..n]);
                    let text = String::from_utf8_lossy(&request);
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length = text
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length: ")
                                    .map(|v| v.trim().parse::<usize>().unwrap())
                            })
                            .unwrap_or(0);
                        if request.len() >= end + 4 + length {
                            break;
                        }
                    }
                }
                seen.push(String::from_utf8_lossy(&request).into_owned());
                let reply = format!(
                    "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                );
                stream.write_all(reply.as_bytes()).await.unwrap();
            }
            seen
        });
        (endpoint, task)
    }

    fn signer() -> Signer {
        Signer::with_keys("AKIDTEST", "secret", "ap-northeast-1")
    }

    #[tokio::test]
    async fn an_async_invoke_is_a_signed_event_invocation_retried_after_a_server_error() {
        let (endpoint, seen) = lambda_stand_in(vec![503, 202]).await;
        let client = https_client(Duration::from_secs(5)).unwrap();
        let payload = bytes::Bytes::from_static(b"{\"type\":\"t\",\"data\":1}");
        invoke_async(
            &client,
            &signer(),
            &endpoint,
            "noteapp-staging-ws-broadcast",
            payload,
        )
        .await
        .unwrap();
        let seen = seen.await.unwrap();
        assert_eq!(seen.len(), 2, "one retry after the 503");
        let request = &seen[1];
        assert!(
            request.starts_with(
                "POST /2015-03-31/functions/noteapp-staging-ws-broadcast/invocations HTTP/1.1"
            ),
            "{request}"
        );
        let lower = request.to_ascii_lowercase();
        assert!(lower.contains("x-amz-invocation-type: event"), "{request}");
        assert!(
            lower.contains("authorization: aws4-hmac-sha256 credential=akidtest/")
                && lower.contains("/ap-northeast-1/lambda/aws4_request"),
            "{request}"
        );
        assert!(
            request.ends_with("{\"type\":\"t\",\"data\":1}"),
            "{request}"
        );
    }

    #[tokio::test]
    async fn the_live_alias_is_invoked_by_its_qualified_arn_in_one_path_segment() {
        let (endpoint, seen) = lambda_stand_in(vec![202]).await;
        let client = https_client(Duration::from_secs(5)).unwrap();
        let alias =
            "arn:aws:lambda:ap-northeast-1:123456789012:function:noteapp-staging-ws-broadcast:live";
        invoke_async(&client, &signer(), &endpoint, alias, bytes::Bytes::new())
            .await
            .unwrap();
        let request = &seen.await.unwrap()[0];
        assert!(
            request.starts_with(
                "POST /2015-03-31/functions/arn%3Aaws%3Alambda%3Aap-northeast-1%3A123456789012%3Afunction%3Anoteapp-staging-ws-broadcast%3Alive/invocations HTTP/1.1"
            ),
            "{request}"
        );
    }

    #[tokio::test]
    async fn a_refused_invoke_is_not_retried_and_names_the_status() {
        let (endpoint, seen) = lambda_stand_in(vec![403]).await;
        let client = https_client(Duration::from_secs(5)).unwrap();
        let err = invoke_async(&client, &signer(), &endpoint, "f", bytes::Bytes::new())
            .await
            .unwrap_err();
        assert!(
            matches!(err, SignedError::Status { status: 403, .. }),
            "{err}"
        );
        assert_eq!(seen.await.unwrap().len(), 1);
    }
}
