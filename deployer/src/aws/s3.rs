//! S3, the releases bucket: where each release's template is kept, for rollbacks to restore and
//! for CloudFormation to read a template too large to send inline.
//!
//! One bucket per account and region, `noteapp-releases-<account>-<region>`, made on the first
//! deploy like the ECR repository (outside any stack, so no stack operation can remove it):
//! public access blocked, encrypted at rest (SSE-S3), reachable over TLS only. Each stack keeps
//! its releases' templates under `<stack>/releases/<n>.yaml`; a deploy deletes those of the
//! releases past the environment's `releases_kept`, as it untags their images, so exactly the
//! releases that can be rolled back to are kept. `noteapp diff` puts a template over the inline
//! limit under `<stack>/releases/diff.yaml` while its change set is computed, then deletes it.
//! What it costs: a template is 40–110 KB, so ten releases of two environments are about 2 MB, a
//! fraction of a cent a month, and each deploy makes a handful of requests.
//!
//! Signed requests rather than an SDK crate: these few calls do not pay for a crate's compile
//! time. Path-style URLs on a custom endpoint (`AWS_ENDPOINT_URL_S3`: moto, a stand-in), virtual
//! hosted ones on AWS.

use noteapp_runtime::aws_http::{Partition, SignedError, Signer};

use crate::error::Error;

pub use crate::template::TEMPLATE_BODY_LIMIT as INLINE_TEMPLATE_LIMIT;

pub use crate::release::{bucket_name, diff_template_key as diff_key, template_key as release_key};

/// Where the bucket is reached: a custom endpoint (path style), or AWS's (virtual hosted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    /// The bucket's name (`noteapp-releases-<account>-<region>`).
    pub name: String,
    /// The region it is made in and signed for.
    pub region: String,
    /// `AWS_ENDPOINT_URL_S3` (or `AWS_ENDPOINT_URL`), when set.
    pub endpoint: Option<String>,
}

impl Bucket {
    /// The releases bucket of `account` in `region`, at `endpoint` (the command's
    /// `AWS_ENDPOINT_URL_S3`, if any) or AWS's.
    pub fn releases(account: &str, region: &str, endpoint: Option<String>) -> Self {
        Self {
            name: bucket_name(account, region),
            region: region.to_owned(),
            endpoint,
        }
    }

    /// The URL of `key` (or of the bucket, for an empty key).
    pub fn url(&self, key: &str) -> String {
        match &self.endpoint {
            Some(endpoint) => format!("{endpoint}/{}/{key}", self.name),
            None => {
                let suffix = Partition::of(&self.region).dns_suffix;
                format!("https://{}.s3.{}.{suffix}/{key}", self.name, self.region)
            }
        }
    }
}

/// Makes the bucket unless it exists: created in its region, public access blocked, encrypted at
/// rest, TLS only. Idempotent; refuses a bucket of that name someone else owns.
pub async fn ensure_bucket(
    http: &reqwest::Client,
    signer: &Signer,
    bucket: &Bucket,
) -> Result<bool, Error> {
    let name = &bucket.name;
    match send(
        http,
        signer,
        http::Method::HEAD,
        &bucket.url(""),
        bytes::Bytes::new(),
    )
    .await
    {
        Ok(_) => return Ok(false),
        Err(SignedError::Status { status: 404, .. }) => {}
        Err(SignedError::Status { status: 403, .. }) => {
            return Err(Error::Aws {
                action: format!("failed to use the releases bucket {name}"),
                reason: "it exists and belongs to someone else, or this role may not read it \
                         (s3:ListBucket)"
                    .into(),
            });
        }
        Err(e) => return Err(s3_error(format!("failed to look for bucket {name}"), e)),
    }
    let location = if bucket.region == "us-east-1" {
        String::new()
    } else {
        format!(
            "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
             <LocationConstraint>{}</LocationConstraint></CreateBucketConfiguration>",
            bucket.region
        )
    };
    send(
        http,
        signer,
        http::Method::PUT,
        &bucket.url(""),
        location.into(),
    )
    .await
    .map_err(|e| s3_error(format!("failed to create bucket {name}"), e))?;
    let block = "<PublicAccessBlockConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
                 <BlockPublicAcls>true</BlockPublicAcls><IgnorePublicAcls>true</IgnorePublicAcls>\
                 <BlockPublicPolicy>true</BlockPublicPolicy><RestrictPublicBuckets>true\
                 </RestrictPublicBuckets></PublicAccessBlockConfiguration>";
    let encryption = "<ServerSideEncryptionConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
                      <Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm>\
                      </ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>";
    let partition = Partition::of(&bucket.region).name;
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "TlsOnly",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [
                format!("arn:{partition}:s3:::{name}"),
                format!("arn:{partition}:s3:::{name}/*"),
            ],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }],
    })
    .to_string();
    for (query, body, what) in [
        (
            "?publicAccessBlock",
            block.to_owned(),
            "block public access to",
        ),
        (
            "?encryption",
            encryption.to_owned(),
            "turn on the encryption of",
        ),
        ("?policy", policy, "set the TLS-only policy of"),
    ] {
        let url = format!("{}{query}", bucket.url(""));
        send(http, signer, http::Method::PUT, &url, body.into())
            .await
            .map_err(|e| s3_error(format!("failed to {what} bucket {name}"), e))?;
    }
    Ok(true)
}

/// Stores `body` under `key`.
pub async fn put(
    http: &reqwest::Client,
    signer: &Signer,
    bucket: &Bucket,
    key: &str,
    body: &str,
) -> Result<(), Error> {
    send(
        http,
        signer,
        http::Method::PUT,
        &bucket.url(key),
        body.to_owned().into(),
    )
    .await
    .map(|_| ())
    .map_err(|e| s3_error(format!("failed to store s3://{}/{key}", bucket.name), e))
}

/// The object under `key`, or `None` when there is none.
pub async fn get(
    http: &reqwest::Client,
    signer: &Signer,
    bucket: &Bucket,
    key: &str,
) -> Result<Option<String>, Error> {
    match send(
        http,
        signer,
        http::Method::GET,
        &bucket.url(key),
        bytes::Bytes::new(),
    )
    .await
    {
        Ok(body) => Ok(Some(String::from_utf8_lossy(&body).into_owned())),
        Err(SignedError::Status { status: 404, .. }) => Ok(None),
        Err(e) => Err(s3_error(
            format!("failed to read s3://{}/{key}", bucket.name),
            e,
        )),
    }
}

/// Deletes the object under `key` (nothing there is not an error).
pub async fn delete(
    http: &reqwest::Client,
    signer: &Signer,
    bucket: &Bucket,
    key: &str,
) -> Result<(), Error> {
    send(
        http,
        signer,
        http::Method::DELETE,
        &bucket.url(key),
        bytes::Bytes::new(),
    )
    .await
    .map(|_| ())
    .map_err(|e| s3_error(format!("failed to delete s3://{}/{key}", bucket.name), e))
}

async fn send(
    http: &reqwest::Client,
    signer: &Signer,
    method: http::Method,
    url: &str,
    body: bytes::Bytes,
) -> Result<bytes::Bytes, SignedError> {
    let request = http::Request::builder()
        .method(method)
        .uri(url)
        .body(body)
        .map_err(|e| SignedError::Signing(e.to_string()))?;
    signer.send(http, "s3", request).await.map(|(_, body)| body)
}

fn s3_error(action: String, e: SignedError) -> Error {
    Error::Aws {
        action,
        reason: e.to_string(),
    }
}
