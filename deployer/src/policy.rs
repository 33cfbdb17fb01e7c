//! The least-privilege IAM policy a deploy of one environment needs (`noteapp render ENV
//! --deploy-policy`), and a checker that holds every AWS call the CLI makes against it.
//!
//! CloudFormation runs with the caller's credentials (no service role), so the policy grants
//! what the CLI calls itself — CloudFormation on this stack, ECR on this repository, the
//! DynamoDB, API Gateway and SQS reads of the deploy and `status` — and what CloudFormation's
//! resource handlers call to create, update, import and delete this stack's resources. Every
//! resource is scoped to this stack's names (`<stack>-*`: CloudFormation names the roles,
//! tables, queue and rule it creates after the stack), this repository, this region and this
//! account; `*` only where IAM has no resource to name (ECR's login token, listing tables and
//! log groups, log deliveries, a drift detection's status).
//!
//! [`Checker`] is an SDK interceptor: every request a client sends is mapped to its IAM action
//! and resource and refused unless a statement allows it (conditions are not evaluated). The
//! replay and moto tests run every flow with it, so a call the policy does not cover fails them.

use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use noteapp_runtime::aws_http::Partition;
use serde_json::{Value, json};

/// What the policy is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub region: String,
    pub account: String,
    pub stack: String,
    pub repository: String,
}

impl Scope {
    fn partition(&self) -> &'static str {
        Partition::of(&self.region).name
    }

    /// `arn:<partition>:<service>:<region>:<account>:<rest>`.
    fn arn(&self, service: &str, rest: &str) -> String {
        format!(
            "arn:{}:{service}:{}:{}:{rest}",
            self.partition(),
            self.region,
            self.account
        )
    }
}

/// What keeping a role up to date takes: the stack's roles and the CI deploy role alike.
const ROLE_UPKEEP: [&str; 9] = [
    "iam:CreateRole",
    "iam:DeleteRole",
    "iam:GetRole",
    "iam:UpdateRole",
    "iam:UpdateAssumeRolePolicy",
    "iam:PutRolePolicy",
    "iam:GetRolePolicy",
    "iam:DeleteRolePolicy",
    "iam:ListRolePolicies",
];

fn statement(sid: &str, actions: &[&str], resources: Vec<String>) -> Value {
    json!({"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources})
}

/// The policy document for `scope`.
pub fn deploy_policy(scope: &Scope) -> Value {
    let p = scope.partition();
    let (region, account, stack) = (&scope.region, &scope.account, &scope.stack);
    let stack_arn = scope.arn("cloudformation", &format!("stack/{stack}/*"));
    let roles = format!("arn:{p}:iam::{account}:role/{stack}-*");
    let functions = scope.arn("lambda", &format!("function:{stack}-*"));
    let tables = scope.arn("dynamodb", &format!("table/{stack}-*"));
    let log_groups = [
        format!("/aws/lambda/{stack}-*"),
        format!("/aws/apigateway/{stack}-*"),
    ];
    let apigateway = |path: &str| format!("arn:{p}:apigateway:{region}::{path}");
    let mut pass_role = statement("PassTheStacksRoles", &["iam:PassRole"], vec![roles.clone()]);
    pass_role["Condition"] = json!({
        "StringEquals": {"iam:PassedToService": ["lambda.amazonaws.com", "apigateway.amazonaws.com"]}
    });
    json!({
        "Version": "2012-10-17",
        "Statement": [
            statement(
                "TheStack",
                &[
                    "cloudformation:DescribeStacks",
                    "cloudformation:DescribeStackEvents",
                    "cloudformation:DescribeStackResources",
                    "cloudformation:ListStackResources",
                    "cloudformation:CreateChangeSet",
                    "cloudformation:DescribeChangeSet",
                    "cloudformation:ExecuteChangeSet",
                    "cloudformation:DeleteChangeSet",
                    "cloudformation:ListChangeSets",
                    "cloudformation:DeleteStack",
                    "cloudformation:GetTemplate",
                    "cloudformation:GetStackPolicy",
                    "cloudformation:SetStackPolicy",
                    "cloudformation:UpdateTerminationProtection",
                    "cloudformation:TagResource",
                    "cloudformation:UntagResource",
                    "cloudformation:DetectStackDrift",
                    "cloudformation:DetectStackResourceDrift",
                    "cloudformation:DescribeStackResourceDrifts",
                    "cloudformation:ContinueUpdateRollback",
                    "cloudformation:RollbackStack",
                ],
                vec![stack_arn],
            ),
            statement(
                "DriftDetectionStatus",
                &["cloudformation:DescribeStackDriftDetectionStatus"],
                vec!["*".into()],
            ),
            statement("EcrSignIn", &["ecr:GetAuthorizationToken"], vec!["*".into()]),
            statement(
                "TheRepository",
                &[
                    "ecr:DescribeRepositories",
                    "ecr:CreateRepository",
                    "ecr:PutImageScanningConfiguration",
                    "ecr:GetLifecyclePolicy",
                    "ecr:PutLifecyclePolicy",
                    "ecr:GetRepositoryPolicy",
                    "ecr:SetRepositoryPolicy",
                    "ecr:DescribeImages",
                    "ecr:BatchGetImage",
                    "ecr:PutImage",
                    "ecr:BatchDeleteImage",
                    "ecr:BatchCheckLayerAvailability",
                    "ecr:InitiateLayerUpload",
                    "ecr:UploadLayerPart",
                    "ecr:CompleteLayerUpload",
                    "ecr:GetDownloadUrlForLayer",
                ],
                vec![scope.arn("ecr", &format!("repository/{}", scope.repository))],
            ),
            statement(
                "TheStacksRoles",
                &[
                    ROLE_UPKEEP.as_slice(),
                    &[
                    "iam:AttachRolePolicy",
                    "iam:DetachRolePolicy",
                    "iam:ListAttachedRolePolicies",
                    "iam:TagRole",
                    "iam:UntagRole",
                    "iam:ListRoleTags",
                    ],
                ]
                .concat(),
                vec![roles],
            ),
            pass_role,
            statement(
                "TheStacksFunctions",
                &[
                    "lambda:CreateFunction",
                    "lambda:DeleteFunction",
                    "lambda:GetFunction",
                    "lambda:GetFunctionConfiguration",
                    "lambda:UpdateFunctionCode",
                    "lambda:UpdateFunctionConfiguration",
                    "lambda:ListTags",
                    "lambda:TagResource",
                    "lambda:UntagResource",
                    "lambda:AddPermission",
                    "lambda:RemovePermission",
                    "lambda:GetPolicy",
                    "lambda:CreateFunctionUrlConfig",
                    "lambda:GetFunctionUrlConfig",
                    "lambda:UpdateFunctionUrlConfig",
                    "lambda:DeleteFunctionUrlConfig",
                    "lambda:PutFunctionEventInvokeConfig",
                    "lambda:GetFunctionEventInvokeConfig",
                    "lambda:UpdateFunctionEventInvokeConfig",
                    "lambda:DeleteFunctionEventInvokeConfig",
                    "lambda:PutFunctionConcurrency",
                    "lambda:DeleteFunctionConcurrency",
                    "lambda:GetRuntimeManagementConfig",
                    "lambda:PutRuntimeManagementConfig",
                    "lambda:GetFunctionCodeSigningConfig",
                    "lambda:GetFunctionRecursionConfig",
                    "lambda:PutFunctionRecursionConfig",
                ],
                vec![functions.clone(), format!("{functions}:*")],
            ),
            statement(
                "TheStacksTables",
                &[
                    "dynamodb:CreateTable",
                    "dynamodb:DeleteTable",
                    "dynamodb:DescribeTable",
                    "dynamodb:UpdateTable",
                    "dynamodb:DescribeTimeToLive",
                    "dynamodb:UpdateTimeToLive",
                    "dynamodb:DescribeContinuousBackups",
                    "dynamodb:UpdateContinuousBackups",
                    "dynamodb:DescribeContributorInsights",
                    "dynamodb:DescribeKinesisStreamingDestination",
                    "dynamodb:GetResourcePolicy",
                    "dynamodb:ListTagsOfResource",
                    "dynamodb:TagResource",
                    "dynamodb:UntagResource",
                ],
                vec![tables.clone(), format!("{tables}/index/*")],
            ),
            statement("FindKeptTables", &["dynamodb:ListTables"], vec!["*".into()]),
            statement(
                "TheStacksLogGroups",
                &[
                    "logs:CreateLogGroup",
                    "logs:DeleteLogGroup",
                    "logs:PutRetentionPolicy",
                    "logs:DeleteRetentionPolicy",
                    "logs:TagLogGroup",
                    "logs:UntagLogGroup",
                    "logs:ListTagsLogGroup",
                    "logs:TagResource",
                    "logs:UntagResource",
                    "logs:ListTagsForResource",
                    "logs:GetDataProtectionPolicy",
                    "logs:FilterLogEvents",
                    "logs:StartLiveTail",
                ],
                log_groups
                    .iter()
                    .flat_map(|g| {
                        let arn = scope.arn("logs", &format!("log-group:{g}"));
                        [arn.clone(), format!("{arn}:*")]
                    })
                    .collect(),
            ),
            statement(
                "LogGroupsAndAccessLogDeliveries",
                &[
                    "logs:DescribeLogGroups",
                    "logs:CreateLogDelivery",
                    "logs:GetLogDelivery",
                    "logs:UpdateLogDelivery",
                    "logs:DeleteLogDelivery",
                    "logs:ListLogDeliveries",
                    "logs:PutResourcePolicy",
                    "logs:DescribeResourcePolicies",
                ],
                vec!["*".into()],
            ),
            statement(
                "TheStacksApis",
                &[
                    "apigateway:GET",
                    "apigateway:POST",
                    "apigateway:PUT",
                    "apigateway:PATCH",
                    "apigateway:DELETE",
                ],
                vec![apigateway("/apis"), apigateway("/apis/*"), apigateway("/tags/*")],
            ),
            statement(
                "ApiGatewayLogRoleSetting",
                &["apigateway:GET", "apigateway:PATCH"],
                vec![apigateway("/account")],
            ),
            statement(
                "TheFailedBroadcastsQueue",
                &[
                    "sqs:CreateQueue",
                    "sqs:DeleteQueue",
                    "sqs:GetQueueUrl",
                    "sqs:GetQueueAttributes",
                    "sqs:SetQueueAttributes",
                    "sqs:ListQueueTags",
                    "sqs:TagQueue",
                    "sqs:UntagQueue",
                ],
                vec![scope.arn("sqs", &format!("{stack}-*"))],
            ),
            statement(
                "TheCleanupSchedule",
                &[
                    "events:PutRule",
                    "events:DeleteRule",
                    "events:DescribeRule",
                    "events:PutTargets",
                    "events:RemoveTargets",
                    "events:ListTargetsByRule",
                    "events:TagResource",
                    "events:UntagResource",
                    "events:ListTagsForResource",
                ],
                vec![scope.arn("events", &format!("rule/{stack}-*"))],
            ),
        ]
    })
}

/// What `noteapp ci bootstrap` needs (an administrator runs it, once): CloudFormation on the CI
/// stack alone, GitHub's OIDC provider, and the deploy role under its own path — nothing the
/// deploy policy itself grants, so a deploy role cannot reach its own sign-in.
pub fn bootstrap_policy(scope: &Scope) -> Value {
    let p = scope.partition();
    let account = &scope.account;
    let ci_stack = crate::template::ci::stack_name(&scope.stack);
    let role = format!(
        "arn:{p}:iam::{account}:role{}{}",
        crate::template::ci::ROLE_PATH,
        crate::template::ci::role_name(&scope.stack)
    );
    json!({
        "Version": "2012-10-17",
        "Statement": [
            statement(
                "TheCiStack",
                &[
                    "cloudformation:DescribeStacks",
                    "cloudformation:DescribeStackEvents",
                    "cloudformation:CreateChangeSet",
                    "cloudformation:DescribeChangeSet",
                    "cloudformation:ExecuteChangeSet",
                    "cloudformation:DeleteChangeSet",
                    "cloudformation:DeleteStack",
                    "cloudformation:GetStackPolicy",
                    "cloudformation:SetStackPolicy",
                ],
                vec![scope.arn("cloudformation", &format!("stack/{ci_stack}/*"))],
            ),
            statement(
                "FindTheProvider",
                &["iam:ListOpenIDConnectProviders"],
                vec!["*".into()],
            ),
            statement(
                "TheProvider",
                &[
                    "iam:CreateOpenIDConnectProvider",
                    "iam:GetOpenIDConnectProvider",
                    "iam:TagOpenIDConnectProvider",
                    "iam:UpdateOpenIDConnectProviderThumbprint",
                ],
                vec![format!(
                    "arn:{p}:iam::{account}:oidc-provider/{}",
                    crate::template::ci::GITHUB_ISSUER
                )],
            ),
            statement(
                "TheDeployRole",
                &[
                    ROLE_UPKEEP.as_slice(),
                    &[
                    "iam:TagRole",
                    "iam:UntagRole",
                    ],
                ]
                .concat(),
                vec![role],
            ),
        ]
    })
}

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

fn strings(value: &Value) -> Vec<&str> {
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
    fn the_policy_names_this_stack_repository_region_and_account_and_little_else() {
        let policy = deploy_policy(&scope());
        let stack = "arn:aws:cloudformation:eu-west-1:123456789012:stack/noteapp-staging/4c1f";
        assert!(allows(&policy, "cloudformation:CreateChangeSet", stack));
        assert!(!allows(
            &policy,
            "cloudformation:CreateChangeSet",
            "arn:aws:cloudformation:eu-west-1:123456789012:stack/other/4c1f"
        ));
        assert!(!allows(
            &policy,
            "cloudformation:CreateChangeSet",
            "arn:aws:cloudformation:us-east-1:123456789012:stack/noteapp-staging/4c1f"
        ));
        assert!(allows(
            &policy,
            "ecr:PutImage",
            "arn:aws:ecr:eu-west-1:123456789012:repository/noteapp"
        ));
        assert!(!allows(
            &policy,
            "ecr:PutImage",
            "arn:aws:ecr:eu-west-1:123456789012:repository/other"
        ));
        assert!(!allows(&policy, "iam:CreateUser", "*"));
        assert!(!allows(&policy, "dynamodb:Scan", "*"));
        // `*` only for what IAM cannot scope.
        let wide: Vec<String> = policy["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| strings(&s["Resource"]).contains(&"*"))
            .flat_map(|s| {
                strings(&s["Action"])
                    .into_iter()
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(
            wide,
            [
                "cloudformation:DescribeStackDriftDetectionStatus",
                "ecr:GetAuthorizationToken",
                "dynamodb:ListTables",
                "logs:DescribeLogGroups",
                "logs:CreateLogDelivery",
                "logs:GetLogDelivery",
                "logs:UpdateLogDelivery",
                "logs:DeleteLogDelivery",
                "logs:ListLogDeliveries",
                "logs:PutResourcePolicy",
                "logs:DescribeResourcePolicies",
            ]
        );
    }

    #[test]
    fn a_deploy_role_cannot_reach_its_own_sign_in() {
        let s = scope();
        let deploy = deploy_policy(&s);
        let role = "arn:aws:iam::123456789012:role/noteapp-ci/noteapp-staging-deploy";
        for action in [
            "iam:PutRolePolicy",
            "iam:UpdateAssumeRolePolicy",
            "iam:DeleteRole",
        ] {
            assert!(!allows(&deploy, action, role), "{action}");
        }
        let ci_stack = "arn:aws:cloudformation:eu-west-1:123456789012:stack/noteapp-staging-ci/1";
        assert!(!allows(
            &deploy,
            "cloudformation:ExecuteChangeSet",
            ci_stack
        ));
        let bootstrap = bootstrap_policy(&s);
        assert!(allows(&bootstrap, "iam:PutRolePolicy", role));
        assert!(allows(
            &bootstrap,
            "cloudformation:ExecuteChangeSet",
            ci_stack
        ));
        assert!(!allows(
            &bootstrap,
            "cloudformation:ExecuteChangeSet",
            "arn:aws:cloudformation:eu-west-1:123456789012:stack/noteapp-staging/1"
        ));
        assert!(!allows(
            &bootstrap,
            "iam:PutRolePolicy",
            "arn:aws:iam::123456789012:role/noteapp-staging-ApiRole"
        ));
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
