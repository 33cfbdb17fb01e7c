//! `noteapp`, the library behind the CLI: run the notes stack on one machine, and ship it to AWS.
//!
//! The binary (`main.rs`) only parses arguments (the command line is [`cli`]), sets up logging
//! and dispatches to one `run()` per subcommand in [`commands`]; everything else lives here so
//! the integration tests in `deployer/tests/` reach the same code the binary runs. The layers:
//! [`config`] (environment files) and [`template`] (pure rendering into a [`plan::Plan`]) →
//! [`aws`] (thin calls to CloudFormation, CloudWatch Logs, ECR, STS, with bounded polling) and
//! [`image`] (cargo, bollard) → [`commands`]. Results go to stdout through [`output`], progress
//! to stderr through [`progress`]. This is the CLI's library, not a stable API.

pub mod aws;
pub mod cli;
pub mod commands;
pub mod config;
pub mod error;
pub mod image;
pub mod output;
pub mod plan;
pub mod policy;
pub mod progress;
pub mod release;
pub mod smoke;
pub mod template;

pub use error::{EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_REFUSED, EXIT_USAGE, Error};
