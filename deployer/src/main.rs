//! `noteapp`: run the notes stack on one machine, and ship it to AWS.
//!
//! `main` only parses arguments (`noteapp::cli`), sets up logging, dispatches to one `run()` per
//! subcommand of the library (`noteapp::commands`) and turns its error into the exit code
//! documented in `noteapp::error`. Results go to stdout, progress and logs to stderr.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use noteapp::cli::{Cli, Command};
use noteapp::{EXIT_FAILURE, commands};
use noteapp_runtime::settings::LogLevel;

#[global_allocator]
static ALLOCATOR: noteapp_runtime::Allocator = noteapp_runtime::Allocator {};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = match cli.verbose {
        0 => LogLevel::Info,
        1 => LogLevel::Debug,
        _ => LogLevel::Trace,
    };
    noteapp::output::set_color(cli.color);
    let ansi = noteapp::output::colour_on(std::io::stderr().is_terminal());
    noteapp_runtime::logging::init(level, noteapp_runtime::logging::LogFormat::Text { ansi });
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
            Command::Release(args) => commands::release::run(args).await,
            Command::Smoke(args) => commands::smoke::run(args).await,
            Command::Destroy(args) => commands::destroy::run(args).await,
            Command::Data(args) => commands::data::run(args).await,
            Command::Logs(args) => commands::logs::run(args).await,
            Command::Migrate(args) => commands::migrate::run(args).await,
            Command::Drift(args) => commands::drift::run(args).await,
            Command::Ci(args) => commands::ci::run(args).await,
            Command::Completions(args) => {
                commands::completions::run(args, noteapp::cli::command()).await
            }
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
