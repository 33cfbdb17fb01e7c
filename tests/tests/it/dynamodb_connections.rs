//! The connections store on DynamoDB (a real `moto_server`), and through
//! `noteapp local --dynamodb-endpoint` the rows `$connect` writes (their expiry), the caps of
//! `$default` (subscriptions, message rate) as a socket sees them, and the stale-row cleanup of a
//! broadcast.

use std::collections::HashSet;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use noteapp_runtime::store::dynamodb::{Item, connection_item};
use noteapp_runtime::store::{Connection, ConnectionStore, Segment};
use noteapp_tests::local::LocalServer;
use noteapp_tests::ws_client::{self, WsClient};
use noteapp_tests::{dynamodb, seed};
use serde_json::json;

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// `noteapp local` on fresh tables of the shared `moto_server`, and a client reading its
/// connections table.
struct OnMoto {
    local: LocalServer,
    client: aws_sdk_dynamodb::Client,
    table: String,
    _dir: tempfile::TempDir,
}

impl OnMoto {
    /// `None` when skipping (no `moto_server`).
    async fn start() -> Option<Self> {
        let server = dynamodb::shared()?;
        let prefix = dynamodb::unique_prefix();
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
        Some(Self {
            local,
            client: dynamodb::dynamodb_client(server.endpoint()).await,
            table: format!("{prefix}-connections"),
            _dir: dir,
        })
    }

    async fn socket(&self) -> WsClient {
        ws_client::connect(&format!("{}/", self.local.ws_url()))
            .await
            .expect("websocket connects")
    }

    /// The connection's row as stored.
    async fn row(&self, connection_id: &str) -> Item {
        self.client
            .get_item()
            .table_name(&self.table)
            .key("connectionId", AttributeValue::S(connection_id.into()))
            .consistent_read(true)
            .send()
            .await
            .expect("get the connection row")
            .item
            .expect("the connection row exists")
    }
}

fn number(row: &Item, name: &str) -> i64 {
    row.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the row lacks a numeric {name}: {row:?}"))
}

#[tokio::test]
async fn a_scan_pages_through_five_thousand_rows_and_skips_expired_ones() {
    let Some(store) = dynamodb::fresh_connections().await else {
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
    let Some(store) = dynamodb::fresh_connections().await else {
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
    let Some(stack) = OnMoto::start().await else {
        return;
    };
    let (local, client, table) = (&stack.local, &stack.client, &stack.table);
    let mut live = Vec::new();
    for _ in 0..2 {
        live.push(stack.socket().await);
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
        client,
        table,
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
    let left = client.scan().table_name(table).send().await.unwrap();
    assert_eq!(left.count, 2, "only the live connections' rows remain");
    for socket in &mut live {
        assert_eq!(
            socket.next_json(Duration::from_secs(5)).await.unwrap()["type"],
            "test"
        );
    }
}

#[tokio::test]
async fn a_row_written_by_connect_expires_within_two_hours_and_a_quarter() {
    let Some(stack) = OnMoto::start().await else {
        return;
    };
    let before = now();
    let mut socket = stack.socket().await;
    let id = socket.connection_id().await;
    let after = now();

    let ttl = stack
        .client
        .describe_time_to_live()
        .table_name(&stack.table)
        .send()
        .await
        .expect("describe the table's TTL");
    let attribute = ttl
        .time_to_live_description()
        .and_then(|d| d.attribute_name())
        .expect("the table has a TTL attribute");
    let row = stack.row(&id).await;
    let expires = number(&row, attribute);
    let connected = number(&row, "connectedAt") / 1000;
    assert!(
        (before..=after).contains(&connected),
        "connected at {connected}, between {before} and {after}"
    );
    // API Gateway closes a connection after 2 h; the row outlives that, by at most 15 min.
    let lives = expires - connected;
    assert!(
        lives > 2 * 3600 && lives <= 2 * 3600 + 15 * 60,
        "the row lives {lives} s"
    );
}

#[tokio::test]
async fn the_fifty_first_subscription_is_refused_on_the_socket() {
    let Some(stack) = OnMoto::start().await else {
        return;
    };
    let mut socket = stack.socket().await;
    let id = socket.connection_id().await;
    // Fifty subscriptions written into the row: over the socket they would take three rate
    // windows.
    let held: Vec<String> = (0..50).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    stack
        .client
        .update_item()
        .table_name(&stack.table)
        .key("connectionId", AttributeValue::S(id.clone()))
        .update_expression("ADD subscriptions :notes")
        .expression_attribute_values(":notes", AttributeValue::Ss(held.clone()))
        .send()
        .await
        .expect("subscribe the row to fifty notes");

    let new = uuid::Uuid::new_v4().to_string();
    socket
        .send_json(&json!({"action": "subscribe", "noteId": new}))
        .await;
    let refused = socket.expect_json().await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(
        refused["data"],
        json!({"message": "at most 50 subscriptions per connection: unsubscribe from one first"})
    );
    assert!(refused["timestamp"].as_str().unwrap().ends_with('Z'));

    // A note already held is no new subscription; one freed makes room.
    socket
        .send_json(&json!({"action": "subscribe", "noteId": held[0]}))
        .await;
    assert_eq!(socket.expect_json().await["type"], "subscribed");
    socket
        .send_json(&json!({"action": "unsubscribe", "noteId": held[1]}))
        .await;
    assert_eq!(socket.expect_json().await["type"], "unsubscribed");
    socket
        .send_json(&json!({"action": "subscribe", "noteId": new}))
        .await;
    let subscribed = socket.expect_json().await;
    assert_eq!(subscribed["type"], "subscribed", "{subscribed}");
    let row = stack.row(&id).await;
    let notes = row["subscriptions"].as_ss().expect("a string set");
    assert_eq!(notes.len(), 50);
    assert!(notes.contains(&new) && !notes.contains(&held[1]));
}

#[tokio::test]
async fn past_twenty_messages_in_ten_seconds_the_socket_is_told_so_until_the_next_window() {
    let Some(stack) = OnMoto::start().await else {
        return;
    };
    let mut socket = stack.socket().await;
    // The burst must fall in one rate window.
    let refused = socket.echo_burst_in_one_window(20, 10).await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(
        refused["data"],
        json!({"message": "too many messages: at most 20 every 10 seconds"})
    );

    tokio::time::sleep(ws_client::rate_window_left(10) + Duration::from_millis(100)).await;
    socket.send_json(&json!({"n": "again"})).await;
    let echo = socket.expect_json().await;
    assert_eq!(echo["type"], "echo", "{echo}");
}
