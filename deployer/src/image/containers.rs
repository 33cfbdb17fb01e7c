//! `noteapp local --docker`: the Lambda image run as the local stack, in one container.
//!
//! The image holds only `bootstrap`, so the container runs `bootstrap local` (the same wiring as
//! `noteapp local`, from the runtime crate) with the HTTP API and the WebSocket API on the
//! container's own listeners. The engine here has no bridge network, so the container shares the
//! host's network (`network_mode: host`): its ports 8000 and 3001 are the host's, on loopback.
//! The data directory is bind-mounted at `/data` and the container runs as the directory's
//! owner, so `noteapp local token` on the host signs with the same key the container trusts.
//! `init: true` puts an init process at PID 1 (a server as PID 1 ignores SIGTERM); the logs are
//! streamed to stderr, and the container is removed when it stops, when Ctrl-C or SIGTERM
//! arrives, or when this command fails.

use std::future::Future;
use std::path::Path;

use bollard::container::LogOutput;
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, LogsOptionsBuilder,
    RemoveContainerOptionsBuilder, StopContainerOptionsBuilder,
};
use futures_util::StreamExt;

use noteapp_runtime::auth::LocalSigner;
use noteapp_runtime::settings::LocalSettings;

use super::ImageError;
use super::engine::Engine;
use crate::config;
use crate::error::Error;
use crate::progress::Progress;

/// One local stack container: the image, and the settings `bootstrap local` gets through the
/// variables [`LocalSettings::container_vars`] defines (`data_dir` is the host's directory,
/// mounted at [`LocalSettings::CONTAINER_DATA_DIR`]).
#[derive(Debug, Clone)]
pub struct LocalContainer {
    /// The image to run (`NAME:TAG` or `NAME@sha256:…`).
    pub image: String,
    /// What `bootstrap local` serves with: ports, limits, CORS, the host's data directory.
    pub settings: LocalSettings,
}

impl LocalContainer {
    fn body(&self) -> ContainerCreateBody {
        let env = self
            .settings
            .container_vars()
            .into_iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        let data_dir = &self.settings.data_dir;
        ContainerCreateBody {
            image: Some(self.image.clone()),
            cmd: Some(vec!["local".to_owned()]),
            env: Some(env),
            user: owner(data_dir),
            host_config: Some(HostConfig {
                network_mode: Some("host".to_owned()),
                binds: Some(vec![format!(
                    "{}:{}",
                    data_dir.display(),
                    LocalSettings::CONTAINER_DATA_DIR
                )]),
                init: Some(true),
                ..Default::default()
            }),
            ..Default::default()
        }
    }
}

/// `uid:gid` of the data directory's owner.
fn owner(dir: &std::path::Path) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(dir)
            .ok()
            .map(|m| format!("{}:{}", m.uid(), m.gid()))
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        None
    }
}

/// `noteapp local --docker`: prepares the data directory (with the signing key, so host and
/// container share it), builds the image from `Dockerfile.lambda` on `base` unless `spec.image`
/// names one (which must then be in the engine already: `docker pull` it), and runs it.
pub async fn serve(
    mut spec: LocalContainer,
    base: &str,
    bootstrap: Option<&Path>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    let data_dir = &mut spec.settings.data_dir;
    std::fs::create_dir_all(&*data_dir)?;
    *data_dir = std::fs::canonicalize(&*data_dir)?;
    LocalSigner::load_or_create(data_dir).map_err(|e| Error::SigningKey {
        dir: data_dir.clone(),
        reason: e.to_string(),
    })?;
    let engine = Engine::default();
    let progress = Progress::stderr();
    remove_left_behind(&engine, &progress).await?;
    let mut shutdown = std::pin::pin!(shutdown);
    let result = async {
        if spec.image.is_empty() {
            let cwd = std::env::current_dir()?;
            let root = config::locate_root(None, &cwd)?;
            let build = super::build_local(&root, base, bootstrap, &engine, &progress);
            spec.image = tokio::select! {
                built = build => built?,
                () = &mut shutdown => return Err(Error::Interrupted(
                    "the image build was stopped; no container was started".into(),
                )),
            };
        } else if engine
            .docker()
            .await?
            .inspect_image(&spec.image)
            .await
            .is_err()
        {
            return Err(Error::Usage(format!(
                "the Docker engine has no image {}: pull it first (docker login, docker pull), \
                 or leave out --image to build one",
                spec.image
            )));
        }
        Ok(run_local_container(&engine, &spec, shutdown, &progress).await?)
    }
    .await;
    progress.clear();
    result
}

/// Runs `spec` until it exits or `shutdown` resolves, streaming its logs to stderr; the
/// container is removed in every case.
pub async fn run_local_container(
    engine: &Engine,
    spec: &LocalContainer,
    shutdown: impl Future<Output = ()>,
    progress: &Progress,
) -> Result<(), ImageError> {
    let docker = engine.docker().await?;
    let name = format!("{CONTAINER_PREFIX}{}", std::process::id());
    let options = CreateContainerOptionsBuilder::new().name(&name).build();
    docker
        .create_container(Some(options), spec.body())
        .await
        .map_err(|e| {
            ImageError::Engine(format!("cannot create container from {}: {e}", spec.image))
        })?;
    let result = run_created(engine, &name, spec, shutdown, progress).await;
    let remove = RemoveContainerOptionsBuilder::new().force(true).build();
    if let Err(e) = docker.remove_container(&name, Some(remove)).await {
        progress.line(format!("warning: cannot remove container {name}: {e}"));
    }
    result
}

/// The name of each local stack container, followed by the process id of the command that runs
/// it.
const CONTAINER_PREFIX: &str = "noteapp-local-";

/// Removes the stopped containers of earlier runs that could not remove their own (killed with
/// SIGKILL, or the engine restarted under them), and returns how many went. A stopped container
/// keeps its image from being removed as superseded, and its name may come back with a reused
/// process id. A running one is left alone: it may be another terminal's `noteapp local --docker`.
async fn remove_left_behind(engine: &Engine, progress: &Progress) -> Result<usize, ImageError> {
    let docker = engine.docker().await?;
    // Only containers that have stopped: one just created may be about to start.
    let name = format!("^/{CONTAINER_PREFIX}[0-9]+$");
    let filters = std::collections::HashMap::from([
        ("name", vec![name.as_str()]),
        ("status", vec!["exited", "dead"]),
    ]);
    let options = ListContainersOptionsBuilder::new()
        .all(true)
        .filters(&filters)
        .build();
    let containers = docker
        .list_containers(Some(options))
        .await
        .map_err(|e| ImageError::Engine(format!("cannot list the engine's containers: {e}")))?;
    let mut removed = 0;
    for id in containers.iter().filter_map(|c| c.id.as_deref()) {
        let remove = RemoveContainerOptionsBuilder::new().force(true).build();
        match docker.remove_container(id, Some(remove)).await {
            Ok(()) => removed += 1,
            Err(e) => progress.line(format!(
                "warning: cannot remove stopped container {id}: {e}"
            )),
        }
    }
    if removed > 0 {
        progress.line(format!(
            "removed {removed} stopped container(s) left by an earlier noteapp local --docker"
        ));
    }
    Ok(removed)
}

async fn run_created(
    engine: &Engine,
    name: &str,
    spec: &LocalContainer,
    shutdown: impl Future<Output = ()>,
    progress: &Progress,
) -> Result<(), ImageError> {
    let docker = engine.docker().await?;
    docker
        .start_container(name, None)
        .await
        .map_err(|e| ImageError::Engine(format!("cannot start container {name}: {e}")))?;
    progress.line(format!(
        "noteapp local --docker: container {name} ({}), API on http://{}:{}, WebSocket on ws://{}:{}, data in {}",
        spec.image,
        spec.settings.host,
        spec.settings.port,
        spec.settings.host,
        spec.settings.ws_port,
        spec.settings.data_dir.display()
    ));
    let logs = LogsOptionsBuilder::new()
        .follow(true)
        .stdout(true)
        .stderr(true)
        .build();
    let mut logs = docker.logs(name, Some(logs));
    let follow = async {
        while let Some(Ok(output)) = logs.next().await {
            if let LogOutput::StdOut { message } | LogOutput::StdErr { message } = output {
                progress.line(String::from_utf8_lossy(&message).trim_end());
            }
        }
    };
    let mut wait = docker.wait_container(name, None);
    let exited = async {
        let code = match wait.next().await {
            Some(Ok(done)) => done.status_code,
            Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => code,
            Some(Err(e)) => return Err(ImageError::Engine(format!("lost container {name}: {e}"))),
            None => 0,
        };
        Ok(code)
    };
    tokio::select! {
        code = async { tokio::join!(follow, exited).1 } => {
            match code? {
                0 => Ok(()),
                code => Err(ImageError::Engine(format!("container {name} exited with status {code}; its log is above"))),
            }
        }
        () = shutdown => {
            progress.status(format!("stopping container {name}"));
            let stop = StopContainerOptionsBuilder::new().t(10).build();
            let _ = docker.stop_container(name, Some(stop)).await;
            progress.line("noteapp local --docker: stopped");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_container_shares_the_host_network_mounts_the_data_and_has_an_init() {
        let dir = std::env::temp_dir();
        let spec = LocalContainer {
            image: "noteapp-local:build-0".into(),
            settings: LocalSettings {
                data_dir: dir.clone(),
                host: "127.0.0.1".into(),
                port: 8000,
                ws_port: 3001,
                cors_origins: vec!["http://localhost:3000".into()],
                firebase_project: "noteapp-local".into(),
                auth_emulator: None,
                sync: noteapp_runtime::settings::SyncMode::Always,
                rate_limits: None,
            },
        };
        let body = spec.body();
        assert_eq!(body.cmd, Some(vec!["local".to_owned()]));
        let host = body.host_config.unwrap();
        assert_eq!(host.network_mode.as_deref(), Some("host"));
        assert_eq!(host.init, Some(true));
        assert_eq!(host.binds, Some(vec![format!("{}:/data", dir.display())]));
        let env = body.env.unwrap();
        assert!(env.contains(&"NOTEAPP_PORT=8000".to_owned()));
        assert!(env.contains(&"NOTEAPP_DATA_DIR=/data".to_owned()));
        assert!(env.contains(&"NOTEAPP_SYNC=always".to_owned()));
        assert!(body.user.is_some());
    }
}
