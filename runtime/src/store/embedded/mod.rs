//! The embedded store behind `noteapp local`: memory-resident, persisted to a data directory.
//!
//! All state lives in ordered in-memory maps (the same indexes as the DynamoDB tables: notes by
//! owner and creation time, public notes by publish time, comments by note and time). Every write
//! is appended as one JSON line to `store.jsonl` in the data directory before the call returns, and
//! the file is replayed, then compacted, when the store opens, so data survives restarts. A single
//! lock covers each check and its write, which gives the same guarantees DynamoDB's condition
//! expressions give the cloud store. [`SyncMode`] chooses what an acknowledged write survives:
//! the process being killed, or also a power cut. One process at a time owns the directory; a
//! second one is refused with the first one's pid ([`OpenError::Locked`]).
//!
//! The code is split by concern, as the DynamoDB store's is: `log` (the durable log, its
//! records and the directory's lock), `notes` (notes, users and comments: [`Store`]) and
//! `connections` (WebSocket connections, kept in memory only: [`ConnectionStore`]) and
//! `control` (rate-limit counters and broadcast progress, in memory only: [`ControlStore`]).
//!
//! [`Store`]: crate::store::Store
//! [`ConnectionStore`]: crate::store::ConnectionStore
//! [`ControlStore`]: crate::store::ControlStore

mod connections;
mod control;
mod log;
mod notes;

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::RwLock;

pub use log::{LOCK_FILE, OpenError, SyncMode};

use crate::store::StoreError;
use connections::Connections;
use control::Control;
use log::{Log, Record};
use notes::State;

/// The indexes and the log they are written to, under one lock.
struct Inner {
    state: State,
    log: Log,
}

/// The embedded store. Cheap to share behind an `Arc`.
pub struct EmbeddedStore {
    inner: RwLock<Inner>,
    connections: Connections,
    control: Control,
    path: PathBuf,
    /// Locked for as long as the store is open.
    _lock: File,
}

/// Options of [`EmbeddedStore::open_with`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreOptions {
    /// When an acknowledged write is on the disk.
    pub sync: SyncMode,
}

impl EmbeddedStore {
    /// Opens (or creates) the store kept in `dir`, replaying and compacting its log, with each
    /// write handed to the operating system before it is acknowledged.
    pub fn open(dir: &Path) -> Result<Self, OpenError> {
        Self::open_with(dir, StoreOptions::default())
    }

    /// As [`EmbeddedStore::open`], with `options`.
    pub fn open_with(dir: &Path, options: StoreOptions) -> Result<Self, OpenError> {
        let io = |source| OpenError::Io {
            path: dir.to_path_buf(),
            source,
        };
        fs::create_dir_all(dir).map_err(io)?;
        // Before anything is read: a second process must not compact what the first appends to.
        let lock = log::lock_dir(dir)?;
        log::remove_stale_temps(dir);
        let path = dir.join(log::LOG_FILE);
        let mut state = State::default();
        log::replay(&path, |record| state.apply(record))?;
        // Compact: write the current state to a fresh file and swap it in atomically.
        log::compact(dir, &path, state.records())?;
        let log = Log::open(dir, &path, options.sync)?;
        Ok(Self {
            inner: RwLock::new(Inner { state, log }),
            connections: Connections::default(),
            control: Control::default(),
            path,
            _lock: lock,
        })
    }

    /// The log file this store appends to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on the state under the read lock.
    fn read<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        let guard = self.inner.read().unwrap_or_else(|e| e.into_inner());
        f(&guard.state)
    }

    /// Runs `decide` under the write lock; the records it returns are logged, then applied.
    /// Nothing is applied unless every record is in the log; a failed append is cut back.
    fn write<T>(
        &self,
        decide: impl FnOnce(&State) -> Result<(Vec<Record>, T), StoreError>,
    ) -> Result<T, StoreError> {
        let mut guard = self.inner.write().unwrap_or_else(|e| e.into_inner());
        let (records, out) = decide(&guard.state)?;
        if records.is_empty() {
            return Ok(out);
        }
        let inner = &mut *guard;
        inner.log.append(&records)?;
        for record in records {
            inner.state.apply(record);
        }
        Ok(out)
    }
}
