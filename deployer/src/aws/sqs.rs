//! SQS, one call: how many failed broadcasts wait in the stack's on-failure queue. Made as a
//! signed JSON request (`AmazonSQS.GetQueueAttributes`) rather than through an SDK crate: one
//! call does not pay for a crate's compile time.

use noteapp_runtime::aws_http::Signer;

use crate::error::Error;

/// `ApproximateNumberOfMessages` of the queue at `queue_url`, asked of SQS at `endpoint`.
pub async fn queue_depth(
    http: &reqwest::Client,
    signer: &Signer,
    endpoint: &str,
    queue_url: &str,
) -> Result<u64, Error> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::replay;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_queue_depth_is_a_signed_call_the_deployer_may_make() {
        let sqs = replay::sqs_queue(3).await;
        let http =
            noteapp_runtime::aws_http::https_client(std::time::Duration::from_secs(5)).unwrap();
        let queue = "https://sqs.eu-west-1.amazonaws.com/123456789012/noteapp-staging-BroadcastFailuresQueue-X";
        let signer = replay::signer(replay::DEPLOYER);
        assert_eq!(
            queue_depth(&http, &signer, &sqs.url, queue).await.unwrap(),
            3
        );
        // Another stack's queue is not the deployer's to read.
        let other = "https://sqs.eu-west-1.amazonaws.com/123456789012/other-queue";
        let refused = queue_depth(&http, &signer, &sqs.url, other)
            .await
            .unwrap_err();
        assert!(
            refused.to_string().contains("sqs:GetQueueAttributes"),
            "{refused}"
        );
    }
}
