//! The IAM policies noteapp ships: what a deploy of one environment needs (`noteapp render ENV
//! --deploy-policy`, [`deploy_policy`]), and what setting up CI's sign-in needs
//! ([`bootstrap_policy`]), with the names of the CI identity they share with the CI template.
//!
//! CloudFormation runs with the caller's credentials (no service role), so the deploy policy
//! grants what the CLI calls itself — CloudFormation on this stack, ECR on this repository, the
//! DynamoDB, API Gateway and SQS reads of the deploy and `status` — and what CloudFormation's
//! resource handlers call to create, update, import and delete this stack's resources. Every
//! resource is scoped to this stack's names (`<stack>-*`: CloudFormation names the roles,
//! tables, queue and rule it creates after the stack), this repository, this region and this
//! account; `*` only where IAM has no resource to name (ECR's login token, listing tables and
//! log groups, log deliveries, a drift detection's status).
//!
//! The tests hold every request the flows make to these policies, as IAM decides
//! (`noteapp_test_support::kit`).

use noteapp_runtime::aws_http::Partition;
use serde_json::{Value, json};

pub mod ci;
mod deploy;
#[cfg(test)]
mod handlers;
pub mod migrate;

pub use ci::bootstrap_policy;
pub use deploy::deploy_policy;

/// What the policy is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// The environment's region.
    pub region: String,
    /// The environment's account.
    pub account: String,
    /// The stack's name; the policy names the stack's resources as `<stack>-*`.
    pub stack: String,
    /// The ECR repository the deploys push to (`noteapp`).
    pub repository: String,
}

impl Scope {
    pub(crate) fn partition(&self) -> &'static str {
        Partition::of(&self.region).name
    }

    /// `arn:<partition>:<service>:<region>:<account>:<rest>`.
    pub(crate) fn arn(&self, service: &str, rest: &str) -> String {
        format!(
            "arn:{}:{service}:{}:{}:{rest}",
            self.partition(),
            self.region,
            self.account
        )
    }
}

/// What keeping a role up to date takes: the stack's roles and the CI deploy role alike.
pub(crate) const ROLE_UPKEEP: [&str; 13] = [
    "iam:CreateRole",
    "iam:DeleteRole",
    "iam:GetRole",
    "iam:UpdateRole",
    "iam:UpdateRoleDescription",
    "iam:AttachRolePolicy",
    "iam:DetachRolePolicy",
    "iam:ListAttachedRolePolicies",
    "iam:UpdateAssumeRolePolicy",
    "iam:PutRolePolicy",
    "iam:GetRolePolicy",
    "iam:DeleteRolePolicy",
    "iam:ListRolePolicies",
];

pub(crate) fn statement(sid: &str, actions: &[&str], resources: Vec<String>) -> Value {
    json!({"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources})
}

#[cfg(test)]
mod tests {
    use noteapp_test_support::iam::allows;

    use super::*;

    fn strings(value: &Value) -> Vec<&str> {
        match value {
            Value::String(s) => vec![s.as_str()],
            Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        }
    }

    fn scope() -> Scope {
        Scope {
            region: "eu-west-1".into(),
            account: "123456789012".into(),
            stack: "noteapp-staging".into(),
            repository: "noteapp".into(),
        }
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
                "lambda:GetAccountSettings",
                "dynamodb:ListTables",
                "logs:DescribeLogGroups",
                "logs:CreateLogDelivery",
                "logs:GetLogDelivery",
                "logs:UpdateLogDelivery",
                "logs:DeleteLogDelivery",
                "logs:ListLogDeliveries",
                "logs:PutResourcePolicy",
                "logs:DescribeResourcePolicies",
                "cloudwatch:DescribeAlarms",
            ]
        );
    }

    #[test]
    fn the_policy_covers_the_release_resources_of_this_stack_only() {
        let policy = deploy_policy(&scope());
        let arn =
            |service: &str, rest: &str| format!("arn:aws:{service}:eu-west-1:123456789012:{rest}");
        for (action, mine, other) in [
            (
                "lambda:PublishVersion",
                arn("lambda", "function:noteapp-staging-api"),
                arn("lambda", "function:other-api"),
            ),
            (
                "lambda:UpdateAlias",
                arn("lambda", "function:noteapp-staging-api:live"),
                arn("lambda", "function:other-api:live"),
            ),
            (
                "cloudwatch:PutCompositeAlarm",
                arn("cloudwatch", "alarm:noteapp-staging-release-health"),
                arn("cloudwatch", "alarm:other-release-health"),
            ),
            (
                "cloudwatch:PutMetricAlarm",
                arn("cloudwatch", "alarm:noteapp-staging-api-errors"),
                arn("cloudwatch", "alarm:noteapp-production-api-errors"),
            ),
            (
                "sns:CreateTopic",
                arn("sns", "noteapp-staging-operators"),
                arn("sns", "other-operators"),
            ),
            (
                "sns:Unsubscribe",
                arn(
                    "sns",
                    "noteapp-staging-operators:3f0c2d1e-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
                ),
                arn(
                    "sns",
                    "other-operators:3f0c2d1e-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
                ),
            ),
            (
                "events:PutRule",
                arn("events", "rule/noteapp-staging-GuardSchedule-1AB2C3D4"),
                arn("events", "rule/other-GuardSchedule-1AB2C3D4"),
            ),
        ] {
            assert!(allows(&policy, action, &mine), "{action} {mine}");
            assert!(!allows(&policy, action, &other), "{action} {other}");
        }
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
}
