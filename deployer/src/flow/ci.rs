//! The CI bootstrap flow (`noteapp ci bootstrap ENV --github OWNER/REPO`): CI sign-in without
//! long-lived keys. It creates or updates the stack `<stack>-ci`
//! (`template::ci`): GitHub Actions' OIDC provider, or the account's own where it has one
//! (`iam:ListOpenIDConnectProviders`), and a role holding the environment's deploy policy that
//! only the named branch's or GitHub Environment's jobs of the repository may assume. It goes
//! through the deploy's own change-set flow (`flow::deploy`: account check, an
//! operation in progress waited out, the change set shown, executed, followed, Ctrl-C safe) and
//! prints the role's ARN, the `role-to-assume` of `.github/workflows/deploy.yml`. `--dry-run`
//! prints the template and calls nothing.

use std::fmt;

use serde::Serialize;

use super::deploy::{DeployOptions, DeployReport, DeployResult, deploy_until};
use crate::aws::{Clients, Waits, iam, stack};
use crate::config::EnvironmentConfig;
use crate::error::Error;
use crate::interrupt::ctrl_c;
use crate::plan::Plan;
use crate::policy::Scope;
use crate::policy::ci as identity;
use crate::progress::{Progress, Prompt};
use crate::template::ci::{self, PROVIDER_PARAMETER, ROLE_OUTPUT, Subject};

/// Creates or updates the CI sign-in stack of `config`'s environment for the deploy policy of
/// `scope`, trusting `subject` of `repository` (`OWNER/REPO`): the provider decided, the plan
/// rendered and deployed through the deploy's change-set flow.
pub async fn bootstrap_environment(
    clients: &Clients,
    config: &EnvironmentConfig,
    scope: &Scope,
    repository: &str,
    subject: &Subject,
    waits: Waits,
    progress: &Progress,
) -> Result<BootstrapReport, Error> {
    let body = ci::template(scope, repository, subject);
    let provider = decide_provider(clients, &identity::stack_name(&config.stack_name)).await?;
    let plan = ci::plan(config, body, &provider);
    let options = DeployOptions {
        yes: true,
        allow_replacement: false,
        new_tables: false,
        waits,
    };
    bootstrap(clients, &plan, &options, repository, subject, progress).await
}

/// The provider the stack should use: the one it made, else the account's, else a new one.
async fn decide_provider(clients: &Clients, ci_stack: &str) -> Result<String, Error> {
    let current = stack::describe_stack(&clients.cloudformation, ci_stack).await?;
    let stack_has = current
        .as_ref()
        .and_then(|s| s.parameters.get(PROVIDER_PARAMETER))
        .map(String::as_str);
    let account = match &clients.signer {
        Some(signer) => {
            let (url, signing) = iam::endpoint(clients.custom_endpoint("IAM"), signer.region());
            iam::github_provider(clients.https()?, signer, (&url, signing)).await?
        }
        None => None,
    };
    Ok(ci::provider_choice(stack_has, account.as_deref()))
}

/// Deploys the CI stack's plan through the deploy's change-set flow; the role's ARN with it.
pub async fn bootstrap(
    clients: &Clients,
    plan: &Plan,
    options: &DeployOptions,
    repository: &str,
    subject: &Subject,
    progress: &Progress,
) -> Result<BootstrapReport, Error> {
    let deploy = deploy_until(ctrl_c(), clients, plan, options, &Prompt::Closed, progress).await?;
    Ok(BootstrapReport {
        role_arn: deploy.outputs.get(ROLE_OUTPUT).cloned().unwrap_or_else(|| {
            let app_stack = plan.stack_name.trim_end_matches("-ci");
            identity::role_arn(&plan.region, &plan.account_id, app_stack)
        }),
        subject: ci::subject_claim(repository, subject),
        provider: plan
            .parameter(PROVIDER_PARAMETER)
            .unwrap_or("create")
            .to_owned(),
        deploy,
    })
}

/// What `noteapp ci bootstrap` did.
#[derive(Debug, Clone, Serialize)]
pub struct BootstrapReport {
    /// The role GitHub Actions assumes (`role-to-assume`).
    pub role_arn: String,
    /// The `sub` claim the role trusts.
    pub subject: String,
    /// `create` (the stack's own provider) or the ARN of the account's.
    pub provider: String,
    /// The CI stack's deploy, as `noteapp deploy` reports it.
    pub deploy: DeployReport,
}

impl fmt::Display for BootstrapReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.deploy)?;
        if self.deploy.result == DeployResult::Failed {
            return Ok(());
        }
        writeln!(f, "deploy role: {}", self.role_arn)?;
        writeln!(
            f,
            "  trusted: {} (audience sts.amazonaws.com)",
            self.subject
        )?;
        writeln!(
            f,
            "  use it as role-to-assume of aws-actions/configure-aws-credentials"
        )
    }
}

#[cfg(test)]
mod tests;
