//! SQS, one call: how many failed broadcasts wait in the stack's on-failure queue. Made as a
//! signed JSON request (`AmazonSQS.GetQueueAttributes`) rather than through an SDK crate: one
//! call does not pay for a crate's compile time.

use noteapp_runtime::aws_http::{Signer, service_endpoint};

use crate::error::Error;

/// `ApproximateNumberOfMessages` of the queue at `queue_url`.
pub async fn queue_depth(
    http: &reqwest::Client,
    signer: &Signer,
    queue_url: &str,
) -> Result<u64, Error> {
    let endpoint = service_endpoint(
        |name| std::env::var(name).ok(),
        "SQS",
        "sqs",
        signer.region(),
    );
    let body = serde_json::json!({
        "QueueUrl": queue_url,
        "AttributeNames": ["ApproximateNumberOfMessages"],
    })
    .to_string();
    let request = http::Request::post(format!("{endpoint}/"))
        .header("content-type", "application/x-amz-json-1.0")
        .header("x-amz-target", "AmazonSQS.GetQueueAttributes")
        .body(bytes::Bytes::from(body))
        .map_err(|e| Error::Usage(e.to_string()))?;
    let action = || format!("failed to read the failed-broadcast queue {queue_url}");
    let answer = crate::aws::signed_json(http, signer, "sqs", request, &action).await?;
    answer
        .pointer("/Attributes/ApproximateNumberOfMessages")
        .and_then(serde_json::Value::as_str)
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| Error::Aws {
            action: action(),
            reason: "the answer holds no ApproximateNumberOfMessages".into(),
        })
}
