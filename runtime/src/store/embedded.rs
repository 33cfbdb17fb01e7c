//! The embedded store behind `noteapp local`: memory-resident, persisted to a data directory.
//!
//! All state lives in ordered in-memory maps (the same indexes as the DynamoDB tables: notes by
//! owner and creation time, public notes by publish time, comments by note and time). Every write
//! is appended as one JSON line to `store.jsonl` in the data directory before the call returns, and
//! the file is replayed, then compacted, when the store opens, so data survives restarts. A single
//! lock covers each check and its write, which gives the same guarantees DynamoDB's condition
//! expressions give the cloud store.
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
//!
//! WebSocket connection rows are kept in memory only: a restart of `noteapp local` closes every
//! socket, so a persisted row could only ever be stale.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::cursor::{List, Position};
use super::{
    BroadcastProgress, CommentGate, Connection, ConnectionPage, ConnectionStore, EnsuredUser,
    NoteChange, Purged, Segment, Store, StoreError, Visibility,
};
use crate::domain::{Comment, Note, Page, PageRequest, ProfileEdit, Timestamp, UserProfile};

const LOG_FILE: &str = "store.jsonl";
/// Held locked by the process that owns the directory; holds its pid.
pub const LOCK_FILE: &str = "store.lock";

/// When an acknowledged write is on the disk (see the module documentation).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SyncMode {
    /// Handed to the operating system before the answer: survives the process, not the machine.
    #[default]
    Never,
    /// Flushed to the disk before the answer: survives a power cut.
    Always,
}

impl SyncMode {
    pub const ALL: [SyncMode; 2] = [SyncMode::Never, SyncMode::Always];

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
    #[error("cannot use data directory {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}, line {line}: unreadable record ({reason}); move the file away to start empty")]
    Corrupt {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error(
        "the data directory {dir} is in use by another process ({}); stop it, or give this one another data directory",
        holder.map_or_else(|| "its pid is not recorded yet".to_owned(), |pid| format!("pid {pid}"))
    )]
    Locked { dir: PathBuf, holder: Option<u32> },
}

/// One durable change, as a line of the log.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Record {
    PutNote { note: Note },
    DeleteNote { id: Uuid },
    PutUser { user: UserProfile },
    PutComment { comment: Comment },
}

#[derive(Default)]
struct State {
    notes: HashMap<Uuid, Note>,
    /// (published_at, id) of public notes.
    public: BTreeSet<(Timestamp, Uuid)>,
    /// owner → (created_at, id).
    by_owner: HashMap<String, BTreeSet<(Timestamp, Uuid)>>,
    users: HashMap<String, UserProfile>,
    /// note → comments ordered by (created_at, id).
    comments: HashMap<Uuid, Vec<Comment>>,
}

impl State {
    fn apply(&mut self, record: Record) {
        match record {
            Record::PutNote { note } => self.put_note(note),
            Record::DeleteNote { id } => self.delete_note(id),
            Record::PutUser { user } => {
                self.users.insert(user.uid.clone(), user);
            }
            Record::PutComment { comment } => {
                let list = self.comments.entry(comment.note_id).or_default();
                let key = (&comment.created_at, comment.id);
                let at = list.partition_point(|c| (&c.created_at, c.id) < key);
                list.insert(at, comment);
            }
        }
    }

    fn put_note(&mut self, note: Note) {
        self.unindex(note.id);
        if let Some(published) = &note.published_at {
            self.public.insert((published.clone(), note.id));
        }
        self.by_owner
            .entry(note.owner_uid.clone())
            .or_default()
            .insert((note.created_at.clone(), note.id));
        self.notes.insert(note.id, note);
    }

    fn delete_note(&mut self, id: Uuid) {
        self.unindex(id);
        self.notes.remove(&id);
        self.comments.remove(&id);
    }

    fn unindex(&mut self, id: Uuid) {
        if let Some(old) = self.notes.get(&id) {
            if let Some(published) = &old.published_at {
                self.public.remove(&(published.clone(), id));
            }
            if let Some(set) = self.by_owner.get_mut(&old.owner_uid) {
                set.remove(&(old.created_at.clone(), id));
            }
        }
    }

    fn records(&self) -> impl Iterator<Item = Record> + '_ {
        let users = self
            .users
            .values()
            .map(|u| Record::PutUser { user: u.clone() });
        let notes = self
            .notes
            .values()
            .map(|n| Record::PutNote { note: n.clone() });
        let comments = self
            .comments
            .values()
            .flatten()
            .map(|c| Record::PutComment { comment: c.clone() });
        users.chain(notes).chain(comments)
    }
}

struct Inner {
    state: State,
    log: File,
    /// The length of the log up to its last whole record.
    len: u64,
    /// Set when a failed write could not be cut back: no write is accepted after it, since it
    /// would follow a torn line.
    broken: Option<String>,
}

/// The embedded store. Cheap to share behind an `Arc`.
pub struct EmbeddedStore {
    inner: RwLock<Inner>,
    connections: RwLock<BTreeMap<String, Connection>>,
    /// Messages per connection in its current rate window: (window, count).
    message_counts: Mutex<HashMap<String, (i64, u32)>>,
    /// Broadcast progress by event id.
    broadcasts: Mutex<HashMap<String, BroadcastProgress>>,
    path: PathBuf,
    sync: SyncMode,
    /// Locked for as long as the store is open.
    _lock: File,
}

/// Options of [`EmbeddedStore::open_with`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreOptions {
    pub sync: SyncMode,
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
fn lock_dir(dir: &Path) -> Result<File, OpenError> {
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
fn remove_stale_temps(dir: &Path) {
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
        let lock = lock_dir(dir)?;
        remove_stale_temps(dir);
        let path = dir.join(LOG_FILE);
        let state = replay(&path)?;

        // Compact: write the current state to a fresh file and swap it in atomically.
        let tmp = temp_path(&path);
        let io_tmp = |source| OpenError::Io {
            path: tmp.clone(),
            source,
        };
        {
            let file = private_file(OpenOptions::new().write(true).create_new(true), &tmp)
                .map_err(io_tmp)?;
            let mut out = BufWriter::new(file);
            for record in state.records() {
                write_record(&mut out, &record).map_err(io_tmp)?;
            }
            out.flush().map_err(io_tmp)?;
            out.get_ref().sync_all().map_err(io_tmp)?;
        }
        if let Err(e) = fs::rename(&tmp, &path) {
            let _ = fs::remove_file(&tmp);
            return Err(io(e));
        }
        // The rename itself reaches the disk with the directory.
        if let Ok(handle) = File::open(dir) {
            let _ = handle.sync_all();
        }
        let log = private_file(OpenOptions::new().append(true), &path).map_err(io)?;
        let len = log.metadata().map_err(io)?.len();
        Ok(Self {
            inner: RwLock::new(Inner {
                state,
                log,
                len,
                broken: None,
            }),
            connections: RwLock::new(BTreeMap::new()),
            message_counts: Mutex::default(),
            broadcasts: Mutex::default(),
            path,
            sync: options.sync,
            _lock: lock,
        })
    }

    /// The log file this store appends to.
    pub fn path(&self) -> &Path {
        &self.path
    }

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
        if let Some(why) = &inner.broken {
            return Err(StoreError::Backend(why.clone()));
        }
        let mut bytes = Vec::new();
        for record in &records {
            write_record(&mut bytes, record)
                .map_err(|e| StoreError::Backend(format!("cannot encode a store record: {e}")))?;
        }
        let appended = inner.log.write_all(&bytes).and_then(|()| match self.sync {
            SyncMode::Always => inner.log.sync_data(),
            SyncMode::Never => Ok(()),
        });
        if let Err(e) = appended {
            let failure = format!("cannot append to {}: {e}", self.path.display());
            // Cut the torn tail, so the log still ends with a whole record.
            if let Err(cut) = inner.log.set_len(inner.len) {
                let why = format!(
                    "{failure}; cutting it back to its last whole record failed too ({cut}): \
                     restart to recover"
                );
                tracing::error!(path = %self.path.display(), "{why}");
                inner.broken = Some(why);
            }
            return Err(StoreError::Backend(failure));
        }
        inner.len += bytes.len() as u64;
        for record in records {
            inner.state.apply(record);
        }
        Ok(out)
    }
}

fn write_record(out: &mut impl Write, record: &Record) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, record)?;
    out.write_all(b"\n")
}

fn replay(path: &Path) -> Result<State, OpenError> {
    let mut state = State::default();
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(state),
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
            Ok(record) => state.apply(record),
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
    Ok(state)
}

/// The page `request` asks for of `list`, given in order as `(position, item)`, out of `total`.
fn page_of<'a, T: Clone + 'a>(
    list: List<'_>,
    items: impl Iterator<Item = (Position, &'a T)>,
    total: usize,
    request: &PageRequest,
) -> Result<Page<T>, StoreError> {
    let limit = request.limit as usize;
    let mut taken: Vec<(Position, T)> = match request.after() {
        Some(cursor) => {
            // After the cursor's position, whether or not an item is still there.
            let after = Position::decode(cursor, list)?;
            items
                .skip_while(|(p, _)| !p.follows(&after, list))
                .take(limit + 1)
                .map(|(p, t)| (p, t.clone()))
                .collect()
        }
        // `cursor=` (empty) starts at the top; no cursor at all is an offset page.
        None if request.cursor.is_some() => {
            items.take(limit + 1).map(|(p, t)| (p, t.clone())).collect()
        }
        None => items
            .skip(request.offset())
            .take(limit + 1)
            .map(|(p, t)| (p, t.clone()))
            .collect(),
    };
    let more = taken.len() > limit;
    taken.truncate(limit);
    let next_cursor = taken.last().filter(|_| more).map(|(p, _)| p.encode(list));
    Ok(Page {
        items: taken.into_iter().map(|(_, t)| t).collect(),
        total: total as u64,
        next_cursor,
    })
}

/// Whether `note` lets `gate` comment on it (and read its comments).
fn passes(note: &Note, gate: &CommentGate) -> bool {
    match gate {
        CommentGate::Public => note.is_public(),
        CommentGate::Owner(uid) => &note.owner_uid == uid,
    }
}

fn owned<'a>(state: &'a State, id: Uuid, owner: &str) -> Result<&'a Note, StoreError> {
    match state.notes.get(&id) {
        Some(note) if note.owner_uid == owner => Ok(note),
        _ => Err(StoreError::NotFound),
    }
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn create_note(&self, note: &Note) -> Result<(), StoreError> {
        self.write(|state| {
            if state.notes.contains_key(&note.id) {
                return Err(StoreError::AlreadyExists);
            }
            Ok((vec![Record::PutNote { note: note.clone() }], ()))
        })
    }

    async fn get_note(&self, id: Uuid) -> Result<Option<Note>, StoreError> {
        Ok(self.read(|state| state.notes.get(&id).cloned()))
    }

    async fn update_note(
        &self,
        id: Uuid,
        owner: &str,
        change: &NoteChange,
        now: &Timestamp,
    ) -> Result<Note, StoreError> {
        self.write(|state| {
            let mut note = owned(state, id, owner)?.clone();
            match change {
                NoteChange::Edit(edit) => {
                    if let Some(title) = &edit.title {
                        note.title.clone_from(title);
                    }
                    if let Some(content) = &edit.content {
                        note.content.clone_from(content);
                    }
                }
                // Publishing a public note (or unpublishing a private one) changes nothing.
                NoteChange::Publish | NoteChange::Unpublish
                    if note.is_public() == matches!(change, NoteChange::Publish) =>
                {
                    return Ok((Vec::new(), note));
                }
                NoteChange::Publish => note.published_at = Some(now.clone()),
                NoteChange::Unpublish => note.published_at = None,
            }
            note.updated_at.clone_from(now);
            Ok((vec![Record::PutNote { note: note.clone() }], note))
        })
    }

    async fn delete_note(&self, id: Uuid, owner: &str) -> Result<(), StoreError> {
        self.write(|state| {
            owned(state, id, owner)?;
            Ok((vec![Record::DeleteNote { id }], ()))
        })
    }

    async fn list_public_notes(&self, page: &PageRequest) -> Result<Page<Note>, StoreError> {
        self.read(|state| {
            let notes = state
                .public
                .iter()
                .rev()
                .filter_map(|(at, id)| state.notes.get(id).map(|n| (Position::new(at, id), n)));
            page_of(List::PublicFeed, notes, state.public.len(), page)
        })
    }

    async fn list_owner_notes(
        &self,
        owner: &str,
        page: &PageRequest,
    ) -> Result<Page<Note>, StoreError> {
        self.read(|state| match state.by_owner.get(owner) {
            None => page_of(
                List::Owner(owner),
                std::iter::empty::<(Position, &Note)>(),
                0,
                page,
            ),
            Some(set) => {
                let notes = set
                    .iter()
                    .rev()
                    .filter_map(|(at, id)| state.notes.get(id).map(|n| (Position::new(at, id), n)));
                page_of(List::Owner(owner), notes, set.len(), page)
            }
        })
    }

    async fn get_user(&self, uid: &str) -> Result<Option<UserProfile>, StoreError> {
        Ok(self.read(|state| state.users.get(uid).cloned()))
    }

    async fn ensure_user(&self, initial: &UserProfile) -> Result<EnsuredUser, StoreError> {
        self.write(|state| match state.users.get(&initial.uid) {
            Some(existing) => Ok((
                Vec::new(),
                EnsuredUser {
                    profile: existing.clone(),
                    created: false,
                },
            )),
            None => Ok((
                vec![Record::PutUser {
                    user: initial.clone(),
                }],
                EnsuredUser {
                    profile: initial.clone(),
                    created: true,
                },
            )),
        })
    }

    async fn update_user(
        &self,
        defaults: &UserProfile,
        edit: &ProfileEdit,
        is_anonymous: Option<bool>,
        now: &Timestamp,
    ) -> Result<UserProfile, StoreError> {
        self.write(|state| {
            let mut user = state
                .users
                .get(&defaults.uid)
                .cloned()
                .unwrap_or_else(|| defaults.clone());
            if let Some(name) = &edit.display_name {
                user.display_name.clone_from(name);
            }
            if let Some(email) = &edit.email {
                user.email.clone_from(email);
            }
            if let Some(url) = &edit.avatar_url {
                user.avatar_url.clone_from(url);
            }
            if let Some(flag) = is_anonymous {
                user.is_anonymous = flag;
            }
            user.updated_at.clone_from(now);
            Ok((vec![Record::PutUser { user: user.clone() }], user))
        })
    }

    async fn add_comment(&self, comment: &Comment, gate: &CommentGate) -> Result<(), StoreError> {
        self.write(|state| {
            let allowed = state
                .notes
                .get(&comment.note_id)
                .is_some_and(|note| passes(note, gate));
            if !allowed {
                return Err(StoreError::NotFound);
            }
            Ok((
                vec![Record::PutComment {
                    comment: comment.clone(),
                }],
                (),
            ))
        })
    }

    async fn list_comments(
        &self,
        note_id: Uuid,
        page: &PageRequest,
        gate: &CommentGate,
    ) -> Result<Page<Comment>, StoreError> {
        self.read(|state| {
            if !state.notes.get(&note_id).is_some_and(|n| passes(n, gate)) {
                return Err(StoreError::NotFound);
            }
            let list = state
                .comments
                .get(&note_id)
                .map(Vec::as_slice)
                .unwrap_or_default();
            let comments = list.iter().map(|c| (Position::new(&c.created_at, c.id), c));
            page_of(List::Comments(note_id), comments, list.len(), page)
        })
    }

    async fn note_visibility(&self, id: Uuid) -> Result<Option<Visibility>, StoreError> {
        Ok(self.read(|state| {
            state.notes.get(&id).map(|note| Visibility {
                owner: note.owner_uid.clone(),
                public: note.is_public(),
            })
        }))
    }

    async fn purge_deleted(&self, _note: Option<Uuid>) -> Result<Purged, StoreError> {
        // A note's comments go in the same record as the note: nothing is ever left.
        Ok(Purged::default())
    }
}

#[async_trait]
impl ConnectionStore for EmbeddedStore {
    async fn put_connection(&self, connection: &Connection) -> Result<(), StoreError> {
        let mut map = self.connections.write().unwrap_or_else(|e| e.into_inner());
        map.insert(connection.connection_id.clone(), connection.clone());
        Ok(())
    }

    async fn delete_connection(&self, connection_id: &str) -> Result<(), StoreError> {
        let mut map = self.connections.write().unwrap_or_else(|e| e.into_inner());
        map.remove(connection_id);
        drop(map);
        let mut counts = self
            .message_counts
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        counts.remove(connection_id);
        Ok(())
    }

    async fn get_connection(
        &self,
        connection_id: &str,
        now: i64,
    ) -> Result<Option<Connection>, StoreError> {
        let map = self.connections.read().unwrap_or_else(|e| e.into_inner());
        Ok(map.get(connection_id).filter(|c| c.is_live(now)).cloned())
    }

    async fn set_subscription(
        &self,
        connection_id: &str,
        note_id: Uuid,
        subscribed: bool,
        max: usize,
    ) -> Result<Connection, StoreError> {
        let mut map = self.connections.write().unwrap_or_else(|e| e.into_inner());
        let connection = map.get_mut(connection_id).ok_or(StoreError::NotFound)?;
        let present = connection.subscriptions.contains(&note_id);
        if subscribed && !present {
            if connection.subscriptions.len() >= max {
                return Err(StoreError::Limit);
            }
            connection.subscriptions.push(note_id);
            connection.subscriptions.sort_unstable();
        } else if !subscribed && present {
            connection.subscriptions.retain(|n| *n != note_id);
        }
        Ok(connection.clone())
    }

    async fn count_message(
        &self,
        connection_id: &str,
        window: i64,
        max: u32,
    ) -> Result<(), StoreError> {
        if !self
            .connections
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(connection_id)
        {
            return Err(StoreError::NotFound);
        }
        let mut counts = self
            .message_counts
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let count = counts
            .entry(connection_id.to_owned())
            .or_insert((window, 0));
        if count.0 != window {
            *count = (window, 0);
        }
        if count.1 >= max {
            return Err(StoreError::Limit);
        }
        count.1 += 1;
        Ok(())
    }

    async fn scan_connections(
        &self,
        segment: Segment,
        cursor: Option<&str>,
        page_size: u32,
        now: i64,
    ) -> Result<ConnectionPage, StoreError> {
        use std::ops::Bound;
        let map = self.connections.read().unwrap_or_else(|e| e.into_inner());
        let start = match cursor {
            Some(after) => Bound::Excluded(after.to_string()),
            None => Bound::Unbounded,
        };
        // Segments split the rows by a hash of their id, as DynamoDB's parallel scan splits them.
        let in_segment =
            |id: &str| segment.total <= 1 || segment_of(id, segment.total) == segment.index;
        let mut last = None;
        let mut connections = Vec::new();
        for (id, connection) in map
            .range((start, Bound::Unbounded))
            .filter(|(id, _)| in_segment(id))
            .take(page_size as usize)
        {
            last = Some(id.clone());
            if connection.is_live(now) {
                connections.push(connection.clone());
            }
        }
        let more = match &last {
            Some(last) => map
                .range::<String, _>((Bound::Excluded(last.clone()), Bound::Unbounded))
                .any(|(id, _)| in_segment(id)),
            None => false,
        };
        Ok(ConnectionPage {
            connections,
            next: if more { last } else { None },
        })
    }

    async fn user_connections(&self, uid: &str, now: i64) -> Result<Vec<Connection>, StoreError> {
        let map = self.connections.read().unwrap_or_else(|e| e.into_inner());
        Ok(map
            .values()
            .filter(|c| c.uid.as_deref() == Some(uid) && c.is_live(now))
            .cloned()
            .collect())
    }

    async fn broadcast_progress(
        &self,
        event_id: &str,
        now: i64,
    ) -> Result<Option<BroadcastProgress>, StoreError> {
        let progress = self.broadcasts.lock().unwrap_or_else(|e| e.into_inner());
        Ok(progress
            .get(event_id)
            .filter(|p| p.expires_at > now)
            .cloned())
    }

    async fn put_broadcast_progress(&self, progress: &BroadcastProgress) -> Result<(), StoreError> {
        let mut all = self.broadcasts.lock().unwrap_or_else(|e| e.into_inner());
        all.insert(progress.event_id.clone(), progress.clone());
        Ok(())
    }
}

/// The parallel-scan segment of connection `id` among `total`.
fn segment_of(id: &str, total: u32) -> u32 {
    let hash = id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x1000_0000_01b3)
    });
    (hash % u64::from(total)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::now;

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
