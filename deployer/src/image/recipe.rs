//! The cargo command that builds the Lambda `bootstrap`: a static release binary in its own
//! target directory, tuned for size. One recipe for `image::binary` and the image benchmark
//! (which times the same build), so they cannot drift apart.

use std::path::{Path, PathBuf};

/// Where the Lambda build keeps its artefacts, under the workspace root: apart from the everyday
/// `target/`, so its flags never invalidate that cache.
pub const TARGET_DIR: &str = "target/lambda";

/// `cargo build` of `bootstrap` for `triple` in the workspace at `root`. `+crt-static` on a gnu
/// target links glibc statically; `opt-level = "s"` and stripped symbols shrink the layer from
/// 25.8 MB to under 15 MB (the handlers wait on the network, not the CPU).
pub fn cargo_build(root: &Path, triple: &str) -> std::process::Command {
    let mut command = std::process::Command::new(cargo());
    command
        .current_dir(root)
        .args([
            "build",
            "--release",
            "-p",
            "noteapp-runtime",
            "--bin",
            "bootstrap",
        ])
        .args(["--target", triple])
        .env("CARGO_TARGET_DIR", root.join(TARGET_DIR))
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "s")
        .env("CARGO_PROFILE_RELEASE_STRIP", "symbols")
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    command
}

/// Where [`cargo_build`] puts the binary for `triple`.
pub fn output_path(root: &Path, triple: &str) -> PathBuf {
    root.join(TARGET_DIR).join(triple).join("release/bootstrap")
}

/// The cargo that runs this build: the one running us, if any.
pub fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}
