//! Large data sets written straight into the tables (batches of 25, in the store's own item
//! layout), then the counters rebuilt by `counts::repair`: thousands of notes in seconds where
//! the API would take a transaction each.

use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use futures_util::stream::{self, StreamExt};
use noteapp_runtime::domain::{Comment, Note, format_time};
use noteapp_runtime::store::Connection;
use noteapp_runtime::store::dynamodb::{
    DynamoConnections, DynamoStore, Gate, Item, comment_item, connection_item, counts, gate_item,
    note_item,
};
use uuid::Uuid;

/// Writes `items` to `table`, 25 per call and four calls at a time, retrying what DynamoDB
/// leaves unprocessed.
pub async fn put_all(client: &aws_sdk_dynamodb::Client, table: &str, items: Vec<Item>) {
    let batches: Vec<Vec<WriteRequest>> = items
        .chunks(25)
        .map(|chunk| {
            chunk
                .iter()
                .map(|item| {
                    let put = PutRequest::builder().set_item(Some(item.clone())).build();
                    WriteRequest::builder()
                        .put_request(put.expect("put request"))
                        .build()
                })
                .collect()
        })
        .collect();
    stream::iter(batches)
        .for_each_concurrent(4, |mut batch| async move {
            while !batch.is_empty() {
                let out = client
                    .batch_write_item()
                    .request_items(table, batch)
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("seed {table}: {e:?}"));
                batch = out
                    .unprocessed_items
                    .and_then(|mut left| left.remove(table))
                    .unwrap_or_default();
            }
        })
        .await;
}

/// A note of `owner`, created `n` seconds after a fixed start (so ordering is known), public
/// when `public`.
pub fn note(owner: &str, n: u32, public: bool) -> Note {
    let at = chrono::DateTime::from_timestamp(1_750_000_000 + i64::from(n), 0).expect("time");
    let at = format_time(at);
    Note {
        id: Uuid::new_v4(),
        owner_uid: owner.to_owned(),
        title: Some(format!("note {n}")),
        content: format!(
            "the body of note {n}, long enough to look like a real note's first lines"
        ),
        author_name: format!("User {owner}"),
        author_avatar_url: None,
        created_at: at.clone(),
        updated_at: at.clone(),
        published_at: public.then_some(at),
    }
}

/// Writes `notes` with their gates (no comments yet), then brings every counter in line.
pub async fn notes(store: &DynamoStore, notes: &[Note]) {
    let client = store.client();
    put_all(
        client,
        &store.tables().notes,
        notes.iter().map(note_item).collect(),
    )
    .await;
    let gates = notes
        .iter()
        .map(|note| {
            gate_item(
                note.id,
                &Gate {
                    owner: note.owner_uid.clone(),
                    public: note.is_public(),
                    deleting: false,
                    comments: 0,
                },
            )
        })
        .collect();
    put_all(client, &store.tables().comments, gates).await;
    repair(store).await;
}

/// Writes `count` comments on `note` (one second apart) and its gate with that count.
pub async fn comments(store: &DynamoStore, note: &Note, count: u32) -> Vec<Comment> {
    let comments: Vec<Comment> = (0..count)
        .map(|n| {
            let at = chrono::DateTime::from_timestamp(1_760_000_000 + i64::from(n), 0);
            let at = format_time(at.expect("time"));
            Comment {
                id: Uuid::new_v4(),
                note_id: note.id,
                author_uid: format!("reader-{}", n % 17),
                username: format!("Reader {}", n % 17),
                content: format!("comment {n}"),
                created_at: at.clone(),
                updated_at: at,
            }
        })
        .collect();
    let mut items: Vec<Item> = comments.iter().map(comment_item).collect();
    items.push(gate_item(
        note.id,
        &Gate {
            owner: note.owner_uid.clone(),
            public: note.is_public(),
            deleting: false,
            comments: i64::from(count),
        },
    ));
    put_all(store.client(), &store.tables().comments, items).await;
    comments
}

/// Writes live connection rows.
pub async fn connections(store: &DynamoConnections, rows: &[Connection]) {
    let items = rows.iter().map(connection_item).collect();
    put_all(store.client(), store.table(), items).await;
}

async fn repair(store: &DynamoStore) {
    counts::repair(store).await.expect("rebuild the counters");
}
