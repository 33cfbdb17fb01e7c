//! The CI identity: the names of the CI sign-in stack and of its deploy role, which the CI
//! template renders and the policies scope to, and what an administrator needs to set it up
//! ([`bootstrap_policy`]).

use serde_json::{Value, json};

use super::{ROLE_UPKEEP, Scope, statement};

/// GitHub Actions' token issuer.
pub const GITHUB_ISSUER: &str = "token.actions.githubusercontent.com";
/// The audience `aws-actions/configure-aws-credentials` asks for.
pub const AUDIENCE: &str = "sts.amazonaws.com";
/// The IAM path of the deploy role (outside the deploy policy's `role/<stack>-*`).
pub const ROLE_PATH: &str = "/noteapp-ci/";
/// The CI stack's name for the app's `stack`.
pub fn stack_name(stack: &str) -> String {
    format!("{stack}-ci")
}

/// The deploy role's name.
pub fn role_name(stack: &str) -> String {
    format!("{stack}-deploy")
}

/// The deploy role's ARN (what the stack's output says once it has run).
pub fn role_arn(region: &str, account: &str, stack: &str) -> String {
    let partition = noteapp_runtime::aws_http::Partition::of(region).name;
    format!(
        "arn:{partition}:iam::{account}:role{ROLE_PATH}{}",
        role_name(stack)
    )
}

/// What `noteapp ci bootstrap` needs (an administrator runs it, once): CloudFormation on the CI
/// stack alone, GitHub's OIDC provider, and the deploy role under its own path — nothing the
/// deploy policy itself grants, so a deploy role cannot reach its own sign-in.
pub fn bootstrap_policy(scope: &Scope) -> Value {
    let p = scope.partition();
    let account = &scope.account;
    let ci_stack = stack_name(&scope.stack);
    let role = format!(
        "arn:{p}:iam::{account}:role{}{}",
        ROLE_PATH,
        role_name(&scope.stack)
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
                    "iam:UntagOpenIDConnectProvider",
                    "iam:ListOpenIDConnectProviderTags",
                    "iam:AddClientIDToOpenIDConnectProvider",
                    "iam:RemoveClientIDFromOpenIDConnectProvider",
                    "iam:UpdateOpenIDConnectProviderThumbprint",
                ],
                vec![format!(
                    "arn:{p}:iam::{account}:oidc-provider/{}",
                    GITHUB_ISSUER
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
