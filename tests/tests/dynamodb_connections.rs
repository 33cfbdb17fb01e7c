//! The connections store on DynamoDB (a real `moto_server`), and the stale-row cleanup of a
//! broadcast through `noteapp local --dynamodb-endpoint`.

use std::collections::HashSet;
use std::time::Duration;

use noteapp_runtime::store::dynamodb::connection_item;
use noteapp_runtime::store::{Connection, ConnectionStore, Segment};
use noteapp_tests::local::LocalServer;
use noteapp_tests::{moto, seed};
use serde_json::json;

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[tokio::test]
async fn a_scan_pages_through_five_thousand_rows_and_skips_expired_ones() {
    let Some(store) = moto::fresh_connections().await else {
        return;
    };
    let now_ms = chrono::Utc::now().timestamp_millis();
    // 5,000 live rows and 500 expired ones, written in batches of 25.
    let rows: Vec<Connection> = (0..5500)
        .map(|i| {
            let mut c = Connection::new(
                format!("conn-{i:05}="),
                (i % 7 == 0).then(|| format!("user-{i}")),
                now_ms,
            );
            if i >= 5000 {
                c.expires_at = now() - 60;
            }
            c
        })
        .collect();
    seed::connections(&store, &rows).await;

    let mut seen = HashSet::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = store
            .scan_connections(Segment::WHOLE, cursor.as_deref(), 400, now())
            .await
            .unwrap();
        pages += 1;
        for c in page.connections {
            assert!(c.is_live(now()), "an expired row came back: {c:?}");
            assert!(
                seen.insert(c.connection_id.clone()),
                "{} twice",
                c.connection_id
            );
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5000);
    assert!(pages >= 13, "400-row pages over 5,500 rows: {pages}");
    assert!(
        store
            .get_connection("conn-05100=", now())
            .await
            .unwrap()
            .is_none(),
        "expired rows are not read"
    );
    assert!(
        store
            .get_connection("conn-00001=", now())
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn subscriptions_are_conditional_updates_of_a_set() {
    let Some(store) = moto::fresh_connections().await else {
        return;
    };
    let c = Connection::new(
        "sub-1=",
        Some("alice".into()),
        chrono::Utc::now().timestamp_millis(),
    );
    store.put_connection(&c).await.unwrap();
    let (a, b) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    store.set_subscription("sub-1=", a, true, 50).await.unwrap();
    let both = store.set_subscription("sub-1=", b, true, 50).await.unwrap();
    assert_eq!(both.subscriptions.len(), 2);
    let one = store
        .set_subscription("sub-1=", a, false, 50)
        .await
        .unwrap();
    assert_eq!(one.subscriptions, vec![b]);
    assert_eq!(one.uid.as_deref(), Some("alice"));
    let missing = store
        .set_subscription("nobody=", a, true, 50)
        .await
        .unwrap_err();
    assert!(
        matches!(missing, noteapp_runtime::store::StoreError::NotFound),
        "{missing}"
    );
    store.delete_connection("sub-1=").await.unwrap();
    store.delete_connection("sub-1=").await.unwrap();
    assert!(
        store
            .get_connection("sub-1=", now())
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_broadcast_after_clients_vanish_removes_their_rows() {
    let Some(server) = moto::shared() else { return };
    let prefix = moto::unique_prefix();
    let dir = tempfile::tempdir().unwrap();
    let local = LocalServer::start(
        dir.path(),
        &[
            "--dynamodb-endpoint",
            server.endpoint(),
            "--table-prefix",
            &prefix,
        ],
    );
    let client = moto::dynamodb_client(server.endpoint()).await;
    let table = format!("{prefix}-connections");
    let mut live = Vec::new();
    for _ in 0..2 {
        live.push(
            noteapp_tests::ws_client::connect(&format!("{}/", local.ws_url()))
                .await
                .unwrap(),
        );
    }
    // Three clients that vanished without a $disconnect: their rows outlive their sockets.
    let vanished: Vec<Connection> = (0..3)
        .map(|i| {
            Connection::new(
                format!("vanished-{i}="),
                None,
                chrono::Utc::now().timestamp_millis(),
            )
        })
        .collect();
    seed::put_all(
        &client,
        &table,
        vanished.iter().map(connection_item).collect(),
    )
    .await;
    let operator = local.token(&["--operator"]);
    let response = noteapp_tests::http_client()
        .post(format!("{}/websocket/broadcast", local.ws_http_url()))
        .bearer_auth(operator)
        .body(json!({"type": "test", "data": {}}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let body: serde_json::Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert_eq!(
        body["results"],
        json!({"totalConnections": 5, "sent": 2, "failed": 0, "staleRemoved": 3}),
        "{body}"
    );
    let left = client.scan().table_name(&table).send().await.unwrap();
    assert_eq!(left.count, 2, "only the live connections' rows remain");
    for socket in &mut live {
        assert_eq!(
            socket.next_json(Duration::from_secs(5)).await.unwrap()["type"],
            "test"
        );
    }
}
