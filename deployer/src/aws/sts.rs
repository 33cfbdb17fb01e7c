//! STS: which account the caller's credentials belong to, checked against the environment file
//! before anything in that account is touched.

use crate::aws::{aws_error, credentials};
use crate::error::Error;

/// Who the credentials in use belong to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The account ID (12 digits), checked against the environment file's.
    pub account: String,
    /// The caller's ARN (a user, an assumed role's session).
    pub arn: String,
}

/// The identity of the credentials in use (STS GetCallerIdentity).
pub async fn caller(client: &aws_sdk_sts::Client) -> Result<Caller, Error> {
    let action = "failed to identify the AWS credentials in use";
    let identity = match client.get_caller_identity().send().await {
        Ok(identity) => identity,
        Err(e) => {
            // The first call of every command: where missing credentials show, with the region.
            if let Some(cause) = credentials::credentials_cause(&e) {
                let region = client.config().region().map(|r| r.to_string());
                return Err(credentials::explain(
                    cause,
                    &credentials::profile_in_use(),
                    region.as_deref(),
                ));
            }
            return Err(aws_error(action, &e));
        }
    };
    let account = identity.account().ok_or_else(|| Error::Aws {
        action: action.into(),
        reason: "GetCallerIdentity returned no account".into(),
    })?;
    Ok(Caller {
        account: account.to_owned(),
        arn: identity.arn().unwrap_or_default().to_owned(),
    })
}

/// The account id of the credentials in use.
pub async fn caller_account(client: &aws_sdk_sts::Client) -> Result<String, Error> {
    Ok(caller(client).await?.account)
}

/// Refuses unless the credentials belong to the account the environment file names.
pub async fn ensure_account(
    client: &aws_sdk_sts::Client,
    environment: &str,
    expected: &str,
) -> Result<(), Error> {
    check_account(&caller_account(client).await?, environment, expected)
}

/// The refusal of credentials for `actual` where `environment` lives in `expected`.
pub fn check_account(actual: &str, environment: &str, expected: &str) -> Result<(), Error> {
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
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    use super::*;
    use crate::aws::replay;

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
