//! Records as the stores keep them, and the JSON views the front end reads.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Timestamp;

/// A note as stored. A note is public exactly when `published_at` is set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Note {
    pub id: Uuid,
    pub owner_uid: String,
    pub title: Option<String>,
    pub content: String,
    pub author_name: String,
    pub author_avatar_url: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
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
    pub id: Uuid,
    pub title: Option<String>,
    pub content: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub published_at: Option<Timestamp>,
    pub is_public: bool,
}

/// `PublicNote` in the API contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublicNoteView {
    pub id: Uuid,
    pub title: String,
    pub content: String,
    pub author: AuthorView,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub published_at: Timestamp,
}

/// The `author` object of a public note.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorView {
    pub id: String,
    pub display_name: String,
    pub avatar_url: Option<String>,
}

/// A comment as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comment {
    pub id: Uuid,
    pub note_id: Uuid,
    pub author_uid: String,
    pub username: String,
    pub content: String,
    pub created_at: Timestamp,
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
    pub id: Uuid,
    pub content: String,
    pub username: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub post_id: Uuid,
}

/// A user's profile as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserProfile {
    pub uid: String,
    pub display_name: String,
    pub email: Option<String>,
    pub avatar_url: Option<String>,
    pub is_anonymous: bool,
    pub created_at: Timestamp,
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
    pub uid: String,
    pub display_name: String,
    pub email: Option<String>,
    pub avatar_url: Option<String>,
    pub is_anonymous: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}
