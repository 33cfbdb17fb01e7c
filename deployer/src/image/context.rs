//! What goes into an image build, decided before any engine is asked: the build context (a tar
//! made in memory of exactly two files, `Dockerfile.lambda` and `bootstrap`, never the
//! repository), the build arguments, the labels, and the content tag.
//!
//! The content tag is `build-` and the first 32 hex digits of a sha256 over the binary, the
//! Dockerfile, the base image's name and digest, and the platform. It decides "nothing changed": a rebuild of the
//! same inputs gives another image id (the config carries timestamps), so the rebuilt image
//! cannot tell; the inputs can. The revision label is not hashed: an image whose bytes did not
//! change is reused under the commit that first built them.

use std::collections::HashMap;
use std::path::Path;

use sha2::{Digest, Sha256};

/// The Dockerfile's name in the repository and in the context.
pub const DOCKERFILE: &str = "Dockerfile.lambda";

/// Every input of one image build.
#[derive(Clone)]
pub struct BuildInputs {
    /// `Dockerfile.lambda`'s bytes.
    pub dockerfile: Vec<u8>,
    /// The `bootstrap` binary's bytes, built or given with `--bootstrap`.
    pub binary: Vec<u8>,
    /// The `BASE` build argument (`scratch`, or an image the engine has or can pull).
    pub base: String,
    /// What `base` is now: its digest (registry or engine image id), or `scratch`. Hashed into
    /// the content tag, so an update of the base under the same name rebuilds.
    pub base_digest: String,
    /// `linux/amd64` or `linux/arm64`.
    pub platform: String,
    /// The git commit of the workspace, for the revision label.
    pub revision: String,
    /// The repository's `origin` remote, for the source label (empty when there is none).
    pub source: String,
}

impl BuildInputs {
    /// Reads `Dockerfile.lambda` under `root` and the binary at `binary`.
    pub fn read(
        root: &Path,
        binary: &Path,
        base: &str,
        base_digest: &str,
        platform: &str,
    ) -> std::io::Result<Self> {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|e| {
                std::io::Error::new(e.kind(), format!("cannot read {}: {e}", path.display()))
            })
        };
        Ok(Self {
            dockerfile: read(&root.join(DOCKERFILE))?,
            binary: read(binary)?,
            base: base.to_owned(),
            base_digest: base_digest.to_owned(),
            platform: platform.to_owned(),
            revision: revision(root),
            source: git(root, &["remote", "get-url", "origin"]).unwrap_or_default(),
        })
    }

    /// `build-<32 hex>`: the same inputs always give the same tag, any change another.
    pub fn content_tag(&self) -> String {
        let mut hash = Sha256::new();
        for part in [
            &self.binary[..],
            &self.dockerfile[..],
            self.base.as_bytes(),
            self.base_digest.as_bytes(),
            self.platform.as_bytes(),
        ] {
            hash.update((part.len() as u64).to_le_bytes());
            hash.update(part);
        }
        let hex: String = hash.finalize()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("build-{hex}")
    }

    /// The build arguments `Dockerfile.lambda` declares.
    pub fn build_args(&self) -> HashMap<String, String> {
        HashMap::from([
            ("BASE".to_owned(), self.base.clone()),
            ("REVISION".to_owned(), self.revision.clone()),
            ("SOURCE".to_owned(), self.source.clone()),
        ])
    }

    /// The context tar: the Dockerfile (0644) and `bootstrap` (0755), fixed owner and time.
    pub fn context_tar(&self) -> std::io::Result<Vec<u8>> {
        let mut tar = tar::Builder::new(Vec::with_capacity(self.binary.len() + 4096));
        for (name, mode, data) in [
            (DOCKERFILE, 0o644, &self.dockerfile),
            ("bootstrap", 0o755, &self.binary),
        ] {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(mode);
            header.set_uid(0);
            header.set_gid(0);
            header.set_mtime(0);
            header.set_entry_type(tar::EntryType::Regular);
            tar.append_data(&mut header, name, &data[..])?;
        }
        tar.into_inner()
    }
}

/// The commit checked out at `root` (with `-dirty` when files differ from it), or `unknown`.
fn revision(root: &Path) -> String {
    match git(root, &["rev-parse", "--verify", "-q", "HEAD"]) {
        Some(commit) if !commit.is_empty() => {
            let dirty = git(root, &["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            if dirty {
                format!("{commit}-dirty")
            } else {
                commit
            }
        }
        _ => "unknown".to_owned(),
    }
}

/// The trimmed output of a successful `git ARGS` in `root`.
fn git(root: &Path, args: &[&str]) -> Option<String> {
    std::process::Command::new("git")
        .current_dir(root)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs() -> BuildInputs {
        BuildInputs {
            dockerfile: b"FROM scratch\n".to_vec(),
            binary: vec![0x7f, b'E', b'L', b'F', 1, 2, 3],
            base: "scratch".into(),
            base_digest: "scratch".into(),
            platform: "linux/amd64".into(),
            revision: "abc".into(),
            source: String::new(),
        }
    }

    #[test]
    fn the_content_tag_follows_every_input_but_the_revision() {
        let base = inputs();
        let tag = base.content_tag();
        assert!(tag.starts_with("build-") && tag.len() == 6 + 32);
        assert_eq!(
            BuildInputs {
                revision: "def".into(),
                ..inputs()
            }
            .content_tag(),
            tag
        );
        for changed in [
            BuildInputs {
                binary: vec![0x7f, b'E', b'L', b'F', 1, 2, 4],
                ..inputs()
            },
            BuildInputs {
                dockerfile: b"FROM scratch \n".to_vec(),
                ..inputs()
            },
            BuildInputs {
                base: "al2023".into(),
                ..inputs()
            },
            BuildInputs {
                base_digest: format!("sha256:{}", "1".repeat(64)),
                ..inputs()
            },
            BuildInputs {
                platform: "linux/arm64".into(),
                ..inputs()
            },
        ] {
            assert_ne!(changed.content_tag(), tag);
        }
    }

    #[test]
    fn the_context_holds_only_the_dockerfile_and_the_binary() {
        let bytes = inputs().context_tar().unwrap();
        let mut archive = tar::Archive::new(&bytes[..]);
        let entries: Vec<(String, u32, u64)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let path = e.path().unwrap().display().to_string();
                (path, e.header().mode().unwrap(), e.header().size().unwrap())
            })
            .collect();
        assert_eq!(
            entries,
            vec![
                ("Dockerfile.lambda".to_owned(), 0o644, 13),
                ("bootstrap".to_owned(), 0o755, 7)
            ]
        );
    }
}
