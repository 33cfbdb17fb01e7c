//! The CLI's error type: every message names what failed and, where there is one, the next step.

use std::path::PathBuf;

/// Exit codes:
/// - 0: success, including a deploy with nothing to change;
/// - 1: an operation failed (an AWS call, a failed smoke check, a stack that ended failed or rolled back, a stack in a
///   state that must be cleared first (a canary shifting), a canary returned to the last good
///   release, a wait that ran out);
/// - 2: bad usage or configuration (flags, environment files, `development` deployed, no usable
///   AWS credentials, or credentials for another account than the environment's);
/// - 3: refused without an explicit confirmation or flag (production without `--yes` and no
///   terminal, a declined prompt, a table replacement without `--allow-replacement`, a canary
///   while release health is in ALARM without `--no-canary`);
/// - 4: a check ran and found differences (`drift`: the stack drifted; `data check`: counters
///   disagree with the tables; `migrate`: the target differs from the source); the report says
///   which. Distinct from 1 and 2, so a CI gate tells "differs" from "could not check";
/// - 130: interrupted by Ctrl-C (an unexecuted change set is deleted first).
pub const EXIT_FAILURE: u8 = 1;
/// Bad usage or configuration.
pub const EXIT_USAGE: u8 = 2;
/// Refused without an explicit confirmation or flag.
pub const EXIT_REFUSED: u8 = 3;
/// A check found differences.
pub const EXIT_DIFFERENCES: u8 = 4;
/// Interrupted by Ctrl-C.
pub const EXIT_INTERRUPTED: u8 = 130;

/// A failure of the image pipeline outside AWS calls.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The environment's architecture needs a Rust target that is not installed (exit 2): the
    /// message gives the `rustup` command, and the other architecture to choose instead.
    #[error(
        "the {architecture} environment {environment} needs the {triple} target: rustup target \
         add {triple}; or set `architecture: x86_64` in environments/{environment}.yaml"
    )]
    MissingTarget {
        /// The environment being built for.
        environment: String,
        /// Its architecture (`arm64` or `x86_64`).
        architecture: &'static str,
        /// The target triple it needs (`aarch64-unknown-linux-gnu`).
        triple: &'static str,
    },
    /// `cargo build` of `bootstrap` could not run or failed (its messages are printed above).
    #[error("{0}")]
    Cargo(String),
    /// The prebuilt binary `--bootstrap` names cannot go in the image (exit 2).
    #[error("--bootstrap {}: {reason}", path.display())]
    Bootstrap {
        /// The path given.
        path: PathBuf,
        /// What is wrong with it: unreadable, not a file, not executable, not a Linux (ELF) binary.
        reason: String,
    },
    /// The Docker engine is unreachable, or refused a container or a pull.
    #[error("{0}")]
    Engine(String),
    /// The engine could not build the image (the build's own error inside).
    #[error("image build failed: {0}")]
    Build(String),
    /// The push to the registry failed, or the registry does not hold what was pushed.
    #[error("{0}")]
    Push(String),
    /// Reading the build's inputs (the binary, the Dockerfile) or packing them failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Every failure of a command: what the binary prints and turns into an exit code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad usage (exit 2): a flag, argument or environment the command cannot take; the message
    /// names it and what to do instead.
    #[error("{0}")]
    Usage(String),
    /// `noteapp local` cannot open its data directory's store.
    #[error("cannot open the local store: {0}")]
    Store(#[from] noteapp_runtime::store::embedded::OpenError),
    /// The local signing key (made on the first run) cannot be read, made or used.
    #[error("local signing key in {dir}: {reason}")]
    SigningKey {
        /// The data directory holding the key.
        dir: PathBuf,
        /// What failed.
        reason: String,
    },
    /// `noteapp local` cannot listen on a port it was given.
    #[error(
        "cannot listen on {addr}: {source} (is another `noteapp local` running? pick another port with --port)"
    )]
    Bind {
        /// The address asked for (`127.0.0.1:PORT`).
        addr: String,
        /// The system's refusal (most often: the address is in use).
        source: std::io::Error,
    },
    /// Reading or writing a file or a stream failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// An environment file is missing or wrong (exit 2); the message names the file and field.
    #[error("{0}")]
    Config(#[from] crate::config::EnvFileError),
    /// The image pipeline (cargo, the engine, the registry) failed outside an AWS call.
    #[error("{0}")]
    Image(#[from] ImageError),
    /// The local stack could not start or stopped with an error.
    #[error("{0}")]
    LocalStack(#[from] noteapp_runtime::local::LocalStackError),
    /// The template cannot be read, or what is rendered into it is wrong (exit 2).
    #[error("{0}")]
    Template(#[from] crate::template::TemplateError),
    /// The credential chain gave nothing usable; the message says how to sign in.
    #[error("{0}")]
    Credentials(String),
    /// An AWS call failed: `failed to create change set for stack X: <the service's reason>`.
    #[error("{action}: {reason}")]
    Aws {
        /// What was being done: `failed to create change set for stack X`.
        action: String,
        /// The service's own words (`message (Code)`), or the transport failure with its causes.
        reason: String,
    },
    /// The stack is in a state the command cannot go on from; the message says what to do.
    #[error("{0}")]
    StackState(String),
    /// A stack operation ended in a failed state (its failed resources were printed).
    #[error("deploy of stack {stack} failed: the stack is {status}")]
    StackFailed {
        /// The stack's name.
        stack: String,
        /// The status it ended in (`UPDATE_ROLLBACK_COMPLETE`, `CREATE_FAILED`…).
        status: String,
    },
    /// The smoke check failed after the stack was deployed (or on its own): exit 1; the
    /// message names each failed check's URL, its status or error and the time taken.
    #[error("{0}")]
    SmokeFailed(String),
    /// A canary's release was returned to the last good release (its health turned bad, or
    /// the guard ended it): exit 1, after the report naming the signal.
    #[error("{0}")]
    Canary(String),
    /// Refused without an explicit flag or confirmation (exit 3); the message names the flag.
    #[error("{0}")]
    Refused(String),
    /// A check found differences (drift, counters, a migration): the report was printed; exit 4.
    #[error("{0}")]
    Differences(String),
    /// Ctrl-C; the message says what was left and how the next run copes with it.
    #[error("interrupted: {0}")]
    Interrupted(String),
}

impl Error {
    /// The refusal of a local-only environment (`development`, or a file that says
    /// `local_only: true`): the one message every command and flow gives.
    pub fn local_only(environment: &str) -> Self {
        Error::Usage(format!(
            "{environment} is local only and is never deployed: run `noteapp local`, or use \
             staging or production"
        ))
    }

    /// Whether this is the caller's mistake (exit code 2) rather than a failed operation.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            Error::Usage(_)
                | Error::Credentials(_)
                | Error::Config(_)
                | Error::Template(_)
                | Error::Image(ImageError::MissingTarget { .. })
                | Error::Image(ImageError::Bootstrap { .. })
        )
    }

    /// The process exit code for this error (the table is above).
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Refused(_) => EXIT_REFUSED,
            Error::Differences(_) => EXIT_DIFFERENCES,
            Error::Interrupted(_) => EXIT_INTERRUPTED,
            e if e.is_usage() => EXIT_USAGE,
            _ => EXIT_FAILURE,
        }
    }
}
