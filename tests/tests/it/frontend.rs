//! The existing front end against `noteapp local`, played over real sockets: sign-in through the
//! real Firebase Auth emulator, and the comment sequence the front end runs, applied to a cache
//! exactly as the front end applies it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use noteapp_tests::firebase::{AuthEmulator, PROJECT};
use noteapp_tests::local::{LocalServer, binary};
use noteapp_tests::ws_client::connect;
use serde_json::{Value, json};

async fn call(
    server: &LocalServer,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request =
        noteapp_tests::http_client().request(method, format!("{}{path}", server.url()));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (
        status,
        serde_json::from_str(&response.text().await.unwrap()).unwrap_or(Value::Null),
    )
}

fn emulated_server(dir: &std::path::Path, emulator: &AuthEmulator) -> LocalServer {
    LocalServer::start_with_env(
        dir,
        &["--firebase-project", PROJECT],
        &[("FIREBASE_AUTH_EMULATOR_HOST", emulator.host.as_str())],
    )
}

#[tokio::test]
async fn emulator_users_sign_in_and_anonymous_ones_are_kept_out_of_regular_routes() {
    let Some(emulator) = AuthEmulator::start_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = emulated_server(dir.path(), &emulator);
    let guest = emulator.anonymous_token().await;
    let member = emulator.email_token("ada@example.com").await;
    use reqwest::Method as M;

    let (status, body) = call(
        &server,
        M::POST,
        "/auth/anonymous-login",
        Some(&guest),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["isAnonymous"], true);
    let guest_name = body["data"]["user"]["displayName"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, again) = call(
        &server,
        M::POST,
        "/auth/anonymous-login",
        Some(&guest),
        None,
    )
    .await;
    assert_eq!(
        again["data"]["user"]["displayName"],
        guest_name.as_str(),
        "stable display name"
    );
    let (status, body) = call(&server, M::GET, "/me", Some(&guest), None).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["message"], "Regular account required");

    let (status, body) = call(&server, M::GET, "/auth/login", Some(&member), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["isAnonymous"], false);
    assert_eq!(body["data"]["user"]["email"], "ada@example.com");
    let name = body["data"]["user"]["displayName"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!name.is_empty());
    let (status, body) = call(&server, M::GET, "/me", Some(&member), None).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["data"]["displayName"],
        name.as_str(),
        "stable display name"
    );
    // Public routes work with the token too (the front end always sends it).
    assert_eq!(
        call(&server, M::GET, "/notes", Some(&guest), None).await.0,
        200
    );
    let (status, _) = call(
        &server,
        M::POST,
        "/me/notes",
        Some(&member),
        Some(json!({"content": "hi"})),
    )
    .await;
    assert_eq!(status, 201);
}

#[tokio::test]
async fn emulator_tokens_are_refused_without_the_emulator_variable() {
    let Some(emulator) = AuthEmulator::start_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = LocalServer::start(dir.path(), &["--firebase-project", PROJECT]);
    for token in [
        emulator.anonymous_token().await,
        emulator.email_token("bob@example.com").await,
    ] {
        let (status, body) = call(
            &server,
            reqwest::Method::POST,
            "/auth/anonymous-login",
            Some(&token),
            None,
        )
        .await;
        assert_eq!(status, 401, "{body}");
        assert_eq!(body["status"], "error");
    }
    let refused = connect(&format!(
        "{}/?token={}",
        server.ws_url(),
        emulator.anonymous_token().await
    ))
    .await;
    assert!(refused.is_err(), "the WebSocket refuses it too");
}

#[test]
fn a_deployed_function_refuses_to_start_with_the_emulator_variable() {
    for environment in ["staging", "production"] {
        let output = std::process::Command::new(binary("bootstrap"))
            .arg("api")
            .env_clear()
            .env("ENVIRONMENT", environment)
            .env("FIREBASE_PROJECT_ID", "noteapp")
            .env("NOTES_TABLE", "n")
            .env("USERS_TABLE", "u")
            .env("COMMENTS_TABLE", "c")
            .env("FIREBASE_AUTH_EMULATOR_HOST", "127.0.0.1:9099")
            .output()
            .expect("run bootstrap");
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("FIREBASE_AUTH_EMULATOR_HOST"),
            "{environment}: {stderr}"
        );
    }
}

/// The front end's comment cache for one note, updated as its hooks update it.
#[derive(Default)]
struct Page {
    /// `None` until the first fetch (a push then only invalidates).
    comments: Option<Vec<Value>>,
    count: i64,
    /// Pushes applied so far.
    pushes: usize,
}

impl Page {
    fn apply_push(&mut self, message: &Value, note: &str) {
        if message["data"]["postId"] != note {
            return;
        }
        self.pushes += 1;
        match message["type"].as_str() {
            Some("comment.created") => match &mut self.comments {
                Some(list) => {
                    list.push(message["data"]["comment"].clone());
                    self.count += 1;
                }
                None => self.comments = None,
            },
            Some("comments.list") => {
                self.comments = message["data"]["comments"].as_array().cloned();
                self.count = message["data"]["count"].as_i64().unwrap_or(0);
            }
            _ => {}
        }
    }

    fn apply_fetch(&mut self, data: &Value) {
        self.comments = data["comments"].as_array().cloned();
        self.count = data["count"].as_i64().unwrap_or(0);
    }

    fn copies_of(&self, id: &str) -> usize {
        self.comments
            .iter()
            .flatten()
            .filter(|c| c["id"] == id)
            .count()
    }
}

/// A page with an open WebSocket whose pushes are applied, after `delay`, to its cache.
fn open_page(
    mut socket: noteapp_tests::ws_client::WsClient,
    note: String,
    delay: Duration,
) -> Arc<Mutex<Page>> {
    let page = Arc::new(Mutex::new(Page::default()));
    let cache = page.clone();
    tokio::spawn(async move {
        while let Some(message) = socket.next_json(Duration::from_secs(30)).await {
            tokio::time::sleep(delay).await;
            cache.lock().unwrap().apply_push(&message, &note);
        }
    });
    page
}

#[tokio::test]
async fn live_comments_leave_exactly_one_copy_on_every_page_whatever_the_timing() {
    let dir = tempfile::tempdir().unwrap();
    // 40 rounds of a note and a comment, faster than anyone types: no limits here.
    let server = LocalServer::start(dir.path(), &["--rate-limits", "off"]);
    let author = server.token(&["--uid", "author", "--name", "Author"]);
    let poster = server.token(&["--uid", "poster", "--anonymous"]);
    use reqwest::Method as M;
    let mut tally = HashMap::new();
    for round in 0..40u64 {
        let (_, created) = call(
            &server,
            M::POST,
            "/me/notes",
            Some(&author),
            Some(json!({"content": "thread"})),
        )
        .await;
        let note = created["data"]["id"].as_str().unwrap().to_string();
        call(
            &server,
            M::POST,
            &format!("/me/notes/{note}/publish"),
            Some(&author),
            None,
        )
        .await;
        let path = format!("/notes/{note}/comments");
        // Pushes are applied with a delay that varies per round, before or after the refetch.
        let push_delay = Duration::from_millis((round * 7) % 45);
        let refetch_delay = Duration::from_millis((round * 13) % 40);
        let url = format!("{}/", server.ws_url());
        let poster_page = open_page(connect(&url).await.unwrap(), note.clone(), push_delay);
        let reader_page = open_page(connect(&url).await.unwrap(), note.clone(), push_delay / 2);
        for page in [&poster_page, &reader_page] {
            let (_, list) = call(&server, M::GET, &path, None, None).await;
            page.lock().unwrap().apply_fetch(&list["data"]);
        }

        // Optimistic copy, POST, then refetch when the mutation settles.
        poster_page
            .lock()
            .unwrap()
            .comments
            .as_mut()
            .unwrap()
            .push(json!({"id": format!("optimistic-{round}")}));
        let (status, posted) = call(
            &server,
            M::POST,
            &path,
            Some(&poster),
            Some(json!({"content": format!("round {round}")})),
        )
        .await;
        assert_eq!(status, 201, "{posted}");
        let id = posted["data"]["id"].as_str().unwrap().to_string();
        tokio::time::sleep(refetch_delay).await;
        let (_, list) = call(&server, M::GET, &path, None, None).await;
        poster_page.lock().unwrap().apply_fetch(&list["data"]);

        // The end state: once every push for this comment has been applied.
        for page in [&poster_page, &reader_page] {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            while page.lock().unwrap().pushes < 2 && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        for (who, page) in [("poster", &poster_page), ("reader", &reader_page)] {
            let page = page.lock().unwrap();
            assert_eq!(
                page.pushes, 2,
                "round {round}: the {who} got comment.created and comments.list"
            );
            assert_eq!(
                page.copies_of(&id),
                1,
                "round {round}: the {who} sees {} copies",
                page.copies_of(&id)
            );
            assert_eq!(
                page.copies_of(&format!("optimistic-{round}")),
                0,
                "round {round}: optimistic copy left"
            );
            assert_eq!(page.count, 1, "round {round}: {who}'s count");
        }
        *tally.entry(push_delay > refetch_delay).or_insert(0) += 1;
    }
    assert!(
        tally.len() == 2,
        "both orders were played: pushes before and after the refetch: {tally:?}"
    );
}
