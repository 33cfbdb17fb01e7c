//! The durable log: every write of the embedded store as a line of `store.jsonl`, and the lock
//! that gives one process the data directory.
//!
//! Each acknowledged write is one or more [`Record`]s, appended as JSON lines; opening the store
//! replays the log into memory, then compacts it (the current state, one record per item).
//!
//! Durability. A write is acknowledged only once its whole line is in the log:
//! - with [`SyncMode::Never`] (the default) the line has been handed to the operating system, so
//!   it survives the server being killed (even `kill -9`) but not a power cut or a kernel crash,
//!   which can lose the last writes (the log then ends at an earlier whole record);
//! - with [`SyncMode::Always`] the file is also flushed to the disk (`fdatasync`) before the
//!   answer, which survives a power cut at the cost of a disk flush per write.
//!
//! A write that fails midway (a full disk, a file-size limit) is cut back to the last whole
//! record, so the log never holds a torn line followed by good ones; the request gets an error and
//! nothing of it is kept. A crash mid-append leaves at most a torn last line, which the next open
//! drops. Compaction writes a new file under a unique temporary name, flushes it and renames it
//! over the log. One process at a time owns the directory: it holds an exclusive lock on
//! `store.lock` (released by the kernel when the process ends, however it ends), which records its
//! pid, and a second one is refused with that pid. Every file is created readable by its owner
//! only (mode 0600).

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::{Comment, Note, UserProfile};
use crate::store::StoreError;

/// The log, in the data directory.
pub(super) const LOG_FILE: &str = "store.jsonl";
/// Held locked by the process that owns the directory; holds its pid.
pub const LOCK_FILE: &str = "store.lock";

/// When an acknowledged write is on the disk: [`SyncMode::Never`] survives the process being
/// killed, [`SyncMode::Always`] also a power cut.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SyncMode {
    /// Handed to the operating system before the answer: survives the process, not the machine.
    #[default]
    Never,
    /// Flushed to the disk before the answer: survives a power cut.
    Always,
}

impl SyncMode {
    /// Every mode, the default first.
    pub const ALL: [SyncMode; 2] = [SyncMode::Never, SyncMode::Always];

    /// The name `--sync` and `NOTEAPP_SYNC` use.
    pub fn as_str(self) -> &'static str {
        match self {
            SyncMode::Never => "never",
            SyncMode::Always => "always",
        }
    }

    /// The mode called `name`, or why there is none.
    pub fn parse(name: &str) -> Result<Self, String> {
        let lower = name.trim().to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|m| m.as_str() == lower)
            .ok_or_else(|| format!("{name:?} is neither \"never\" nor \"always\""))
    }
}

impl std::fmt::Display for SyncMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why the data directory could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// A file or the directory could not be created, read or written.
    #[error("cannot use data directory {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why it failed.
        source: std::io::Error,
    },
    /// A line of the log, other than a torn last one, is not a record.
    #[error("{path}, line {line}: unreadable record ({reason}); move the file away to start empty")]
    Corrupt {
        /// The log.
        path: PathBuf,
        /// The line, from 1.
        line: usize,
        /// Why it cannot be read.
        reason: String,
    },
    /// Another process holds the directory's lock.
    #[error(
        "the data directory {dir} is in use by another process ({}); stop it, or give this one another data directory",
        holder.map_or_else(|| "its pid is not recorded yet".to_owned(), |pid| format!("pid {pid}"))
    )]
    Locked {
        /// The data directory.
        dir: PathBuf,
        /// The pid the lock file records, if it could be read yet.
        holder: Option<u32>,
    },
}

/// One durable change, as a line of the log.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(super) enum Record {
    PutNote { note: Note },
    DeleteNote { id: Uuid },
    PutUser { user: UserProfile },
    PutComment { comment: Comment },
}

/// The open log: the file writes are appended to, and how far its whole records reach.
pub(super) struct Log {
    file: File,
    path: PathBuf,
    sync: SyncMode,
    /// The length of the log up to its last whole record.
    len: u64,
    /// Set when a failed write could not be cut back: no write is accepted after it, since it
    /// would follow a torn line.
    broken: Option<String>,
}

impl Log {
    /// Opens the log at `path` in `dir` for appending (after [`replay`] and [`compact`]).
    pub(super) fn open(dir: &Path, path: &Path, sync: SyncMode) -> Result<Self, OpenError> {
        let io = |source| OpenError::Io {
            path: dir.to_path_buf(),
            source,
        };
        let file = private_file(OpenOptions::new().append(true), path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        Ok(Log {
            file,
            path: path.to_path_buf(),
            sync,
            len,
            broken: None,
        })
    }

    /// Appends `records`, synced as the log's [`SyncMode`] says. A failed append is cut back to
    /// the last whole record, and nothing of it counts.
    pub(super) fn append(&mut self, records: &[Record]) -> Result<(), StoreError> {
        if let Some(why) = &self.broken {
            return Err(StoreError::Backend(why.clone()));
        }
        let mut bytes = Vec::new();
        for record in records {
            write_record(&mut bytes, record)
                .map_err(|e| StoreError::Backend(format!("cannot encode a store record: {e}")))?;
        }
        let appended = self.file.write_all(&bytes).and_then(|()| match self.sync {
            SyncMode::Always => self.file.sync_data(),
            SyncMode::Never => Ok(()),
        });
        if let Err(e) = appended {
            let failure = format!("cannot append to {}: {e}", self.path.display());
            // Cut the torn tail, so the log still ends with a whole record.
            if let Err(cut) = self.file.set_len(self.len) {
                let why = format!(
                    "{failure}; cutting it back to its last whole record failed too ({cut}): \
                     restart to recover"
                );
                tracing::error!(path = %self.path.display(), "{why}");
                self.broken = Some(why);
            }
            return Err(StoreError::Backend(failure));
        }
        self.len += bytes.len() as u64;
        Ok(())
    }
}

/// Opens `path` for `options`, creating it readable by its owner only.
fn private_file(options: &mut OpenOptions, path: &Path) -> std::io::Result<File> {
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(options, 0o600);
    options.open(path)
}

/// A temporary name next to `path` no other process or call uses.
fn temp_path(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(LOG_FILE);
    path.with_file_name(format!(
        "{name}.{}.{}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ))
}

/// Takes the directory's lock and records this process's pid in it, or says who holds it.
pub(super) fn lock_dir(dir: &Path) -> Result<File, OpenError> {
    let path = dir.join(LOCK_FILE);
    let io = |source| OpenError::Io {
        path: path.clone(),
        source,
    };
    let mut file = private_file(
        OpenOptions::new().read(true).write(true).create(true),
        &path,
    )
    .map_err(io)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            return Err(OpenError::Locked {
                dir: dir.to_path_buf(),
                holder: text.trim().parse().ok(),
            });
        }
        Err(fs::TryLockError::Error(e)) => return Err(io(e)),
    }
    file.set_len(0).map_err(io)?;
    file.rewind().map_err(io)?;
    writeln!(file, "{}", std::process::id()).map_err(io)?;
    Ok(file)
}

/// Removes temporary files a stopped process left behind (the caller holds the lock).
pub(super) fn remove_stale_temps(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(&format!("{LOG_FILE}.")) && name.ends_with(".tmp") {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Writes `records` (the state after [`replay`]) to a fresh file and swaps it in for the log at
/// `path` atomically.
pub(super) fn compact(
    dir: &Path,
    path: &Path,
    records: impl Iterator<Item = Record>,
) -> Result<(), OpenError> {
    let tmp = temp_path(path);
    let io_tmp = |source| OpenError::Io {
        path: tmp.clone(),
        source,
    };
    {
        let file =
            private_file(OpenOptions::new().write(true).create_new(true), &tmp).map_err(io_tmp)?;
        let mut out = BufWriter::new(file);
        for record in records {
            write_record(&mut out, &record).map_err(io_tmp)?;
        }
        out.flush().map_err(io_tmp)?;
        out.get_ref().sync_all().map_err(io_tmp)?;
    }
    if let Err(source) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(OpenError::Io {
            path: dir.to_path_buf(),
            source,
        });
    }
    // The rename itself reaches the disk with the directory.
    if let Ok(handle) = File::open(dir) {
        let _ = handle.sync_all();
    }
    Ok(())
}

fn write_record(out: &mut impl Write, record: &Record) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, record)?;
    out.write_all(b"\n")
}

/// Applies each record of the log at `path` in order (none if there is no log yet). A torn last
/// line is dropped; any other unreadable line is an error naming it.
pub(super) fn replay(path: &Path, mut apply: impl FnMut(Record)) -> Result<(), OpenError> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(OpenError::Io {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let mut lines = BufReader::new(file).lines().enumerate().peekable();
    while let Some((index, line)) = lines.next() {
        let line = line.map_err(|source| OpenError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Record>(&line) {
            Ok(record) => apply(record),
            // A torn last line is what a crash mid-append leaves: drop it.
            Err(_) if lines.peek().is_none() => {
                tracing::warn!(path = %path.display(), line = index + 1, "ignoring a torn last record");
            }
            Err(e) => {
                return Err(OpenError::Corrupt {
                    path: path.to_path_buf(),
                    line: index + 1,
                    reason: e.to_string(),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{EmbeddedStore, StoreOptions};
    use super::*;
    use crate::domain::{PageRequest, now};
    use crate::store::{NoteChange, Store};

    fn note(owner: &str, public: bool) -> Note {
        let t = now();
        Note {
            id: Uuid::new_v4(),
            owner_uid: owner.into(),
            title: Some("t".into()),
            content: "c".into(),
            author_name: "A".into(),
            author_avatar_url: None,
            created_at: t.clone(),
            updated_at: t.clone(),
            published_at: public.then_some(t),
        }
    }

    #[tokio::test]
    async fn data_survives_a_restart_and_the_log_is_compacted() {
        let dir = tempfile::tempdir().unwrap();
        let n = note("alice", false);
        {
            let store = EmbeddedStore::open(dir.path()).unwrap();
            store.create_note(&n).await.unwrap();
            for _ in 0..5 {
                store
                    .update_note(n.id, "alice", &NoteChange::Publish, &now())
                    .await
                    .unwrap();
            }
        }
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let back = store.get_note(n.id).await.unwrap().unwrap();
        assert!(back.is_public());
        let lines = fs::read_to_string(store.path()).unwrap().lines().count();
        assert_eq!(lines, 1, "compaction keeps one record per item");
        let page = store
            .list_public_notes(&PageRequest::at(1, 10))
            .await
            .unwrap();
        assert_eq!(page.total, 1);
    }

    #[tokio::test]
    async fn a_torn_last_line_is_dropped_but_a_corrupt_middle_line_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = EmbeddedStore::open(dir.path()).unwrap();
            store.create_note(&note("a", true)).await.unwrap();
        }
        let path = dir.path().join(LOG_FILE);
        let mut text = fs::read_to_string(&path).unwrap();
        text.push_str("{\"op\":\"put_no");
        fs::write(&path, &text).unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        assert_eq!(store.read(|s| s.notes.len()), 1);
        drop(store);

        fs::write(&path, format!("garbage\n{text}\n")).unwrap();
        let err = EmbeddedStore::open(dir.path()).err().unwrap().to_string();
        assert!(err.contains("line 1"), "{err}");
        assert!(err.contains("store.jsonl"), "{err}");
    }

    #[tokio::test]
    async fn a_second_open_of_the_directory_is_refused_naming_it_and_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let n = note("alice", true);
        let first = EmbeddedStore::open(dir.path()).unwrap();
        first.create_note(&n).await.unwrap();
        let err = EmbeddedStore::open(dir.path()).err().unwrap();
        assert!(
            matches!(&err, OpenError::Locked { holder: Some(pid), .. } if *pid == std::process::id()),
            "{err:?}"
        );
        let message = err.to_string();
        assert!(
            message.contains(&dir.path().display().to_string()),
            "{message}"
        );
        assert!(
            message.contains(&format!("pid {}", std::process::id())),
            "{message}"
        );
        // The refused open did not touch the log: the first store's write is still there.
        first.create_note(&note("alice", false)).await.unwrap();
        drop(first);
        let reopened = EmbeddedStore::open(dir.path()).unwrap();
        assert_eq!(reopened.read(|s| s.notes.len()), 2);
        assert!(reopened.get_note(n.id).await.unwrap().is_some());
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn every_file_is_private_and_no_temporary_file_outlives_an_open() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        // A compaction a killed process left behind.
        fs::write(dir.path().join(format!("{LOG_FILE}.4242.0.tmp")), "{").unwrap();
        let store = EmbeddedStore::open_with(
            dir.path(),
            StoreOptions {
                sync: SyncMode::Always,
            },
        )
        .unwrap();
        store.create_note(&note("a", true)).await.unwrap();
        let mut names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, [LOG_FILE, LOCK_FILE]);
        for name in names {
            let mode = fs::metadata(dir.path().join(&name))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{name}");
        }
        let pid = fs::read_to_string(dir.path().join(LOCK_FILE)).unwrap();
        assert_eq!(pid.trim(), std::process::id().to_string());
    }

    #[test]
    fn temporary_names_are_unique() {
        let path = Path::new("/d").join(LOG_FILE);
        let (a, b) = (temp_path(&path), temp_path(&path));
        assert_ne!(a, b);
        let name = a.file_name().unwrap().to_str().unwrap();
        assert!(
            name.starts_with(&format!("{LOG_FILE}.{}.", std::process::id())),
            "{name}"
        );
        assert!(name.ends_with(".tmp"), "{name}");
    }

    #[test]
    fn sync_modes_round_trip_through_their_names() {
        for mode in SyncMode::ALL {
            assert_eq!(SyncMode::parse(mode.as_str()), Ok(mode));
        }
        assert_eq!(SyncMode::default(), SyncMode::Never);
        assert!(SyncMode::parse("sometimes").unwrap_err().contains("always"));
    }
}
