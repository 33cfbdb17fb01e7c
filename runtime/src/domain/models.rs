//! Records as the stores keep them, and the JSON views the front end reads.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Timestamp;

/// A note as stored. A note is public exactly when `published_at` is set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Note {
    /// The note's id, chosen by the API when the note is created.
    pub id: Uuid,
    /// The Firebase uid of the user who wrote it; only they may change or delete it.
    pub owner_uid: String,
    /// The title, if it has one.
    pub title: Option<String>,
    /// The text of the note.
    pub content: String,
    /// The owner's display name when the note was created (from their profile, else their token).
    pub author_name: String,
    /// The owner's avatar URL when the note was created, if they had one.
    pub author_avatar_url: Option<String>,
    /// When the note was created.
    pub created_at: Timestamp,
    /// When the note last changed (an edit, publishing or unpublishing it).
    pub updated_at: Timestamp,
    /// When the note was made public; `None` while it is private.
    pub published_at: Option<Timestamp>,
}

impl Note {
    /// Whether anyone may read this note.
    pub fn is_public(&self) -> bool {
        self.published_at.is_some()
    }

    /// The owner's view (`PrivateNote`).
    pub fn private_view(&self) -> PrivateNoteView {
        PrivateNoteView {
            id: self.id,
            title: self.title.clone(),
            content: self.content.clone(),
            created_at: self.created_at.clone(),
            updated_at: self.updated_at.clone(),
            published_at: self.published_at.clone(),
            is_public: self.is_public(),
        }
    }

    /// Everyone's view (`PublicNote`), consuming the note; `None` unless the note is public.
    pub fn into_public_view(self) -> Option<PublicNoteView> {
        let published_at = self.published_at?;
        Some(PublicNoteView {
            id: self.id,
            title: self.title.unwrap_or_default(),
            content: self.content,
            author: AuthorView {
                id: self.owner_uid,
                display_name: self.author_name,
                avatar_url: self.author_avatar_url,
            },
            created_at: self.created_at,
            updated_at: self.updated_at,
            published_at,
        })
    }

    /// Everyone's view (`PublicNote`); `None` unless the note is public.
    pub fn public_view(&self) -> Option<PublicNoteView> {
        self.clone().into_public_view()
    }
}

/// `PrivateNote` in the API contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrivateNoteView {
    /// The note's id.
    pub id: Uuid,
    /// The title, `null` when it has none.
    pub title: Option<String>,
    /// The text of the note.
    pub content: String,
    /// When the note was created.
    pub created_at: Timestamp,
    /// When the note last changed.
    pub updated_at: Timestamp,
    /// When the note was made public; `null` while it is private.
    pub published_at: Option<Timestamp>,
    /// Whether anyone may read it (`publishedAt` is set).
    pub is_public: bool,
}

/// `PublicNote` in the API contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublicNoteView {
    /// The note's id.
    pub id: Uuid,
    /// The title, empty when the note has none.
    pub title: String,
    /// The text of the note.
    pub content: String,
    /// Who wrote it, as they were named when the note was created.
    pub author: AuthorView,
    /// When the note was created.
    pub created_at: Timestamp,
    /// When the note last changed.
    pub updated_at: Timestamp,
    /// When the note was made public.
    pub published_at: Timestamp,
}

/// The `author` object of a public note.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorView {
    /// The author's Firebase uid.
    pub id: String,
    /// The author's display name.
    pub display_name: String,
    /// The author's avatar URL, if any.
    pub avatar_url: Option<String>,
}

/// A comment as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comment {
    /// The comment's id.
    pub id: Uuid,
    /// The note it is on.
    pub note_id: Uuid,
    /// The Firebase uid of the user who wrote it.
    pub author_uid: String,
    /// The author's display name when the comment was written.
    pub username: String,
    /// The text of the comment.
    pub content: String,
    /// When the comment was written; comments are listed in this order.
    pub created_at: Timestamp,
    /// When the comment last changed (comments are not edited, so its creation time).
    pub updated_at: Timestamp,
}

impl Comment {
    /// `Comment` in the API contract (and in `comment.created` messages).
    pub fn view(&self) -> CommentView {
        CommentView {
            id: self.id,
            content: self.content.clone(),
            username: self.username.clone(),
            created_at: self.created_at.clone(),
            updated_at: self.updated_at.clone(),
            post_id: self.note_id,
        }
    }
}

/// `Comment` in the API contract: `username` is the author's display name, `postId` the note id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommentView {
    /// The comment's id.
    pub id: Uuid,
    /// The text of the comment.
    pub content: String,
    /// The author's display name when the comment was written.
    pub username: String,
    /// When the comment was written.
    pub created_at: Timestamp,
    /// When the comment last changed.
    pub updated_at: Timestamp,
    /// The id of the note it is on.
    pub post_id: Uuid,
}

/// A user's profile as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserProfile {
    /// The user's Firebase uid, the profile's key.
    pub uid: String,
    /// The name shown on the user's notes and comments; never empty.
    pub display_name: String,
    /// The user's email address, if they gave one.
    pub email: Option<String>,
    /// The user's avatar URL, if any.
    pub avatar_url: Option<String>,
    /// Whether the user signed in anonymously (Firebase's `anonymous` sign-in provider).
    pub is_anonymous: bool,
    /// When the profile was first stored.
    pub created_at: Timestamp,
    /// When the profile last changed.
    pub updated_at: Timestamp,
}

impl UserProfile {
    /// `UserProfile` in the API contract.
    pub fn view(&self) -> UserProfileView {
        UserProfileView {
            uid: self.uid.clone(),
            display_name: self.display_name.clone(),
            email: self.email.clone(),
            avatar_url: self.avatar_url.clone(),
            is_anonymous: self.is_anonymous,
            created_at: self.created_at.clone(),
            updated_at: self.updated_at.clone(),
        }
    }
}

/// `UserProfile` in the API contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserProfileView {
    /// The user's Firebase uid.
    pub uid: String,
    /// The name shown on the user's notes and comments.
    pub display_name: String,
    /// The user's email address, `null` when they gave none.
    pub email: Option<String>,
    /// The user's avatar URL, `null` when they have none.
    pub avatar_url: Option<String>,
    /// Whether the user signed in anonymously.
    pub is_anonymous: bool,
    /// When the profile was created.
    pub created_at: Timestamp,
    /// When the profile last changed.
    pub updated_at: Timestamp,
}
