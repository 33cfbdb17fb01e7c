//! The input limits and WebSocket caps, end to end over real sockets against `noteapp local`: a
//! full page of the largest notes stays under Lambda's response limit, control characters are
//! refused with the field named, a comment after many of the heaviest still goes out live, and a
//! connection that sends too much, or a message too large to echo, is told so and keeps its
//! socket. And inside Lambda no handler starts with local-only trust.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use noteapp_tests::api::assert_error_body;
use noteapp_tests::local::{LocalServer, binary, free_port};
use noteapp_tests::ws_client::{WsClient, connect, rate_window_left};
use reqwest::Method;
use serde_json::{Value, json};

/// Lambda's limit on a synchronous function's response (6 MB).
const LAMBDA_RESPONSE_LIMIT: usize = 6 * 1024 * 1024;

/// `$default` messages one connection may send per window, and the window.
const MESSAGES_PER_WINDOW: usize = 20;
const WINDOW_SECS: i64 = 10;

struct Stack {
    server: LocalServer,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Stack {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        // Pages of the largest notes are written faster than anyone types: no limits here.
        let server = LocalServer::start(dir.path(), &["--rate-limits", "off"]);
        Self {
            server,
            http: noteapp_tests::http_client(),
            _dir: dir,
        }
    }

    /// The status and the body as sent.
    async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> (u16, String) {
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
        (status, response.text().await.unwrap())
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let (status, text) = self.send(method, path, token, body).await;
        let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
        (status, json)
    }

    /// Creates a note and returns its id, published when `public`.
    async fn note(&self, token: &str, title: &str, content: &str, public: bool) -> String {
        let body = json!({"title": title, "content": content});
        let (status, created) = self
            .call(Method::POST, "/me/notes", Some(token), Some(&body))
            .await;
        assert_eq!(status, 201, "{created}");
        let id = created["data"]["id"].as_str().unwrap().to_owned();
        if public {
            let publish = format!("/me/notes/{id}/publish");
            let (status, body) = self.call(Method::POST, &publish, Some(token), None).await;
            assert_eq!(status, 200, "{body}");
        }
        id
    }

    async fn client(&self) -> WsClient {
        connect(&format!("{}/", self.server.ws_url()))
            .await
            .expect("websocket connects")
    }
}

/// `chars` characters cycling through those that cost the most in a response: `"` and `\`
/// (escaped in the JSON body, and again in Lambda's payload around it) and a 4-byte UTF-8 one.
fn worst_text(chars: usize) -> String {
    ['"', '\\', '\u{1F600}']
        .into_iter()
        .cycle()
        .take(chars)
        .collect()
}

#[tokio::test]
async fn a_full_page_of_the_largest_worst_escaping_notes_stays_under_lambdas_response_limit() {
    let stack = Stack::start();
    let alice = stack.server.token(&["--uid", "alice"]);
    let name = json!({"displayName": worst_text(60)});
    let (status, body) = stack
        .call(Method::PATCH, "/me", Some(&alice), Some(&name))
        .await;
    assert_eq!(status, 200, "{body}");
    let title = worst_text(120);
    let content = worst_text(10_000);
    // A full page.
    for _ in 0..100 {
        stack.note(&alice, &title, &content, true).await;
    }

    for (path, token) in [
        ("/notes?limit=100", None),
        ("/me/notes?limit=100", Some(alice.as_str())),
    ] {
        let (status, body) = stack.send(Method::GET, path, token, None).await;
        assert_eq!(status, 200, "{path}");
        let json: Value = serde_json::from_str(&body).unwrap();
        let notes = json["data"]["notes"].as_array().unwrap();
        assert_eq!(notes.len(), 100, "{path}");
        assert!(
            notes.iter().all(|n| n["content"] == content.as_str()),
            "{path}: every note is listed whole"
        );
        assert!(
            body.len() < LAMBDA_RESPONSE_LIMIT,
            "{path}: the body is {} bytes",
            body.len()
        );
        // In Lambda the body travels as a JSON string inside the function's answer.
        let payload = serde_json::to_string(&body).unwrap().len();
        assert!(
            payload < LAMBDA_RESPONSE_LIMIT,
            "{path}: the body as Lambda's payload holds it is {payload} bytes"
        );
    }
}

#[tokio::test]
async fn control_characters_are_refused_with_422_naming_the_field_but_newlines_and_tabs_are_not() {
    let stack = Stack::start();
    let alice = stack.server.token(&["--uid", "alice"]);
    let bob = stack.server.token(&["--uid", "bob"]);
    let private = stack.note(&alice, "mine", "c", false).await;
    let public = stack.note(&alice, "ours", "c", true).await;
    let note = format!("/me/notes/{private}");
    let own_comments = format!("/me/notes/{private}/comments");
    let public_comments = format!("/notes/{public}/comments");
    // Every text field a request may carry.
    let fields = [
        (Method::POST, "/me/notes", &alice, "title"),
        (Method::POST, "/me/notes", &alice, "content"),
        (Method::PATCH, note.as_str(), &alice, "title"),
        (Method::PATCH, note.as_str(), &alice, "content"),
        (Method::POST, own_comments.as_str(), &alice, "content"),
        (Method::POST, public_comments.as_str(), &bob, "content"),
        (Method::PATCH, "/me", &bob, "displayName"),
    ];
    let body = |field: &str, text: &str| {
        let mut body = json!({field: text});
        if field == "title" {
            body["content"] = json!("c");
        }
        body
    };

    for c in ['\u{0}', '\u{1}', '\u{1b}', '\u{7f}', '\u{85}', '\u{9f}'] {
        let bad = format!("before{c}after");
        for (method, path, token, field) in &fields {
            let (status, answer) = stack
                .call(method.clone(), path, Some(token), Some(&body(field, &bad)))
                .await;
            assert_eq!(status, 422, "{method} {path} {field} with {c:?}: {answer}");
            assert_error_body(&answer);
            assert_eq!(
                answer["error"]["field"], *field,
                "{method} {path}: {answer}"
            );
            let message = answer["error"]["message"].as_str().unwrap();
            let code_point = format!("U+{:04X}", c as u32);
            assert!(message.contains(&code_point), "{message}");
        }
    }
    // Nothing refused was kept.
    let (_, notes) = stack
        .call(Method::GET, "/me/notes?limit=100", Some(&alice), None)
        .await;
    assert_eq!(notes["data"]["pagination"]["total"], 2, "{notes}");
    let (_, kept) = stack.call(Method::GET, &note, Some(&alice), None).await;
    assert_eq!(
        (&kept["data"]["title"], &kept["data"]["content"]),
        (&json!("mine"), &json!("c"))
    );
    for (path, token) in [(&own_comments, &alice), (&public_comments, &bob)] {
        let (_, comments) = stack.call(Method::GET, path, Some(token), None).await;
        assert_eq!(comments["data"]["count"], 0, "{path}: {comments}");
    }

    let text = "line one\r\nline two\n\tindented";
    for (method, path, token, field) in &fields {
        let (status, answer) = stack
            .call(method.clone(), path, Some(token), Some(&body(field, text)))
            .await;
        assert!(
            status == 200 || status == 201,
            "{method} {path} {field}: {answer}"
        );
        assert_eq!(answer["data"][field], text, "{method} {path}: {answer}");
    }
}

#[tokio::test]
async fn a_comment_after_twenty_of_the_heaviest_is_still_pushed_live() {
    let stack = Stack::start();
    let alice = stack.server.token(&["--uid", "alice"]);
    let bob = stack.server.token(&["--uid", "bob"]);
    let note = stack.note(&alice, "busy", "c", true).await;
    let mut client = stack.client().await;
    client
        .send_json(&json!({"action": "subscribe", "noteId": note}))
        .await;
    assert_eq!(client.expect_json().await["type"], "subscribed");

    let comments = format!("/notes/{note}/comments");
    // A message is JSON once (not twice, as Lambda's HTTP answers are): there a 4-byte
    // character costs the most, twice a `"`.
    let heaviest = json!({"content": "\u{1F600}".repeat(1000)});
    for (n, token) in std::iter::repeat_n(&bob, 20).chain([&alice]).enumerate() {
        let (status, posted) = stack
            .call(Method::POST, &comments, Some(token), Some(&heaviest))
            .await;
        assert_eq!(status, 201, "{posted}");
        let pushed = client.expect_json().await;
        assert_eq!(pushed["type"], "comment.created", "comment {n}: {pushed}");
        assert_eq!(pushed["data"]["postId"], note.as_str());
        assert_eq!(pushed["data"]["comment"], posted["data"], "comment {n}");
        // Then the first page, as a refetch would read it.
        let list = client.expect_json().await;
        assert_eq!(list["type"], "comments.list", "comment {n}: {list}");
        assert_eq!(list["data"]["count"], n + 1);
        let listed = list["data"]["comments"].as_array().unwrap().len();
        assert_eq!(listed, (n + 1).min(20));
    }
}

#[tokio::test]
async fn a_connection_past_its_message_rate_is_told_so_and_keeps_its_socket() {
    let stack = Stack::start();
    let mut client = stack.client().await;
    let mut other = stack.client().await;
    // The burst must fall in one rate window.
    let refused = client
        .echo_burst_in_one_window(MESSAGES_PER_WINDOW, WINDOW_SECS)
        .await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(
        refused["data"],
        json!({"message": "too many messages: at most 20 every 10 seconds"})
    );
    assert!(refused["timestamp"].as_str().unwrap().ends_with('Z'));
    // Subscriptions count too, and nothing else comes back.
    let note = uuid::Uuid::new_v4();
    client
        .send_json(&json!({"action": "subscribe", "noteId": note}))
        .await;
    assert_eq!(client.expect_json().await["type"], "error");
    client.expect_silence(Duration::from_millis(300)).await;

    // The limit is the connection's own.
    other.send_json(&json!({"n": 0})).await;
    assert_eq!(other.expect_json().await["type"], "echo");

    // The next window answers again, on the same socket.
    tokio::time::sleep(rate_window_left(WINDOW_SECS) + Duration::from_millis(100)).await;
    client.send_json(&json!({"n": "again"})).await;
    let echo = client.expect_json().await;
    assert_eq!(echo["type"], "echo", "{echo}");
    assert_eq!(echo["data"]["original"], json!({"n": "again"}));
}

#[tokio::test]
async fn a_message_too_large_to_echo_is_answered_with_an_error_and_the_socket_stays() {
    let stack = Stack::start();
    let mut client = stack.client().await;
    // 100 KB of `"`, within what a client may send; its echo would be twice that.
    client.send_text(&"\"".repeat(100 * 1024)).await;
    let refused = client.expect_json().await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(
        refused["data"],
        json!({"message": "the message is too large to echo: an answer is at most 128 KB"})
    );
    client.send_text(&"\"".repeat(60 * 1024)).await;
    let echo = client.expect_json().await;
    assert_eq!(echo["type"], "echo");
    assert_eq!(echo["data"]["original"], "\"".repeat(60 * 1024));
}

#[test]
fn inside_lambda_no_handler_starts_trusting_emulator_tokens_or_local_keys() {
    let emulator = ("FIREBASE_AUTH_EMULATOR_HOST", "127.0.0.1:9099");
    let api = [
        ("FIREBASE_PROJECT_ID", "noteapp-local"),
        ("NOTES_TABLE", "n"),
        ("USERS_TABLE", "u"),
        ("COMMENTS_TABLE", "c"),
    ];
    let connect = [
        ("FIREBASE_PROJECT_ID", "noteapp-local"),
        ("CONNECTIONS_TABLE", "c"),
    ];
    let data = tempfile::tempdir().unwrap();
    let (port, ws_port) = (free_port().to_string(), free_port().to_string());
    let local = [
        ("NOTEAPP_DATA_DIR", data.path().to_str().unwrap()),
        ("NOTEAPP_PORT", port.as_str()),
        ("NOTEAPP_WS_PORT", ws_port.as_str()),
    ];
    let cases = [
        (
            "api",
            [&api[..], &[emulator]].concat(),
            "FIREBASE_AUTH_EMULATOR_HOST",
        ),
        (
            "api",
            [&api[..], &[("AUTH_KEYS", "file:/tmp/keys.json")]].concat(),
            "AUTH_KEYS",
        ),
        (
            "ws-connect",
            [&connect[..], &[emulator]].concat(),
            "FIREBASE_AUTH_EMULATOR_HOST",
        ),
        (
            "local",
            [&local[..], &[emulator]].concat(),
            "AWS_LAMBDA_RUNTIME_API",
        ),
    ];
    for (handler, env, named) in cases {
        // A development environment, but inside Lambda.
        let mut child = Command::new(binary("bootstrap"))
            .arg(handler)
            .env_clear()
            .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001")
            .env("ENVIRONMENT", "development")
            .envs(env)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run bootstrap");
        // A handler that started would serve until stopped.
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            match child.try_wait().expect("wait for bootstrap") {
                Some(status) => break Some(status),
                None if Instant::now() >= deadline => break None,
                None => std::thread::sleep(Duration::from_millis(20)),
            }
        };
        let _ = child.kill();
        let output = child.wait_with_output().expect("bootstrap output");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            status.is_some_and(|s| !s.success()),
            "{handler} started ({status:?}): {stderr}"
        );
        assert!(stderr.contains(named), "{handler}: {stderr}");
    }
}
