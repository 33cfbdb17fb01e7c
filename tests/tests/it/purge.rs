//! Deleting a note with 3,000 comments through `noteapp local --dynamodb-endpoint` (a real
//! `moto_server`): the delete answers at once, the purge runs behind it, a server killed in the
//! middle of it leaves the rest listed and unreadable, and the next start finishes it.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{AttributeValue, Select};
use noteapp_runtime::store::dynamodb::{DynamoStore, TableNames, create_tables, items::DELETING};
use noteapp_tests::local::LocalServer;
use noteapp_tests::{dynamodb, seed};

/// Rows left in one partition of the Comments table (counted a 1 MB page at a time).
async fn rows(client: &aws_sdk_dynamodb::Client, table: &str, partition: &str) -> i32 {
    let mut count = 0;
    let mut start = None;
    loop {
        let out = client
            .query()
            .table_name(table)
            .key_condition_expression("note_id = :n")
            .expression_attribute_values(":n", AttributeValue::S(partition.into()))
            .select(Select::Count)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("count rows");
        count += out.count;
        match out.last_evaluated_key {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => return count,
        }
    }
}

#[tokio::test]
async fn a_purge_killed_halfway_is_finished_by_the_next_start() {
    let Some(server) = dynamodb::MotoServer::start_or_skip("purge") else {
        return;
    };
    let prefix = dynamodb::unique_prefix();
    let tables = TableNames::with_prefix(&prefix);
    let client = dynamodb::dynamodb_client(server.endpoint()).await;
    create_tables(&client, &tables).await.expect("tables");
    let store = DynamoStore::new(client.clone(), tables.store_tables());
    let note = seed::note("alice", 1, true);
    seed::notes(&store, std::slice::from_ref(&note)).await;
    seed::comments(&store, &note, 3_000).await;
    let id = note.id.to_string();
    assert_eq!(rows(&client, &tables.comments, &id).await, 3_001);

    let dir = tempfile::tempdir().expect("temp dir");
    let args = [
        "--dynamodb-endpoint",
        server.endpoint(),
        "--table-prefix",
        &prefix,
    ];
    let mut local = LocalServer::start(dir.path(), &args);
    let alice = local.token(&["--uid", "alice"]);
    let http = noteapp_tests::http_client();
    let started = Instant::now();
    let deleted = http
        .delete(format!("{}/me/notes/{id}", local.url()))
        .bearer_auth(&alice)
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.status().as_u16(), 200);
    let answered = started.elapsed();

    // Kill the server once the purge is under way, before it is done.
    let left = loop {
        let left = rows(&client, &tables.comments, &id).await;
        assert!(
            left > 0,
            "the purge finished before it could be interrupted"
        );
        if left < 2_700 {
            break left;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the purge did not start"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    local.stop();
    let left_after_kill = rows(&client, &tables.comments, &id).await;
    assert!(left_after_kill > 0 && left_after_kill <= left);
    let listed = rows(&client, &tables.comments, DELETING).await;
    assert_eq!(listed, 1, "the note stays listed for purging");
    println!("delete answered in {answered:?}; killed with {left_after_kill} of 3,001 rows left");

    // Meanwhile nothing of the note can be read or added to.
    let mut local = LocalServer::start(dir.path(), &args);
    for path in [format!("/notes/{id}"), format!("/notes/{id}/comments")] {
        let status = http
            .get(format!("{}{path}", local.url()))
            .send()
            .await
            .expect("get")
            .status();
        assert_eq!(status.as_u16(), 404, "{path}");
    }
    let comment = http
        .post(format!("{}/notes/{id}/comments", local.url()))
        .bearer_auth(&alice)
        .body(r#"{"content":"too late"}"#)
        .send()
        .await
        .expect("comment");
    assert_eq!(comment.status().as_u16(), 404);

    // The restart's sweep finishes the purge.
    let deadline = Instant::now() + Duration::from_secs(120);
    while rows(&client, &tables.comments, &id).await > 0
        || rows(&client, &tables.comments, DELETING).await > 0
    {
        assert!(
            Instant::now() < deadline,
            "the sweep did not finish the purge"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    local.stop();
}
