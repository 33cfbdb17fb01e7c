//! The DynamoDB tables: keys, indexes and TTL, declared once.
//!
//! The DynamoDB store reads and writes by these names, `noteapp local --dynamodb-endpoint` and the
//! tests create tables from them, and a deployer test checks the CloudFormation template against
//! them, so the code and the template cannot drift apart.
//!
//! Every list reads a keys-only index (or the base table by key range) and fetches only the
//! items of the page, so a page costs about `limit` items, and totals come from counters kept
//! with the writes (see `dynamodb::counts`). The public feed is spread over [`FEED_SHARDS`]
//! partition key values, so neither publishing nor reading the first page lands on one key.

/// A key attribute's DynamoDB type. Every key here is a string or a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// A string.
    S,
    /// A number.
    N,
}

/// What an index holds besides the keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Projection {
    /// The table's and the index's keys only: the cheapest index to write and to read.
    KeysOnly,
    /// The keys and these attributes.
    Include(&'static [&'static str]),
}

/// A global secondary index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexDef {
    /// The index's name, as queries name it.
    pub name: &'static str,
    /// Its partition key attribute.
    pub hash_key: &'static str,
    /// Its sort key attribute, if it has one.
    pub range_key: Option<&'static str>,
    /// What it holds besides the keys.
    pub projection: Projection,
}

/// One table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableDef {
    /// The template's logical id.
    pub logical_id: &'static str,
    /// The environment variable that hands the physical name to the runtime.
    pub env_var: &'static str,
    /// The table's partition key attribute.
    pub hash_key: &'static str,
    /// The table's sort key attribute, if it has one.
    pub range_key: Option<&'static str>,
    /// Every attribute used in a key of the table or of an index, with its type.
    pub key_attributes: &'static [(&'static str, KeyType)],
    /// Its global secondary indexes.
    pub indexes: &'static [IndexDef],
    /// The TTL attribute (epoch seconds), if rows expire.
    pub ttl_attribute: Option<&'static str>,
}

/// The partition key values the public feed is spread over (`public#0` … `public#3`): four
/// partitions share publishing and the reads of the first page (a cached page absorbs most).
pub const FEED_SHARDS: u32 = 4;

/// Notes, by id; by owner and creation time; and, sparsely, public notes by publish time.
/// The same table holds the counters (ids starting with `#`), which carry no index attribute.
pub const NOTES: TableDef = TableDef {
    logical_id: "NotesTable",
    env_var: "NOTES_TABLE",
    hash_key: "id",
    range_key: None,
    key_attributes: &[
        ("id", KeyType::S),
        ("owner_uid", KeyType::S),
        ("created_at", KeyType::S),
        ("feed", KeyType::S),
        ("published_at", KeyType::S),
    ],
    indexes: &[
        IndexDef {
            name: OWNER_INDEX,
            hash_key: "owner_uid",
            range_key: Some("created_at"),
            projection: Projection::KeysOnly,
        },
        IndexDef {
            name: FEED_INDEX,
            hash_key: "feed",
            range_key: Some("published_at"),
            projection: Projection::KeysOnly,
        },
    ],
    ttl_attribute: None,
};

/// A user's notes, newest created first (keys only).
pub const OWNER_INDEX: &str = "OwnerNotesIndex";
/// The sparse index of public notes by feed shard and publish time (keys only): only public
/// notes carry `feed`.
pub const FEED_INDEX: &str = "PublicFeedIndex";

/// The feed key of shard `shard`.
pub fn feed_key(shard: u32) -> String {
    format!("public#{shard}")
}

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

/// Comments, by note and then by `created_at#id` (oldest first). Each note also has one small
/// item here, at `comment_key = "#note"`, that comments are gated on and counted in; notes
/// being deleted are listed under `note_id = "#deleting"`.
pub const COMMENTS: TableDef = TableDef {
    logical_id: "CommentsTable",
    env_var: "COMMENTS_TABLE",
    hash_key: "note_id",
    range_key: Some("comment_key"),
    key_attributes: &[
        ("note_id", KeyType::S),
        ("comment_key", KeyType::S),
        ("note_ref", KeyType::S),
    ],
    indexes: &[IndexDef {
        name: COMMENT_KEYS_INDEX,
        hash_key: "note_ref",
        range_key: Some("comment_key"),
        projection: Projection::KeysOnly,
    }],
    ttl_attribute: None,
};

/// Comment keys only, by note: how page N finds where it starts without reading comments.
pub const COMMENT_KEYS_INDEX: &str = "CommentKeysIndex";

/// WebSocket connections, by connection id, expiring through TTL; by user, for the
/// connections of one signed-in user (the owner of a private note).
pub const CONNECTIONS: TableDef = TableDef {
    logical_id: "ConnectionsTable",
    env_var: "CONNECTIONS_TABLE",
    hash_key: "connectionId",
    range_key: None,
    key_attributes: &[("connectionId", KeyType::S), ("uid", KeyType::S)],
    indexes: &[IndexDef {
        name: USER_CONNECTIONS_INDEX,
        hash_key: "uid",
        range_key: None,
        projection: Projection::Include(&["connectedAt", "ttl", "subscriptions"]),
    }],
    ttl_attribute: Some("ttl"),
};

/// The connections of one user.
pub const USER_CONNECTIONS_INDEX: &str = "UserConnectionsIndex";

/// Short-lived control items, by key, expiring through TTL: rate-limit counters
/// (`rl#<action>#<subject>#<window start>`), the fan-out's send budget (`budget#<second>`) and
/// broadcast progress (`bc#<event id>`). Apart from the connections, which the fan-out scans,
/// so that a scan reads connections and nothing else.
pub const CONTROL: TableDef = TableDef {
    logical_id: "ControlTable",
    env_var: "CONTROL_TABLE",
    hash_key: "pk",
    range_key: None,
    key_attributes: &[("pk", KeyType::S)],
    indexes: &[],
    ttl_attribute: Some("ttl"),
};

/// Every table the stack owns.
pub const ALL_TABLES: [TableDef; 5] = [NOTES, USERS, COMMENTS, CONNECTIONS, CONTROL];
