//! Items: how notes, users, comments and the per-note gate are laid out as DynamoDB items, and
//! the update-expression builder every conditional write uses.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use uuid::Uuid;

use super::super::StoreError;
use super::super::schema::{self, FEED_SHARDS};
use crate::domain::{Comment, Note, UserProfile};

/// A DynamoDB item.
pub type Item = HashMap<String, AttributeValue>;

/// The comment key of a note's gate item in the Comments table (sorts before every comment).
pub const GATE_KEY: &str = "#note";
/// The Comments partition that lists notes whose comments are still to be removed.
pub const DELETING: &str = "#deleting";

pub(super) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(super) fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// The feed shard a note is published under: fixed by its id, so a note always lands in one.
pub fn feed_shard(id: Uuid) -> u32 {
    (id.as_u128() % u128::from(FEED_SHARDS)) as u32
}

/// Reads typed attributes out of an item, naming the item kind and attribute on failure.
pub(super) struct Fields<'a> {
    pub(super) item: &'a Item,
    pub(super) kind: &'static str,
}

impl Fields<'_> {
    fn malformed(&self, attribute: &str, problem: &str) -> StoreError {
        StoreError::Backend(format!(
            "malformed {} item: attribute `{attribute}` {problem}",
            self.kind
        ))
    }

    pub(super) fn opt_string(&self, attribute: &str) -> Result<Option<String>, StoreError> {
        match self.item.get(attribute) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(AttributeValue::S(value)) => Ok(Some(value.clone())),
            Some(_) => Err(self.malformed(attribute, "is not a string")),
        }
    }

    pub(super) fn string(&self, attribute: &str) -> Result<String, StoreError> {
        self.opt_string(attribute)?
            .ok_or_else(|| self.malformed(attribute, "is missing"))
    }

    pub(super) fn uuid(&self, attribute: &str) -> Result<Uuid, StoreError> {
        Uuid::parse_str(&self.string(attribute)?)
            .map_err(|_| self.malformed(attribute, "is not a uuid"))
    }

    pub(super) fn boolean(&self, attribute: &str) -> Result<bool, StoreError> {
        match self.item.get(attribute) {
            Some(AttributeValue::Bool(value)) => Ok(*value),
            None => Err(self.malformed(attribute, "is missing")),
            Some(_) => Err(self.malformed(attribute, "is not a boolean")),
        }
    }

    pub(super) fn number(&self, attribute: &str) -> Result<i64, StoreError> {
        match self.item.get(attribute) {
            Some(AttributeValue::N(value)) => value
                .parse()
                .map_err(|_| self.malformed(attribute, "is not an integer")),
            None => Ok(0),
            Some(_) => Err(self.malformed(attribute, "is not a number")),
        }
    }
}

/// A note as a Notes item: optional fields absent when `None`; `published_at` and `feed` only
/// on public notes (which is what keeps the feed index sparse).
pub fn note_item(note: &Note) -> Item {
    let mut item = Item::from([
        ("id".to_owned(), s(note.id.to_string())),
        ("owner_uid".to_owned(), s(&note.owner_uid)),
        ("content".to_owned(), s(&note.content)),
        ("author_name".to_owned(), s(&note.author_name)),
        ("created_at".to_owned(), s(&note.created_at)),
        ("updated_at".to_owned(), s(&note.updated_at)),
    ]);
    if let Some(title) = &note.title {
        item.insert("title".to_owned(), s(title));
    }
    if let Some(url) = &note.author_avatar_url {
        item.insert("author_avatar_url".to_owned(), s(url));
    }
    if let Some(published_at) = &note.published_at {
        item.insert("published_at".to_owned(), s(published_at));
        item.insert("feed".to_owned(), s(schema::feed_key(feed_shard(note.id))));
    }
    item
}

/// Reads a Notes item; a missing or mistyped attribute is a [`StoreError::Backend`] naming it.
pub fn note_from_item(item: &Item) -> Result<Note, StoreError> {
    let f = Fields { item, kind: "note" };
    Ok(Note {
        id: f.uuid("id")?,
        owner_uid: f.string("owner_uid")?,
        title: f.opt_string("title")?,
        content: f.string("content")?,
        author_name: f.string("author_name")?,
        author_avatar_url: f.opt_string("author_avatar_url")?,
        created_at: f.string("created_at")?,
        updated_at: f.string("updated_at")?,
        published_at: f.opt_string("published_at")?,
    })
}

pub(super) fn user_item(user: &UserProfile) -> Item {
    let mut item = Item::from([
        ("uid".to_owned(), s(&user.uid)),
        ("display_name".to_owned(), s(&user.display_name)),
        (
            "is_anonymous".to_owned(),
            AttributeValue::Bool(user.is_anonymous),
        ),
        ("created_at".to_owned(), s(&user.created_at)),
        ("updated_at".to_owned(), s(&user.updated_at)),
    ]);
    if let Some(email) = &user.email {
        item.insert("email".to_owned(), s(email));
    }
    if let Some(url) = &user.avatar_url {
        item.insert("avatar_url".to_owned(), s(url));
    }
    item
}

pub(super) fn user_from_item(item: &Item) -> Result<UserProfile, StoreError> {
    let f = Fields { item, kind: "user" };
    Ok(UserProfile {
        uid: f.string("uid")?,
        display_name: f.string("display_name")?,
        email: f.opt_string("email")?,
        avatar_url: f.opt_string("avatar_url")?,
        is_anonymous: f.boolean("is_anonymous")?,
        created_at: f.string("created_at")?,
        updated_at: f.string("updated_at")?,
    })
}

/// `created_at#id`: comments sort oldest first, ties broken by id.
pub(super) fn comment_key(comment: &Comment) -> String {
    format!("{}#{}", comment.created_at, comment.id)
}

/// A comment as a Comments item, keyed by its note and `created_at#id`.
pub fn comment_item(comment: &Comment) -> Item {
    let note = comment.note_id.to_string();
    Item::from([
        ("note_id".to_owned(), s(&note)),
        ("comment_key".to_owned(), s(comment_key(comment))),
        // The keys-only index of comment keys, by note (page N finds its start through it).
        ("note_ref".to_owned(), s(note)),
        ("id".to_owned(), s(comment.id.to_string())),
        ("author_uid".to_owned(), s(&comment.author_uid)),
        ("username".to_owned(), s(&comment.username)),
        ("content".to_owned(), s(&comment.content)),
        ("created_at".to_owned(), s(&comment.created_at)),
        ("updated_at".to_owned(), s(&comment.updated_at)),
    ])
}

pub(super) fn comment_from_item(item: &Item) -> Result<Comment, StoreError> {
    let f = Fields {
        item,
        kind: "comment",
    };
    Ok(Comment {
        id: f.uuid("id")?,
        note_id: f.uuid("note_id")?,
        author_uid: f.string("author_uid")?,
        username: f.string("username")?,
        content: f.string("content")?,
        created_at: f.string("created_at")?,
        updated_at: f.string("updated_at")?,
    })
}

/// A note's gate, as its Comments item holds it: who owns the note, whether it is public,
/// whether it is being deleted, and how many comments it has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gate {
    /// The note's owner.
    pub owner: String,
    /// Whether the note is public.
    pub public: bool,
    /// Whether the note is deleted and its comments await purging (nobody may comment).
    pub deleting: bool,
    /// How many comments the note has.
    pub comments: i64,
}

/// The gate of `note` as its Comments item (under the sort key `#note`).
pub fn gate_item(note: Uuid, gate: &Gate) -> Item {
    Item::from([
        ("note_id".to_owned(), s(note.to_string())),
        ("comment_key".to_owned(), s(GATE_KEY)),
        ("owner".to_owned(), s(&gate.owner)),
        ("public".to_owned(), AttributeValue::Bool(gate.public)),
        ("deleting".to_owned(), AttributeValue::Bool(gate.deleting)),
        ("comments".to_owned(), n(gate.comments)),
    ])
}

pub(super) fn gate_from_item(item: &Item) -> Result<Gate, StoreError> {
    let f = Fields { item, kind: "gate" };
    Ok(Gate {
        owner: f.string("owner")?,
        public: f.boolean("public")?,
        deleting: f.boolean("deleting").unwrap_or(false),
        comments: f.number("comments")?,
    })
}

/// The key of `note`'s gate item.
pub(super) fn gate_key(note: Uuid) -> Item {
    Item::from([
        ("note_id".to_owned(), s(note.to_string())),
        ("comment_key".to_owned(), s(GATE_KEY)),
    ])
}

/// An update expression under construction: `SET`, `ADD` and `REMOVE` clauses with their names
/// and values.
#[derive(Default)]
pub(super) struct Update {
    set: Vec<String>,
    add: Vec<String>,
    remove: Vec<String>,
    pub(super) names: HashMap<String, String>,
    pub(super) values: HashMap<String, AttributeValue>,
}

impl Update {
    pub(super) fn name(&mut self, attribute: &str) -> String {
        let placeholder = format!("#{attribute}");
        self.names.insert(placeholder.clone(), attribute.to_owned());
        placeholder
    }

    pub(super) fn value(&mut self, key: &str, value: AttributeValue) -> String {
        let placeholder = format!(":{key}");
        self.values.insert(placeholder.clone(), value);
        placeholder
    }

    /// `SET attribute = value`.
    pub(super) fn set(&mut self, attribute: &str, value: AttributeValue) {
        let name = self.name(attribute);
        let value = self.value(attribute, value);
        self.set.push(format!("{name} = {value}"));
    }

    /// `SET attribute = if_not_exists(attribute, value)`: only fills a missing attribute.
    pub(super) fn set_default(&mut self, attribute: &str, value: AttributeValue) {
        let name = self.name(attribute);
        let value = self.value(&format!("default_{attribute}"), value);
        self.set
            .push(format!("{name} = if_not_exists({name}, {value})"));
    }

    pub(super) fn remove(&mut self, attribute: &str) {
        let name = self.name(attribute);
        self.remove.push(name);
    }

    pub(super) fn expression(&self) -> String {
        let mut clauses = Vec::new();
        if !self.set.is_empty() {
            clauses.push(format!("SET {}", self.set.join(", ")));
        }
        if !self.add.is_empty() {
            clauses.push(format!("ADD {}", self.add.join(", ")));
        }
        if !self.remove.is_empty() {
            clauses.push(format!("REMOVE {}", self.remove.join(", ")));
        }
        clauses.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(public: bool) -> Note {
        Note {
            id: Uuid::new_v4(),
            owner_uid: "alice".into(),
            title: None,
            content: "c".into(),
            author_name: "Alice".into(),
            author_avatar_url: None,
            created_at: "2026-01-01T00:00:00.000000Z".into(),
            updated_at: "2026-01-01T00:00:00.000000Z".into(),
            published_at: public.then(|| "2026-01-02T00:00:00.000000Z".into()),
        }
    }

    #[test]
    fn a_note_round_trips_and_only_public_notes_carry_a_feed_key() {
        let private = note(false);
        let item = note_item(&private);
        assert!(!item.contains_key("feed") && !item.contains_key("title"));
        assert_eq!(note_from_item(&item).unwrap(), private);
        let mut public = note(true);
        public.title = Some("t".into());
        let item = note_item(&public);
        assert_eq!(item["feed"], s(schema::feed_key(feed_shard(public.id))));
        assert_eq!(note_from_item(&item).unwrap(), public);
    }

    #[test]
    fn notes_spread_over_every_feed_shard() {
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..200 {
            seen.insert(feed_shard(Uuid::new_v4()));
        }
        assert_eq!(seen.len(), FEED_SHARDS as usize);
    }

    #[test]
    fn a_malformed_item_names_the_attribute() {
        let mut item = note_item(&note(false));
        item.remove("content");
        let err = note_from_item(&item).unwrap_err().to_string();
        assert!(
            err.contains("`content`") && err.contains("missing"),
            "{err}"
        );
        item.insert("content".into(), AttributeValue::N("1".into()));
        let err = note_from_item(&item).unwrap_err().to_string();
        assert!(
            err.contains("`content`") && err.contains("not a string"),
            "{err}"
        );
    }

    #[test]
    fn update_expressions_combine_set_and_remove() {
        let mut update = Update::default();
        update.set("title", s("t"));
        update.remove("published_at");
        update.set_default("created_at", s("c"));
        assert_eq!(
            update.expression(),
            "SET #title = :title, #created_at = if_not_exists(#created_at, :default_created_at) \
             REMOVE #published_at"
        );
    }
}
