//! The image pipeline: the static `bootstrap`, `Dockerfile.lambda`, the engine, the registry.
//!
//! [`ensure_image`] turns the workspace into an image pinned by digest,
//! `REGISTRY/REPOSITORY@sha256:…`, for the template's `ImageUri`:
//! 1. cargo builds the static release `bootstrap` for the environment's architecture
//!    ([`binary`]; incremental, in `target/lambda`);
//! 2. the inputs (binary, Dockerfile, base, platform) give the content tag `build-<hash>`
//!    ([`context`]);
//! 3. ECR: the repository is ensured (scan on push, lifecycle policy) and a login is made from
//!    the authorization token (`aws::ecr`);
//! 4. if the registry already holds that tag, its digest is reused: no build, no push, and the
//!    change set sees the same `ImageUri` as before, so "no changes";
//! 5. otherwise the engine builds the two-file context and pushes it with the ECR credentials,
//!    and the pushed digest is read back ([`engine`]).
//!
//! The registry is the one ECR names, unless an endpoint override (`--registry-endpoint`,
//! `NOTEAPP_REGISTRY_ENDPOINT`) names another, such as a local registry in tests: moto's ECR
//! gives out tokens and repositories but speaks no registry protocol. With an override, step 4
//! asks that registry (through the engine) instead of ECR.

pub mod binary;
pub mod containers;
pub mod context;
pub mod engine;
pub mod recipe;
pub mod ship;

use std::path::Path;

use serde::Serialize;

use crate::aws::ecr::{self, RegistryLogin, RepositorySetup, is_digest};
use crate::config::Architecture;
use crate::error::Error;
use crate::progress::Progress;
use context::BuildInputs;
use engine::Engine;

pub use crate::error::ImageError;

/// Where the image goes.
pub struct Destination<'a> {
    /// ECR in the environment's account and region: the repository and the registry login.
    pub ecr: &'a aws_sdk_ecr::Client,
    /// The ECR repository name (`noteapp`).
    pub repository: &'a str,
    /// A registry `host[:port]` to push to instead of the one ECR names.
    pub registry_override: Option<&'a str>,
    /// The stack whose functions must be able to pull (a statement in the repository policy).
    pub puller: Option<&'a ecr::LambdaPuller>,
}

/// What to build.
pub struct Source<'a> {
    /// The workspace root (Cargo.toml, Dockerfile.lambda).
    pub root: &'a Path,
    /// The environment built for, as messages name it.
    pub environment: &'a str,
    /// What the functions run on: the target `bootstrap` is built for and the image's platform.
    pub architecture: Architecture,
    /// The `BASE` build argument.
    pub base: &'a str,
    /// A prebuilt `bootstrap` to ship instead of building one (`--bootstrap`).
    pub bootstrap: Option<&'a Path>,
}

/// The image a deploy uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageOutcome {
    /// `REGISTRY/REPOSITORY@sha256:…`, the template's `ImageUri`.
    pub uri: String,
    /// `REGISTRY/REPOSITORY`.
    pub name: String,
    /// The content tag, `build-<hash>`.
    pub tag: String,
    /// `sha256:…`, as the registry holds it.
    pub digest: String,
    /// True when the registry already held these inputs: nothing was built or pushed.
    pub reused: bool,
    /// Whether the image is in ECR itself (false with a registry override).
    pub in_ecr: bool,
    /// What making sure of the ECR repository found and changed.
    pub repository: RepositorySetup,
}

impl std::fmt::Display for ImageOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let how = if self.reused {
            "reused: the registry already held these inputs; nothing built or pushed"
        } else {
            "built and pushed"
        };
        write!(f, "image {} ({}, {how})", self.uri, self.tag)
    }
}

/// Builds and pushes the image of `source` to `destination` unless the registry already holds
/// the same inputs; returns it pinned by digest (see the module doc).
pub async fn ensure_image(
    source: &Source<'_>,
    destination: &Destination<'_>,
    engine: &Engine,
    progress: &Progress,
) -> Result<ImageOutcome, Error> {
    let (_, platform) = binary::target(source.architecture);
    let path = match source.bootstrap {
        Some(path) => binary::prebuilt(path)?,
        None => {
            binary::build_bootstrap(
                source.root,
                source.environment,
                source.architecture,
                progress,
            )
            .await?
        }
    };
    let base_digest = engine.base_digest(source.base, progress).await?;
    let inputs = BuildInputs::read(source.root, &path, source.base, &base_digest, platform)
        .map_err(ImageError::from)?;
    let tag = inputs.content_tag();
    progress.status(format!("ECR repository {}", destination.repository));
    let repository =
        ecr::ensure_repository(destination.ecr, destination.repository, destination.puller).await?;
    if repository.changed() {
        progress.line(format!(
            "ECR repository {}: {} (scan on push, lifecycle policy, Lambda pull policy)",
            repository.name,
            if repository.created {
                "created"
            } else {
                "updated"
            }
        ));
    }
    let mut login = ecr::login(destination.ecr).await?;
    if let Some(host) = destination.registry_override {
        login.registry = registry_host(host);
    }
    let name = format!("{}/{}", login.registry, destination.repository);
    let in_ecr = destination.registry_override.is_none();
    progress.status(format!("looking for {name}:{tag}"));
    let existing = if in_ecr {
        ecr::find_tag(destination.ecr, destination.repository, &tag).await?
    } else {
        engine.registry_digest(&name, &tag, &login).await?
    };
    let (digest, reused) = match existing {
        Some(digest) => (digest, true),
        None => (
            build_and_push(&inputs, &name, &tag, &login, engine, progress).await?,
            false,
        ),
    };
    let outcome = ImageOutcome {
        uri: format!("{name}@{digest}"),
        name,
        tag,
        digest,
        reused,
        in_ecr,
        repository,
    };
    progress.line(&outcome);
    Ok(outcome)
}

async fn build_and_push(
    inputs: &BuildInputs,
    name: &str,
    tag: &str,
    login: &RegistryLogin,
    engine: &Engine,
    progress: &Progress,
) -> Result<String, ImageError> {
    progress.line(format!(
        "building {name}:{tag} from {} (base {})",
        context::DOCKERFILE,
        inputs.base
    ));
    engine
        .build(inputs, &format!("{name}:{tag}"), progress)
        .await?;
    progress.status(format!("pushing {name}:{tag}"));
    engine.push(name, tag, login, progress).await?;
    let digest = engine.pushed_digest(name, tag, login).await?;
    if !is_digest(&digest) {
        return Err(ImageError::Push(format!(
            "the registry gave {name}:{tag} a malformed digest {digest:?}"
        )));
    }
    Ok(digest)
}

/// Builds the image for this machine under a local name (`noteapp-local:<content tag>`),
/// unless the engine already has it, and removes the ones it supersedes; for
/// `noteapp local --docker`.
pub async fn build_local(
    root: &Path,
    base: &str,
    bootstrap: Option<&Path>,
    engine: &Engine,
    progress: &Progress,
) -> Result<String, ImageError> {
    let architecture = if cfg!(target_arch = "aarch64") {
        Architecture::Arm64
    } else {
        Architecture::X86_64
    };
    let (_, platform) = binary::target(architecture);
    let path = match bootstrap {
        Some(path) => binary::prebuilt(path)?,
        None => binary::build_bootstrap(root, "development", architecture, progress).await?,
    };
    let base_digest = engine.base_digest(base, progress).await?;
    let inputs = BuildInputs::read(root, &path, base, &base_digest, platform)?;
    let image = format!("{LOCAL_REPOSITORY}:{}", inputs.content_tag());
    if engine.docker().await?.inspect_image(&image).await.is_ok() {
        progress.line(format!("image {image} is up to date"));
    } else {
        progress.line(format!(
            "building {image} from {} (base {base})",
            context::DOCKERFILE
        ));
        engine.build(&inputs, &image, progress).await?;
    }
    // Each change of the binary makes a new local image: keep only the current one.
    let removed = engine
        .remove_superseded(LOCAL_REPOSITORY, &image, progress)
        .await?;
    if removed > 0 {
        progress.line(format!(
            "removed {removed} superseded {LOCAL_REPOSITORY} image(s)"
        ));
    }
    Ok(image)
}

/// The engine-only repository of `noteapp local --docker`'s images.
const LOCAL_REPOSITORY: &str = "noteapp-local";

/// `host[:port]` from an endpoint given as a host or a URL.
fn registry_host(endpoint: &str) -> String {
    let host = endpoint
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    host.trim_end_matches('/').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_endpoints_are_hosts_and_digests_are_checked() {
        assert_eq!(registry_host("http://127.0.0.1:5000/"), "127.0.0.1:5000");
        assert_eq!(registry_host(" 127.0.0.1:5000 "), "127.0.0.1:5000");
        assert_eq!(
            registry_host("https://mirror.example:443"),
            "mirror.example:443"
        );
        assert!(is_digest(&format!("sha256:{}", "0a".repeat(32))));
        assert!(!is_digest("sha256:abc"));
        assert!(!is_digest(&format!("sha256:{}", "A".repeat(64))));
    }
}
