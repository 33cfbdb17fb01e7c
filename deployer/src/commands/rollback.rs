//! `noteapp rollback ENV [--to N] [--full] [--continue]`: an earlier release brought back — its
//! versions behind the live aliases in seconds when its template and parameters are the
//! stack's, else deployed again — or a stuck stack recovered (`flow::rollback`), the report
//! printed once.

use crate::aws::ecr;
use crate::commands::args::{FinishArgs, StackArgs};
use crate::error::Error;
use crate::flow::deploy::DeployOptions;
use crate::flow::rollback::{recover, roll_back};
use crate::output;
use crate::progress::{Progress, Prompt};

/// `noteapp rollback ENV [--to N] [--full] [--continue]` and its flags.
#[derive(Debug, clap::Args)]
pub struct RollbackArgs {
    /// The environment rolled back, and how long to wait for its stack.
    #[command(flatten)]
    pub stack: StackArgs,
    /// Roll back to release N (`noteapp history` lists them); default: the one before the live.
    #[arg(long, value_name = "N", conflicts_with = "resume")]
    pub to: Option<u64>,
    /// Deploy the release again through CloudFormation (template, parameters and image), even
    /// where moving the live aliases back would do: the stack then says that release too.
    #[arg(long, conflicts_with = "resume")]
    pub full: bool,
    /// Recover a stack stuck in UPDATE_ROLLBACK_FAILED (finish its rollback) or UPDATE_FAILED
    /// (roll it back) instead.
    #[arg(long = "continue", id = "resume")]
    pub resume: bool,
    /// Execute without asking, also where the environment asks for confirmation (CI).
    #[arg(long)]
    pub yes: bool,
    /// Let the change set replace or remove a table.
    #[arg(long)]
    pub allow_replacement: bool,
    /// The ECR repository holding the releases' images.
    #[arg(long, env = "NOTEAPP_REPOSITORY", value_name = "NAME", default_value = ecr::DEFAULT_REPOSITORY)]
    pub repository: String,
    /// `--json` and the smoke check once the release is back.
    #[command(flatten)]
    pub finish: FinishArgs,
}

/// Runs `noteapp rollback`.
pub async fn run(args: RollbackArgs) -> Result<(), Error> {
    let loaded = args.stack.env.load_deployable()?;
    let progress = Progress::stderr();
    let config = &loaded.config;
    let options = DeployOptions {
        yes: args.yes,
        allow_replacement: args.allow_replacement,
        new_tables: false,
        waits: args.stack.waits(),
    };
    let json = args.finish.json;
    if args.resume {
        let report = async {
            let clients = loaded.connect(&progress).await?;
            recover(&clients, config, &options, &Prompt::stdin(), &progress).await
        }
        .await;
        progress.clear();
        let report = report?;
        output::emit(&report, json)?;
        return report.check();
    }
    let report = async {
        let clients = loaded.connect(&progress).await?;
        let finish = args.finish.finish();
        let (to, repository) = (args.to, &args.repository);
        let full = args.full;
        roll_back(
            &clients, config, to, full, repository, &options, &finish, &progress,
        )
        .await
    }
    .await;
    progress.clear();
    let report = report?;
    output::emit(&report, json)?;
    report.check()
}
