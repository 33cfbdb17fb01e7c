//! Benchmark: the image pipeline (`noteapp image`) against a real engine, registry and moto's ECR.
//!
//! It works on a copy of the workspace in a temporary directory (so the one-line change never
//! touches the checkout) whose `target/` is a link to the real one. It prints:
//! - the layer noteapp adds to the base: the `COPY bootstrap` layer's size in the engine
//!   (uncompressed) and in the registry's manifest (compressed, what is pushed and stored);
//! - first run: the cargo step (normally a no-op: cargo's fingerprints of workspace members do
//!   not depend on the workspace's path, so the copy shares the checkout's build), then the image
//!   build + push to an empty repository (the engine's build cache and the registry's cross-
//!   repository blob mount may already know this binary from the tests);
//! - after a one-line change in a handler (`/healthz` in `runtime/src/api/mod.rs`): cargo's
//!   rebuild (release builds are not incremental: `noteapp-runtime` is compiled whole and linked
//!   with thin LTO; dependencies stay cached), then the image build + push of the new layer (the
//!   change is unique per run, so no cache has seen the binary);
//! - a second run with no change: its wall time, and that it reused the image (exit 1 if not).
//!
//! Each cargo step is timed alone (the same command `image::binary` runs), so the `noteapp image`
//! run after it measures the image build + push. By default the copy gets its own empty
//! `target/`, so the first run's cargo step is a clean build of every dependency (minutes on 2
//! cores), the baseline the one-line rebuild is compared with; `NOTEAPP_BENCH_QUICK=1` links the
//! checkout's `target/` instead and skips that baseline.
//!
//! Rerun: `scripts/docker.sh && cargo bench -p noteapp --bench image`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use noteapp::image::recipe;
use noteapp_test_support::docker::{Peers, RemoveImages, peers};
use noteapp_test_support::moto::aws_env;
use noteapp_test_support::{unique, workspace};

const NOTEAPP: &str = env!("CARGO_BIN_EXE_noteapp");
/// moto's ECR token, decoded (scripts/docker.sh gives the registry the same password).
const LOGIN: &str = "AWS:123456789012-auth-token";
const HEALTHZ: &str = r#"json!({"status": "ok"})"#;

fn main() {
    let Some(peers) = peers("the image benchmark") else {
        return;
    };
    let copy = copy_workspace();
    let repository = unique("noteapp-bench");
    let _cleanup = RemoveImages(repository.clone());
    println!(
        "image benchmark: base scratch, registry {}, ECR on moto, copy in {}",
        peers.registry,
        copy.display()
    );

    let cold_cargo = cargo_build(&copy);
    let (cold, cold_image) = image(&peers, &copy, &repository);
    assert_eq!(
        cold["reused"], false,
        "a fresh repository reused an image: {cold}"
    );
    let (name, tag) = (
        cold["name"].as_str().unwrap().to_owned(),
        cold["tag"].as_str().unwrap().to_owned(),
    );
    let uncompressed = copy_layer_size(&format!("{name}:{tag}"));
    let compressed = registry_layer_size(&peers.registry, &repository, &tag);

    let (same, same_time) = image(&peers, &copy, &repository);
    let reused = same["reused"] == true && same["uri"] == cold["uri"];

    let handler = copy.join("runtime/src/api/mod.rs");
    let source = std::fs::read_to_string(&handler).unwrap();
    assert!(
        source.contains(HEALTHZ),
        "the /healthz line moved: update HEALTHZ in this bench"
    );
    // A value no earlier run used: a binary no engine or registry cache has seen.
    let changed_line = format!(r#"json!({{"status": "ok", "bench": "{}"}})"#, unique("run"));
    std::fs::write(&handler, source.replacen(HEALTHZ, &changed_line, 1)).unwrap();
    let changed_cargo = cargo_build(&copy);
    let (changed, changed_image) = image(&peers, &copy, &repository);
    assert_eq!(
        changed["reused"], false,
        "a changed binary was not rebuilt: {changed}"
    );
    assert_ne!(changed["uri"], cold["uri"]);

    let mb = |bytes: u64| bytes as f64 / 1_000_000.0;
    let s = |d: Duration| d.as_secs_f64();
    println!(
        "layer noteapp adds to the base (COPY bootstrap): {:.2} MB uncompressed in the engine, {:.2} MB compressed in the registry (target <= 15 MB)",
        mb(uncompressed),
        mb(compressed)
    );
    println!(
        "first run:       cargo {:>7.1} s ({}), image build + push to an empty repository {:>6.1} s, total {:>7.1} s",
        s(cold_cargo),
        if clean() {
            "clean build of everything"
        } else {
            "the checkout's build, up to date: NOTEAPP_BENCH_QUICK=1"
        },
        s(cold_image),
        s(cold_cargo + cold_image)
    );
    println!(
        "one-line change: cargo {:>7.1} s (noteapp-runtime recompiled and linked, dependencies cached), image build + push {:>6.1} s, total {:>7.1} s",
        s(changed_cargo),
        s(changed_image),
        s(changed_cargo + changed_image)
    );
    if clean() {
        println!(
            "one-line change vs clean build: {:.0}% of the clean build's wall time ({:.1}× faster)",
            100.0 * s(changed_cargo + changed_image) / s(cold_cargo + cold_image),
            s(cold_cargo + cold_image) / s(changed_cargo + changed_image)
        );
    }
    println!(
        "no change:       second `noteapp image` run {:.2} s wall time, reused: {reused} (nothing built, nothing pushed)",
        s(same_time)
    );
    let _ = std::fs::remove_dir_all(&copy);
    if !reused {
        eprintln!("FAIL: the second run did not reuse the image: {same}");
        std::process::exit(1);
    }
}

fn clean() -> bool {
    !std::env::var("NOTEAPP_BENCH_QUICK").is_ok_and(|v| v == "1")
}

/// The workspace without target/, .git/, .venv/ and .noteapp/, with target/ linked back
/// (or, by default, an empty one of its own).
fn copy_workspace() -> PathBuf {
    let root = workspace();
    let copy = std::env::temp_dir().join(unique("noteapp-bench-ws"));
    std::fs::create_dir_all(&copy).unwrap();
    for entry in std::fs::read_dir(&root).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if [".git", ".venv", ".noteapp", "target"]
            .iter()
            .any(|skip| name == *skip)
        {
            continue;
        }
        let status = Command::new("cp")
            .arg("-a")
            .arg(entry.path())
            .arg(&copy)
            .status()
            .unwrap();
        assert!(status.success(), "cp {}", entry.path().display());
    }
    if !clean() {
        std::os::unix::fs::symlink(root.join("target"), copy.join("target")).unwrap();
    }
    copy
}

/// The cargo step of `image::binary::build_bootstrap`, timed alone (its recipe, same cache).
fn cargo_build(root: &Path) -> Duration {
    let started = Instant::now();
    let status = recipe::cargo_build(root, "x86_64-unknown-linux-gnu")
        .arg("--quiet")
        .status()
        .unwrap();
    assert!(status.success(), "cargo build of bootstrap failed");
    started.elapsed()
}

/// `noteapp image staging --json` in `root`: its JSON and wall time.
fn image(peers: &Peers, root: &Path, repository: &str) -> (serde_json::Value, Duration) {
    let started = Instant::now();
    let output = Command::new(NOTEAPP)
        .current_dir(root)
        .args(["image", "staging", "--base", "scratch", "--json"])
        .args([
            "--registry-endpoint",
            &peers.registry,
            "--repository",
            repository,
        ])
        .envs(aws_env(&peers.moto, "ap-northeast-1"))
        .env("NOTEAPP_ROOT", root)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    assert!(
        output.status.success(),
        "noteapp image failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    (serde_json::from_slice(&output.stdout).unwrap(), elapsed)
}

/// The `COPY bootstrap` layer's size in the engine (`docker history`).
fn copy_layer_size(image: &str) -> u64 {
    let output = Command::new("docker")
        .args([
            "history",
            "--no-trunc",
            "--format",
            "{{.CreatedBy}}\t{{.Size}}",
            "--human=false",
            image,
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines()
        .find(|l| l.contains("COPY") && l.contains("bootstrap"))
        .and_then(|l| l.rsplit('\t').next())
        .and_then(|size| size.trim().parse().ok())
        .unwrap_or_else(|| panic!("no COPY bootstrap layer in `docker history {image}`: {text}"))
}

/// The compressed size of the last layer in the registry's manifest of `repository:tag`.
fn registry_layer_size(registry: &str, repository: &str, tag: &str) -> u64 {
    let auth = base64::engine::general_purpose::STANDARD.encode(LOGIN);
    let mut stream = TcpStream::connect(registry).unwrap();
    write!(
        stream,
        "GET /v2/{repository}/manifests/{tag} HTTP/1.1\r\nHost: {registry}\r\nAuthorization: Basic {auth}\r\n\
         Accept: application/vnd.docker.distribution.manifest.v2+json\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or_default();
    let manifest: serde_json::Value = serde_json::from_str(body)
        .unwrap_or_else(|e| panic!("manifest of {repository}:{tag}: {e}: {response}"));
    manifest["layers"]
        .as_array()
        .and_then(|layers| layers.last())
        .and_then(|layer| layer["size"].as_u64())
        .expect("a layer size in the manifest")
}
