//! The CI sign-in stack (`<stack>-ci`, `noteapp ci bootstrap`): GitHub Actions' OIDC provider and
//! a deploy role that one repository's branch or GitHub Environment may assume without keys.
//! Pure: the template and the plan are rendered here, deployed by the same change-set flow as
//! the app's stack.
//!
//! The role trusts `sts:AssumeRoleWithWebIdentity` from the provider under `StringEquals` on
//! the token's `aud` (`sts.amazonaws.com`) and `sub` (`repo:OWNER/REPO:ref:refs/heads/BRANCH`, or
//! `repo:OWNER/REPO:environment:NAME` for a job that names a GitHub Environment: GitHub puts the
//! environment in `sub` instead of the branch then). Its one inline policy is the deploy policy
//! of the environment (`policy::deploy_policy`). The account has one provider per URL, so the
//! `GitHubOidcProvider` parameter is `create` (the stack makes it) or the ARN of the account's
//! own. The role lives under the path `/noteapp-ci/`, outside the `role/<stack>-*` names the
//! deploy policy may change, so it cannot rewrite its own permissions.

use serde_json::{Value, json};

use crate::config::EnvironmentConfig;
use crate::plan::Plan;
use crate::policy::ci::{AUDIENCE, GITHUB_ISSUER, ROLE_PATH, role_name, stack_name};
use crate::policy::{Scope, deploy_policy};

/// The parameter choosing between a provider the stack makes and the account's own.
pub const PROVIDER_PARAMETER: &str = "GitHubOidcProvider";
/// The output holding the deploy role's ARN.
pub const ROLE_OUTPUT: &str = "DeployRoleArn";
/// The thumbprints IAM has published for GitHub's issuer (IAM no longer checks them for it, but
/// the resource requires the list on older accounts).
const THUMBPRINTS: [&str; 2] = [
    "6938fd4d98bab03faadb97b34396831e3780aea1",
    "1c58a3a8518e8759bf075b76b750d4f2df264fcd",
];

/// Which workflow runs may assume the role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// Jobs on pushes to (or runs on) this branch, with no GitHub Environment.
    Branch(String),
    /// Jobs that name this GitHub Environment (its protection rules, e.g. approval, apply).
    Environment(String),
}

/// A repository `OWNER/REPO` as GitHub spells it; an error naming the flag otherwise.
pub fn check_repository(repository: &str) -> Result<(), String> {
    let valid = |part: &str| {
        !part.is_empty()
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    match repository.split_once('/') {
        Some((owner, repo)) if valid(owner) && valid(repo) => Ok(()),
        _ => Err(format!(
            "--github {repository:?}: expected OWNER/REPO, e.g. octo-org/noteapp"
        )),
    }
}

/// The `sub` claim GitHub gives the runs `subject` names, in `repository`.
pub fn subject_claim(repository: &str, subject: &Subject) -> String {
    match subject {
        Subject::Branch(branch) => format!("repo:{repository}:ref:refs/heads/{branch}"),
        Subject::Environment(name) => format!("repo:{repository}:environment:{name}"),
    }
}

/// The trust policy of the deploy role.
pub fn trust_policy(provider: Value, repository: &str, subject: &Subject) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": provider},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {
                format!("{GITHUB_ISSUER}:aud"): AUDIENCE,
                format!("{GITHUB_ISSUER}:sub"): subject_claim(repository, subject),
            }},
        }],
    })
}

/// The CI stack's template (JSON) for the deploy policy of `scope`.
pub fn template(scope: &Scope, repository: &str, subject: &Subject) -> String {
    let provider = json!({"Fn::If": [
        "CreateProvider",
        {"Ref": "GitHubActionsProvider"},
        {"Ref": PROVIDER_PARAMETER},
    ]});
    let template = json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": format!(
            "noteapp CI sign-in for stack {}: GitHub Actions OIDC and the deploy role of {repository}",
            scope.stack
        ),
        "Parameters": {
            PROVIDER_PARAMETER: {
                "Type": "String",
                "Default": "create",
                "AllowedPattern": "^(create|arn:[-a-z]+:iam::[0-9]{12}:oidc-provider/token\\.actions\\.githubusercontent\\.com)$",
                "Description": "create, or the ARN of the account's GitHub Actions OIDC provider",
            },
        },
        "Conditions": {
            "CreateProvider": {"Fn::Equals": [{"Ref": PROVIDER_PARAMETER}, "create"]},
        },
        "Resources": {
            "GitHubActionsProvider": {
                "Type": "AWS::IAM::OIDCProvider",
                "Condition": "CreateProvider",
                "DeletionPolicy": "Retain",
                "UpdateReplacePolicy": "Retain",
                "Properties": {
                    "Url": format!("https://{GITHUB_ISSUER}"),
                    "ClientIdList": [AUDIENCE],
                    "ThumbprintList": THUMBPRINTS,
                },
            },
            "DeployRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "RoleName": role_name(&scope.stack),
                    "Path": ROLE_PATH,
                    "Description": format!("noteapp deploys of {} from GitHub Actions", scope.stack),
                    "MaxSessionDuration": 7200,
                    "AssumeRolePolicyDocument": trust_policy(provider, repository, subject),
                    "Policies": [{
                        "PolicyName": "noteapp-deploy",
                        "PolicyDocument": deploy_policy(scope),
                    }],
                },
            },
        },
        "Outputs": {
            ROLE_OUTPUT: {
                "Description": "The role GitHub Actions assumes (role-to-assume)",
                "Value": {"Fn::GetAtt": ["DeployRole", "Arn"]},
            },
        },
    });
    serde_json::to_string_pretty(&template).expect("a JSON value") + "\n"
}

/// What a bootstrap of `config` sends: the CI stack with `provider` (`create` or an ARN).
pub fn plan(config: &EnvironmentConfig, template_body: String, provider: &str) -> Plan {
    Plan {
        environment: config.environment,
        local_only: config.is_local_only(),
        stack_name: stack_name(&config.stack_name),
        region: config.region.clone(),
        account_id: config.account_id.clone(),
        template_body,
        template_url: None,
        parameters: vec![(PROVIDER_PARAMETER.to_owned(), provider.to_owned())],
        tags: super::tags(config),
        confirm: false,
        stateful_resources: Vec::new(),
        protected: false,
    }
}

/// `create` when the stack made the provider (it keeps it), else the account's provider when it
/// has one, else `create`.
pub fn provider_choice(stack_has: Option<&str>, account_provider: Option<&str>) -> String {
    match (stack_has, account_provider) {
        (Some("create"), _) | (_, None) => "create".to_owned(),
        (_, Some(arn)) => arn.to_owned(),
    }
}

#[cfg(test)]
mod tests;
