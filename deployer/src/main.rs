//! `noteapp`: run the notes stack on one machine, and ship it to AWS.
//!
//! `main` only parses arguments, sets up logging, dispatches to one `run()` per subcommand of
//! the library (`noteapp::commands`) and turns its error into the exit code documented in
//! `noteapp::error`. Results go to stdout, progress and logs to stderr.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use noteapp::{EXIT_FAILURE, commands};
use noteapp_runtime::settings::LogLevel;

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
    Image(commands::image::ImageArgs),
    /// Show what a deploy of ENV would change (a change set created, printed and deleted).
    Diff(commands::diff::DiffArgs),
    /// Print the stack outputs of ENV (`--json`: one flat object, for CI).
    Outputs(commands::outputs::OutputsArgs),
    /// Show the stack status of ENV, its last update and the failures of its last operation.
    Status(commands::status::StatusArgs),
    /// List the releases of ENV, newest first, the live one marked (`--json` for CI).
    History(commands::history::HistoryArgs),
    /// Redeploy the previous release of ENV (or `--to N`): its image and parameters, no build.
    Rollback(commands::rollback::RollbackArgs),
    /// Check the live stack of ENV from outside: /healthz, a WebSocket echo, a signed broadcast.
    Smoke(commands::smoke::SmokeArgs),
    /// Delete the stack of ENV; its tables are kept (DeletionPolicy Retain).
    Destroy(commands::destroy::DestroyArgs),
    /// Check or repair the counters behind every list's total against the tables.
    Data(commands::data::DataArgs),
}

#[global_allocator]
static ALLOCATOR: noteapp_runtime::Allocator = noteapp_runtime::Allocator {};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = match cli.verbose {
        0 => LogLevel::Info,
        1 => LogLevel::Debug,
        _ => LogLevel::Trace,
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
            Command::History(args) => commands::history::run(args).await,
            Command::Rollback(args) => commands::rollback::run(args).await,
            Command::Smoke(args) => commands::smoke::run(args).await,
            Command::Destroy(args) => commands::destroy::run(args).await,
            Command::Data(args) => commands::data::run(args).await,
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
