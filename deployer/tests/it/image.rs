//! End to end through the `noteapp` binary, against a real Docker engine, a real registry on
//! loopback (basic auth matching moto's ECR token) and `moto_server` for ECR (see
//! `noteapp-test-support`; `scripts/docker.sh` starts the first two).
//!
//! `noteapp image` builds the image from `Dockerfile.lambda` on `scratch`, pushes it with the
//! credentials decoded from moto's ECR token, and on a second run reuses it; the image is pulled
//! back by digest with those credentials and run by `noteapp local --docker`, whose container
//! answers `/healthz` and accepts a token signed with the host's data directory; SIGTERM removes
//! the container.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bollard::Docker;
use bollard::auth::DockerCredentials;
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, ListContainersOptionsBuilder,
    ListImagesOptionsBuilder, RemoveImageOptionsBuilder,
};
use common::{REGION, ecr_client};
use futures_util::StreamExt;
use noteapp_test_support::docker::{Peers, RemoveImages, peers};
use noteapp_test_support::moto::aws_env;
use noteapp_test_support::{free_port, http_get, unique, workspace};

const NOTEAPP: &str = env!("CARGO_BIN_EXE_noteapp");

fn noteapp(peers: &Peers, args: &[&str]) -> Output {
    let output = Command::new(NOTEAPP)
        .current_dir(workspace())
        .args(args)
        .envs(aws_env(&peers.moto, REGION))
        .env("NOTEAPP_ROOT", workspace())
        .stdin(Stdio::null())
        .output()
        .expect("noteapp runs");
    assert!(
        output.status.success(),
        "noteapp {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// `--base` and `--bootstrap` for the everyday build's (dynamically linked) `bootstrap` on a base
/// with its libraries: the image tests ship it rather than compile the static release one, which
/// the image benchmark builds and runs on `scratch`.
fn prebuilt_bootstrap() -> [String; 4] {
    let bootstrap = noteapp_test_support::docker::debug_bootstrap();
    let base = noteapp_test_support::docker::host_libraries_image(&bootstrap);
    let bootstrap = bootstrap.to_string_lossy().into_owned();
    ["--base".into(), base, "--bootstrap".into(), bootstrap]
}

fn image_json(peers: &Peers, repository: &str) -> (serde_json::Value, String) {
    let registry = peers.registry.as_str();
    let prebuilt = prebuilt_bootstrap();
    let args = [
        "image",
        "staging",
        &prebuilt[0],
        &prebuilt[1],
        &prebuilt[2],
        &prebuilt[3],
        "--registry-endpoint",
        registry,
        "--repository",
        repository,
        "--json",
    ];
    let output = noteapp(peers, &args);
    let json = serde_json::from_slice(&output.stdout).expect("--json prints JSON");
    (json, String::from_utf8_lossy(&output.stderr).into_owned())
}

/// The credentials in moto's ECR token, for the test registry.
async fn ecr_credentials(peers: &Peers) -> DockerCredentials {
    let answer = ecr_client(&peers.moto)
        .get_authorization_token()
        .send()
        .await
        .unwrap();
    let token = answer.authorization_data()[0]
        .authorization_token()
        .unwrap();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(token)
        .unwrap();
    let decoded = String::from_utf8(decoded).unwrap();
    let (user, password) = decoded.split_once(':').unwrap();
    DockerCredentials {
        username: Some(user.to_owned()),
        password: Some(password.to_owned()),
        serveraddress: Some(peers.registry.clone()),
        ..Default::default()
    }
}

/// `noteapp local --docker ARGS` with fresh ports and data directory, stopped on drop.
struct LocalDocker {
    child: Child,
    port: u16,
    data_dir: PathBuf,
}

impl LocalDocker {
    fn start(extra: &[&str]) -> Self {
        let (port, ws_port) = (free_port(), free_port());
        let data_dir = std::env::temp_dir().join(unique("noteapp-docker-data"));
        let child = Command::new(NOTEAPP)
            .current_dir(workspace())
            .args(["local", "--docker", "--port", &port.to_string()])
            .args(["--ws-port", &ws_port.to_string()])
            .arg("--data-dir")
            .arg(&data_dir)
            .args(extra)
            .stdin(Stdio::null())
            .spawn()
            .expect("noteapp local --docker starts");
        Self {
            child,
            port,
            data_dir,
        }
    }

    /// Waits for `/healthz` to answer 200, for at most `limit`.
    fn wait_healthy(&mut self, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            if let Ok((200, body)) = http_get(self.port, "/healthz", None) {
                return body;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("noteapp local --docker exited early: {status}");
            }
            assert!(Instant::now() < deadline, "no /healthz within {limit:?}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// SIGTERM, then the exit status (within 30 s).
    fn terminate(&mut self) -> std::process::ExitStatus {
        self.stop_within(Duration::from_secs(30))
            .expect("noteapp local --docker ignored SIGTERM")
    }

    /// SIGTERM, then the exit status, or `None` if it has not exited within `limit`. A process
    /// already reaped gets no signal: its id may be another process's by now.
    fn stop_within(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        if let Ok(Some(status)) = self.child.try_wait() {
            return Some(status);
        }
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for LocalDocker {
    /// SIGTERM first, so that a failing test still has its container removed; SIGKILL after 20 s.
    fn drop(&mut self) {
        if self.stop_within(Duration::from_secs(20)).is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

fn local_token(data_dir: &Path) -> String {
    let output = Command::new(NOTEAPP)
        .args(["local", "token", "--uid", "alice", "--data-dir"])
        .arg(data_dir)
        .output()
        .unwrap();
    assert!(output.status.success());
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

async fn containers_named(docker: &Docker, name: &str) -> usize {
    let filters = std::collections::HashMap::from([("name", vec![name])]);
    let options = ListContainersOptionsBuilder::new()
        .all(true)
        .filters(&filters)
        .build();
    docker.list_containers(Some(options)).await.unwrap().len()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_image_is_pushed_once_reused_then_pulled_by_digest_and_served_by_local_docker() {
    let Some(peers) = peers("the_image_is_pushed_once_reused_then_pulled_by_digest") else {
        return;
    };
    let repository = unique("noteapp-e2e");
    let _cleanup = RemoveImages(repository.clone());
    let (first, log) = image_json(&peers, &repository);
    assert_eq!(first["reused"], false, "{first}");
    assert!(log.contains("Step 1/") && log.contains("pushing"), "{log}");
    let uri = first["uri"].as_str().unwrap().to_owned();
    assert!(uri.starts_with(&format!("{}/{repository}@sha256:", peers.registry)));

    let (second, log) = image_json(&peers, &repository);
    assert_eq!(second["reused"], true, "{second}");
    assert_eq!(second["uri"], uri.as_str());
    assert!(
        !log.contains("Step 1/") && !log.contains("pushing"),
        "{log}"
    );

    // Pull it back by digest with the ECR credentials, after dropping the local copy.
    let docker = Docker::connect_with_local_defaults().unwrap();
    let tagged = format!(
        "{}:{}",
        first["name"].as_str().unwrap(),
        first["tag"].as_str().unwrap()
    );
    let force = RemoveImageOptionsBuilder::new().force(true).build();
    docker
        .remove_image(&tagged, Some(force), None)
        .await
        .unwrap();
    let pull = CreateImageOptionsBuilder::new().from_image(&uri).build();
    let credentials = ecr_credentials(&peers).await;
    let mut stream = docker.create_image(Some(pull), None, Some(credentials));
    while let Some(message) = stream.next().await {
        message.expect("pull by digest");
    }
    docker.inspect_image(&uri).await.expect("pulled image");

    // Run it: `bootstrap local` in the container answers on the host's loopback.
    let mut local = tokio::task::block_in_place(|| {
        let mut local = LocalDocker::start(&["--image", &uri]);
        let body = local.wait_healthy(Duration::from_secs(60));
        assert!(body.contains("\"ok\""), "{body}");
        let token = local_token(&local.data_dir);
        let (status, body) = http_get(local.port, "/me/notes", Some(&token)).unwrap();
        assert_eq!(status, 200, "{body}");
        let (status, _) = http_get(local.port, "/me/notes", None).unwrap();
        assert_eq!(status, 401);
        local
    });
    let name = format!("noteapp-local-{}", local.child.id());
    assert_eq!(containers_named(&docker, &name).await, 1);
    let status = tokio::task::block_in_place(|| local.terminate());
    assert!(status.success(), "{status}");
    assert_eq!(
        containers_named(&docker, &name).await,
        0,
        "the container was not removed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn local_docker_builds_its_image_from_dockerfile_lambda_around_a_prebuilt_bootstrap() {
    let Some(_peers) = peers("local_docker_builds_its_image_from_dockerfile_lambda") else {
        return;
    };
    let started = Instant::now();
    tokio::task::block_in_place(|| {
        let prebuilt = prebuilt_bootstrap();
        let mut local = LocalDocker::start(&prebuilt.each_ref().map(String::as_str));
        let body = local.wait_healthy(Duration::from_secs(900));
        assert!(body.contains("\"ok\""), "{body}");
        eprintln!(
            "noteapp local --docker healthy after {:?}",
            started.elapsed()
        );
        let status = local.terminate();
        assert!(status.success(), "{status}");
    });
    // Only the image it ran is left: each rebuild removes the ones it supersedes.
    let docker = Docker::connect_with_local_defaults().unwrap();
    let filters = std::collections::HashMap::from([("reference", vec!["noteapp-local"])]);
    let local_images = docker
        .list_images(Some(
            ListImagesOptionsBuilder::new().filters(&filters).build(),
        ))
        .await
        .unwrap();
    assert_eq!(local_images.len(), 1, "{local_images:?}");

    // A stopped container that an earlier run could not remove (killed with SIGKILL, or the
    // engine restarted under it) would keep its image from ever being removed as superseded:
    // the next run removes it.
    let image = local_images[0].repo_tags[0].clone();
    let left = format!("noteapp-local-{}", 4_000_000_000u32 - std::process::id());
    let body = ContainerCreateBody {
        image: Some(image),
        cmd: Some(vec!["no-such-handler".to_owned()]),
        host_config: Some(HostConfig {
            network_mode: Some("host".to_owned()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let options = CreateContainerOptionsBuilder::new().name(&left).build();
    docker.create_container(Some(options), body).await.unwrap();
    docker.start_container(&left, None).await.unwrap();
    let exited = docker.wait_container(&left, None).next().await;
    assert!(exited.is_some(), "the left-behind container did not stop");
    tokio::task::block_in_place(|| {
        let prebuilt = prebuilt_bootstrap();
        let mut local = LocalDocker::start(&prebuilt.each_ref().map(String::as_str));
        local.wait_healthy(Duration::from_secs(120));
        let status = local.terminate();
        assert!(status.success(), "{status}");
    });
    assert_eq!(
        containers_named(&docker, &left).await,
        0,
        "the stopped container of an earlier run was not removed"
    );
}
