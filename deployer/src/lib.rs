//! `noteapp`, the library behind the CLI: run the notes stack on one machine, and ship it to AWS.
//!
//! The binary (`main.rs`) only parses arguments (the command line is [`cli`]), sets up logging
//! and dispatches to one `run()` per subcommand in [`commands`]; everything else lives here so
//! the integration tests in `deployer/tests/` reach the same code the binary runs. The layers,
//! each importing only from the ones before it:
//! 1. [`error`], [`output`] (printing results), [`progress`] (stderr), [`interrupt`] (Ctrl-C),
//!    [`clock`] (the system's time, or a virtual one for tests);
//! 2. [`config`] (environment files), [`plan::Plan`], [`release`] (the release record),
//!    [`policy`] (the IAM policies shipped) and [`template`] (pure rendering);
//! 3. [`aws`]: thin calls to CloudFormation, CloudWatch, CloudWatch Logs, DynamoDB, ECR, IAM,
//!    Lambda, S3, SQS and STS, with bounded polling;
//! 4. [`image`] (cargo, bollard) and [`smoke`] (the live endpoints checked);
//! 5. [`flow`]: deploy (with its canary), rollback, release finish and undo, destroy and the CI
//!    bootstrap, and the change-set flow under them;
//! 6. [`commands`] (flags, one `run()` each) and [`cli`] (the command line).
//!
//! This is the CLI's library, not a stable API.

pub mod aws;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod error;
pub mod flow;
pub mod image;
pub mod interrupt;
pub mod output;
pub mod plan;
pub mod policy;
pub mod progress;
pub mod release;
pub mod smoke;
pub mod template;

pub use error::{
    EXIT_DIFFERENCES, EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_REFUSED, EXIT_USAGE, Error,
};
