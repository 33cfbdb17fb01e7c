//! STS: which account the caller's credentials belong to, checked against the environment file
//! before anything in that account is touched.

use crate::aws::aws_error;
use crate::error::Error;

/// The account id of the credentials in use (STS GetCallerIdentity).
pub(crate) async fn caller_account(client: &aws_sdk_sts::Client) -> Result<String, Error> {
    let identity = client
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| aws_error("failed to identify the AWS credentials in use", &e))?;
    identity
        .account()
        .map(str::to_owned)
        .ok_or_else(|| Error::Aws {
            action: "failed to identify the AWS credentials in use".into(),
            reason: "GetCallerIdentity returned no account".into(),
        })
}

/// Refuses unless the credentials belong to the account the environment file names.
pub(crate) async fn ensure_account(
    client: &aws_sdk_sts::Client,
    environment: &str,
    expected: &str,
) -> Result<(), Error> {
    let actual = caller_account(client).await?;
    if actual == expected {
        return Ok(());
    }
    Err(Error::Usage(format!(
        "the AWS credentials in use belong to account {actual}, but environments/{environment}.yaml \
         says {environment} lives in account {expected}; use credentials for account {expected} \
         (for example AWS_PROFILE) or fix account_id in the environment file"
    )))
}

#[cfg(test)]
mod tests {
    use aws_sdk_sts::config::{BehaviorVersion, Credentials, Region};
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    use super::*;
    use crate::aws::replay;

    fn client_for(url: &str) -> aws_sdk_sts::Client {
        let config = aws_sdk_sts::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("eu-west-1"))
            .endpoint_url(url)
            .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
            .build();
        aws_sdk_sts::Client::from_conf(config)
    }

    #[tokio::test]
    async fn caller_account_is_read_from_a_real_sts_endpoint() {
        let Some(moto) = crate::test_peers::moto("caller_account_is_read_from_a_real_sts_endpoint")
        else {
            return;
        };
        let client = client_for(&moto.endpoint);
        assert_eq!(caller_account(&client).await.unwrap(), "123456789012");
        ensure_account(&client, "staging", "123456789012")
            .await
            .unwrap();
        let err = ensure_account(&client, "staging", "210987654321")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("account 123456789012"), "{err}");
        assert!(err.to_string().contains("account 210987654321"), "{err}");
    }

    #[tokio::test]
    async fn a_wrong_account_is_refused_naming_both_accounts() {
        let identity = mock!(aws_sdk_sts::Client::get_caller_identity)
            .then_http_response(|| replay::caller_identity("999999999999"));
        let client = mock_client!(aws_sdk_sts, RuleMode::Sequential, [&identity], |c| c
            .retry_config(aws_sdk_sts::config::retry::RetryConfig::disabled()));
        let err = ensure_account(&client, "production", "123456789012")
            .await
            .unwrap_err();
        assert_eq!(err.exit_code(), crate::EXIT_USAGE);
        let message = err.to_string();
        assert!(message.contains("account 999999999999"), "{message}");
        assert!(
            message.contains("lives in account 123456789012"),
            "{message}"
        );
    }
}
