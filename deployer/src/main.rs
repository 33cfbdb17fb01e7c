//! `noteapp`: run the notes stack on one machine, and ship it to AWS.
//!
//! `main` only parses arguments (`noteapp::cli`), sets up logging, dispatches to one `run()` per
//! subcommand of the library (`noteapp::cli::Command::run`) and turns its error into the exit code
//! documented in `noteapp::error`. Results go to stdout, progress and logs to stderr.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use noteapp::EXIT_FAILURE;
use noteapp::cli::Cli;
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
    let result = runtime.block_on(cli.command.run());
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
