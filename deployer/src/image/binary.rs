//! The release `bootstrap` for the image: a static binary built by cargo on this machine.
//!
//! `-C target-feature=+crt-static` on a `*-unknown-linux-gnu` target links glibc statically
//! (a static-pie), so the binary runs on any base image, `scratch` included: nothing in it reads
//! the image's files (the AWS SDK clients and the Google key fetch trust bundled roots). It is
//! built with an explicit `--target` (so build scripts and proc macros stay dynamic) into its own
//! target directory, `target/lambda`, so its flags never invalidate the everyday build cache;
//! cargo's incremental build makes a rebuild with no change a no-op of about a second. The
//! command itself, size tuning included, is [`recipe::cargo_build`].

use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};

use super::ImageError;
use super::recipe::{self, cargo, output_path};
use crate::config::Architecture;
use crate::progress::Progress;

/// The Rust target and the image platform of an architecture.
pub fn target(architecture: Architecture) -> (&'static str, &'static str) {
    match architecture {
        Architecture::X86_64 => ("x86_64-unknown-linux-gnu", "linux/amd64"),
        Architecture::Arm64 => ("aarch64-unknown-linux-gnu", "linux/arm64"),
    }
}

/// Whether the standard library of `triple` is installed for the active toolchain.
fn target_installed(triple: &str) -> bool {
    let Ok(out) = std::process::Command::new(rustc())
        .args(["--print", "sysroot"])
        .output()
    else {
        return true; // let cargo say what is wrong
    };
    let sysroot = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    Path::new(&sysroot)
        .join("lib/rustlib")
        .join(triple)
        .join("lib")
        .is_dir()
}

fn rustc() -> String {
    std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into())
}

/// A prebuilt `bootstrap` (`--bootstrap PATH`): an executable file, taken as it is.
pub fn prebuilt(path: &Path) -> Result<PathBuf, ImageError> {
    let refuse = |reason: String| ImageError::Bootstrap {
        path: path.to_path_buf(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|e| refuse(e.to_string()))?;
    if !meta.is_file() {
        return Err(refuse("not a file".into()));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o111 == 0 {
            return Err(refuse("not executable".into()));
        }
    }
    let mut magic = [0u8; 4];
    std::io::Read::read_exact(
        &mut std::fs::File::open(path).map_err(|e| refuse(e.to_string()))?,
        &mut magic,
    )
    .map_err(|e| refuse(e.to_string()))?;
    if magic != *b"\x7fELF" {
        return Err(refuse("not a Linux (ELF) executable".into()));
    }
    Ok(path.to_path_buf())
}

/// Builds the static release `bootstrap` for `architecture` in the workspace at `root` and
/// returns its path; cargo's output goes to `progress` line by line.
pub async fn build_bootstrap(
    root: &Path,
    environment: &str,
    architecture: Architecture,
    progress: &Progress,
) -> Result<PathBuf, ImageError> {
    let (triple, _) = target(architecture);
    if !target_installed(triple) {
        return Err(ImageError::MissingTarget {
            environment: environment.to_owned(),
            architecture: architecture.as_str(),
            triple,
        });
    }
    progress.status(format!(
        "building bootstrap for {triple} (cargo, release, static)"
    ));
    let mut child = tokio::process::Command::from(recipe::cargo_build(root, triple))
        .args(["--color", "never"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| ImageError::Cargo(format!("cannot run {}: {e}", cargo())))?;
    let mut tail = Vec::new();
    if let Some(stderr) = child.stderr.take() {
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let trimmed = line.trim_start();
            if trimmed.starts_with("Compiling") || trimmed.starts_with("Finished") {
                progress.status(format!("cargo: {trimmed}"));
            } else if !trimmed.is_empty() {
                tail.push(line);
            }
        }
    }
    let status = child
        .wait()
        .await
        .map_err(|e| ImageError::Cargo(e.to_string()))?;
    if !status.success() {
        for line in &tail {
            progress.line(line);
        }
        return Err(ImageError::Cargo(format!(
            "cargo build of bootstrap for {triple} failed ({status}); its messages are above"
        )));
    }
    Ok(output_path(root, triple))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_architecture_maps_to_a_gnu_target_and_a_platform() {
        assert_eq!(
            target(Architecture::X86_64),
            ("x86_64-unknown-linux-gnu", "linux/amd64")
        );
        assert_eq!(
            target(Architecture::Arm64),
            ("aarch64-unknown-linux-gnu", "linux/arm64")
        );
    }

    #[test]
    fn a_missing_target_says_what_to_install() {
        assert!(!target_installed("no-such-target-triple"));
        let message = ImageError::MissingTarget {
            environment: "staging".into(),
            architecture: "arm64",
            triple: "aarch64-unknown-linux-gnu",
        }
        .to_string();
        assert!(message.contains("rustup target add aarch64-unknown-linux-gnu"));
        assert!(message.contains("`architecture: x86_64` in environments/staging.yaml"));
    }
}
