//! `noteapp destroy ENV [--yes] [--i-mean-production]`: the environment's stack deleted, its
//! tables kept (`flow::destroy`), the report printed once.

use crate::aws::Clients;
use crate::commands::args::StackArgs;
use crate::error::Error;
use crate::flow::destroy::{Target, destroy_until_interrupted};
use crate::output;
use crate::progress::{Progress, Prompt};

/// `noteapp destroy ENV [--yes [--i-mean-production]] [--json]`.
#[derive(Debug, clap::Args)]
pub struct DestroyArgs {
    /// The environment whose stack is deleted, and how the delete is followed.
    #[command(flatten)]
    pub stack: StackArgs,
    /// Delete without asking (production also needs --i-mean-production).
    #[arg(long)]
    pub yes: bool,
    /// With --yes: delete a production stack without typing its name.
    #[arg(long, requires = "yes")]
    pub i_mean_production: bool,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Runs `noteapp destroy`.
pub async fn run(args: DestroyArgs) -> Result<(), Error> {
    let config = args.stack.env.load_deployable()?.config;
    let target = Target {
        environment: config.name().to_owned(),
        stack_name: config.stack_name.clone(),
        account_id: config.account_id.clone(),
        protected: config.confirm_changes,
    };
    let clients = Clients::load(&config.region).await;
    let progress = Progress::stderr();
    let flags = (args.yes, args.i_mean_production);
    let waits = args.stack.waits();
    let prompt = Prompt::stdin();
    let report =
        destroy_until_interrupted(&clients, &target, flags, waits, &prompt, &progress).await;
    progress.clear();
    output::emit(&report?, args.json)
}
