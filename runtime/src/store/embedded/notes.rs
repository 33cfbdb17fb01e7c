//! The notes, users and comments of the embedded store: their in-memory indexes, and
//! [`Store`] on them.
//!
//! [`State`] holds the same indexes as the DynamoDB tables (notes by owner and creation time,
//! public notes by publish time, comments by note and time) and is what the log's records
//! replay into. Reads take the store's read lock; every write decides under the write lock
//! what it changes, as records, so a check and its write are one step, as a DynamoDB condition
//! expression makes them in the cloud store. Lists page by offset or by cursor over the same
//! order the DynamoDB store reads.

use std::collections::{BTreeSet, HashMap};

use async_trait::async_trait;
use uuid::Uuid;

use super::EmbeddedStore;
use super::log::Record;
use crate::domain::{Comment, Note, Page, PageRequest, ProfileEdit, Timestamp, UserProfile};
use crate::store::cursor::{List, Position};
use crate::store::{CommentGate, EnsuredUser, NoteChange, Purged, Store, StoreError, Visibility};

/// Everything the log holds, indexed for the reads.
#[derive(Default)]
pub(super) struct State {
    pub(super) notes: HashMap<Uuid, Note>,
    /// (published_at, id) of public notes.
    public: BTreeSet<(Timestamp, Uuid)>,
    /// owner → (created_at, id).
    by_owner: HashMap<String, BTreeSet<(Timestamp, Uuid)>>,
    users: HashMap<String, UserProfile>,
    /// note → comments ordered by (created_at, id).
    comments: HashMap<Uuid, Vec<Comment>>,
}

impl State {
    /// Applies one record of the log.
    pub(super) fn apply(&mut self, record: Record) {
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

    /// The records that rebuild this state: one per user, note and comment.
    pub(super) fn records(&self) -> impl Iterator<Item = Record> + '_ {
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
