//! `noteapp image ENV`: build and push the image a deploy of ENV would use, and print it pinned by
//! digest, without touching the stack.
//!
//! The same step `noteapp deploy ENV` runs when no `--image-uri` is given (see `image::ship`):
//! the account check, the static `bootstrap`, the ECR repository, and a build and push only when
//! the registry does not already hold the same inputs. Stdout gets the image URI (`--json`: the
//! whole outcome, with `reused`), so CI can build once and deploy it with `--image-uri`.

use serde::Serialize;

use crate::commands::args::{EnvArgs, Loaded};
use crate::error::Error;
use crate::image::ImageOutcome;
use crate::image::engine::Engine;
use crate::image::ship::{BuildOptions, ship};
use crate::output;
use crate::progress::Progress;

/// `noteapp image ENV [--base IMAGE] [--repository NAME] [--bootstrap PATH] [--json]`.
#[derive(Debug, clap::Args)]
pub struct ImageArgs {
    /// The environment whose account, region and architecture the image is for.
    #[command(flatten)]
    pub env: EnvArgs,
    /// How the image is built and where it is pushed.
    #[command(flatten)]
    pub image: BuildOptions,
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

/// Runs `noteapp image`: the image's URI, pinned by digest, on stdout.
pub async fn run(args: ImageArgs) -> Result<(), Error> {
    let loaded = args.env.load_deployable()?;
    let progress = Progress::stderr();
    let shipped = async {
        let clients = loaded.connect(&progress).await?;
        let Loaded { root, config } = &loaded;
        ship(
            root,
            config,
            &args.image,
            &clients.ecr,
            &Engine::default(),
            &progress,
        )
        .await
    }
    .await;
    progress.clear();
    output::emit(&ImageResult(shipped?), args.json)
}
