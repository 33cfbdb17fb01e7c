//! The command line: every subcommand and its flags, as clap derives them. It lives in the
//! library rather than in `main.rs` so that `noteapp completions` and the tests (the shipped
//! workflow runs only commands that exist) read the same [`clap::Command`] the binary parses.

use clap::{CommandFactory, Parser, Subcommand};

use crate::commands;
use crate::output::ColorChoice;

/// `noteapp [-v] [--color WHEN] COMMAND`: the global flags and one subcommand.
#[derive(Parser)]
#[command(
    name = "noteapp",
    version,
    about = "Run and ship the noteapp server side"
)]
pub struct Cli {
    /// More log output (-v debug, -vv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Colour noteapp's output: auto (a terminal, unless NO_COLOR is set), always or never.
    #[arg(long, global = true, value_enum, value_name = "WHEN", default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// The subcommand to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Every subcommand, with its flags; each variant's doc comment is its line in `noteapp --help`.
#[derive(Subcommand)]
pub enum Command {
    /// Run the whole stack here: the HTTP API on 127.0.0.1:8000, WebSocket on 3001, no cloud.
    Local(commands::local::LocalArgs),
    /// Print exactly what a deploy of ENV would send: the template, its parameters and tags.
    Render(commands::render::RenderArgs),
    /// Deploy ENV: check account and stack, create a change set, show it, confirm, execute, follow.
    Deploy(commands::deploy::DeployArgs),
    /// Build and push the image a deploy of ENV would use (reused when unchanged); print it by digest.
    Image(commands::image::ImageArgs),
    /// Show what a deploy of ENV would change (a change set created, printed and deleted).
    Diff(commands::diff::DiffArgs),
    /// Print the stack outputs of ENV (`--json`: one flat object, for CI).
    Outputs(commands::outputs::OutputsArgs),
    /// Show the stack status of ENV, its last update and the failures of its last operation.
    Status(commands::status::StatusArgs),
    /// List the releases of ENV, newest first, the live one marked (`--json` for CI).
    History(commands::history::HistoryArgs),
    /// Go back to the previous release of ENV (or `--to N`): the aliases moved back in seconds when its template matches, else redeployed; no build.
    Rollback(commands::rollback::RollbackArgs),
    /// Finish or undo a canary left half-way (`release finish ENV`, `release undo ENV`).
    Release(commands::release::ReleaseArgs),
    /// Check the live stack of ENV from outside: /healthz, a WebSocket echo, a signed broadcast.
    Smoke(commands::smoke::SmokeArgs),
    /// Delete the stack of ENV; its tables are kept (DeletionPolicy Retain).
    Destroy(commands::destroy::DestroyArgs),
    /// Check or repair the counters behind every list's total against the tables.
    Data(commands::data::DataArgs),
    /// Move the seed's notes and users (its SAM stack) into ENV's tables; verify; say how to cut over.
    Migrate(commands::migrate::MigrateArgs),
    /// Print the functions' logs of ENV, interleaved by time (`--follow` for new ones).
    Logs(commands::logs::LogsArgs),
    /// Detect drift on the stack of ENV: exit 0 in sync, 4 drifted (each property listed).
    Drift(commands::drift::DriftArgs),
    /// CI sign-in without keys: `ci bootstrap ENV --github OWNER/REPO` makes the deploy role.
    Ci(commands::ci::CiArgs),
    /// Print the completion script of a shell (bash, zsh, fish, powershell) on stdout.
    Completions(commands::completions::CompletionsArgs),
}

/// The command line as clap sees it: what completions are generated from.
pub fn command() -> clap::Command {
    Cli::command()
}

impl Command {
    /// Runs the subcommand: its `run()`, as `noteapp` does once the command line is parsed. Each
    /// is boxed, so this future is as small as a pointer, not as large as the largest command's
    /// (which overflows a test thread's stack in a debug build).
    pub async fn run(self) -> Result<(), crate::error::Error> {
        match self {
            Command::Local(args) => Box::pin(commands::local::run(args)).await,
            Command::Render(args) => Box::pin(commands::render::run(args)).await,
            Command::Deploy(args) => Box::pin(commands::deploy::run(args)).await,
            Command::Image(args) => Box::pin(commands::image::run(args)).await,
            Command::Diff(args) => Box::pin(commands::diff::run(args)).await,
            Command::Outputs(args) => Box::pin(commands::outputs::run(args)).await,
            Command::Status(args) => Box::pin(commands::status::run(args)).await,
            Command::History(args) => Box::pin(commands::history::run(args)).await,
            Command::Rollback(args) => Box::pin(commands::rollback::run(args)).await,
            Command::Release(args) => Box::pin(commands::release::run(args)).await,
            Command::Smoke(args) => Box::pin(commands::smoke::run(args)).await,
            Command::Destroy(args) => Box::pin(commands::destroy::run(args)).await,
            Command::Data(args) => Box::pin(commands::data::run(args)).await,
            Command::Logs(args) => Box::pin(commands::logs::run(args)).await,
            Command::Migrate(args) => Box::pin(commands::migrate::run(args)).await,
            Command::Drift(args) => Box::pin(commands::drift::run(args)).await,
            Command::Ci(args) => Box::pin(commands::ci::run(args)).await,
            Command::Completions(args) => {
                Box::pin(commands::completions::run(args, command())).await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_is_consistent() {
        super::command().debug_assert();
    }
}
