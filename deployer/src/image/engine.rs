//! The Docker engine, through bollard: build from an in-memory context, push, read digests back,
//! pull.
//!
//! The engine is reached over its local socket (`DOCKER_HOST=unix://…` honoured) and only when
//! first needed, so a deploy whose image already exists never requires one. bollard negotiates
//! the API version with the engine (1.41 on Debian's 20.10). Two details the engine and bollard
//! leave to the caller: bollard's push stream drops the engine's digest message, so the pushed
//! digest is read from `inspect_image().repo_digests` (or, failing that, asked of the registry
//! through the engine's distribution endpoint); and a build or push reports failure inside its
//! stream, which is checked message by message. Each build and push is counted, so tests can
//! prove a run made none.

use std::sync::atomic::{AtomicUsize, Ordering};

use bollard::Docker;
use bollard::auth::DockerCredentials;
use bollard::query_parameters::{
    BuildImageOptionsBuilder, CreateImageOptionsBuilder, ListImagesOptionsBuilder,
    PushImageOptionsBuilder, RemoveImageOptionsBuilder,
};
use futures_util::StreamExt;
use tokio::sync::OnceCell;

use super::ImageError;
use super::context::{BuildInputs, DOCKERFILE};
use crate::aws::ecr::RegistryLogin;
use crate::progress::Progress;

/// A lazily connected engine, counting the builds and pushes it was asked for.
#[derive(Default)]
pub struct Engine {
    docker: OnceCell<Docker>,
    builds: AtomicUsize,
    pushes: AtomicUsize,
}

impl Engine {
    /// The engine's client, connecting and negotiating the API version on first use.
    pub async fn docker(&self) -> Result<&Docker, ImageError> {
        self.docker
            .get_or_try_init(|| async {
                let unreachable = |e: bollard::errors::Error| ImageError::Engine(format!(
                    "cannot reach the Docker engine ({e}): start it (scripts/docker.sh starts one \
                     for the tests) or point DOCKER_HOST=unix://PATH at its socket"
                ));
                let docker = Docker::connect_with_local_defaults().map_err(unreachable)?;
                let docker = docker.negotiate_version().await.map_err(unreachable)?;
                Ok(docker)
            })
            .await
    }

    /// How many builds this engine started.
    pub fn builds(&self) -> usize {
        self.builds.load(Ordering::SeqCst)
    }

    /// How many pushes this engine started.
    pub fn pushes(&self) -> usize {
        self.pushes.load(Ordering::SeqCst)
    }

    /// Builds `Dockerfile.lambda` from `inputs` as `image` (NAME:TAG), streaming the engine's
    /// output to `progress`; returns the image id.
    pub async fn build(
        &self,
        inputs: &BuildInputs,
        image: &str,
        progress: &Progress,
    ) -> Result<String, ImageError> {
        let docker = self.docker().await?;
        self.builds.fetch_add(1, Ordering::SeqCst);
        let context = inputs
            .context_tar()
            .map_err(|e| ImageError::Build(format!("cannot pack the build context: {e}")))?;
        let options = BuildImageOptionsBuilder::new()
            .dockerfile(DOCKERFILE)
            .t(image)
            .buildargs(&inputs.build_args())
            .platform(&inputs.platform)
            .rm(true)
            .forcerm(true)
            .build();
        let body = bollard::body_full(context.into());
        let mut stream = docker.build_image(options, None, Some(body));
        let mut id = None;
        while let Some(message) = stream.next().await {
            let message = message.map_err(|e| ImageError::Build(e.to_string()))?;
            if let Some(error) = message.error_detail.and_then(|d| d.message) {
                return Err(ImageError::Build(error));
            }
            if let Some(text) = message.stream {
                for line in text.lines().map(str::trim_end).filter(|l| !l.is_empty()) {
                    progress.line(format!("  {line}"));
                }
            }
            if let Some(status) = message.status {
                progress.status(format!("build: {status}"));
            }
            if let Some(aux) = message.aux.and_then(|a| a.id) {
                id = Some(aux);
            }
        }
        match id {
            Some(id) => Ok(id),
            None => Ok(docker
                .inspect_image(image)
                .await
                .map_err(|e| {
                    ImageError::Build(format!("the engine built nothing named {image}: {e}"))
                })?
                .id
                .unwrap_or_default()),
        }
    }

    /// Removes the tags of `repository` other than `keep` (NAME:TAG) and returns how many went;
    /// an image goes with its last tag, and one that also carries another repository's tag
    /// stays under that one. An image a container still uses stays (the engine refuses without
    /// force, which is never asked for); such failures are only reported.
    pub async fn remove_superseded(
        &self,
        repository: &str,
        keep: &str,
        progress: &Progress,
    ) -> Result<usize, ImageError> {
        let docker = self.docker().await?;
        let filters = std::collections::HashMap::from([("reference", vec![repository])]);
        let images = docker
            .list_images(Some(
                ListImagesOptionsBuilder::new().filters(&filters).build(),
            ))
            .await
            .map_err(|e| {
                ImageError::Build(format!("cannot list the images of {repository}: {e}"))
            })?;
        let prefix = format!("{repository}:");
        let superseded = images
            .iter()
            .flat_map(|image| &image.repo_tags)
            .filter(|tag| tag.starts_with(&prefix) && tag.as_str() != keep);
        let mut removed = 0;
        for tag in superseded {
            let options = RemoveImageOptionsBuilder::new().force(false).build();
            match docker.remove_image(tag, Some(options), None).await {
                Ok(_) => removed += 1,
                Err(e) => progress.line(format!("kept superseded image {tag}: {e}")),
            }
        }
        Ok(removed)
    }

    /// Pushes `name:tag` with `login`, streaming progress; returns nothing: see [`Self::pushed_digest`].
    pub async fn push(
        &self,
        name: &str,
        tag: &str,
        login: &RegistryLogin,
        progress: &Progress,
    ) -> Result<(), ImageError> {
        let docker = self.docker().await?;
        self.pushes.fetch_add(1, Ordering::SeqCst);
        let options = PushImageOptionsBuilder::new().tag(tag).build();
        let mut stream = docker.push_image(name, Some(options), Some(credentials(login)));
        while let Some(message) = stream.next().await {
            let message = message
                .map_err(|e| ImageError::Push(format!("push of {name}:{tag} failed: {e}")))?;
            if let Some(status) = message.status {
                let detail = message
                    .progress_detail
                    .and_then(|d| Some((d.current?, d.total?)));
                match detail {
                    Some((current, total)) if total > 0 => progress.status(format!(
                        "push {name}:{tag}: {status} {:.1}/{:.1} MB",
                        current as f64 / 1e6,
                        total as f64 / 1e6
                    )),
                    _ => progress.status(format!("push {name}:{tag}: {status}")),
                }
            }
        }
        Ok(())
    }

    /// The digest `name:tag` was pushed under: from the local image's repo digests, else from
    /// the registry.
    pub async fn pushed_digest(
        &self,
        name: &str,
        tag: &str,
        login: &RegistryLogin,
    ) -> Result<String, ImageError> {
        let docker = self.docker().await?;
        let image = docker
            .inspect_image(&format!("{name}:{tag}"))
            .await
            .map_err(|e| {
                ImageError::Push(format!("cannot inspect {name}:{tag} after the push: {e}"))
            })?;
        let prefix = format!("{name}@");
        let local = image
            .repo_digests
            .unwrap_or_default()
            .into_iter()
            .find_map(|d| d.strip_prefix(&prefix).map(str::to_owned));
        match local {
            Some(digest) => Ok(digest),
            None => self
                .registry_digest(name, tag, login)
                .await?
                .ok_or_else(|| {
                    ImageError::Push(format!("the registry has no {name}:{tag} after the push"))
                }),
        }
    }

    /// The digest of `name:tag` in its registry, or `None` when the registry has no such tag.
    pub async fn registry_digest(
        &self,
        name: &str,
        tag: &str,
        login: &RegistryLogin,
    ) -> Result<Option<String>, ImageError> {
        let docker = self.docker().await?;
        let reference = format!("{name}:{tag}");
        match docker
            .inspect_registry_image(&reference, Some(credentials(login)))
            .await
        {
            Ok(found) => Ok(found.descriptor.digest),
            Err(bollard::errors::Error::DockerResponseServerError { message, .. })
                if is_unknown_manifest(&message) =>
            {
                Ok(None)
            }
            Err(e) => Err(ImageError::Engine(format!(
                "cannot ask the registry about {reference}: {e}"
            ))),
        }
    }

    /// What `base` is now, for the content tag: `scratch` for `scratch`; else the digest its
    /// registry gives for it (pulling it first when the engine's copy is another one, so the
    /// build uses what the tag names now); else, for an image the engine has and no registry
    /// answers for (one built here, or offline), the engine's image id.
    pub async fn base_digest(&self, base: &str, progress: &Progress) -> Result<String, ImageError> {
        if base == "scratch" {
            return Ok("scratch".to_owned());
        }
        let docker = self.docker().await?;
        let local = docker.inspect_image(base).await.ok();
        let local_digests = local
            .as_ref()
            .and_then(|image| image.repo_digests.clone())
            .unwrap_or_default();
        progress.status(format!("looking up the base image {base}"));
        match docker.inspect_registry_image(base, None).await {
            Ok(found) => {
                if let Some(digest) = found.descriptor.digest {
                    if !local_digests.iter().any(|d| d.ends_with(&digest)) {
                        self.pull(base, None, progress).await?;
                    }
                    return Ok(digest);
                }
            }
            Err(e) => tracing::debug!(base, error = %e, "the base image's registry gave no digest"),
        }
        match local.and_then(|image| image.id) {
            Some(id) => Ok(id),
            None => {
                self.pull(base, None, progress).await?;
                let id = docker
                    .inspect_image(base)
                    .await
                    .ok()
                    .and_then(|image| image.id)
                    .ok_or_else(|| {
                        ImageError::Engine(format!(
                            "the Docker engine cannot find the base image {base}"
                        ))
                    })?;
                Ok(id)
            }
        }
    }

    /// Pulls `reference` (NAME@sha256:… or NAME:TAG) with `login`.
    pub async fn pull(
        &self,
        reference: &str,
        login: Option<&RegistryLogin>,
        progress: &Progress,
    ) -> Result<(), ImageError> {
        let docker = self.docker().await?;
        let options = CreateImageOptionsBuilder::new()
            .from_image(reference)
            .build();
        let mut stream = docker.create_image(Some(options), None, login.map(credentials));
        while let Some(message) = stream.next().await {
            let message = message
                .map_err(|e| ImageError::Engine(format!("pull of {reference} failed: {e}")))?;
            if let Some(error) = message.error_detail.and_then(|d| d.message) {
                return Err(ImageError::Engine(format!(
                    "pull of {reference} failed: {error}"
                )));
            }
            if let Some(status) = message.status {
                progress.status(format!("pull {reference}: {status}"));
            }
        }
        Ok(())
    }
}

/// The registry's ways of saying a tag does not exist, as the engine relays them.
fn is_unknown_manifest(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    ["manifest unknown", "not found", "does not exist"]
        .iter()
        .any(|m| message.contains(m))
}

fn credentials(login: &RegistryLogin) -> DockerCredentials {
    DockerCredentials {
        username: Some(login.username.clone()),
        password: Some(login.password.clone()),
        serveraddress: Some(login.registry.clone()),
        ..Default::default()
    }
}
