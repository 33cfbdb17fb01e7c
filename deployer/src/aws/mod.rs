//! The AWS side of the stack commands: thin calls to CloudFormation and STS, their error
//! predicates, and bounded polling.
//!
//! Each call is a small async function taking a concrete SDK client and wrapping any failure where
//! it is made (`failed to create change set for stack X: <reason>`), so the commands read as the
//! steps they take. Clients come from the SDK's standard credential chain with the region of the
//! environment file; `AWS_ENDPOINT_URL` is honoured by `aws-config` itself. Polling is an own loop
//! with an injectable interval and maximum (the SDK's waiters sleep at least 30 s a poll, which
//! makes replay tests crawl).

pub(crate) mod change_set;
pub(crate) mod changes;
pub(crate) mod ecr;
#[cfg(test)]
pub(crate) mod replay;
pub(crate) mod stack;
pub(crate) mod sts;
pub(crate) mod wait;

use std::time::Duration;

use aws_sdk_cloudformation::error::{ProvideErrorMetadata, SdkError};

use crate::error::Error;

/// The SDK clients one stack command uses, built once from the environment's region.
#[derive(Clone, Debug)]
pub(crate) struct Clients {
    pub(crate) cloudformation: aws_sdk_cloudformation::Client,
    pub(crate) sts: aws_sdk_sts::Client,
}

impl Clients {
    /// Clients for `region` with the standard credential chain and endpoint overrides.
    pub(crate) async fn load(region: &str) -> Self {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(region.to_owned()))
            .load()
            .await;
        Self {
            cloudformation: aws_sdk_cloudformation::Client::new(&config),
            sts: aws_sdk_sts::Client::new(&config),
        }
    }
}

/// How often to ask, and for how long, before telling the person what to do instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Polling {
    pub(crate) interval: Duration,
    pub(crate) max_wait: Duration,
}

/// The polling used by each kind of wait in a stack command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PollSettings {
    /// Waiting for CloudFormation to compute a change set (seconds in practice).
    pub(crate) change_set: Polling,
    /// Waiting for a stack operation: ours, or one already running when we start.
    pub(crate) operation: Polling,
}

impl PollSettings {
    /// Every poll `interval` apart; change sets within 10 minutes, operations within 2 hours.
    pub(crate) fn every(interval: Duration) -> Self {
        Self {
            change_set: Polling {
                interval,
                max_wait: Duration::from_secs(10 * 60),
            },
            operation: Polling {
                interval,
                max_wait: Duration::from_secs(2 * 60 * 60),
            },
        }
    }
}

impl Default for PollSettings {
    fn default() -> Self {
        Self::every(Duration::from_secs(2))
    }
}

/// An AWS error wrapped with what was being done: "`action`: <the service's message>".
pub(crate) fn aws_error<E, R>(action: impl Into<String>, err: &SdkError<E, R>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    Error::Aws {
        action: action.into(),
        reason: reason(err),
    }
}

/// The service's own words for an error ("message (Code)"), or the transport failure with its
/// causes ("dispatch failure: io error: …: Connection refused (os error 111)").
pub(crate) fn reason<E, R>(err: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match (err.code(), err.message()) {
        (Some(code), Some(message)) => format!("{message} ({code})"),
        (Some(code), None) => code.to_owned(),
        _ => {
            let mut text = err.to_string();
            let mut source = std::error::Error::source(err);
            while let Some(cause) = source {
                text.push_str(": ");
                text.push_str(&cause.to_string());
                source = cause.source();
            }
            text
        }
    }
}

/// CloudFormation's answer for a stack name it does not know (DescribeStacks, DescribeStackEvents).
pub(crate) fn is_stack_missing(code: Option<&str>, message: Option<&str>) -> bool {
    code == Some("ValidationError") && message.is_some_and(|m| m.contains("does not exist"))
}

/// A FAILED change set whose reason is only that nothing would change.
pub(crate) fn is_no_changes(reason: Option<&str>) -> bool {
    reason.is_some_and(|r| {
        r.contains("didn't contain changes") || r.contains("No updates are to be performed")
    })
}

/// CloudFormation's answer for a change set that is already gone.
pub(crate) fn is_change_set_missing(code: Option<&str>) -> bool {
    code == Some("ChangeSetNotFound") || code == Some("ChangeSetNotFoundException")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_stack_is_recognised_by_code_and_message() {
        let message = "Stack with id noteapp-staging does not exist";
        assert!(is_stack_missing(Some("ValidationError"), Some(message)));
        assert!(!is_stack_missing(
            Some("ValidationError"),
            Some("Template format error")
        ));
        assert!(!is_stack_missing(Some("AccessDenied"), Some(message)));
    }

    #[test]
    fn both_wordings_of_no_changes_are_recognised() {
        let cfn = "The submitted information didn't contain changes. Submit different information to create a change set.";
        assert!(is_no_changes(Some(cfn)));
        assert!(is_no_changes(Some("No updates are to be performed.")));
        assert!(!is_no_changes(Some(
            "Template error: unresolved resource dependencies [Foo]"
        )));
        assert!(!is_no_changes(None));
    }
}
