//! The deploy policy's checker: an SDK interceptor that maps every request a client sends to
//! its IAM action and resource and refuses what the policy checked does not allow.

use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use serde_json::Value;

use super::{Scope, deploy_policy};

/// `pattern` (IAM's `*` and `?` wildcards) matches `text`.
fn matches(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi].eq_ignore_ascii_case(&t[ti]) && p[pi] != '*') {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

pub(crate) fn strings(value: &Value) -> Vec<&str> {
    match value {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// Whether `policy` allows `action` on `resource` (Allow statements only; conditions aside).
pub fn allows(policy: &Value, action: &str, resource: &str) -> bool {
    policy["Statement"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter(|s| s["Effect"] == "Allow")
        .any(|s| {
            // Actions match case-insensitively; resources are matched case-insensitively here
            // too, which only ever errs towards allowing.
            strings(&s["Action"]).iter().any(|a| matches(a, action))
                && strings(&s["Resource"]).iter().any(|r| matches(r, resource))
        })
}

/// One call as IAM sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub action: String,
    pub resource: String,
}

/// Maps the request an SDK client is about to send to its IAM action and resource; `None` for
/// calls no permission governs (STS GetCallerIdentity).
fn call_of(scope: &Scope, service: &str, operation: &str, body: &[u8]) -> Option<Call> {
    let text = String::from_utf8_lossy(body);
    // Query protocol (CloudFormation, STS): a form; JSON protocols (ECR, DynamoDB): an object.
    let form: Vec<(String, String)> = text
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_owned(), percent_decode(v)))
        .collect();
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let json_field = |name: &str| strings(&json[name]).first().map(|s| (*s).to_owned());
    let (prefix, resource) = match service {
        "STS" if operation == "GetCallerIdentity" => return None,
        "CloudFormation" => {
            let resource = match field("StackName") {
                Some(arn) if arn.starts_with("arn:") => arn,
                Some(name) => scope.arn("cloudformation", &format!("stack/{name}/new")),
                None => "*".to_owned(),
            };
            ("cloudformation", resource)
        }
        "ECR" => {
            let resource =
                match json_field("repositoryName").or_else(|| json_field("repositoryNames")) {
                    Some(name) => scope.arn("ecr", &format!("repository/{name}")),
                    None => "*".to_owned(),
                };
            ("ecr", resource)
        }
        "CloudWatch Logs" => {
            // FilterLogEvents names a group; StartLiveTail lists group ARNs (the first stands
            // for them all here: the command sends only this stack's).
            let resource = match (
                json_field("logGroupName"),
                json_field("logGroupIdentifiers"),
            ) {
                (Some(name), _) => scope.arn("logs", &format!("log-group:{name}:*")),
                (None, Some(arn)) => arn,
                (None, None) => "*".to_owned(),
            };
            ("logs", resource)
        }
        "DynamoDB" => {
            let resource = match (json_field("TableName"), json_field("ResourceArn")) {
                (Some(name), _) => scope.arn("dynamodb", &format!("table/{name}")),
                (None, Some(arn)) => arn,
                (None, None) => "*".to_owned(),
            };
            ("dynamodb", resource)
        }
        other => (other, "*".to_owned()),
    };
    Some(Call {
        action: format!("{prefix}:{operation}"),
        resource,
    })
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => out.push(b),
                    Err(_) => out.extend_from_slice(&bytes[i..i + 3]),
                }
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// An interceptor that refuses every call `policy` does not allow, and keeps the calls it saw.
#[derive(Debug, Clone)]
pub struct Checker {
    scope: Scope,
    policy: Value,
    seen: Arc<Mutex<Vec<Call>>>,
    strict: bool,
}

impl Checker {
    /// Checks against the deploy policy of `scope`: a call it does not allow fails.
    pub fn new(scope: Scope) -> Self {
        let policy = deploy_policy(&scope);
        Self {
            scope,
            policy,
            seen: Arc::default(),
            strict: false,
        }
    }

    /// A strict checker against `policy` instead of the deploy policy (`ci bootstrap`'s).
    pub fn strict_with(scope: Scope, policy: Value) -> Self {
        Self {
            policy,
            ..Self::strict(scope)
        }
    }

    /// As [`Checker::new`], but a call the policy does not allow panics, so that a test fails
    /// even where the flow would carry on past a failed call.
    pub fn strict(scope: Scope) -> Self {
        Self {
            strict: true,
            ..Self::new(scope)
        }
    }

    /// Every call checked so far.
    pub fn calls(&self) -> Vec<Call> {
        self.seen.lock().expect("calls").clone()
    }
}

impl Intercept for Checker {
    fn name(&self) -> &'static str {
        "DeployPolicyChecker"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(metadata) = cfg.load::<Metadata>() else {
            return Ok(());
        };
        let body = context.request().body().bytes().unwrap_or_default();
        let Some(call) = call_of(&self.scope, metadata.service(), metadata.name(), body) else {
            return Ok(());
        };
        self.seen.lock().expect("calls").push(call.clone());
        if allows(&self.policy, &call.action, &call.resource) {
            return Ok(());
        }
        let refusal = format!(
            "the policy checked does not allow {} on {}",
            call.action, call.resource
        );
        if self.strict {
            panic!("{refusal}");
        }
        Err(refusal.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> Scope {
        Scope {
            region: "eu-west-1".into(),
            account: "123456789012".into(),
            stack: "noteapp-staging".into(),
            repository: "noteapp".into(),
        }
    }

    #[test]
    fn wildcards_match_as_iam_matches_them() {
        assert!(matches(
            "arn:aws:iam::1:role/noteapp-staging-*",
            "arn:aws:iam::1:role/noteapp-staging-ApiRole-X"
        ));
        assert!(!matches(
            "arn:aws:iam::1:role/noteapp-staging-*",
            "arn:aws:iam::1:role/noteapp-production-ApiRole"
        ));
        assert!(matches("ecr:Get*", "ecr:GetAuthorizationToken"));
        assert!(matches("*", "anything"));
        assert!(matches("a?c", "abc") && !matches("a?c", "abbc"));
    }

    #[test]
    fn requests_map_to_their_action_and_resource() {
        let s = scope();
        let call = call_of(
            &s,
            "CloudFormation",
            "DescribeStacks",
            b"Action=DescribeStacks&Version=2010-05-15&StackName=noteapp-staging",
        )
        .unwrap();
        assert_eq!(call.action, "cloudformation:DescribeStacks");
        assert_eq!(
            call.resource,
            "arn:aws:cloudformation:eu-west-1:123456789012:stack/noteapp-staging/new"
        );
        let call = call_of(
            &s,
            "CloudFormation",
            "DescribeStackEvents",
            b"Action=DescribeStackEvents&StackName=arn%3Aaws%3Acloudformation%3Aeu-west-1%3A123456789012%3Astack%2Fnoteapp-staging%2F4c1f",
        )
        .unwrap();
        assert_eq!(
            call.resource,
            "arn:aws:cloudformation:eu-west-1:123456789012:stack/noteapp-staging/4c1f"
        );
        let call = call_of(
            &s,
            "ECR",
            "DescribeRepositories",
            br#"{"repositoryNames":["noteapp"]}"#,
        )
        .unwrap();
        assert_eq!(
            call.resource,
            "arn:aws:ecr:eu-west-1:123456789012:repository/noteapp"
        );
        let call = call_of(&s, "DynamoDB", "ListTables", b"{}").unwrap();
        assert_eq!(
            (call.action.as_str(), call.resource.as_str()),
            ("dynamodb:ListTables", "*")
        );
        assert!(call_of(&s, "STS", "GetCallerIdentity", b"Action=GetCallerIdentity").is_none());
        let call = call_of(
            &s,
            "CloudWatch Logs",
            "FilterLogEvents",
            br#"{"logGroupName":"/aws/lambda/noteapp-staging-api","startTime":1}"#,
        )
        .unwrap();
        assert_eq!(
            call.resource,
            "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/noteapp-staging-api:*"
        );
        assert!(allows(&deploy_policy(&s), &call.action, &call.resource));
        let tail = br#"{"logGroupIdentifiers":["arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/noteapp-staging-ws-default"]}"#;
        let call = call_of(&s, "CloudWatch Logs", "StartLiveTail", tail).unwrap();
        assert_eq!(call.action, "logs:StartLiveTail");
        assert!(allows(&deploy_policy(&s), &call.action, &call.resource));
        let other = br#"{"logGroupName":"/aws/lambda/other-api"}"#;
        let call = call_of(&s, "CloudWatch Logs", "FilterLogEvents", other).unwrap();
        assert!(!allows(&deploy_policy(&s), &call.action, &call.resource));
    }
}
