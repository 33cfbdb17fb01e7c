//! The flags several commands share: the environment argument every command flattens (loaded
//! once per command: the repository root, the parsed environment file, and for commands that
//! touch AWS the refusal of a local-only environment), the stack commands' polling, and how a
//! deploy or a rollback ends (`--json`, the smoke check).

use std::path::PathBuf;
use std::time::Duration;

use crate::aws::{Clients, Waits};
use crate::config::{self, EnvironmentConfig};
use crate::error::Error;
use crate::flow::deploy::Finish;
use crate::progress::Progress;
use crate::smoke;

/// `ENV [--root DIR]`.
#[derive(Debug, Clone, clap::Args)]
pub struct EnvArgs {
    /// The environment: staging or production (development is local only).
    pub env: String,
    /// The repository root (default: the nearest directory at or above the current one that
    /// holds environments/).
    #[arg(long, env = "NOTEAPP_ROOT", value_name = "DIR")]
    pub root: Option<PathBuf>,
}

/// An environment file read and checked, with the repository it belongs to.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The repository root: `--root` (or `NOTEAPP_ROOT`), else the nearest directory at or
    /// above the current one that holds `environments/`.
    pub root: PathBuf,
    /// The environment file, parsed and checked.
    pub config: EnvironmentConfig,
}

impl Loaded {
    /// The command's AWS clients (the environment's region, the standard credential chain),
    /// with the caller's account checked against the environment file before anything else:
    /// one STS call per command, whose answer the later checks reuse.
    pub async fn connect(&self, progress: &Progress) -> Result<Clients, Error> {
        let clients = Clients::load(&self.config.region).await;
        progress.status("checking the AWS account");
        clients
            .ensure_account(self.config.name(), &self.config.account_id)
            .await?;
        let caller = clients.caller().await?;
        progress.line(format!(
            "signed in to AWS account {} as {}",
            caller.account, caller.arn
        ));
        Ok(clients)
    }
}

impl EnvArgs {
    /// The repository root and the environment's configuration, whatever the environment.
    pub fn load(&self) -> Result<Loaded, Error> {
        let cwd = std::env::current_dir()?;
        let root = config::locate_root(self.root.as_deref(), &cwd)?;
        let config = config::load(&root, &self.env)?;
        Ok(Loaded { root, config })
    }

    /// As [`EnvArgs::load`], refusing an environment that is never deployed.
    pub fn load_deployable(&self) -> Result<Loaded, Error> {
        let loaded = self.load()?;
        if loaded.config.is_local_only() {
            return Err(Error::local_only(loaded.config.name()));
        }
        Ok(loaded)
    }
}

/// The environment a stack command works on, and how it waits for CloudFormation.
#[derive(Debug, Clone, clap::Args)]
pub struct StackArgs {
    /// The environment whose stack the command works on (`ENV [--root DIR]`).
    #[command(flatten)]
    pub env: EnvArgs,
    /// Seconds between two polls of CloudFormation.
    #[arg(
        long,
        env = "NOTEAPP_POLL_INTERVAL",
        value_name = "SECONDS",
        default_value_t = 2.0
    )]
    pub poll_interval: f64,
    /// Longest wait for a stack operation, in minutes, before saying how to follow it instead.
    #[arg(
        long,
        env = "NOTEAPP_MAX_WAIT",
        value_name = "MINUTES",
        default_value_t = 120
    )]
    pub max_wait: u64,
}

impl StackArgs {
    /// The waits these flags ask for.
    pub fn waits(&self) -> Waits {
        let mut waits = Waits::every(Duration::from_secs_f64(
            self.poll_interval.clamp(0.0, 600.0),
        ));
        waits.operation.max_wait = Duration::from_secs(self.max_wait.saturating_mul(60));
        waits
    }
}

/// How a deploy (or a rollback) ends once its change set ran.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct FinishArgs {
    /// Print the result as JSON on stdout (progress stays on stderr).
    #[arg(long)]
    pub json: bool,
    /// How long each smoke check may take (`--smoke-timeout`).
    #[command(flatten)]
    pub smoke: SmokeOptions,
    /// Skip the smoke check after the stack was created or updated.
    #[arg(long)]
    pub no_smoke: bool,
}

impl FinishArgs {
    /// What the flow does once the change set ran.
    pub fn finish(&self) -> Finish {
        Finish {
            smoke_timeout: (!self.no_smoke).then(|| self.smoke.timeout()),
        }
    }
}

/// How the smoke check runs.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct SmokeOptions {
    /// Seconds each smoke check may take before it fails.
    #[arg(
        long = "smoke-timeout",
        env = "NOTEAPP_SMOKE_TIMEOUT",
        value_name = "SECONDS",
        default_value_t = smoke::DEFAULT_TIMEOUT.as_secs_f64()
    )]
    pub timeout: f64,
}

impl SmokeOptions {
    /// The time limit of each check.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs_f64(self.timeout.clamp(0.1, 600.0))
    }
}
