//! Storage: one narrow interface, two implementations.
//!
//! [`Store`] is everything the handlers need from storage. [`dynamodb::DynamoStore`] runs in AWS
//! (and against any DynamoDB API, such as `moto_server` in tests); [`embedded::EmbeddedStore`]
//! runs `noteapp local` from a data directory that survives restarts. Both enforce ownership and
//! state inside the write itself (DynamoDB condition expressions, or one lock around check and
//! write), so concurrent requests cannot lose an update or bring a deleted note back. The same
//! contract tests run against both. [`ControlStore`] (rate-limit counters, broadcast progress)
//! is the third interface, apart from the connections the fan-out scans.

pub mod connections;
pub mod control;
pub mod cursor;
pub mod dynamodb;
pub mod embedded;
pub mod schema;

pub use connections::{Connection, ConnectionPage, ConnectionStore, ScanPosition, Segment};
pub use control::{BroadcastProgress, ControlStore, Limiter};

use async_trait::async_trait;
use uuid::Uuid;

use crate::domain::{
    Comment, Note, NoteEdit, Page, PageRequest, ProfileEdit, Timestamp, UserProfile,
};

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The item does not exist, or the caller may not see it (never say which).
    #[error("not found")]
    NotFound,
    /// A create collided with an existing item.
    #[error("already exists")]
    AlreadyExists,
    /// Concurrent writes to the same item kept colliding, past the retries.
    #[error("concurrent updates kept conflicting: {0}")]
    Conflict(String),
    /// A list cursor this store never gave.
    #[error("the cursor is not one this API gave")]
    InvalidCursor,
    /// A per-item limit was reached (subscriptions of a connection, its messages per window).
    #[error("limit reached")]
    Limit,
    /// A rate limit of the caller's was reached ([`Limiter`]): nothing was written.
    #[error("rate limited: {message}")]
    RateLimited {
        /// What the client is told (which limit, and when to come back).
        message: String,
        /// Seconds until the limit's window ends (`Retry-After`).
        retry_after_secs: u32,
    },
    /// The backing service asked us to slow down.
    #[error("storage is throttling requests: {0}")]
    Throttled(String),
    /// Anything else; the message is for logs, never for clients.
    #[error("storage failure: {0}")]
    Backend(String),
}

/// What a change to an existing note does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoteChange {
    /// Partial update of title and content.
    Edit(NoteEdit),
    /// Make public, with `published_at = at`.
    Publish,
    /// Make private again; `published_at` is removed.
    Unpublish,
}

/// Who may comment on a note: the condition checked in the same write as the comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommentGate {
    /// The note must be public.
    Public,
    /// The note must belong to this user.
    Owner(String),
}

/// The result of [`Store::ensure_user`].
#[derive(Debug, Clone, PartialEq)]
pub struct EnsuredUser {
    /// The stored profile: the existing one, or the one just created.
    pub profile: UserProfile,
    /// Whether this call created it.
    pub created: bool,
}

/// Everything the handlers need from storage.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Creates a note; fails with [`StoreError::AlreadyExists`] if the id is taken.
    async fn create_note(&self, note: &Note) -> Result<(), StoreError>;
    /// Reads a note by id, whoever owns it.
    async fn get_note(&self, id: Uuid) -> Result<Option<Note>, StoreError>;
    /// Applies `change` to `owner`'s note `id` at time `now` and returns the new note;
    /// [`StoreError::NotFound`] when the note is missing or owned by someone else.
    async fn update_note(
        &self,
        id: Uuid,
        owner: &str,
        change: &NoteChange,
        now: &Timestamp,
    ) -> Result<Note, StoreError>;
    /// Deletes `owner`'s note `id` at once; its comments go with it, or (where there can be
    /// many) in the background: [`Store::purge_deleted`] removes them; meanwhile no one can
    /// read or add any. [`StoreError::NotFound`] as above.
    async fn delete_note(&self, id: Uuid, owner: &str) -> Result<(), StoreError>;
    /// Public notes, newest published first.
    async fn list_public_notes(&self, page: &PageRequest) -> Result<Page<Note>, StoreError>;
    /// `owner`'s notes, public and private, newest created first.
    async fn list_owner_notes(
        &self,
        owner: &str,
        page: &PageRequest,
    ) -> Result<Page<Note>, StoreError>;

    /// Reads a profile.
    async fn get_user(&self, uid: &str) -> Result<Option<UserProfile>, StoreError>;
    /// Returns the stored profile, creating `initial` first if there is none.
    async fn ensure_user(&self, initial: &UserProfile) -> Result<EnsuredUser, StoreError>;
    /// Applies `edit` (and `is_anonymous`, when given) to the profile of `defaults.uid`, creating
    /// it from `defaults` first if it does not exist, in one write. Returns the new profile.
    async fn update_user(
        &self,
        defaults: &UserProfile,
        edit: &ProfileEdit,
        is_anonymous: Option<bool>,
        now: &Timestamp,
    ) -> Result<UserProfile, StoreError>;

    /// Stores a comment if its note passes `gate` at the moment of the write;
    /// [`StoreError::NotFound`] otherwise.
    async fn add_comment(&self, comment: &Comment, gate: &CommentGate) -> Result<(), StoreError>;
    /// Who owns note `id` and whether it is public, read from the small item comments are
    /// gated on (not the note itself); `None` when the note does not exist (or is being deleted).
    async fn note_visibility(&self, id: Uuid) -> Result<Option<Visibility>, StoreError>;
    /// A note's comments, oldest first, if the note passes `gate` (else
    /// [`StoreError::NotFound`]).
    async fn list_comments(
        &self,
        note_id: Uuid,
        page: &PageRequest,
        gate: &CommentGate,
    ) -> Result<Page<Comment>, StoreError>;
    /// Removes what deleted notes left behind (their comments), for `note` only or for every
    /// note still pending. Idempotent and resumable: a purge cut short leaves the rest listed,
    /// and the next one finishes it.
    async fn purge_deleted(&self, note: Option<Uuid>) -> Result<Purged, StoreError>;
}

/// Who may see a note's comments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Visibility {
    /// The owner's uid.
    pub owner: String,
    /// Whether the note is public.
    pub public: bool,
}

/// What [`Store::purge_deleted`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    /// Deleted notes whose leftovers were purged.
    pub notes: u64,
    /// Comments removed.
    pub comments: u64,
}
