//! The image step of `noteapp deploy` (when no `--image-uri` is given) and of `noteapp image`:
//! the flags, and the tags that keep a stack's images out of the lifecycle policy's reach (see
//! `aws::ecr`). The commands check the account before this step, so nothing is pushed to
//! the wrong one.

use std::path::{Path, PathBuf};

use aws_sdk_cloudformation::error::ProvideErrorMetadata;

use super::engine::Engine;
use super::{Destination, ImageOutcome, Source, ensure_image};
use crate::aws::{aws_error, ecr, is_stack_missing};
use crate::config::EnvironmentConfig;
use crate::error::Error;
use crate::progress::Progress;

/// The base image a deploy builds on unless `--base` says otherwise.
pub const DEFAULT_BASE: &str = "public.ecr.aws/lambda/provided:al2023";

/// How the image is built and where it goes.
#[derive(Debug, Clone, clap::Args)]
pub struct BuildOptions {
    /// The base image of Dockerfile.lambda (`scratch` works: the binary needs no file from it).
    #[arg(long = "base", env = "NOTEAPP_IMAGE_BASE", value_name = "IMAGE", default_value = DEFAULT_BASE)]
    pub base: String,
    /// Push to this registry (HOST or HOST:PORT) instead of the one ECR names, still with ECR's
    /// credentials (a local registry in tests; a mirror).
    #[arg(long, env = "NOTEAPP_REGISTRY_ENDPOINT", value_name = "HOST[:PORT]")]
    pub registry_endpoint: Option<String>,
    /// The ECR repository.
    #[arg(long, env = "NOTEAPP_REPOSITORY", value_name = "NAME", default_value = ecr::DEFAULT_REPOSITORY)]
    pub repository: String,
    /// Ship this `bootstrap` instead of building one: a Linux binary for the environment's
    /// architecture that a build job made (static, unless the base image has the libraries it
    /// links). Its bytes are part of the content tag, as a built one's are.
    #[arg(long, env = "NOTEAPP_BOOTSTRAP", value_name = "PATH")]
    pub bootstrap: Option<PathBuf>,
}

/// Builds and pushes (or reuses) the image of `config`'s environment with `ecr`; the caller has
/// checked the account first, so nothing is pushed to the wrong one.
pub async fn ship(
    root: &Path,
    config: &EnvironmentConfig,
    options: &BuildOptions,
    ecr: &aws_sdk_ecr::Client,
    engine: &Engine,
    progress: &Progress,
) -> Result<ImageOutcome, Error> {
    let source = Source {
        root,
        environment: config.name(),
        architecture: config.architecture,
        base: &options.base,
        bootstrap: options.bootstrap.as_deref(),
    };
    let puller = puller(config);
    let destination = Destination {
        ecr,
        repository: &options.repository,
        registry_override: options
            .registry_endpoint
            .as_deref()
            .filter(|e| !e.trim().is_empty()),
        puller: Some(&puller),
    };
    ensure_image(&source, &destination, engine, progress).await
}

/// The stack of `config` as the puller of its images.
pub fn puller(config: &EnvironmentConfig) -> ecr::LambdaPuller {
    ecr::LambdaPuller {
        stack: config.stack_name.clone(),
        region: config.region.clone(),
        account: config.account_id.clone(),
    }
}

/// An image in this account's ECR that a stack is about to run.
#[derive(Debug, Clone, Copy)]
pub struct DeployedImage<'a> {
    /// The repository's name (`noteapp`).
    pub repository: &'a str,
    /// `REGISTRY/REPOSITORY`, as the stack's `ImageUri` spells it before the `@`.
    pub name: &'a str,
    /// `sha256:…`, the image the tags go on.
    pub digest: &'a str,
}

/// Tags what `stack` runs now `deployed-<env>-previous` and `image` `deployed-<env>-current`,
/// before the change set runs, however the image got there (built here, or `--image-uri`): the
/// lifecycle policy never expires either.
pub async fn protect(
    ecr: &aws_sdk_ecr::Client,
    cloudformation: &aws_sdk_cloudformation::Client,
    stack: &str,
    environment: &str,
    image: DeployedImage<'_>,
    progress: &Progress,
) -> Result<(), Error> {
    let running = stack_image(cloudformation, stack).await?;
    let previous = running
        .as_deref()
        .and_then(|uri| uri.split_once('@'))
        .filter(|(name, _)| *name == image.name)
        .map(|(_, digest)| digest);
    progress.status("tagging the deployed images in ECR");
    ecr::protect_deployed(ecr, image.repository, environment, previous, image.digest).await
}

/// The `--image-uri` step of a deploy: refuses an image Lambda could not pull (outside this
/// account and region's ECR, or not pinned by digest), lets the stack's functions pull it (the
/// repository policy), and tags it so the lifecycle policy never expires it.
pub async fn adopt(
    ecr: &aws_sdk_ecr::Client,
    cloudformation: &aws_sdk_cloudformation::Client,
    config: &EnvironmentConfig,
    uri: &str,
    progress: &Progress,
) -> Result<(), Error> {
    let image = ecr::deployable_image(uri, &config.account_id, &config.region)?;
    if ecr::ensure_pull_policy(ecr, &image.repository, &puller(config)).await? {
        progress.line(format!(
            "ECR repository {}: the stack's functions may pull from it now",
            image.repository
        ));
    }
    let name = image.name();
    let deployed = DeployedImage {
        repository: &image.repository,
        name: &name,
        digest: &image.digest,
    };
    let (stack, env) = (&config.stack_name, config.name());
    protect(ecr, cloudformation, stack, env, deployed, progress).await
}

/// The `ImageUri` parameter `stack` runs with now, if the stack exists.
async fn stack_image(
    client: &aws_sdk_cloudformation::Client,
    stack: &str,
) -> Result<Option<String>, Error> {
    let answer = match client.describe_stacks().stack_name(stack).send().await {
        Ok(answer) => answer,
        Err(e) if is_stack_missing(e.code(), e.message()) => return Ok(None),
        Err(e) => return Err(aws_error(format!("failed to describe stack {stack}"), &e)),
    };
    Ok(answer.stacks().first().and_then(|s| {
        s.parameters()
            .iter()
            .find(|p| p.parameter_key() == Some("ImageUri"))
            .and_then(|p| p.parameter_value().map(str::to_owned))
    }))
}
