//! The Docker engine and the loopback registry that `scripts/docker.sh` starts.
//!
//! The script writes `NOTEAPP_TEST_REGISTRY=127.0.0.1:PORT` to `target/docker/registry.env`; the
//! variable itself wins when set. The registry's password file matches moto's ECR token
//! (`AWS:123456789012-auth-token`), so pushes with ECR's credentials work against it.

use std::net::TcpStream;
use std::path::PathBuf;

/// The engine's unix socket: `DOCKER_HOST=unix://…`, else the default.
pub fn engine_socket() -> PathBuf {
    match std::env::var("DOCKER_HOST") {
        Ok(host) if host.starts_with("unix://") => PathBuf::from(&host["unix://".len()..]),
        _ => PathBuf::from("/var/run/docker.sock"),
    }
}

/// The registry `scripts/docker.sh` started, as `127.0.0.1:PORT`.
pub fn registry() -> Option<String> {
    if let Ok(value) = std::env::var("NOTEAPP_TEST_REGISTRY")
        && !value.is_empty()
    {
        return Some(value);
    }
    let file = crate::workspace().join("target/docker/registry.env");
    let text = std::fs::read_to_string(file).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("NOTEAPP_TEST_REGISTRY="))
        .map(|v| v.trim().to_owned())
}

/// The engine answers on its socket and the registry on its port; `None` after the
/// [`crate::missing`] rule otherwise. Returns the registry's `127.0.0.1:PORT`.
pub fn engine_and_registry(test: &str) -> Option<String> {
    if std::os::unix::net::UnixStream::connect(engine_socket()).is_err() {
        return crate::missing(
            test,
            &format!("no Docker engine at {}", engine_socket().display()),
        );
    }
    let Some(registry) = registry() else {
        return crate::missing(test, "no test registry (NOTEAPP_TEST_REGISTRY)");
    };
    if TcpStream::connect(&registry).is_err() {
        return crate::missing(
            test,
            &format!("the test registry at {registry} does not answer"),
        );
    }
    Some(registry)
}

/// Everything an image test talks to: the registry and a `moto_server` for ECR and STS.
pub struct Peers {
    pub registry: String,
    pub moto: crate::moto::MotoServer,
}

/// Checks the engine and the registry and starts a `moto_server`; `None` (after the notice)
/// outside the test command when something is missing.
pub fn peers(test: &str) -> Option<Peers> {
    let registry = engine_and_registry(test)?;
    let moto = crate::moto::MotoServer::start_or_skip(test)?;
    Some(Peers { registry, moto })
}

/// Removes from the engine, when dropped, every tag and digest reference of `repository` (in
/// any registry), so repeated runs do not pile up images; an image that another repository also
/// names stays under that name.
pub struct RemoveImages(pub String);

impl Drop for RemoveImages {
    fn drop(&mut self) {
        use std::process::{Command, Stdio};
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
