//! The AWS side of the commands: thin calls to CloudFormation, CloudWatch Logs, DynamoDB, ECR,
//! IAM, Lambda (account settings; the `live` aliases read and moved, versions checked, with
//! CloudWatch's alarms), S3, SQS and STS,
//! their error predicates, and bounded polling. Flows of several steps live in `flow/`, above
//! this layer.
//!
//! Each call is a small async function taking a concrete SDK client and wrapping any failure where
//! it is made (`failed to create change set for stack X: <reason>`), so the commands read as the
//! steps they take. Clients come from the SDK's standard credential chain with the region of the
//! environment file; `AWS_ENDPOINT_URL` is honoured by `aws-config` itself. WaitLimit is an own loop
//! with an injectable interval and maximum (the SDK's waiters sleep at least 30 s a poll, which
//! makes replay tests crawl).

pub mod aliases;
pub mod apigateway;
pub mod credentials;
pub mod drift;
pub mod ecr;
pub mod iam;
pub mod lambda;
pub mod live;
pub mod logs;
pub mod protection;
#[cfg(feature = "test-util")]
pub mod replay;
pub mod resource_changes;
pub mod s3;
pub mod sqs;
pub mod stack;
pub mod sts;
pub mod tables;
pub mod wait;

use std::time::Duration;

use aws_sdk_cloudformation::error::{ProvideErrorMetadata, SdkError};

use crate::error::Error;

/// The SDK clients one command uses, built once from one SDK configuration (the environment's
/// region, the standard credential chain), with the caller's identity asked of STS at most
/// once per command.
#[derive(Debug)]
pub struct Clients {
    /// The stack: change sets, events, outputs, drift.
    pub cloudformation: aws_sdk_cloudformation::Client,
    /// Who the credentials belong to (`GetCallerIdentity`), asked once.
    pub sts: aws_sdk_sts::Client,
    /// The image repository, its policies and the registry login.
    pub ecr: aws_sdk_ecr::Client,
    /// The stack's tables: kept ones found again (`tables`), `noteapp data` and `noteapp migrate`.
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// The functions' log groups (`noteapp logs`).
    pub logs: aws_sdk_cloudwatchlogs::Client,
    /// SigV4 for the calls made without an SDK crate (SQS, API Gateway settings, logs).
    pub signer: Option<noteapp_runtime::aws_http::Signer>,
    /// `AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_<SERVICE>` as the command found them, for the
    /// calls made without an SDK crate (a test names its stand-in here instead).
    endpoint_vars: std::collections::BTreeMap<String, String>,
    caller: tokio::sync::OnceCell<sts::Caller>,
    https: std::sync::OnceLock<Result<reqwest::Client, String>>,
}

/// The longest an HTTPS call made without an SDK crate may take (a check sets its own, shorter).
const HTTPS_TIMEOUT: Duration = Duration::from_secs(30);

#[cfg(feature = "test-util")]
tokio::task_local! {
    /// The clients a test gives the command it runs ([`Clients::given`]).
    static GIVEN: std::cell::RefCell<Option<Clients>>;
}

impl Clients {
    /// Runs `work` (a command's `run()`) with `clients` as what its first [`Clients::load`]
    /// returns, so that a test drives a command from its command line against replayed answers
    /// and stand-ins, every request under the test kit. Only with `test-util`: the `noteapp`
    /// binary has no way to take its clients from anywhere but the environment.
    #[cfg(feature = "test-util")]
    pub async fn given<F: std::future::Future>(clients: Clients, work: F) -> F::Output {
        GIVEN
            .scope(std::cell::RefCell::new(Some(clients)), work)
            .await
    }

    /// Clients for `region` with the standard credential chain and endpoint overrides.
    pub async fn load(region: &str) -> Self {
        #[cfg(feature = "test-util")]
        if let Some(given) = GIVEN.try_with(|given| given.take()).ok().flatten() {
            return given;
        }
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(noteapp_runtime::aws_http::sdk_http_client(
                noteapp_runtime::aws_http::Roots::NativeAndBundled,
            ))
            .region(aws_config::Region::new(region.to_owned()))
            .load()
            .await;
        Self::from_sdk(&config)
    }

    /// Clients sharing `config`.
    pub fn from_sdk(config: &aws_config::SdkConfig) -> Self {
        let mut clients = Self::new(
            aws_sdk_cloudformation::Client::new(config),
            aws_sdk_sts::Client::new(config),
            aws_sdk_ecr::Client::new(config),
        )
        .with_dynamodb(aws_sdk_dynamodb::Client::new(config))
        .with_logs(aws_sdk_cloudwatchlogs::Client::new(config));
        clients.signer = noteapp_runtime::aws_http::Signer::from_sdk(config);
        clients.endpoint_vars = std::env::vars()
            .filter(|(name, value)| {
                name.starts_with("AWS_ENDPOINT_URL") && !value.trim().is_empty()
            })
            .collect();
        clients
    }

    /// Clients from their parts (tests pass replay clients); DynamoDB and CloudWatch Logs unset
    /// until [`Clients::with_dynamodb`] and [`Clients::with_logs`].
    pub fn new(
        cloudformation: aws_sdk_cloudformation::Client,
        sts: aws_sdk_sts::Client,
        ecr: aws_sdk_ecr::Client,
    ) -> Self {
        let dynamodb = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::Config::builder()
                .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
                .build(),
        );
        let logs = aws_sdk_cloudwatchlogs::Client::from_conf(
            aws_sdk_cloudwatchlogs::Config::builder()
                .behavior_version(aws_sdk_cloudwatchlogs::config::BehaviorVersion::latest())
                .build(),
        );
        Self {
            cloudformation,
            sts,
            ecr,
            dynamodb,
            logs,
            signer: None,
            endpoint_vars: Default::default(),
            caller: tokio::sync::OnceCell::new(),
            https: std::sync::OnceLock::new(),
        }
    }

    /// These clients with `dynamodb` for DynamoDB.
    pub fn with_dynamodb(mut self, dynamodb: aws_sdk_dynamodb::Client) -> Self {
        self.dynamodb = dynamodb;
        self
    }

    /// These clients with `logs` for CloudWatch Logs.
    pub fn with_logs(mut self, logs: aws_sdk_cloudwatchlogs::Client) -> Self {
        self.logs = logs;
        self
    }

    /// These clients signing the calls made without an SDK crate with `signer`, and sending
    /// them all to `endpoint` (a stand-in deciding each by the service it is signed for).
    pub fn with_signed_endpoint(
        mut self,
        signer: noteapp_runtime::aws_http::Signer,
        endpoint: &str,
    ) -> Self {
        self.signer = Some(signer);
        self.endpoint_vars = [("AWS_ENDPOINT_URL".to_owned(), endpoint.to_owned())].into();
        self
    }

    /// The endpoint of the service `env_id` (`SQS`, `API_GATEWAY`, `S3`, …; host prefix
    /// `host_prefix`) in `region`: its own variable, `AWS_ENDPOINT_URL`, or AWS's.
    pub fn endpoint(&self, env_id: &str, host_prefix: &str, region: &str) -> String {
        noteapp_runtime::aws_http::service_endpoint(
            |name| self.endpoint_vars.get(name).cloned(),
            env_id,
            host_prefix,
            region,
        )
    }

    /// The endpoint the command was given for service `env_id`, if any (`None`: AWS's).
    pub fn custom_endpoint(&self, env_id: &str) -> Option<String> {
        self.endpoint_vars
            .get(&format!("AWS_ENDPOINT_URL_{env_id}"))
            .or_else(|| self.endpoint_vars.get("AWS_ENDPOINT_URL"))
            .map(|url| url.trim_end_matches('/').to_owned())
    }

    /// The command's one HTTPS client for the calls made without an SDK crate (API Gateway's
    /// account settings, IAM's providers, SQS, the smoke check), built on first use.
    pub fn https(&self) -> Result<&reqwest::Client, Error> {
        self.https
            .get_or_init(|| {
                noteapp_runtime::aws_http::https_client(HTTPS_TIMEOUT).map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|reason| Error::Aws {
                action: "cannot build an HTTPS client".into(),
                reason: reason.clone(),
            })
    }

    /// Who the credentials belong to (STS GetCallerIdentity, asked once per command).
    pub async fn caller(&self) -> Result<&sts::Caller, Error> {
        self.caller.get_or_try_init(|| sts::caller(&self.sts)).await
    }

    /// Refuses unless the credentials belong to the account the environment file names.
    pub async fn ensure_account(&self, environment: &str, expected: &str) -> Result<(), Error> {
        sts::check_account(&self.caller().await?.account, environment, expected)
    }
}

/// Sends `request` to `service` signed by `signer` and reads the answer as JSON; a failure to
/// send, a non-2xx answer or a body that is not JSON is an error saying `action` failed.
pub async fn signed_json(
    http: &reqwest::Client,
    signer: &noteapp_runtime::aws_http::Signer,
    service: &str,
    request: http::Request<bytes::Bytes>,
    action: impl Fn() -> String,
) -> Result<serde_json::Value, Error> {
    let (_, body) = signer
        .send(http, service, request)
        .await
        .map_err(|e| Error::Aws {
            action: action(),
            reason: e.to_string(),
        })?;
    serde_json::from_slice(&body).map_err(|e| Error::Aws {
        action: action(),
        reason: format!("the answer is not JSON: {e}"),
    })
}

/// A client for the DynamoDB API at `endpoint` on loopback (`--dynamodb-endpoint`: moto, a
/// local DynamoDB), with fixed local credentials.
pub fn local_dynamodb(endpoint: &str) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&noteapp_runtime::aws_http::loopback_config(
        endpoint,
        "us-east-1",
    ))
}

/// How often to ask, and for how long, before telling the person what to do instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitLimit {
    /// The pause between two polls.
    pub interval: Duration,
    /// How long to poll in all before giving up with a message saying what to do.
    pub max_wait: Duration,
}

/// The polling used by each kind of wait in a stack command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Waits {
    /// Waiting for CloudFormation to compute a change set (seconds in practice).
    pub change_set: WaitLimit,
    /// Waiting for a stack operation: ours, or one already running when we start.
    pub operation: WaitLimit,
}

impl Waits {
    /// Every poll `interval` apart; change sets within 10 minutes, operations within 2 hours.
    pub fn every(interval: Duration) -> Self {
        Self {
            change_set: WaitLimit {
                interval,
                max_wait: Duration::from_secs(10 * 60),
            },
            operation: WaitLimit {
                interval,
                max_wait: Duration::from_secs(2 * 60 * 60),
            },
        }
    }
}

impl Default for Waits {
    fn default() -> Self {
        Self::every(Duration::from_secs(2))
    }
}

/// An AWS error wrapped with what was being done: "`action`: <the service's message>".
pub fn aws_error<E, R>(action: impl Into<String>, err: &SdkError<E, R>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    if let Some(cause) = credentials::credentials_cause(err) {
        return credentials::explain(cause, &credentials::profile_in_use(), None);
    }
    Error::Aws {
        action: action.into(),
        reason: reason(err),
    }
}

/// The service's own words for an error ("message (Code)"), or the transport failure with its
/// causes ("dispatch failure: io error: …: Connection refused (os error 111)").
pub fn reason<E, R>(err: &SdkError<E, R>) -> String
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
pub fn is_stack_missing(code: Option<&str>, message: Option<&str>) -> bool {
    code == Some("ValidationError") && message.is_some_and(|m| m.contains("does not exist"))
}

/// A FAILED change set whose reason is only that nothing would change.
pub fn is_no_changes(reason: Option<&str>) -> bool {
    reason.is_some_and(|r| {
        r.contains("didn't contain changes") || r.contains("No updates are to be performed")
    })
}

/// CloudFormation's answer for a change set that is already gone.
pub fn is_change_set_missing(code: Option<&str>) -> bool {
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
