//! Abuse, end to end over real sockets against `noteapp local`, on the embedded store and on
//! DynamoDB (`--dynamodb-endpoint`, a real `moto_server`): one user's flood of comments is
//! refused past its limit (429, `Retry-After`, the error body, nothing written, no fan-out, one
//! log line) while another user's comment in the same second goes through; after the window the
//! flooder writes again; `$connect` and new profiles are limited; two servers on one DynamoDB
//! enforce one limit between them.
//!
//! Limits are fixed windows aligned on the epoch, so each test starts its burst just after a
//! window begins ([`window_start`]) and the counts are exact.

use std::path::Path;
use std::time::Duration;

use noteapp_tests::dynamodb;
use noteapp_tests::local::LocalServer;
use noteapp_tests::ws_client::{WsClient, connect, refused_status};
use serde_json::{Value, json};

/// The window of the limits these tests set, in seconds.
const WINDOW: i64 = 10;

/// Sleeps until just after the next window of `WINDOW` seconds starts.
async fn window_start() {
    let now = chrono::Utc::now().timestamp_millis();
    let length = WINDOW * 1000;
    let next = (now / length + 1) * length;
    tokio::time::sleep(Duration::from_millis((next - now + 150) as u64)).await;
}

/// Where a server keeps its data: the embedded store, or tables on the shared `moto_server`.
#[derive(Clone, Copy, Debug)]
enum Backing {
    Embedded,
    Moto,
}

/// `noteapp local` with `limits`, logging to a file, on `backing`; `None` when moto is skipped.
struct Stack {
    server: LocalServer,
    http: reqwest::Client,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

fn backing_args(backing: Backing, prefix: &str) -> Option<Vec<String>> {
    Some(match backing {
        Backing::Embedded => Vec::new(),
        Backing::Moto => vec![
            "--dynamodb-endpoint".into(),
            dynamodb::shared()?.endpoint().to_owned(),
            "--table-prefix".into(),
            prefix.to_owned(),
        ],
    })
}

impl Stack {
    fn start(backing: Backing, limits: &str) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let args = backing_args(backing, &dynamodb::unique_prefix())?;
        Some(Self::start_in(dir, &args, limits))
    }

    fn start_in(dir: tempfile::TempDir, backing: &[String], limits: &str) -> Self {
        let log = dir.path().join("server.log");
        let mut args: Vec<&str> = backing.iter().map(String::as_str).collect();
        args.extend(["--rate-limits", limits]);
        let server = LocalServer::start_logging_to(&dir.path().join("data"), &args, &log);
        Self {
            server,
            http: noteapp_tests::http_client(),
            log,
            _dir: dir,
        }
    }

    fn token(&self, uid: &str, anonymous: bool) -> String {
        let mut args = vec!["--uid", uid];
        if anonymous {
            args.push("--anonymous");
        }
        self.server.token(&args)
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Answer {
        call(&self.http, &self.server, method, path, token, body).await
    }

    async fn comment(&self, note: &str, token: &str, text: &str) -> Answer {
        self.call(
            reqwest::Method::POST,
            &format!("/notes/{note}/comments"),
            token,
            Some(json!({"content": text})),
        )
        .await
    }

    async fn public_note(&self, token: &str) -> String {
        let created = self
            .call(
                reqwest::Method::POST,
                "/me/notes",
                token,
                Some(json!({"title": "busy", "content": "a note many people read"})),
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.body);
        let id = created.body["data"]["id"].as_str().unwrap().to_owned();
        let published = self
            .call(
                reqwest::Method::POST,
                &format!("/me/notes/{id}/publish"),
                token,
                None,
            )
            .await;
        assert_eq!(published.status, 200, "{}", published.body);
        id
    }

    async fn socket(&self, token: Option<&str>) -> Result<WsClient, Option<u16>> {
        let url = match token {
            Some(token) => format!("{}/?token={token}", self.server.ws_url()),
            None => format!("{}/", self.server.ws_url()),
        };
        connect(&url).await.map_err(|e| refused_status(&e))
    }

    /// The lines of the server's log that say a limit was reached for `subject`.
    fn refusals_logged(&self, subject: &str) -> usize {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("rate limit reached") && l.contains(subject))
            .count()
    }
}

/// An HTTP answer: status, `Retry-After`, JSON body.
struct Answer {
    status: u16,
    retry_after: Option<u32>,
    body: Value,
}

async fn call(
    http: &reqwest::Client,
    server: &LocalServer,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> Answer {
    let mut request = http
        .request(method, format!("{}{path}", server.url()))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.body(body.to_string());
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let text = response.text().await.unwrap();
    Answer {
        status,
        retry_after,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
    }
}

/// Asserts a refusal as the front end sees it: 429, `Retry-After` within the window, and the
/// contract's error body with a message it shows.
#[track_caller]
fn assert_refused(answer: &Answer, what: &str) {
    assert_eq!(answer.status, 429, "{}", answer.body);
    let retry = answer.retry_after.expect("a Retry-After header");
    assert!((1..=WINDOW as u32).contains(&retry), "Retry-After: {retry}");
    assert_eq!(answer.body["status"], "error", "{}", answer.body);
    assert_eq!(answer.body["error"]["code"], "RATE_LIMITED");
    let message = answer.body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(what), "{message}");
}

/// The `comment.created` messages a socket got until it was quiet for a second.
async fn comments_pushed(socket: &mut WsClient) -> usize {
    let mut count = 0;
    while let Some(message) = socket.next_json(Duration::from_secs(1)).await {
        if message["type"] == "comment.created" {
            count += 1;
        }
    }
    count
}

async fn a_flood_is_refused_past_its_limit_while_others_write(backing: Backing) {
    let limits =
        format!("comments=5/{WINDOW}s,comments_anonymous=3/{WINDOW}s,fanouts_per_note=100/s");
    let Some(stack) = Stack::start(backing, &limits) else {
        return;
    };
    let owner = stack.token("owner", false);
    let note = stack.public_note(&owner).await;
    let flooder = stack.token("flooder", true);
    let bystander = stack.token("bystander", false);
    let mut flooder_socket = stack.socket(Some(&flooder)).await.unwrap();
    let mut watcher = stack.socket(None).await.unwrap();

    window_start().await;
    let mut accepted = 0;
    let mut refused = Vec::new();
    for i in 0..20 {
        let answer = stack.comment(&note, &flooder, &format!("spam {i}")).await;
        match answer.status {
            201 => accepted += 1,
            _ => refused.push(answer),
        }
        if i == 10 {
            // Another user, in the same second: untouched by the flooder's limit.
            let answer = stack.comment(&note, &bystander, "a real comment").await;
            assert_eq!(answer.status, 201, "{}", answer.body);
        }
    }
    assert_eq!(accepted, 3, "the anonymous limit is 3 a window");
    assert_eq!(refused.len(), 17);
    for answer in &refused {
        assert_refused(answer, "Too many comments");
    }

    // Nothing of the refused comments was written, nor pushed to anyone.
    let list = stack
        .call(
            reqwest::Method::GET,
            &format!("/notes/{note}/comments"),
            &owner,
            None,
        )
        .await;
    assert_eq!(list.body["data"]["count"], 4, "{}", list.body);
    assert_eq!(comments_pushed(&mut flooder_socket).await, 4);
    assert_eq!(comments_pushed(&mut watcher).await, 4);
    assert_eq!(
        stack.refusals_logged("flooder"),
        1,
        "one log line per user per window"
    );

    // The next window lets the flooder write again.
    window_start().await;
    let again = stack.comment(&note, &flooder, "later").await;
    assert_eq!(again.status, 201, "{}", again.body);
    assert_eq!(comments_pushed(&mut flooder_socket).await, 1);
}

#[tokio::test]
async fn a_flood_of_comments_is_refused_past_its_limit_while_others_write_on_the_embedded_store() {
    a_flood_is_refused_past_its_limit_while_others_write(Backing::Embedded).await;
}

#[tokio::test]
async fn a_flood_of_comments_is_refused_past_its_limit_while_others_write_on_dynamodb() {
    a_flood_is_refused_past_its_limit_while_others_write(Backing::Moto).await;
}

async fn connects_and_new_profiles_are_limited(backing: Backing) {
    let limits =
        format!("ws_connects=4/{WINDOW}s,ws_connections_per_user=2,new_profiles_per_ip=3/hour");
    let Some(stack) = Stack::start(backing, &limits) else {
        return;
    };
    let carol = stack.token("carol", false);
    window_start().await;
    let first = stack.socket(Some(&carol)).await.unwrap();
    let _second = stack.socket(Some(&carol)).await.unwrap();
    // Two open: a third is refused, and nothing is recorded for it.
    assert_eq!(stack.socket(Some(&carol)).await.err(), Some(Some(429)));
    drop(first);
    tokio::time::sleep(Duration::from_millis(500)).await;
    // One closed: the fourth attempt of the window connects; the fifth is over the rate.
    let _fourth = stack.socket(Some(&carol)).await.unwrap();
    assert_eq!(stack.socket(Some(&carol)).await.err(), Some(Some(429)));
    // Someone else is not held to carol's limits.
    let dave = stack.token("dave", false);
    stack.socket(Some(&dave)).await.unwrap();

    // New profiles from one address: three, then refused; an existing one still signs in.
    for guest in ["g1", "g2", "g3"] {
        let token = stack.token(guest, true);
        let answer = stack
            .call(reqwest::Method::POST, "/auth/anonymous-login", &token, None)
            .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(answer.body["data"]["created"], true);
    }
    let fourth = stack.token("g4", true);
    let answer = stack
        .call(
            reqwest::Method::POST,
            "/auth/anonymous-login",
            &fourth,
            None,
        )
        .await;
    assert_eq!(answer.status, 429, "{}", answer.body);
    assert_eq!(answer.body["error"]["code"], "RATE_LIMITED");
    assert!(answer.retry_after.is_some());
    let again = stack.token("g1", true);
    let answer = stack
        .call(reqwest::Method::POST, "/auth/anonymous-login", &again, None)
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["data"]["created"], false);
}

#[tokio::test]
async fn connects_and_new_profiles_are_limited_on_the_embedded_store() {
    connects_and_new_profiles_are_limited(Backing::Embedded).await;
}

#[tokio::test]
async fn connects_and_new_profiles_are_limited_on_dynamodb() {
    connects_and_new_profiles_are_limited(Backing::Moto).await;
}

#[tokio::test]
async fn two_servers_on_one_dynamodb_enforce_one_limit_between_them() {
    let prefix = dynamodb::unique_prefix();
    let Some(backing) = backing_args(Backing::Moto, &prefix) else {
        return;
    };
    let limits = format!("comments=4/{WINDOW}s");
    // One data directory: both trust the same signing key (the store is DynamoDB's).
    let first = Stack::start_in(tempfile::tempdir().unwrap(), &backing, &limits);
    let data = first.server.data_dir.clone();
    let second = second_server(&data, &backing, &limits);
    let writer = first.token("writer", false);
    let note = first.public_note(&writer).await;

    window_start().await;
    let mut accepted = 0;
    for i in 0..10 {
        let server = if i % 2 == 0 { &first.server } else { &second.0 };
        let answer = call(
            &first.http,
            server,
            reqwest::Method::POST,
            &format!("/notes/{note}/comments"),
            &writer,
            Some(json!({"content": format!("from server {}", i % 2)})),
        )
        .await;
        match answer.status {
            201 => accepted += 1,
            _ => assert_refused(&answer, "Too many comments"),
        }
    }
    assert_eq!(accepted, 4, "one limit across both servers");
}

/// A second `noteapp local` on the same tables and signing key.
fn second_server(
    data: &Path,
    backing: &[String],
    limits: &str,
) -> (LocalServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut args: Vec<&str> = backing.iter().map(String::as_str).collect();
    args.extend(["--rate-limits", limits]);
    let log = dir.path().join("second.log");
    (LocalServer::start_logging_to(data, &args, &log), dir)
}

/// Counts posts; every connection is live.
#[derive(Default)]
struct CountingPoster(std::sync::atomic::AtomicU64);

#[async_trait::async_trait]
impl noteapp_runtime::ws::fanout::Poster for CountingPoster {
    async fn post(
        &self,
        _connection_id: &str,
        _data: bytes::Bytes,
    ) -> Result<(), noteapp_runtime::ws::fanout::PostError> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
}

/// A public comment's broadcast, as the notes API hands it off (with its own event id).
fn comment_broadcast(note: &str, n: usize) -> Value {
    let at = noteapp_runtime::domain::now();
    let comment = json!({
        "id": uuid::Uuid::new_v4(), "content": format!("comment {n}"), "username": "reader",
        "createdAt": at, "updatedAt": at, "postId": note,
    });
    json!({
        "type": "comment.created",
        "data": {"postId": note, "comment": comment},
        "then": {"type": "comments.list", "data": {"postId": note, "comments": [comment], "count": n}},
        "eventId": uuid::Uuid::new_v4().to_string(),
    })
}

#[tokio::test]
async fn a_public_fan_out_reads_the_same_items_after_10_and_after_1000_earlier_comments() {
    use noteapp_runtime::store::dynamodb::{DynamoConnections, DynamoControl};
    use noteapp_runtime::store::{Connection, ConnectionStore};
    use noteapp_runtime::ws::fanout::FanoutOptions;
    use noteapp_runtime::ws::{WsContext, broadcast};
    use std::sync::Arc;

    let Some(moto) = dynamodb::MotoServer::start_or_skip("fan-out reads") else {
        return;
    };
    let (_, tables) = dynamodb::tables_on(&moto).await;
    let meter = noteapp_tests::meter::Meter::default();
    let client = dynamodb::metered_client(moto.endpoint(), Some(&meter));
    let connections = Arc::new(DynamoConnections::new(client.clone(), tables.connections));
    let live: u64 = 5;
    let now = chrono::Utc::now().timestamp_millis();
    for i in 0..live {
        connections
            .put_connection(&Connection::new(format!("c{i}"), None, now))
            .await
            .unwrap();
    }
    let poster = Arc::new(CountingPoster::default());
    let ctx = WsContext {
        connections,
        control: Some(Arc::new(DynamoControl::new(client, tables.control))),
        limits: None,
        verifier: None,
        poster: poster.clone(),
        fanout: FanoutOptions::default(),
    };
    let note = uuid::Uuid::new_v4().to_string();
    let mut earlier = 0;
    let mut measured = Vec::new();
    for before in [10, 1000] {
        while earlier < before {
            broadcast::handle(&ctx, &comment_broadcast(&note, earlier), None)
                .await
                .unwrap();
            earlier += 1;
        }
        meter.take();
        broadcast::handle(&ctx, &comment_broadcast(&note, earlier), None)
            .await
            .unwrap();
        earlier += 1;
        measured.push(meter.take());
    }
    let (after_10, after_1000) = (&measured[0], &measured[1]);
    eprintln!("after 10 comments: {after_10:?}\nafter 1000 comments: {after_1000:?}");
    assert_eq!(after_10.calls_of("Scan"), 1);
    // The scan reads the live connections and nothing else, however many comments came before.
    assert_eq!(after_10.items, after_1000.items);
    assert_eq!(after_10.calls, after_1000.calls);
    assert_eq!(
        after_10.items,
        live + 1,
        "the live connections and the event's own progress"
    );
    // Every fan-out reached every connection with both messages.
    assert_eq!(
        poster.0.load(std::sync::atomic::Ordering::Relaxed),
        earlier as u64 * live * 2
    );
}
