//! Real-time comments end to end: real WebSocket clients and HTTP calls against `noteapp local`.

use std::time::Duration;

use noteapp_tests::local::LocalServer;
use noteapp_tests::ws_client::{WsClient, connect, refused_status};
use serde_json::{Value, json};

const QUIET: Duration = Duration::from_millis(600);

struct Stack {
    server: LocalServer,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Stack {
    fn start() -> Self {
        Self::start_with(&[])
    }

    fn start_with(args: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let server = LocalServer::start(dir.path(), args);
        Self {
            server,
            http: noteapp_tests::http_client(),
            _dir: dir,
        }
    }

    async fn client(&self, token: Option<&str>) -> WsClient {
        let url = match token {
            Some(token) => format!("{}/?token={token}", self.server.ws_url()),
            None => format!("{}/", self.server.ws_url()),
        };
        connect(&url).await.expect("websocket connects")
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.server.url()));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn note(&self, token: &str, public: bool) -> String {
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                "/me/notes",
                Some(token),
                Some(json!({"title": "live", "content": "c"})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let id = body["data"]["id"].as_str().unwrap().to_string();
        if public {
            let (status, _) = self
                .call(
                    reqwest::Method::POST,
                    &format!("/me/notes/{id}/publish"),
                    Some(token),
                    None,
                )
                .await;
            assert_eq!(status, 200);
        }
        id
    }

    async fn broadcast(&self, token: Option<&str>, body: &Value) -> (u16, Value) {
        let mut request = self
            .http
            .post(format!("{}/websocket/broadcast", self.server.ws_http_url()));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.body(body.to_string()).send().await.unwrap();
        let status = response.status().as_u16();
        (
            status,
            serde_json::from_str(&response.text().await.unwrap()).unwrap_or(Value::Null),
        )
    }

    fn operator(&self) -> String {
        self.server.token(&["--operator"])
    }
}

fn assert_envelope(message: &Value, kind: &str) {
    assert_eq!(message["type"], kind, "{message}");
    assert!(
        message["timestamp"]
            .as_str()
            .unwrap_or_default()
            .ends_with('Z'),
        "{message}"
    );
    assert!(message.get("data").is_some(), "{message}");
}

#[tokio::test]
async fn connections_with_a_valid_token_or_none_are_accepted_and_a_bad_token_is_refused() {
    let stack = Stack::start();
    let token = stack.server.token(&["--uid", "alice"]);
    let mut signed_in = stack.client(Some(&token)).await;
    let mut anonymous = stack.client(None).await;
    assert!(!signed_in.connection_id().await.is_empty());
    assert!(!anonymous.connection_id().await.is_empty());

    let refused = connect(&format!("{}/?token=not-a-token", stack.server.ws_url()))
        .await
        .err()
        .expect("refused");
    assert_eq!(refused_status(&refused), Some(401));
    let other = tempfile::tempdir().unwrap();
    let stranger = LocalServer::start(other.path(), &[]).token(&["--uid", "mallory"]);
    let refused = connect(&format!("{}/?token={stranger}", stack.server.ws_url()))
        .await
        .err()
        .expect("refused");
    assert_eq!(refused_status(&refused), Some(401));
}

#[tokio::test]
async fn default_route_echoes_and_manages_subscriptions() {
    let stack = Stack::start();
    let mut client = stack.client(None).await;
    client.send_json(&json!({"say": "hi", "n": 1})).await;
    let echo = client.expect_json().await;
    assert_envelope(&echo, "echo");
    assert_eq!(echo["data"]["message"], "Message received");
    assert_eq!(echo["data"]["original"], json!({"say": "hi", "n": 1}));
    assert!(echo["data"]["connectionId"].is_string());

    let note = uuid::Uuid::new_v4();
    client
        .send_json(&json!({"action": "subscribe", "noteId": note}))
        .await;
    let reply = client.expect_json().await;
    assert_envelope(&reply, "subscribed");
    assert_eq!(reply["data"]["noteId"], note.to_string());
    client
        .send_json(&json!({"action": "subscribe", "noteId": "nope"}))
        .await;
    assert_envelope(&client.expect_json().await, "error");
    client
        .send_json(&json!({"action": "unsubscribe", "noteId": note}))
        .await;
    assert_envelope(&client.expect_json().await, "unsubscribed");
}

#[tokio::test]
async fn a_public_comment_reaches_every_client_in_the_front_ends_shape() {
    let stack = Stack::start();
    let alice = stack.server.token(&["--uid", "alice", "--name", "Alice"]);
    let bob = stack.server.token(&["--uid", "bob", "--name", "Bob"]);
    let note = stack.note(&alice, true).await;
    let other_note = stack.note(&alice, true).await;
    let mut clients = vec![
        stack.client(None).await,
        stack.client(Some(&alice)).await,
        stack.client(Some(&bob)).await,
    ];
    // A client subscribed to another note does not get this one's comments.
    let mut elsewhere = stack.client(None).await;
    elsewhere
        .send_json(&json!({"action": "subscribe", "noteId": other_note}))
        .await;
    assert_envelope(&elsewhere.expect_json().await, "subscribed");
    // A client subscribed to this note does.
    let mut subscribed = stack.client(None).await;
    subscribed
        .send_json(&json!({"action": "subscribe", "noteId": note}))
        .await;
    assert_envelope(&subscribed.expect_json().await, "subscribed");
    clients.push(subscribed);

    let (status, posted) = stack
        .call(
            reqwest::Method::POST,
            &format!("/notes/{note}/comments"),
            Some(&bob),
            Some(json!({"content": "live!"})),
        )
        .await;
    assert_eq!(status, 201, "{posted}");
    for client in &mut clients {
        let message = client.expect_json().await;
        assert_envelope(&message, "comment.created");
        assert_eq!(message["data"]["postId"], note.as_str());
        assert_eq!(
            message["data"]["comment"], posted["data"],
            "the pushed comment is the stored one"
        );
        let comment = &message["data"]["comment"];
        for key in [
            "id",
            "content",
            "username",
            "createdAt",
            "updatedAt",
            "postId",
        ] {
            assert!(comment.get(key).is_some(), "comment lacks {key}: {comment}");
        }
        assert_eq!(comment["username"], "Bob");
        // Then, on the same connection, the list as a refetch would return it.
        let list = client.expect_json().await;
        assert_envelope(&list, "comments.list");
        assert_eq!(list["data"]["postId"], note.as_str());
        assert_eq!(list["data"]["count"], 1);
        assert_eq!(list["data"]["comments"], json!([posted["data"]]));
        client.expect_silence(QUIET / 3).await;
    }
    elsewhere.expect_silence(QUIET).await;
}

#[tokio::test]
async fn a_private_notes_comment_reaches_only_its_owners_connections() {
    let stack = Stack::start();
    let alice = stack.server.token(&["--uid", "alice"]);
    let bob = stack.server.token(&["--uid", "bob"]);
    let note = stack.note(&alice, false).await;
    let mut owner_a = stack.client(Some(&alice)).await;
    let mut owner_b = stack.client(Some(&alice)).await;
    let mut other = stack.client(Some(&bob)).await;
    let mut anonymous = stack.client(None).await;

    let (status, _) = stack
        .call(
            reqwest::Method::POST,
            &format!("/me/notes/{note}/comments"),
            Some(&alice),
            Some(json!({"content": "private"})),
        )
        .await;
    assert_eq!(status, 201);
    for owner in [&mut owner_a, &mut owner_b] {
        let message = owner.expect_json().await;
        assert_envelope(&message, "comment.created");
        assert_eq!(message["data"]["comment"]["content"], "private");
        assert_envelope(&owner.expect_json().await, "comments.list");
    }
    other.expect_silence(QUIET).await;
    anonymous.expect_silence(QUIET / 3).await;
}

#[tokio::test]
async fn broadcasts_need_the_operator_credential() {
    let stack = Stack::start();
    let mut client = stack.client(None).await;
    let message = json!({"type": "test", "data": {"message": "hello"}});
    let (status, body) = stack.broadcast(None, &message).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["status"], "error");
    let user = stack.server.token(&["--uid", "alice"]);
    assert_eq!(
        stack.broadcast(Some(&user), &message).await.0,
        403,
        "a user token is no operator credential"
    );
    client.expect_silence(QUIET).await;

    let (status, body) = stack.broadcast(Some(&stack.operator()), &message).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["message"], "Broadcast completed");
    assert_eq!(
        body["results"],
        json!({"totalConnections": 1, "sent": 1, "failed": 0, "staleRemoved": 0})
    );
    let received = client.expect_json().await;
    assert_envelope(&received, "test");
    assert_eq!(received["data"], json!({"message": "hello"}));
}

#[tokio::test]
async fn broadcast_requests_are_validated() {
    let stack = Stack::start();
    let operator = stack.operator();
    for bad in [
        json!({"type": "t"}),
        json!({"data": 1}),
        json!([1]),
        json!({"type": 5, "data": 1}),
    ] {
        let (status, body) = stack.broadcast(Some(&operator), &bad).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["status"], "error");
    }
    let big = json!({"type": "t", "data": "x".repeat(130 * 1024)});
    let (status, body) = stack.broadcast(Some(&operator), &big).await;
    assert_eq!(status, 413, "{body}");
}

#[tokio::test]
async fn disconnecting_removes_the_connection() {
    let stack = Stack::start();
    let operator = stack.operator();
    let mut staying = stack.client(None).await;
    let mut leaving = stack.client(None).await;
    let leaving_id = leaving.connection_id().await;
    staying.connection_id().await;
    leaving.close().await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let management = format!("{}/@connections/{leaving_id}", stack.server.ws_http_url());
    let gone = stack
        .http
        .post(&management)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(
        gone.status().as_u16(),
        410,
        "posting to a closed connection is 410 Gone"
    );
    let (status, body) = stack
        .broadcast(Some(&operator), &json!({"type": "t", "data": {}}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        body["results"]["totalConnections"], 1,
        "the closed connection's row is gone: {body}"
    );
    assert_eq!(body["results"]["staleRemoved"], 0);
}

#[tokio::test]
async fn the_management_api_answers_like_api_gateway() {
    let stack = Stack::start();
    let mut client = stack.client(None).await;
    let id = client.connection_id().await;
    let url = format!(
        "{}/@connections/{}",
        stack.server.ws_http_url(),
        id.replace('=', "%3D")
    );
    let info: Value = serde_json::from_str(
        &stack
            .http
            .get(&url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    )
    .unwrap();
    assert!(info["connectedAt"].as_str().unwrap().ends_with('Z'));
    assert_eq!(info["identity"]["sourceIp"], "127.0.0.1");

    let posted = stack
        .http
        .post(&url)
        .body(r#"{"type":"x","data":1,"timestamp":"t"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status().as_u16(), 200);
    assert_eq!(client.expect_json().await["type"], "x");
    let too_big = stack
        .http
        .post(&url)
        .body(vec![b'x'; 129 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(too_big.status().as_u16(), 413);

    let deleted = stack.http.delete(&url).send().await.unwrap();
    assert_eq!(deleted.status().as_u16(), 204);
    assert!(
        client.next_json(Duration::from_secs(2)).await.is_none(),
        "the socket is closed"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        stack.http.get(&url).send().await.unwrap().status().as_u16(),
        410
    );
    let unknown = format!("{}/@connections/nobody%3D", stack.server.ws_http_url());
    assert_eq!(
        stack
            .http
            .post(&unknown)
            .body("{}")
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        410
    );
}

#[tokio::test]
async fn a_thousand_clients_each_receive_one_broadcast_exactly_once() {
    // A thousand connections without a token from one address, in seconds.
    let stack = Stack::start_with(&["--rate-limits", "ws_connects_per_ip=2000/min"]);
    let operator = stack.operator();
    let mut connecting = tokio::task::JoinSet::new();
    let url = format!("{}/", stack.server.ws_url());
    // All 1,000 stay open together; at most 100 handshakes are in flight at once, so a burst of
    // SYNs never overflows the listener's queue on a loaded machine.
    let handshakes = std::sync::Arc::new(tokio::sync::Semaphore::new(100));
    for _ in 0..1000 {
        let url = url.clone();
        let handshakes = handshakes.clone();
        connecting.spawn(async move {
            let _permit = handshakes.acquire_owned().await.unwrap();
            connect(&url).await.expect("connect")
        });
    }
    let mut clients = Vec::new();
    while let Some(client) = connecting.join_next().await {
        clients.push(client.unwrap());
    }
    let (status, body) = stack
        .broadcast(Some(&operator), &json!({"type": "test", "data": {"n": 1}}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["results"],
        json!({"totalConnections": 1000, "sent": 1000, "failed": 0, "staleRemoved": 0})
    );
    let mut receiving = tokio::task::JoinSet::new();
    for mut client in clients {
        receiving.spawn(async move {
            let first = client.expect_json().await;
            assert_eq!(first["data"]["n"], 1);
            client.expect_silence(Duration::from_millis(300)).await;
        });
    }
    let mut received = 0;
    while let Some(done) = receiving.join_next().await {
        done.unwrap();
        received += 1;
    }
    assert_eq!(received, 1000);
}
