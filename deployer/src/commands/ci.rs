//! `noteapp ci bootstrap ENV --github OWNER/REPO [--branch B | --environment NAME] [--dry-run]`:
//! CI sign-in without long-lived keys (`flow::ci`), the role's ARN printed; `--dry-run` prints
//! the template and calls nothing.

use crate::aws::ecr;
use crate::commands::args::StackArgs;
use crate::error::Error;
use crate::flow::ci::bootstrap_environment;
use crate::output;
use crate::policy::Scope;
use crate::policy::ci as identity;
use crate::progress::Progress;
use crate::template::ci::{self, PROVIDER_PARAMETER, Subject};

/// `noteapp ci COMMAND`: how CI signs in to AWS.
#[derive(Debug, clap::Args)]
pub struct CiArgs {
    /// What to do (`bootstrap`, today the only one).
    #[command(subcommand)]
    pub command: CiCommand,
}

/// The subcommands of `noteapp ci`.
#[derive(Debug, clap::Subcommand)]
pub enum CiCommand {
    /// Create or update the CI sign-in stack of ENV (GitHub OIDC and a deploy role); print the role ARN.
    Bootstrap(BootstrapArgs),
}

/// `ci bootstrap ENV --github OWNER/REPO [--branch B | --environment NAME] [--dry-run]`.
#[derive(Debug, clap::Args)]
pub struct BootstrapArgs {
    /// The environment the role deploys, and how long to wait for the CI stack's operation.
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

/// Runs `noteapp ci`.
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
    if args.dry_run {
        eprintln!(
            "dry run: nothing is changed; a bootstrap deploys this template as stack {} with \
             {PROVIDER_PARAMETER}=create, or the ARN of the account's provider if it has one",
            identity::stack_name(&config.stack_name)
        );
        return output::write_stdout(&ci::template(&scope, &args.github, &subject));
    }
    let progress = Progress::stderr();
    let report = async {
        let clients = loaded.connect(&progress).await?;
        let (github, waits) = (&args.github, args.stack.waits());
        bootstrap_environment(&clients, config, &scope, github, &subject, waits, &progress).await
    }
    .await;
    progress.clear();
    let report = report?;
    output::emit(&report, args.json)?;
    report.deploy.check()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branch_and_environment_are_exclusive_and_main_is_the_default() {
        use clap::Parser;
        let parse = |args: &[&str]| {
            crate::cli::Cli::try_parse_from(
                ["noteapp", "ci", "bootstrap", "staging", "--github", "o/r"]
                    .iter()
                    .chain(args),
            )
        };
        let subject = |args: &[&str]| match parse(args).unwrap().command {
            crate::cli::Command::Ci(CiArgs {
                command: CiCommand::Bootstrap(b),
            }) => b.subject(),
            _ => unreachable!(),
        };
        assert_eq!(subject(&[]), Subject::Branch("main".into()));
        assert_eq!(
            subject(&["--branch", "release"]),
            Subject::Branch("release".into())
        );
        assert_eq!(
            subject(&["--environment", "production"]),
            Subject::Environment("production".into())
        );
        assert!(parse(&["--branch", "main", "--environment", "production"]).is_err());
    }
}
