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
    /// The test registry, as `127.0.0.1:PORT`.
    pub registry: String,
    /// A `moto_server` of the test's own, answering ECR and STS; stops when dropped.
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

/// The workspace's everyday (dynamically linked) `bootstrap`, built by
/// `cargo build --workspace --bins` next to the test binaries.
pub fn debug_bootstrap() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    // target/<profile>/deps/<test binary>
    let path = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>")
        .join("bootstrap");
    assert!(
        path.is_file(),
        "{} is missing: build it first with `cargo build --workspace --bins` (scripts/test.sh does)",
        path.display()
    );
    path
}

/// A local base image holding this machine's dynamic loader and every library `binary` links
/// (as `ldd` lists them), at their own paths, and nothing else: a dynamically linked binary runs
/// on it as a static one runs on `scratch`. The image tests ship [`debug_bootstrap`] on it with
/// `--bootstrap`, rather than compiling the static release one. Built once per set of libraries.
pub fn host_libraries_image(binary: &std::path::Path) -> String {
    // Tests of one binary run at once: one builds, the others wait and find it (two builds
    // would retag the image, and its digest, under a test that already read it).
    static BUILDING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _building = BUILDING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let ldd = std::process::Command::new("ldd")
        .arg(binary)
        .output()
        .expect("run ldd");
    assert!(ldd.status.success(), "ldd {}: failed", binary.display());
    let mut libraries: Vec<PathBuf> = String::from_utf8_lossy(&ldd.stdout)
        .lines()
        .filter_map(|line| {
            // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)" or "/lib64/ld-linux….so.2 (0x…)"
            let path = line.split("=>").last()?.split_whitespace().next()?;
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect();
    libraries.sort();
    libraries.dedup();
    assert!(!libraries.is_empty(), "ldd found no libraries");
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325; // FNV-1a over the paths and contents
    for library in &libraries {
        let bytes = std::fs::read(library).expect("read a library");
        for byte in library.to_string_lossy().bytes().chain(bytes) {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    let image = format!("noteapp-test-host-libraries:{hash:016x}");
    let present = std::process::Command::new("docker")
        .args(["image", "inspect", &image])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if present {
        return image;
    }
    let context = tempfile::tempdir().expect("a build context");
    let mut dockerfile = String::from("FROM scratch\n");
    for (i, library) in libraries.iter().enumerate() {
        // Copied by content (a symlink in the context would point outside it).
        let name = format!("lib{i}");
        std::fs::copy(library, context.path().join(&name)).expect("copy a library");
        dockerfile.push_str(&format!("COPY {name} {}\n", library.display()));
    }
    std::fs::write(context.path().join("Dockerfile"), dockerfile).unwrap();
    let status = std::process::Command::new("docker")
        .args(["build", "-q", "-t", &image])
        .arg(context.path())
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run docker build");
    assert!(status.success(), "docker build of {image} failed");
    image
}
