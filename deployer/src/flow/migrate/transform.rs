//! The seed's items → noteapp's records: pure functions, one per table, that say what they did
//! to every item that is not exactly in the shape the seed backend writes.
//!
//! The seed writes notes as `id, title, content, author_id, author_name, author_avatar_url`
//! (`""` for none), `created_at, updated_at` (Python `datetime.isoformat()`, `+00:00`),
//! `owner_uid, is_public` (the string `"true"`/`"false"`) and `published_at` (public notes), and
//! users as `uid, displayName, email, avatarUrl, isAnonymous` (a boolean), `createdAt,
//! updatedAt`, with `null` (DynamoDB `NULL`) for a missing email or avatar. [`MAPPING`] says
//! where each goes.
//!
//! The rules, in short: nothing is dropped without being named. A note is skipped only when it
//! can never be reached (an id that is not a UUID, which no route of either app accepts) or
//! belongs to nobody (neither `owner_uid` nor `author_id`). Text beyond noteapp's input limits
//! (a title over 120 characters, content over 10,000, a display name over 60, control
//! characters) is kept whole: those limits guard what people type, and cutting stored text would
//! lose it. A missing value noteapp needs gets a stated default; a value of another type is read
//! as text when it is a number or a boolean, and dropped otherwise; an attribute the seed never
//! writes is dropped. Each of these is an [`Issue`], named by the item's key.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, NaiveDateTime, Utc};
use noteapp_runtime::domain::{
    MAX_CONTENT_CHARS, MAX_DISPLAY_NAME_CHARS, MAX_TITLE_CHARS, Note, Timestamp, UserProfile,
    default_display_name, format_time,
};
use noteapp_runtime::store::dynamodb::Item;
use serde::Serialize;
use uuid::Uuid;

/// The time given to a record that carries no usable time at all (it sorts last).
pub const UNKNOWN_TIME: &str = "1970-01-01T00:00:00.000000Z";

/// Where each of the seed's attributes goes in noteapp: (seed, noteapp).
pub const MAPPING: &[(&str, &str)] = &[
    ("Notes.id", "Notes.id (the same UUID, lowercase)"),
    ("Notes.owner_uid", "Notes.owner_uid (OwnerNotesIndex)"),
    (
        "Notes.author_id",
        "not stored: noteapp's author.id is the owner (reported where they differ)",
    ),
    ("Notes.author_name", "Notes.author_name"),
    (
        "Notes.author_avatar_url",
        "Notes.author_avatar_url; \"\" becomes absent (null in the API)",
    ),
    ("Notes.title", "Notes.title"),
    ("Notes.content", "Notes.content"),
    (
        "Notes.created_at, updated_at",
        "the same times as YYYY-MM-DDTHH:MM:SS.ffffffZ (UTC)",
    ),
    (
        "Notes.is_public = \"true\"",
        "Notes.published_at kept, feed = public#<id mod 4> (PublicFeedIndex)",
    ),
    (
        "Notes.is_public = \"false\"",
        "no published_at, no feed (private)",
    ),
    (
        "(each note)",
        "Comments: its gate item (note_id, comment_key \"#note\", owner, public, comments 0)",
    ),
    (
        "(all notes)",
        "Notes: the counters #count#owner#<uid> and #count#public#<shard>, recomputed from the tables",
    ),
    ("Users.uid", "Users.uid"),
    ("Users.displayName", "Users.display_name"),
    (
        "Users.email, avatarUrl",
        "Users.email, avatar_url (null: absent)",
    ),
    ("Users.isAnonymous", "Users.is_anonymous"),
    (
        "Users.createdAt, updatedAt",
        "Users.created_at, updated_at (UTC, fixed width)",
    ),
    (
        "WebSocketConnectionsTable",
        "not copied: live connections only (24 h TTL); clients reconnect to noteapp",
    ),
    (
        "comments",
        "none to copy: the seed kept them in memory only",
    ),
];

/// What is done with an item that is not in the seed's exact shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Not migrated.
    Skipped,
    /// Migrated with the stated change.
    Adjusted,
    /// Migrated as it is, outside one of noteapp's input limits.
    Kept,
}

/// One thing about one source item, named by its key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Issue {
    /// `notes` or `users`.
    pub table: &'static str,
    /// The item's key (`id` or `uid`).
    pub key: String,
    /// The seed's attribute concerned (`owner_uid`, `is_public`, …).
    pub attribute: String,
    /// What is wrong with it, in words (following the attribute's name).
    pub problem: String,
    /// Whether the item is skipped, adjusted or kept as it is.
    pub action: Action,
    /// What is done, in words.
    pub done: String,
}

/// A source item read: the record to write (`None`: skipped) and what was not as expected.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapped<T> {
    /// The record to write; `None` when the item is skipped.
    pub record: Option<T>,
    /// What was not as the seed writes it; empty when the item is in its exact shape.
    pub issues: Vec<Issue>,
}

/// The attributes the seed backend writes.
const NOTE_ATTRIBUTES: &[&str] = &[
    "id",
    "title",
    "content",
    "author_id",
    "author_name",
    "author_avatar_url",
    "created_at",
    "updated_at",
    "owner_uid",
    "is_public",
    "published_at",
];
const USER_ATTRIBUTES: &[&str] = &[
    "uid",
    "displayName",
    "email",
    "avatarUrl",
    "isAnonymous",
    "createdAt",
    "updatedAt",
];

/// Collects the issues of one item.
struct Reader<'a> {
    item: &'a Item,
    table: &'static str,
    key: String,
    issues: Vec<Issue>,
}

impl<'a> Reader<'a> {
    fn new(item: &'a Item, table: &'static str, key_attribute: &str) -> Self {
        let key = match item.get(key_attribute) {
            Some(AttributeValue::S(key)) => key.clone(),
            Some(other) => format!("{other:?}"),
            None => "(no key)".to_owned(),
        };
        Self {
            item,
            table,
            key,
            issues: Vec::new(),
        }
    }

    fn issue(&mut self, attribute: &str, problem: impl Into<String>, action: Action, done: &str) {
        self.issues.push(Issue {
            table: self.table,
            key: self.key.clone(),
            attribute: attribute.to_owned(),
            problem: problem.into(),
            action,
            done: done.to_owned(),
        });
    }

    /// A text attribute: `None` when absent or `NULL`; a number or boolean as its text
    /// (reported); any other type dropped (reported).
    fn text(&mut self, attribute: &str) -> Option<String> {
        match self.item.get(attribute)? {
            AttributeValue::S(text) => Some(text.clone()),
            AttributeValue::Null(_) => None,
            AttributeValue::N(number) => {
                self.issue(
                    attribute,
                    format!("is the number {number}, not a string"),
                    Action::Adjusted,
                    "migrated as its text",
                );
                Some(number.clone())
            }
            AttributeValue::Bool(flag) => {
                self.issue(
                    attribute,
                    format!("is the boolean {flag}, not a string"),
                    Action::Adjusted,
                    "migrated as its text",
                );
                Some(flag.to_string())
            }
            other => {
                self.issue(
                    attribute,
                    format!("is not a string ({})", type_name(other)),
                    Action::Adjusted,
                    "dropped",
                );
                None
            }
        }
    }

    /// A text that must not be empty: absent, `NULL` or `""` are `None`.
    fn non_empty(&mut self, attribute: &str) -> Option<String> {
        self.text(attribute).filter(|t| !t.is_empty())
    }

    /// A time in the stores' form, `None` (reported) when absent or unreadable.
    fn time(&mut self, attribute: &str, fallback: &str) -> Option<Timestamp> {
        let Some(raw) = self.text(attribute) else {
            self.issue(attribute, "is missing", Action::Adjusted, fallback);
            return None;
        };
        match parse_time(&raw) {
            Some((time, true)) => Some(time),
            Some((time, false)) => {
                self.issue(
                    attribute,
                    format!("{raw:?} has no time zone"),
                    Action::Adjusted,
                    "read as UTC",
                );
                Some(time)
            }
            None => {
                self.issue(
                    attribute,
                    format!("{raw:?} is not a time"),
                    Action::Adjusted,
                    fallback,
                );
                None
            }
        }
    }

    /// Text kept whole, with a note when it is beyond what noteapp accepts as input.
    fn check_limits(&mut self, attribute: &str, text: &str, max: usize) {
        let chars = text.chars().count();
        if chars > max {
            self.issue(
                attribute,
                format!("has {chars} characters, over noteapp's input limit of {max}"),
                Action::Kept,
                "kept whole (noteapp's own edits must shorten it)",
            );
        }
        if let Some(c) = text
            .chars()
            .find(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            self.issue(
                attribute,
                format!(
                    "holds the control character U+{:04X}, which noteapp refuses as input",
                    c as u32
                ),
                Action::Kept,
                "kept as it is",
            );
        }
    }

    /// Reports every attribute the seed does not write.
    fn unknown(&mut self, known: &[&str]) {
        let mut extra: Vec<String> = self
            .item
            .keys()
            .filter(|k| !known.contains(&k.as_str()))
            .cloned()
            .collect();
        extra.sort_unstable();
        for attribute in extra {
            self.issue(
                &attribute,
                "is not an attribute the seed writes",
                Action::Adjusted,
                "dropped",
            );
        }
    }

    fn done<T>(self, record: Option<T>) -> Mapped<T> {
        Mapped {
            record,
            issues: self.issues,
        }
    }
}

fn type_name(value: &AttributeValue) -> &'static str {
    match value {
        AttributeValue::S(_) => "S",
        AttributeValue::N(_) => "N",
        AttributeValue::B(_) => "B",
        AttributeValue::Bool(_) => "BOOL",
        AttributeValue::Null(_) => "NULL",
        AttributeValue::M(_) => "M",
        AttributeValue::L(_) => "L",
        AttributeValue::Ss(_) => "SS",
        AttributeValue::Ns(_) => "NS",
        AttributeValue::Bs(_) => "BS",
        _ => "unknown",
    }
}

/// A time as the seed may have written it, in the stores' form, and whether it carried a time
/// zone. Python's `isoformat()` gives `2025-01-15T10:30:00.123456+00:00`, without the fraction
/// when the microseconds are 0, and without an offset for a naive time; the API layer's `Z` form
/// and a space for the `T` are read too. Other offsets are converted to UTC.
pub fn parse_time(raw: &str) -> Option<(Timestamp, bool)> {
    let raw = raw.trim();
    let mut text = raw.to_owned();
    if text.as_bytes().get(10) == Some(&b' ') {
        text.replace_range(10..11, "T");
    }
    if let Ok(time) = DateTime::parse_from_rfc3339(&text) {
        return Some((format_time(time.with_timezone(&Utc)), true));
    }
    let naive = NaiveDateTime::parse_from_str(&text, "%Y-%m-%dT%H:%M:%S%.f").ok()?;
    Some((format_time(naive.and_utc()), false))
}

/// A seed note → a noteapp note.
pub fn note(item: &Item) -> Mapped<Note> {
    let mut r = Reader::new(item, "notes", "id");
    let id = match Uuid::parse_str(&r.key) {
        Ok(id) => id,
        Err(_) => {
            r.issue(
                "id",
                "is not a UUID, which no route of the seed or of noteapp accepts",
                Action::Skipped,
                "not migrated",
            );
            return r.done(None);
        }
    };
    if id.to_string() != r.key {
        r.issue(
            "id",
            "is not a lowercase hyphenated UUID",
            Action::Adjusted,
            &format!("migrated as {id}"),
        );
    }
    let author_id = r.non_empty("author_id");
    let owner = match (r.non_empty("owner_uid"), &author_id) {
        (Some(owner), _) => owner,
        (None, Some(author)) => {
            r.issue(
                "owner_uid",
                "is missing",
                Action::Adjusted,
                &format!("owned by its author_id, {author}"),
            );
            author.clone()
        }
        (None, None) => {
            r.issue(
                "owner_uid",
                "is missing, and so is author_id: the note belongs to nobody",
                Action::Skipped,
                "not migrated",
            );
            return r.done(None);
        }
    };
    if let Some(author) = author_id.filter(|a| *a != owner) {
        r.issue(
            "author_id",
            format!("is {author}, not the owner {owner}"),
            Action::Adjusted,
            "noteapp shows the owner as the author",
        );
    }
    let title = r.text("title");
    if let Some(title) = &title {
        r.check_limits("title", title, MAX_TITLE_CHARS);
    }
    let content = match r.text("content") {
        Some(content) => {
            r.check_limits("content", &content, MAX_CONTENT_CHARS);
            content
        }
        None => {
            r.issue(
                "content",
                "is missing",
                Action::Adjusted,
                "migrated with empty content",
            );
            String::new()
        }
    };
    let author_name = r.non_empty("author_name").unwrap_or_else(|| {
        let name = default_display_name(&owner, false);
        r.issue(
            "author_name",
            "is missing or empty",
            Action::Adjusted,
            &format!("\"{name}\", the seed's own placeholder"),
        );
        name
    });
    let author_avatar_url = r.non_empty("author_avatar_url");
    let created = r.time("created_at", "taken from updated_at");
    let updated = r.time("updated_at", "taken from created_at");
    let published = item
        .contains_key("published_at")
        .then(|| r.time("published_at", "taken from updated_at"))
        .flatten();
    let (created_at, updated_at) = times(&mut r, created, updated, published.clone());
    let public = match item.get("is_public") {
        Some(AttributeValue::S(flag)) if flag == "true" => true,
        Some(AttributeValue::S(flag)) if flag == "false" => false,
        Some(AttributeValue::Bool(flag)) => {
            r.issue(
                "is_public",
                format!("is the boolean {flag}, not the string \"{flag}\""),
                Action::Adjusted,
                if *flag {
                    "migrated as public"
                } else {
                    "migrated as private"
                },
            );
            *flag
        }
        other => {
            let problem = match other {
                None => "is missing".to_owned(),
                Some(value) => format!("is {value:?}, neither \"true\" nor \"false\""),
            };
            r.issue(
                "is_public",
                problem,
                Action::Adjusted,
                "migrated as private, as the seed's feed never listed it",
            );
            false
        }
    };
    let published_at = match (public, published) {
        (true, Some(at)) => Some(at),
        (true, None) => {
            if !item.contains_key("published_at") {
                r.issue(
                    "published_at",
                    "is missing on a public note",
                    Action::Adjusted,
                    "published at its updated_at",
                );
            }
            Some(updated_at.clone())
        }
        (false, _) => {
            if item.contains_key("published_at") {
                r.issue(
                    "published_at",
                    "is set on a private note",
                    Action::Adjusted,
                    "dropped: a private note has no publish time in noteapp",
                );
            }
            None
        }
    };
    r.unknown(NOTE_ATTRIBUTES);
    r.done(Some(Note {
        id,
        owner_uid: owner,
        title,
        content,
        author_name,
        author_avatar_url,
        created_at,
        updated_at,
        published_at,
    }))
}

/// The created and updated times from what was readable: each falls back on the other, then on
/// the publish time, then on [`UNKNOWN_TIME`] (reported).
fn times(
    r: &mut Reader<'_>,
    created: Option<Timestamp>,
    updated: Option<Timestamp>,
    published: Option<Timestamp>,
) -> (Timestamp, Timestamp) {
    let known = created.clone().or(updated.clone()).or(published);
    let known = known.unwrap_or_else(|| {
        r.issue(
            "created_at",
            "no time of the item is readable",
            Action::Adjusted,
            &format!("created and updated at {UNKNOWN_TIME} (unknown)"),
        );
        UNKNOWN_TIME.to_owned()
    });
    (
        created.unwrap_or_else(|| known.clone()),
        updated.unwrap_or(known),
    )
}

/// A seed user → a noteapp profile.
pub fn user(item: &Item) -> Mapped<UserProfile> {
    let mut r = Reader::new(item, "users", "uid");
    let uid = r.key.clone();
    let is_anonymous = match item.get("isAnonymous") {
        Some(AttributeValue::Bool(flag)) => *flag,
        Some(AttributeValue::S(flag)) if flag == "true" || flag == "false" => {
            r.issue(
                "isAnonymous",
                format!("is the string \"{flag}\", not a boolean"),
                Action::Adjusted,
                "read as the boolean",
            );
            flag == "true"
        }
        other => {
            let problem = match other {
                None => "is missing".to_owned(),
                Some(value) => format!("is {value:?}, not a boolean"),
            };
            r.issue(
                "isAnonymous",
                problem,
                Action::Adjusted,
                "migrated as a regular user",
            );
            false
        }
    };
    let display_name = match r.non_empty("displayName") {
        Some(name) => {
            r.check_limits("displayName", &name, MAX_DISPLAY_NAME_CHARS);
            name
        }
        None => {
            let name = default_display_name(&uid, is_anonymous);
            r.issue(
                "displayName",
                "is missing or empty",
                Action::Adjusted,
                &format!("\"{name}\", noteapp's default"),
            );
            name
        }
    };
    let email = r.text("email");
    let avatar_url = r.text("avatarUrl");
    let created = r.time("createdAt", "taken from updatedAt");
    let updated = r.time("updatedAt", "taken from createdAt");
    let (created_at, updated_at) = times(&mut r, created, updated, None);
    r.unknown(USER_ATTRIBUTES);
    r.done(Some(UserProfile {
        uid,
        display_name,
        email,
        avatar_url,
        is_anonymous,
        created_at,
        updated_at,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(value: &str) -> AttributeValue {
        AttributeValue::S(value.to_owned())
    }

    const ID: &str = "550e8400-e29b-41d4-a716-446655440000";

    /// A public note exactly as the seed backend writes it.
    fn seed_note() -> Item {
        Item::from([
            ("id".to_owned(), s(ID)),
            ("title".to_owned(), s("Hello")),
            ("content".to_owned(), s("World")),
            ("author_id".to_owned(), s("alice")),
            ("author_name".to_owned(), s("User alice")),
            ("author_avatar_url".to_owned(), s("")),
            (
                "created_at".to_owned(),
                s("2025-01-15T10:30:00.123456+00:00"),
            ),
            ("updated_at".to_owned(), s("2025-01-15T11:00:00+00:00")),
            ("owner_uid".to_owned(), s("alice")),
            ("is_public".to_owned(), s("true")),
            ("published_at".to_owned(), s("2025-01-16T09:00:00.5+00:00")),
        ])
    }

    fn seed_user() -> Item {
        Item::from([
            ("uid".to_owned(), s("bob")),
            ("displayName".to_owned(), s("Bob")),
            ("email".to_owned(), s("bob@example.com")),
            ("avatarUrl".to_owned(), AttributeValue::Null(true)),
            ("isAnonymous".to_owned(), AttributeValue::Bool(false)),
            ("createdAt".to_owned(), s("2025-01-01T00:00:00+00:00")),
            (
                "updatedAt".to_owned(),
                s("2025-01-02T03:04:05.000006+00:00"),
            ),
        ])
    }

    fn problems<T>(mapped: &Mapped<T>) -> Vec<(String, Action)> {
        mapped
            .issues
            .iter()
            .map(|i| (i.attribute.clone(), i.action))
            .collect()
    }

    #[test]
    fn python_isoformat_times_become_fixed_width_utc() {
        for (raw, want) in [
            (
                "2025-01-15T10:30:00.123456+00:00",
                "2025-01-15T10:30:00.123456Z",
            ),
            ("2025-01-15T10:30:00+00:00", "2025-01-15T10:30:00.000000Z"),
            ("2025-01-15T10:30:00.5Z", "2025-01-15T10:30:00.500000Z"),
            ("2025-01-15 10:30:00+00:00", "2025-01-15T10:30:00.000000Z"),
            ("2025-01-15T19:30:00+09:00", "2025-01-15T10:30:00.000000Z"),
        ] {
            assert_eq!(parse_time(raw), Some((want.to_owned(), true)), "{raw}");
        }
        assert_eq!(
            parse_time("2025-01-15T10:30:00.25"),
            Some(("2025-01-15T10:30:00.250000Z".to_owned(), false))
        );
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(parse_time("2025-01-15"), None);
    }

    #[test]
    fn a_seed_public_note_maps_field_for_field_with_no_issue() {
        let mapped = note(&seed_note());
        assert_eq!(mapped.issues, vec![]);
        let note = mapped.record.as_ref().expect("migrated");
        assert_eq!(note.id.to_string(), ID);
        assert_eq!(note.owner_uid, "alice");
        assert_eq!(note.title.as_deref(), Some("Hello"));
        assert_eq!(note.content, "World");
        assert_eq!(note.author_name, "User alice");
        assert_eq!(note.author_avatar_url, None, "\"\" is the seed's none");
        assert_eq!(note.created_at, "2025-01-15T10:30:00.123456Z");
        assert_eq!(note.updated_at, "2025-01-15T11:00:00.000000Z");
        assert_eq!(
            note.published_at.as_deref(),
            Some("2025-01-16T09:00:00.500000Z")
        );
    }

    #[test]
    fn a_private_note_has_no_publish_time_and_a_stray_one_is_reported() {
        let mut item = seed_note();
        item.insert("is_public".into(), s("false"));
        item.remove("published_at");
        let mapped = note(&item);
        assert_eq!(mapped.issues, vec![]);
        assert_eq!(mapped.record.as_ref().expect("migrated").published_at, None);
        item.insert("published_at".into(), s("2025-01-16T09:00:00+00:00"));
        let mapped = note(&item);
        assert_eq!(
            problems(&mapped),
            vec![("published_at".into(), Action::Adjusted)]
        );
        assert_eq!(mapped.record.as_ref().expect("migrated").published_at, None);
    }

    #[test]
    fn notes_nobody_can_reach_or_own_are_skipped_by_key() {
        let mut item = seed_note();
        item.insert("id".into(), s("not-a-uuid"));
        let mapped = note(&item);
        assert!(mapped.record.is_none());
        assert_eq!(mapped.issues[0].key, "not-a-uuid");
        assert_eq!(mapped.issues[0].action, Action::Skipped);

        let mut item = seed_note();
        item.remove("owner_uid");
        item.insert("author_id".into(), s(""));
        let mapped = note(&item);
        assert!(mapped.record.is_none());
        assert_eq!(
            problems(&mapped),
            vec![("owner_uid".into(), Action::Skipped)]
        );
        assert_eq!(mapped.issues[0].key, ID);
    }

    #[test]
    fn an_owner_comes_from_the_author_and_a_differing_author_is_reported() {
        let mut item = seed_note();
        item.remove("owner_uid");
        let mapped = note(&item);
        assert_eq!(mapped.record.as_ref().expect("migrated").owner_uid, "alice");
        assert_eq!(
            problems(&mapped),
            vec![("owner_uid".into(), Action::Adjusted)]
        );
        let mut item = seed_note();
        item.insert("author_id".into(), s("mallory"));
        let mapped = note(&item);
        assert_eq!(mapped.record.as_ref().expect("migrated").owner_uid, "alice");
        assert_eq!(
            problems(&mapped),
            vec![("author_id".into(), Action::Adjusted)]
        );
    }

    #[test]
    fn missing_fields_get_stated_defaults() {
        let mut item = seed_note();
        for attribute in ["title", "content", "author_name", "author_avatar_url"] {
            item.remove(attribute);
        }
        item.remove("published_at");
        let mapped = note(&item);
        let note = mapped.record.clone().expect("migrated");
        assert_eq!(note.title, None);
        assert_eq!(note.content, "");
        assert_eq!(note.author_name, "User alice");
        assert_eq!(note.author_avatar_url, None);
        assert_eq!(note.published_at.as_deref(), Some(note.updated_at.as_str()));
        assert_eq!(
            problems(&mapped),
            vec![
                ("content".into(), Action::Adjusted),
                ("author_name".into(), Action::Adjusted),
                ("published_at".into(), Action::Adjusted),
            ]
        );
    }

    #[test]
    fn unreadable_times_fall_back_on_each_other_then_on_the_unknown_time() {
        let mut item = seed_note();
        item.insert("created_at".into(), s("soon"));
        let mapped = note(&item);
        let n = mapped.record.clone().expect("migrated");
        assert_eq!(n.created_at, n.updated_at);
        assert_eq!(
            problems(&mapped),
            vec![("created_at".into(), Action::Adjusted)]
        );
        for attribute in ["created_at", "updated_at", "published_at"] {
            item.remove(attribute);
        }
        item.insert("is_public".into(), s("false"));
        let n = note(&item).record.expect("migrated");
        assert_eq!(
            (n.created_at.as_str(), n.updated_at.as_str()),
            (UNKNOWN_TIME, UNKNOWN_TIME)
        );
        let mut item = seed_note();
        item.insert("updated_at".into(), s("2025-01-15T11:00:00"));
        let mapped = note(&item);
        assert_eq!(
            mapped.record.as_ref().expect("migrated").updated_at,
            "2025-01-15T11:00:00.000000Z"
        );
        assert_eq!(mapped.issues[0].done, "read as UTC");
    }

    #[test]
    fn text_beyond_noteapp_limits_is_kept_whole_and_reported() {
        let mut item = seed_note();
        let long = "x".repeat(MAX_CONTENT_CHARS * 30);
        item.insert("content".into(), s(&long));
        item.insert("title".into(), s(&format!("{}\u{7}", "t".repeat(130))));
        let mapped = note(&item);
        let n = mapped.record.clone().expect("migrated");
        assert_eq!(n.content, long);
        assert_eq!(n.title.expect("title").chars().count(), 131);
        assert_eq!(
            problems(&mapped),
            vec![
                ("title".into(), Action::Kept),
                ("title".into(), Action::Kept),
                ("content".into(), Action::Kept),
            ]
        );
    }

    #[test]
    fn odd_types_and_unknown_attributes_are_named() {
        let mut item = seed_note();
        item.insert("is_public".into(), AttributeValue::Bool(true));
        item.insert("title".into(), AttributeValue::N("42".into()));
        item.insert("author_name".into(), AttributeValue::L(vec![]));
        item.insert("likes".into(), AttributeValue::N("3".into()));
        let mapped = note(&item);
        let n = mapped.record.clone().expect("migrated");
        assert!(n.is_public());
        assert_eq!(n.title.as_deref(), Some("42"));
        assert_eq!(n.author_name, "User alice");
        let mut found = problems(&mapped);
        found.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            found,
            vec![
                ("author_name".into(), Action::Adjusted),
                ("author_name".into(), Action::Adjusted),
                ("is_public".into(), Action::Adjusted),
                ("likes".into(), Action::Adjusted),
                ("title".into(), Action::Adjusted),
            ]
        );
        let mut item = seed_note();
        item.insert("id".into(), s(&ID.to_uppercase()));
        let mapped = note(&item);
        assert_eq!(mapped.record.as_ref().expect("migrated").id.to_string(), ID);
        assert_eq!(problems(&mapped), vec![("id".into(), Action::Adjusted)]);
    }

    #[test]
    fn a_seed_user_maps_with_null_as_absent() {
        let mapped = user(&seed_user());
        assert_eq!(mapped.issues, vec![]);
        let profile = mapped.record.as_ref().expect("migrated");
        assert_eq!(profile.uid, "bob");
        assert_eq!(profile.display_name, "Bob");
        assert_eq!(profile.email.as_deref(), Some("bob@example.com"));
        assert_eq!(profile.avatar_url, None);
        assert!(!profile.is_anonymous);
        assert_eq!(profile.created_at, "2025-01-01T00:00:00.000000Z");
        assert_eq!(profile.updated_at, "2025-01-02T03:04:05.000006Z");
    }

    #[test]
    fn anonymous_and_odd_users_get_stated_defaults() {
        let mut item = seed_user();
        item.insert("isAnonymous".into(), AttributeValue::Bool(true));
        item.insert("displayName".into(), s("Guest"));
        item.insert("email".into(), AttributeValue::Null(true));
        let profile = user(&item).record.expect("migrated");
        assert!(profile.is_anonymous && profile.email.is_none());
        assert_eq!(profile.display_name, "Guest");

        let mut item = seed_user();
        item.remove("displayName");
        item.remove("isAnonymous");
        item.remove("createdAt");
        let mapped = user(&item);
        let profile = mapped.record.clone().expect("migrated");
        assert_eq!(profile.display_name, "User bob");
        assert!(!profile.is_anonymous);
        assert_eq!(profile.created_at, profile.updated_at);
        assert_eq!(
            problems(&mapped),
            vec![
                ("isAnonymous".into(), Action::Adjusted),
                ("displayName".into(), Action::Adjusted),
                ("createdAt".into(), Action::Adjusted),
            ]
        );
    }
}
