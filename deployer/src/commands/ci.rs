//! `noteapp ci bootstrap ENV --github OWNER/REPO [--branch B | --environment NAME] [--dry-run]`:
//! CI sign-in without long-lived keys. It creates or updates the stack `<stack>-ci`
//! (`template::ci`): GitHub Actions' OIDC provider, or the account's own where it has one
//! (`iam:ListOpenIDConnectProviders`), and a role holding the environment's deploy policy that
//! only the named branch's or GitHub Environment's jobs of the repository may assume. It goes
//! through the deploy's own change-set flow (`commands::deploy::deploy`: account check, an
//! operation in progress waited out, the change set shown, executed, followed, Ctrl-C safe) and
//! prints the role's ARN, the `role-to-assume` of `.github/workflows/deploy.yml`. `--dry-run`
//! prints the template and calls nothing.

use std::io::Write;

use crate::aws::{Clients, ecr, iam, stack};
use crate::commands::deploy::{DeployOptions, ctrl_c, deploy_until};
use crate::commands::env::StackArgs;
use crate::error::Error;
use crate::output::{self, BootstrapReport};
use crate::plan::Plan;
use crate::policy::Scope;
use crate::progress::{Progress, Prompt};
use crate::template::ci::{self, PROVIDER_PARAMETER, ROLE_OUTPUT, Subject};

#[derive(Debug, clap::Args)]
pub struct CiArgs {
    #[command(subcommand)]
    pub command: CiCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum CiCommand {
    /// Create or update the CI sign-in stack of ENV (GitHub OIDC and a deploy role); print the role ARN.
    Bootstrap(BootstrapArgs),
}

#[derive(Debug, clap::Args)]
pub struct BootstrapArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    /// The GitHub repository whose workflows may deploy ENV.
    #[arg(long, value_name = "OWNER/REPO")]
    pub github: String,
    /// Trust jobs running on this branch without a GitHub Environment (default: main).
    #[arg(long, value_name = "BRANCH", conflicts_with = "environment")]
    pub branch: Option<String>,
    /// Trust jobs that name this GitHub Environment (use it for approvals: GitHub then puts the
    /// environment, not the branch, in the token).
    #[arg(long, value_name = "NAME")]
    pub environment: Option<String>,
    /// The ECR repository the deploy policy names.
    #[arg(long, default_value = ecr::DEFAULT_REPOSITORY)]
    pub repository: String,
    /// Print the template that would be deployed, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

impl BootstrapArgs {
    /// Which runs the role trusts.
    pub fn subject(&self) -> Subject {
        match (&self.environment, &self.branch) {
            (Some(name), _) => Subject::Environment(name.clone()),
            (None, Some(branch)) => Subject::Branch(branch.clone()),
            (None, None) => Subject::Branch("main".to_owned()),
        }
    }
}

pub async fn run(args: CiArgs) -> Result<(), Error> {
    match args.command {
        CiCommand::Bootstrap(args) => run_bootstrap(args).await,
    }
}

async fn run_bootstrap(args: BootstrapArgs) -> Result<(), Error> {
    let loaded = args.stack.env.load_deployable()?;
    ci::check_repository(&args.github).map_err(Error::Usage)?;
    let config = &loaded.config;
    let scope = Scope {
        region: config.region.clone(),
        account: config.account_id.clone(),
        stack: config.stack_name.clone(),
        repository: args.repository.clone(),
    };
    let subject = args.subject();
    let body = ci::template(&scope, &args.github, &subject);
    if args.dry_run {
        eprintln!(
            "dry run: nothing is changed; a bootstrap deploys this template as stack {} with \
             {PROVIDER_PARAMETER}=create, or the ARN of the account's provider if it has one",
            ci::stack_name(&config.stack_name)
        );
        return match std::io::stdout().lock().write_all(body.as_bytes()) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            other => Ok(other?),
        };
    }
    let progress = Progress::stderr();
    let prepared = async {
        let clients = loaded.connect(&progress).await?;
        let provider = decide_provider(&clients, &ci::stack_name(&config.stack_name)).await?;
        Ok::<_, Error>((clients, provider))
    }
    .await;
    let (clients, provider) = match prepared {
        Ok(done) => done,
        Err(e) => {
            progress.clear();
            return Err(e);
        }
    };
    let plan = ci::plan(config, body, &provider);
    let options = DeployOptions {
        yes: true,
        allow_replacement: false,
        new_tables: false,
        waits: args.stack.waits(),
    };
    let report = bootstrap(&clients, &plan, &options, &args.github, &subject, &progress).await;
    progress.clear();
    let report = report?;
    output::emit(&report, args.json)?;
    report.deploy.check()
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
            let http = noteapp_runtime::aws_http::https_client(std::time::Duration::from_secs(30))
                .map_err(|e| Error::Usage(format!("cannot build an HTTPS client: {e}")))?;
            iam::github_provider(&http, signer).await?
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
            ci::role_arn(&plan.region, &plan.account_id, app_stack)
        }),
        subject: ci::subject_claim(repository, subject),
        provider: plan
            .parameter(PROVIDER_PARAMETER)
            .unwrap_or("create")
            .to_owned(),
        deploy,
    })
}

#[cfg(test)]
mod tests;
