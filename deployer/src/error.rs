//! The CLI's error type: every message names what failed and, where there is one, the next step.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Usage(String),
    #[error("cannot open the local store: {0}")]
    Store(#[from] noteapp_runtime::store::embedded::OpenError),
    #[error("local signing key in {dir}: {reason}")]
    SigningKey { dir: PathBuf, reason: String },
    #[error(
        "cannot listen on {addr}: {source} (is another `noteapp local` running? pick another port with --port)"
    )]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("{0}")]
    Template(#[from] crate::template::TemplateError),
    /// An AWS call failed: `failed to create change set for stack X: <the service's reason>`.
    #[error("{action}: {reason}")]
    Aws { action: String, reason: String },
    /// The stack is in a state the command cannot go on from; the message says what to do.
    #[error("{0}")]
    StackState(String),
    /// A stack operation ended in a failed state (its failed resources were printed).
    #[error("deploy of stack {stack} failed: the stack is {status}")]
    StackFailed { stack: String, status: String },
    /// Refused without an explicit flag or confirmation (exit 3); the message names the flag.
    #[error("{0}")]
    Refused(String),
    /// Ctrl-C; the message says what was left and how the next run copes with it.
    #[error("interrupted: {0}")]
    Interrupted(String),
}

impl Error {
    /// Whether this is the caller's mistake (exit code 2) rather than a failed operation.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            Error::Usage(_) | Error::Config(_) | Error::Template(_)
        )
    }

    /// The process exit code for this error (the table is in main.rs).
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Refused(_) => crate::EXIT_REFUSED,
            Error::Interrupted(_) => crate::EXIT_INTERRUPTED,
            e if e.is_usage() => crate::EXIT_USAGE,
            _ => crate::EXIT_FAILURE,
        }
    }
}
