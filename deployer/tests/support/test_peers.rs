//! The real peers of the deployer's tests: a Docker engine, a registry on loopback with basic
//! auth, and `moto_server` (ECR, STS). Shared by `tests/image.rs`, the unit tests in
//! `src/image/tests.rs` and `src/aws/sts.rs` (included there with `#[path]`), and by
//! `benches/image.rs`.
//!
//! `scripts/docker.sh` (run by `scripts/test.sh`) starts the engine and the registry and writes
//! `NOTEAPP_TEST_REGISTRY=127.0.0.1:PORT` to `target/docker/registry.env`; the variable itself
//! wins when set. When a peer is missing the tests print a skip notice and pass, except with
//! `NOTEAPP_REQUIRE_SERVICES` (set by `scripts/test.sh`) or `CI` set, where they fail: the test
//! command never skips them silently.

#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The workspace root.
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the deployer crate lives in the workspace")
        .to_path_buf()
}

fn in_ci() -> bool {
    ["NOTEAPP_REQUIRE_SERVICES", "CI"]
        .iter()
        .any(|name| std::env::var(name).is_ok_and(|v| !v.is_empty() && v != "false" && v != "0"))
}

/// Fails in CI, prints a skip notice elsewhere.
fn missing<T>(test: &str, what: &str) -> Option<T> {
    let message =
        format!("{what}: run `scripts/test.sh` (it installs and starts the test services)");
    assert!(!in_ci(), "{test}: {message}");
    eprintln!("skipping {test}: {message}");
    None
}

/// The registry `scripts/docker.sh` started, as `127.0.0.1:PORT`.
pub fn registry() -> Option<String> {
    if let Ok(value) = std::env::var("NOTEAPP_TEST_REGISTRY")
        && !value.is_empty()
    {
        return Some(value);
    }
    let file = workspace().join("target/docker/registry.env");
    let text = std::fs::read_to_string(file).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("NOTEAPP_TEST_REGISTRY="))
        .map(|v| v.trim().to_owned())
}

fn engine_socket() -> PathBuf {
    match std::env::var("DOCKER_HOST") {
        Ok(host) if host.starts_with("unix://") => PathBuf::from(&host["unix://".len()..]),
        _ => PathBuf::from("/var/run/docker.sock"),
    }
}

/// A running `moto_server`, killed on drop.
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Everything an image test talks to.
pub struct Peers {
    pub registry: String,
    pub moto: Moto,
}

/// Checks the engine and the registry and starts a `moto_server`; `None` (after a notice)
/// outside the test command when something is missing.
pub fn peers(test: &str) -> Option<Peers> {
    if std::os::unix::net::UnixStream::connect(engine_socket()).is_err() {
        return missing(
            test,
            &format!("no Docker engine at {}", engine_socket().display()),
        );
    }
    let Some(registry) = registry() else {
        return missing(test, "no test registry (NOTEAPP_TEST_REGISTRY)");
    };
    if TcpStream::connect(&registry).is_err() {
        return missing(
            test,
            &format!("the test registry at {registry} does not answer"),
        );
    }
    let moto = moto(test)?;
    Some(Peers { registry, moto })
}

/// Starts a `moto_server` on a free loopback port; `None` (after a notice) outside the test
/// command when it is not installed.
pub fn moto(test: &str) -> Option<Moto> {
    let executable = match std::env::var_os("NOTEAPP_MOTO_SERVER") {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => workspace().join(".venv/bin/moto_server"),
    };
    if !executable.is_file() {
        missing(test, &format!("no moto_server at {}", executable.display()))?;
    }
    let port = free_port();
    let child = Command::new(&executable)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", executable.display()));
    let moto = Moto {
        child,
        endpoint: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "moto_server did not start on port {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(moto)
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A name no earlier run used: repositories in the shared registry outlive the tests.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

/// An ECR client on `moto` for the staging account's region.
pub fn ecr_client(moto: &Moto) -> aws_sdk_ecr::Client {
    use aws_sdk_ecr::config::{BehaviorVersion, Credentials, Region};
    let config = aws_sdk_ecr::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("ap-northeast-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .endpoint_url(&moto.endpoint)
        .build();
    aws_sdk_ecr::Client::from_conf(config)
}

/// The variables that point `noteapp` at moto with the staging account (123456789012).
pub fn aws_env(moto: &Moto) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", moto.endpoint.clone()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_SESSION_TOKEN", "testing".into()),
        ("AWS_REGION", "ap-northeast-1".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ("AWS_CONFIG_FILE", "/dev/null".into()),
        ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null".into()),
    ]
}

/// A plain HTTP/1.1 GET on loopback: (status, body).
pub fn http_get(port: u16, path: &str, token: Option<&str>) -> std::io::Result<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Connection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

/// Removes from the engine, when dropped, every tag and digest reference of `repository` (in
/// any registry), so repeated runs do not pile up images; an image that another repository also
/// names stays under that name.
pub struct RemoveImages(pub String);

impl Drop for RemoveImages {
    fn drop(&mut self) {
        let Ok(out) = Command::new("docker")
            .args([
                "images",
                "--digests",
                "--format",
                "{{.Repository}} {{.Tag}} {{.Digest}}",
            ])
            .output()
        else {
            return;
        };
        let suffix = format!("/{}", self.0);
        let mut references: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|line| {
                let mut fields = line.split(' ');
                let (repo, tag, digest) = (fields.next()?, fields.next()?, fields.next()?);
                if repo != self.0 && !repo.ends_with(&suffix) {
                    return None;
                }
                match (tag, digest) {
                    ("<none>", "<none>") => None,
                    ("<none>", digest) => Some(format!("{repo}@{digest}")),
                    (tag, _) => Some(format!("{repo}:{tag}")),
                }
            })
            .collect();
        references.sort();
        references.dedup();
        if !references.is_empty() {
            let _ = Command::new("docker")
                .arg("rmi")
                .args(&references)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}
