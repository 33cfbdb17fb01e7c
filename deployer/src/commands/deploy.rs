//! `noteapp deploy ENV [--image-uri URI]`: the environment's stack brought to the rendered
//! template through a CloudFormation change set (`flow::deploy`), the report printed once.
//!
//! A deploy with nothing to change exits 0 at once; a refusal exits 3 (without `--yes` where the
//! environment asks for confirmation, a table replacement without `--allow-replacement`, a
//! canary while release health is in ALARM without `--no-canary`); a failed stack operation or
//! smoke check, and a canary returned to the last good release, exit 1. Ctrl-C deletes an unexecuted change set; an
//! operation already started carries on in CloudFormation and the next run waits it out.

use crate::aws::Clients;
use crate::commands::args::{FinishArgs, StackArgs};
use crate::error::Error;
use std::time::Duration;

use crate::flow::canary::{self, CanarySettings};
use crate::flow::deploy::DeployOptions;
use crate::flow::promote::Source;
use crate::flow::rollout::{DeployRequest, deploy_environment};
use crate::image::ship::BuildOptions;
use crate::output;
use crate::progress::Progress;

/// `noteapp deploy ENV [--image-uri URI | --image-from ENV|URI]` and its flags.
#[derive(Debug, clap::Args)]
pub struct DeployArgs {
    /// The environment deployed, and how long to wait for its stack.
    #[command(flatten)]
    pub stack: StackArgs,
    /// The image every function runs (REGISTRY/REPO@sha256:DIGEST). Without it the deploy builds
    /// and pushes the image itself (reusing it when nothing changed): see `noteapp image`.
    #[arg(long, value_name = "URI", conflicts_with = "image_from")]
    pub image_uri: Option<String>,
    /// Build nothing: run exactly the digest another environment's stack runs (`staging`), or
    /// the digest of an image URI it ran, from this environment's ECR repository (refused when
    /// the repository does not hold it).
    #[arg(long, value_name = "ENV|URI")]
    pub image_from: Option<String>,
    /// Where the environment releases by canary: deploy all at once instead, on purpose
    /// (release health is not read or watched).
    #[arg(long)]
    pub no_canary: bool,
    /// Seconds between two reads of release health during a canary.
    #[arg(
        long,
        env = "NOTEAPP_CANARY_INTERVAL",
        value_name = "SECONDS",
        default_value_t = canary::DEFAULT_INTERVAL.as_secs_f64()
    )]
    pub canary_interval: f64,
    /// How the image is built and where it goes, when the deploy builds it.
    #[command(flatten)]
    pub image: BuildOptions,
    /// Execute without asking, also where the environment asks for confirmation (CI).
    #[arg(long)]
    pub yes: bool,
    /// Let the change set replace or remove a table (its data stays in the old, retained
    /// table, outside the stack).
    #[arg(long)]
    pub allow_replacement: bool,
    /// Creating the stack: leave tables a deleted stack of this name kept where they are and
    /// start on new, empty ones (without it, they are imported back).
    #[arg(long)]
    pub new_tables: bool,
    /// `--json` and the smoke check once the change set ran.
    #[command(flatten)]
    pub finish: FinishArgs,
    /// When the smoke check fails, roll back to the release before this one at once (and say
    /// so); the deploy still exits 1.
    #[arg(long)]
    pub rollback_on_failure: bool,
}

/// Runs `noteapp deploy`.
pub async fn run(args: DeployArgs) -> Result<(), Error> {
    let loaded = args.stack.env.load_deployable()?;
    let progress = Progress::stderr();
    let request = DeployRequest {
        root: &loaded.root,
        config: &loaded.config,
        image_uri: args.image_uri.as_deref(),
        build: &args.image,
        options: DeployOptions {
            yes: args.yes,
            allow_replacement: args.allow_replacement,
            new_tables: args.new_tables,
            waits: args.stack.waits(),
        },
        image_from: args.image_from.as_deref().map(Source::parse),
        finish: args.finish.finish(),
        rollback_on_failure: args.rollback_on_failure,
        canary: CanarySettings {
            enabled: !args.no_canary,
            interval: Duration::from_secs_f64(args.canary_interval.clamp(0.1, 300.0)),
            clock: canary::Clock::system(),
        },
    };
    let report = async {
        let clients: Clients = loaded.connect(&progress).await?;
        deploy_environment(&clients, &request, &progress).await
    }
    .await;
    progress.clear();
    let report = report?;
    output::emit(&report, args.finish.json)?;
    report.check()
}
