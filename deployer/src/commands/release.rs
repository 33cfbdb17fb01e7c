//! `noteapp release finish|undo ENV`: a canary left half-way (its CLI interrupted, the guard
//! having returned it, or a deploy that could not bring the stack back) is finished — the
//! release takes all the traffic through the canary's second update and is recorded — or
//! undone — every alias back on its last good version at once, then the stack brought back to
//! the last good release through CloudFormation (`flow::canary`). `noteapp status ENV` says
//! which applies.

use crate::aws::ecr;
use crate::commands::args::{FinishArgs, StackArgs};
use crate::error::Error;
use crate::flow::canary::{finish_pending, undo_pending};
use crate::flow::deploy::DeployOptions;
use crate::output;
use crate::progress::Progress;

/// `noteapp release finish|undo ENV`.
#[derive(Debug, clap::Args)]
pub struct ReleaseArgs {
    /// What to do with the canary left half-way: finish it or undo it.
    #[command(subcommand)]
    pub action: ReleaseAction,
}

/// `release finish` or `release undo`.
#[derive(Debug, clap::Subcommand)]
pub enum ReleaseAction {
    /// Give the canary's release all the traffic now (refused while release health is in
    /// ALARM), and record it.
    Finish(ActionArgs),
    /// Return every alias to its last good version now, and bring the stack back to the last
    /// good release.
    Undo(ActionArgs),
}

/// `ENV [--yes] [--repository NAME]` and how the action ends: the flags `release finish` and
/// `release undo` share.
#[derive(Debug, clap::Args)]
pub struct ActionArgs {
    /// The environment whose canary is finished or undone, and how long to wait for its stack.
    #[command(flatten)]
    pub stack: StackArgs,
    /// Execute without asking, also where the environment asks for confirmation (CI).
    #[arg(long)]
    pub yes: bool,
    /// The ECR repository holding the releases' images.
    #[arg(long, env = "NOTEAPP_REPOSITORY", value_name = "NAME", default_value = ecr::DEFAULT_REPOSITORY)]
    pub repository: String,
    /// `--json` and the smoke check once the stack's update ran.
    #[command(flatten)]
    pub finish: FinishArgs,
}

/// Runs `noteapp release`.
pub async fn run(args: ReleaseArgs) -> Result<(), Error> {
    let (finishing, args) = match args.action {
        ReleaseAction::Finish(args) => (true, args),
        ReleaseAction::Undo(args) => (false, args),
    };
    let loaded = args.stack.env.load_deployable()?;
    let progress = Progress::stderr();
    let config = &loaded.config;
    let options = DeployOptions {
        yes: args.yes,
        allow_replacement: false,
        new_tables: false,
        waits: args.stack.waits(),
    };
    let finish = args.finish.finish();
    let json = args.finish.json;
    let clients = loaded.connect(&progress).await;
    if finishing {
        let report = async {
            let repository = &args.repository;
            finish_pending(&clients?, config, repository, &options, &finish, &progress).await
        }
        .await;
        progress.clear();
        let report = report?;
        output::emit(&report, json)?;
        report.check()
    } else {
        let report =
            async { undo_pending(&clients?, config, &options, &finish, &progress).await }.await;
        progress.clear();
        let report = report?;
        output::emit(&report, json)?;
        report.check()
    }
}
