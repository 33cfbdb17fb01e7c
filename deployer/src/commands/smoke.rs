//! `noteapp smoke ENV [--json]`: the live stack of ENV checked from outside (see `smoke`), on
//! its own; `deploy` and `rollback` end with the same check. Exit 0 when every check passed, 1
//! when one failed (the report names it) or the stack has no endpoints to check.

use crate::aws::stack;
use crate::commands::args::{EnvArgs, SmokeOptions};
use crate::error::Error;
use crate::output;
use crate::progress::Progress;
use crate::smoke;

/// `noteapp smoke ENV [--smoke-timeout SECONDS] [--json]`.
#[derive(Debug, clap::Args)]
pub struct SmokeArgs {
    /// The environment whose live stack is checked.
    #[command(flatten)]
    pub env: EnvArgs,
    /// How long each check may take.
    #[command(flatten)]
    pub smoke: SmokeOptions,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Runs `noteapp smoke`.
pub async fn run(args: SmokeArgs) -> Result<(), Error> {
    let loaded = args.env.load_deployable()?;
    let progress = Progress::stderr();
    let clients = loaded.connect(&progress).await;
    let config = &loaded.config;
    let report = async {
        let clients = clients?;
        let stack = &config.stack_name;
        let info = stack::describe_stack(&clients.cloudformation, stack)
            .await?
            .ok_or_else(|| {
                Error::StackState(format!(
                    "stack {stack} does not exist: `noteapp deploy {}` first",
                    config.name()
                ))
            })?;
        let timeout = args.smoke.timeout();
        smoke::check(&clients, stack, &info.outputs, timeout, &progress).await
    }
    .await;
    progress.clear();
    let report = report?;
    output::emit(&report, args.json)?;
    report.check(config.name())
}
