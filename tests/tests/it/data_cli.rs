//! `noteapp data check|repair` against tables on a real `moto_server`: drift is found, named,
//! exits 4, and one repair makes every counter exact again.

use std::process::Command;

use aws_sdk_dynamodb::types::AttributeValue;
use noteapp_runtime::store::Store;
use noteapp_runtime::store::dynamodb::counts::public_counter;
use noteapp_runtime::store::dynamodb::{DynamoStore, TableNames, create_tables};
use noteapp_tests::local::binary;
use noteapp_tests::{dynamodb, seed};
use serde_json::Value;

fn data(command: &str, endpoint: &str, prefix: &str) -> (i32, Value, String) {
    let output = Command::new(binary("noteapp"))
        .current_dir(noteapp_test_support::workspace())
        .args([
            "data",
            command,
            "development",
            "--dynamodb-endpoint",
            endpoint,
        ])
        .args(["--table-prefix", prefix, "--json"])
        .output()
        .expect("run noteapp data");
    let report = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.code().unwrap_or(-1), report, stderr)
}

#[tokio::test]
async fn data_check_names_each_drift_and_repair_fixes_them_all() {
    let Some(server) = dynamodb::shared() else {
        return;
    };
    let prefix = dynamodb::unique_prefix();
    let tables = TableNames::with_prefix(&prefix);
    let client = dynamodb::dynamodb_client(server.endpoint()).await;
    create_tables(&client, &tables).await.expect("tables");
    let store = DynamoStore::new(client.clone(), tables.store_tables());
    let notes: Vec<_> = (0..30)
        .map(|n| seed::note("alice", n, n % 3 == 0))
        .collect();
    seed::notes(&store, &notes).await;
    seed::comments(&store, &notes[0], 7).await;

    let (code, report, stderr) = data("check", server.endpoint(), &prefix);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(report["notes_scanned"], 30);
    assert_eq!(report["comments_scanned"], 7);
    assert_eq!(report["drifts"], serde_json::json!([]));

    // Something wrote around the API: a counter is off, and a note lost its gate.
    client
        .put_item()
        .table_name(&tables.notes)
        .item("id", AttributeValue::S(public_counter(0)))
        .item("n", AttributeValue::N("999".into()))
        .send()
        .await
        .expect("corrupt a counter");
    client
        .delete_item()
        .table_name(&tables.comments)
        .key("note_id", AttributeValue::S(notes[0].id.to_string()))
        .key("comment_key", AttributeValue::S("#note".into()))
        .send()
        .await
        .expect("drop a gate");

    let (code, report, stderr) = data("check", server.endpoint(), &prefix);
    assert_eq!(code, 4, "differences exit 4: {stderr}");
    let drifts = report["drifts"].as_array().expect("drifts");
    let shard0 = drifts
        .iter()
        .find(|d| d["what"] == "public notes (shard 0)")
        .unwrap_or_else(|| panic!("the corrupted counter is named: {report}"));
    assert_eq!(shard0["stored"], 999);
    assert_eq!(report["notes_fixed"], 1, "{report}");
    assert_eq!(report["repaired"], false);
    assert!(
        stderr.contains("noteapp data repair development"),
        "says how to fix it: {stderr}"
    );

    let (code, report, stderr) = data("repair", server.endpoint(), &prefix);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(report["repaired"], true);
    let (code, report, stderr) = data("check", server.endpoint(), &prefix);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(report["drifts"], serde_json::json!([]));
    assert_eq!(report["notes_fixed"], 0);
    let page = store
        .list_comments(
            notes[0].id,
            &noteapp_runtime::domain::PageRequest::at(1, 20),
            &noteapp_runtime::store::CommentGate::Public,
        )
        .await
        .expect("comments readable again");
    assert_eq!(page.total, 7);
}
