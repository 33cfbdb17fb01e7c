//! `noteapp`: run the notes stack on one machine, and ship it to AWS.
//!
//! `main` only parses arguments, sets up logging and dispatches to one `run()` per subcommand;
//! each subcommand lives in `commands/`. Results go to stdout, progress and logs to stderr.

mod aws;
mod commands;
mod config;
mod error;
mod image;
mod output;
mod plan;
mod progress;
mod template;
#[cfg(test)]
#[path = "../tests/support/test_peers.rs"]
mod test_peers;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit codes:
/// - 0: success, including a deploy with nothing to change;
/// - 1: an operation failed (an AWS call, a stack that ended failed or rolled back, a stack in a
///   state that must be cleared first, a wait that ran out);
/// - 2: bad usage or configuration (flags, environment files, `development` deployed, AWS
///   credentials for another account than the environment's);
/// - 3: refused without an explicit confirmation or flag (production without `--yes` and no
///   terminal, a declined prompt, a table replacement without `--allow-replacement`);
/// - 130: interrupted by Ctrl-C (an unexecuted change set is deleted first).
const EXIT_FAILURE: u8 = 1;
const EXIT_USAGE: u8 = 2;
const EXIT_REFUSED: u8 = 3;
const EXIT_INTERRUPTED: u8 = 130;

#[derive(Parser)]
#[command(
    name = "noteapp",
    version,
    about = "Run and ship the noteapp server side"
)]
struct Cli {
    /// More log output (-v debug, -vv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole stack here: the HTTP API on 127.0.0.1:8000, WebSocket on 3001, no cloud.
    Local(commands::local::LocalArgs),
    /// Print exactly what a deploy of ENV would send: the template, its parameters and tags.
    Render(commands::render::RenderArgs),
    /// Deploy ENV: check account and stack, create a change set, show it, confirm, execute, follow.
    Deploy(commands::deploy::DeployArgs),
    /// Build and push the image a deploy of ENV would use (reused when unchanged); print it by digest.
    Image(commands::image::ImageCommandArgs),
    /// Show what a deploy of ENV would change (a change set created, printed and deleted).
    Diff(commands::diff::DiffArgs),
    /// Print the stack outputs of ENV (`--json`: one flat object, for CI).
    Outputs(commands::outputs::OutputsArgs),
    /// Show the stack status of ENV, its last update and the failures of its last operation.
    Status(commands::status::StatusArgs),
    /// Delete the stack of ENV; its tables are kept (DeletionPolicy Retain).
    Destroy(commands::destroy::DestroyArgs),
}

#[global_allocator]
static ALLOCATOR: noteapp_runtime::Allocator = noteapp_runtime::Allocator {};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = match cli.verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    noteapp_runtime::logging::init(level, noteapp_runtime::logging::LogFormat::Text);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Local(args) => commands::local::run(args).await,
            Command::Render(args) => commands::render::run(args).await,
            Command::Deploy(args) => commands::deploy::run(args).await,
            Command::Image(args) => commands::image::run(args).await,
            Command::Diff(args) => commands::diff::run(args).await,
            Command::Outputs(args) => commands::outputs::run(args).await,
            Command::Status(args) => commands::status::run(args).await,
            Command::Destroy(args) => commands::destroy::run(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
