//! The DynamoDB tables: keys, indexes and TTL, declared once.
//!
//! The DynamoDB store reads and writes by these names, `noteapp local --dynamodb-endpoint` and the
//! tests create tables from them, and a deployer test checks the CloudFormation template against
//! them, so the code and the template cannot drift apart.

/// A key attribute's DynamoDB type. Every key here is a string or a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    S,
    N,
}

/// A global secondary index (projection `ALL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexDef {
    pub name: &'static str,
    pub hash_key: &'static str,
    pub range_key: &'static str,
}

/// One table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableDef {
    /// The template's logical id.
    pub logical_id: &'static str,
    /// The environment variable that hands the physical name to the runtime.
    pub env_var: &'static str,
    pub hash_key: &'static str,
    pub range_key: Option<&'static str>,
    /// Every attribute used in a key of the table or of an index, with its type.
    pub key_attributes: &'static [(&'static str, KeyType)],
    pub indexes: &'static [IndexDef],
    /// The TTL attribute (epoch seconds), if rows expire.
    pub ttl_attribute: Option<&'static str>,
}

/// Notes, by id; by owner and creation time; and, sparsely, public notes by publish time.
pub const NOTES: TableDef = TableDef {
    logical_id: "NotesTable",
    env_var: "NOTES_TABLE",
    hash_key: "id",
    range_key: None,
    key_attributes: &[
        ("id", KeyType::S),
        ("owner_uid", KeyType::S),
        ("created_at", KeyType::S),
        ("public_feed", KeyType::S),
        ("published_at", KeyType::S),
    ],
    indexes: &[
        IndexDef {
            name: OWNER_INDEX,
            hash_key: "owner_uid",
            range_key: "created_at",
        },
        IndexDef {
            name: PUBLIC_INDEX,
            hash_key: "public_feed",
            range_key: "published_at",
        },
    ],
    ttl_attribute: None,
};

/// The index of a user's notes, newest created first.
pub const OWNER_INDEX: &str = "OwnerIndex";
/// The sparse index of public notes: only public notes carry `public_feed`.
pub const PUBLIC_INDEX: &str = "PublicNotesIndex";
/// The single value of `public_feed` on public notes.
pub const PUBLIC_FEED: &str = "public";

/// Users, by Firebase uid.
pub const USERS: TableDef = TableDef {
    logical_id: "UsersTable",
    env_var: "USERS_TABLE",
    hash_key: "uid",
    range_key: None,
    key_attributes: &[("uid", KeyType::S)],
    indexes: &[],
    ttl_attribute: None,
};

/// Comments, by note and then by `created_at#id` (oldest first).
pub const COMMENTS: TableDef = TableDef {
    logical_id: "CommentsTable",
    env_var: "COMMENTS_TABLE",
    hash_key: "note_id",
    range_key: Some("comment_key"),
    key_attributes: &[("note_id", KeyType::S), ("comment_key", KeyType::S)],
    indexes: &[],
    ttl_attribute: None,
};

/// WebSocket connections, by connection id, expiring through TTL.
pub const CONNECTIONS: TableDef = TableDef {
    logical_id: "ConnectionsTable",
    env_var: "CONNECTIONS_TABLE",
    hash_key: "connectionId",
    range_key: None,
    key_attributes: &[("connectionId", KeyType::S)],
    indexes: &[],
    ttl_attribute: Some("ttl"),
};

/// Every table the stack owns.
pub const ALL_TABLES: [TableDef; 4] = [NOTES, USERS, COMMENTS, CONNECTIONS];
