//! `noteapp image ENV`: build and push the image a deploy of ENV would use, and print it pinned by
//! digest, without touching the stack.
//!
//! The same step `noteapp deploy ENV` runs when no `--image-uri` is given (see `image::ship`):
//! the account check, the static `bootstrap`, the ECR repository, and a build and push only when
//! the registry does not already hold the same inputs. Stdout gets the image URI (`--json`: the
//! whole outcome, with `reused`), so CI can build once and deploy it with `--image-uri`.

use std::path::PathBuf;

use serde::Serialize;

use crate::commands::deploy::local_only;
use crate::config;
use crate::error::Error;
use crate::image::ImageOutcome;
use crate::image::engine::Engine;
use crate::image::ship::{ImageArgs, ship};
use crate::output;
use crate::progress::Progress;

#[derive(Debug, clap::Args)]
pub struct ImageCommandArgs {
    /// The environment: staging or production.
    pub env: String,
    /// The repository root (default: the nearest directory at or above the current one that
    /// holds environments/).
    #[arg(long, env = "NOTEAPP_ROOT", value_name = "DIR")]
    pub root: Option<PathBuf>,
    #[command(flatten)]
    pub image: ImageArgs,
    /// Print the outcome as JSON on stdout (progress stays on stderr).
    #[arg(long)]
    pub json: bool,
}

/// The command's result: the URI for people, everything for `--json`.
#[derive(Serialize)]
#[serde(transparent)]
struct ImageResult(ImageOutcome);

impl std::fmt::Display for ImageResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{}", self.0.uri)
    }
}

pub async fn run(args: ImageCommandArgs) -> Result<(), Error> {
    let cwd = std::env::current_dir()?;
    let root = config::locate_root(args.root.as_deref(), &cwd)?;
    let config = config::load(&root, &args.env)?;
    if config.is_local_only() {
        return Err(local_only(&config.name));
    }
    let progress = Progress::stderr();
    let engine = Engine::default();
    let shipped = ship(&root, &config, &args.image, &engine, &progress).await;
    progress.clear();
    let (outcome, _) = shipped?;
    output::emit(&ImageResult(outcome), args.json)
}
