//! Property tests: no request, however malformed, makes the API panic or answer anything but
//! JSON; every error is the contract's error body. And no WebSocket message, JSON or not, to the
//! `$default` route of `noteapp local` goes unanswered, gets anything but its own answer, or
//! costs the connection.

use base64::Engine as _;
use noteapp_tests::api::{Api, assert_error_body, user};
use noteapp_tests::local::LocalServer;
use noteapp_tests::ws_client::connect;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Value, json};

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("notes".to_string()),
        Just("me".to_string()),
        Just("comments".to_string()),
        Just("publish".to_string()),
        Just("auth".to_string()),
        Just("login".to_string()),
        Just(uuid::Uuid::nil().to_string()),
        "[a-zA-Z0-9%._~-]{0,40}",
        "\\PC{0,12}",
    ]
}

fn path() -> impl Strategy<Value = String> {
    (prop::collection::vec(segment(), 0..6), "[a-z=&%0-9-]{0,30}").prop_map(|(segments, query)| {
        let mut path = format!("/{}", segments.join("/"));
        path.retain(|c| !c.is_control() && c != ' ' && c != '?' && c != '#');
        if !query.is_empty() {
            path.push('?');
            path.push_str(&query);
        }
        path
    })
}

fn body() -> impl Strategy<Value = String> {
    let json = prop_oneof![
        Just(json!({"content": "x"})),
        any::<i64>().prop_map(|n| json!({"title": n, "content": n})),
        "\\PC{0,50}".prop_map(|s| json!({"title": s, "content": s, "displayName": s, "email": s})),
        Just(json!(null)),
        Just(json!([{"content": []}])),
    ]
    .prop_map(|v| v.to_string());
    prop_oneof![json, "\\PC{0,200}", Just(String::new())]
}

fn method() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "GET", "POST", "PATCH", "DELETE", "PUT", "OPTIONS", "HEAD",
    ])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 768, ..ProptestConfig::default() })]

    #[test]
    fn no_request_panics_and_every_error_is_the_json_body(
        method in method(),
        path in path(),
        body in body(),
        signed_in in any::<bool>(),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let api = api();
            let token = signed_in.then(|| user("fuzz-user"));
            let Ok(uri) = path.parse::<http::Uri>() else { return Ok(()) };
            let reply = api.call(method, &uri.to_string(), token.as_deref(), Some(&body)).await;
            prop_assert!(reply.status.as_u16() < 600);
            if reply.status.is_client_error() || reply.status.is_server_error() {
                assert_error_body(&reply.json);
                prop_assert!(!reply.status.is_server_error(), "server error for {} {}: {}", method, path, reply.json);
            }
            Ok(())
        })?;
    }
}

/// The lists a cursor can be sent to, with the data behind them: each route, the token it is
/// read with, the key its items are under, every id it lists, and the cursors a walk of it
/// (a page of one at a time) was given.
struct Lists {
    routes: Vec<ListRoute>,
}

struct ListRoute {
    path: String,
    token: String,
    key: &'static str,
    ids: Vec<String>,
    cursors: Vec<String>,
}

impl Lists {
    /// Two users' notes, public and private, and comments on two notes, on `api`.
    async fn seed(api: &Api) -> Self {
        let (alice, bob) = (user("cursor-alice"), user("cursor-bob"));
        let mut notes = Vec::new();
        for i in 0..4 {
            notes.push(api.create_note(&alice, &format!("a{i}"), i < 3).await);
        }
        for i in 0..2 {
            api.create_note(&bob, &format!("b{i}"), i == 0).await;
        }
        for (note, count) in [(&notes[0], 3), (&notes[1], 2)] {
            for i in 0..count {
                let path = format!("/notes/{note}/comments");
                let body = json!({"content": format!("c{i}")});
                assert_eq!(api.post(&path, Some(&bob), &body).await.status, 201);
            }
        }
        let mut routes = Vec::new();
        for (path, token, key) in [
            ("/notes".to_owned(), &alice, "notes"),
            ("/me/notes".to_owned(), &alice, "notes"),
            ("/me/notes".to_owned(), &bob, "notes"),
            (format!("/notes/{}/comments", notes[0]), &alice, "comments"),
            (
                format!("/me/notes/{}/comments", notes[0]),
                &alice,
                "comments",
            ),
            (format!("/notes/{}/comments", notes[1]), &alice, "comments"),
        ] {
            let (mut ids, mut cursors) = (Vec::new(), Vec::new());
            let mut next = format!("{path}?limit=1&cursor=");
            loop {
                let reply = api.get(&next, Some(token)).await;
                let data = &reply.json["data"];
                ids.extend(
                    data[key]
                        .as_array()
                        .expect("a list")
                        .iter()
                        .map(|item| item["id"].as_str().unwrap().to_owned()),
                );
                let cursor = data["pagination"]["nextCursor"]
                    .as_str()
                    .or(data["nextCursor"].as_str());
                match cursor {
                    Some(cursor) => {
                        cursors.push(cursor.to_owned());
                        next = format!("{path}?limit=1&cursor={cursor}");
                    }
                    None => break,
                }
            }
            assert!(!cursors.is_empty(), "{path} gave no cursor");
            routes.push(ListRoute {
                path,
                token: token.clone(),
                key,
                ids,
                cursors,
            });
        }
        Self { routes }
    }

    fn all_cursors(&self) -> Vec<String> {
        self.routes
            .iter()
            .flat_map(|r| r.cursors.iter().cloned())
            .collect()
    }
}

/// What a generated cursor is made of.
#[derive(Debug, Clone)]
enum CursorCase {
    /// Any bytes, in base64url.
    Bytes(Vec<u8>),
    /// Any text of the characters a query value may carry unencoded.
    Text(String),
    /// A real cursor of one of the lists (the `n`-th of them all).
    Real(usize),
    /// A real cursor's list name with a boundary position.
    Boundary { from: usize, at: usize, id: usize },
    /// A real cursor with one character changed or the end cut.
    Mutated {
        from: usize,
        at: usize,
        byte: u8,
        cut: bool,
    },
}

const BOUNDARY_TIMES: &[&str] = &[
    "",
    "\u{0}\u{ffff}",
    "#note",
    "#count#public#0",
    "#deleting",
    "0",
    "0000-01-01T00:00:00.000000Z",
    "1970-01-01T00:00:00.000000Z",
    "9999-12-31T23:59:59.999999Z",
    "9~",
    "~",
    "2026-02-30T00:00:00.000000Z",
    "2026-01-01T00:00:00Z",
];

const BOUNDARY_IDS: &[&str] = &[
    "00000000-0000-0000-0000-000000000000",
    "ffffffff-ffff-ffff-ffff-ffffffffffff",
    "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF",
    "x",
    "",
];

fn cursor_case() -> impl Strategy<Value = CursorCase> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..80).prop_map(CursorCase::Bytes),
        "[A-Za-z0-9_=%.~-]{0,90}".prop_map(CursorCase::Text),
        any::<usize>().prop_map(CursorCase::Real),
        (
            any::<usize>(),
            0..BOUNDARY_TIMES.len(),
            0..BOUNDARY_IDS.len()
        )
            .prop_map(|(from, at, id)| CursorCase::Boundary { from, at, id }),
        (any::<usize>(), any::<usize>(), any::<u8>(), any::<bool>()).prop_map(
            |(from, at, byte, cut)| CursorCase::Mutated {
                from,
                at,
                byte,
                cut
            }
        ),
    ]
}

impl CursorCase {
    fn render(&self, real: &[String]) -> String {
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let pick = |n: usize| &real[n % real.len()];
        match self {
            CursorCase::Bytes(bytes) => engine.encode(bytes),
            CursorCase::Text(text) => text.clone(),
            CursorCase::Real(n) => pick(*n).clone(),
            CursorCase::Boundary { from, at, id } => {
                let decoded = String::from_utf8(engine.decode(pick(*from)).unwrap()).unwrap();
                let tag = decoded.split('|').next().unwrap();
                engine.encode(format!(
                    "{tag}|{}|{}",
                    BOUNDARY_TIMES[*at], BOUNDARY_IDS[*id]
                ))
            }
            CursorCase::Mutated {
                from,
                at,
                byte,
                cut,
            } => {
                let mut bytes = engine.decode(pick(*from)).unwrap();
                let at = at % bytes.len();
                if *cut {
                    bytes.truncate(at);
                } else {
                    bytes[at] = *byte;
                }
                engine.encode(bytes)
            }
        }
    }
}

/// Runs the cursor property on `api`: whatever cursor a list is sent, the answer is not a 5xx,
/// an error is the JSON error body (a 422 names `cursor`), and a page lists only that list's
/// own items. Returns the number of cases run.
async fn cursors_never_reach_another_list(api: &Api, cases: u32) -> u32 {
    let lists = Lists::seed(api).await;
    let real = lists.all_cursors();
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    let strategy = (cursor_case(), 0..lists.routes.len(), 1..4u32);
    let ran = std::sync::atomic::AtomicU32::new(0);
    let handle = tokio::runtime::Handle::current();
    let outcome = tokio::task::block_in_place(|| {
        TestRunner::new(config).run(&strategy, |(case, route, limit)| {
            ran.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let route = &lists.routes[route];
            let cursor = case.render(&real);
            let path = format!("{}?limit={limit}&cursor={cursor}", route.path);
            let Ok(uri) = path.parse::<http::Uri>() else {
                return Ok(());
            };
            let reply = handle.block_on(api.get(&uri.to_string(), Some(&route.token)));
            let status = reply.status.as_u16();
            prop_assert!(status < 500, "{} for {}: {}", status, path, reply.json);
            if status >= 400 {
                assert_error_body(&reply.json);
                prop_assert_eq!(status, 422, "{}: {}", path, reply.json);
                prop_assert_eq!(&reply.json["error"]["field"], "cursor", "{}", path);
                return Ok(());
            }
            prop_assert_eq!(status, 200, "{}", path);
            for item in reply.json["data"][route.key].as_array().unwrap() {
                let id = item["id"].as_str().unwrap_or_default();
                prop_assert!(
                    route.ids.iter().any(|own| own == id),
                    "{} listed {} of another list: {}",
                    path,
                    id,
                    reply.json
                );
            }
            Ok(())
        })
    });
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
    ran.into_inner()
}

/// Cases per store of the cursor property.
const CURSOR_CASES: u32 = 512;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_cursor_makes_a_list_fail_or_list_another_lists_items_embedded() {
    let ran = cursors_never_reach_another_list(&Api::embedded(), CURSOR_CASES).await;
    println!("cursor cases run on the embedded store: {ran}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_cursor_makes_a_list_fail_or_list_another_lists_items_dynamodb() {
    let Some(api) = noteapp_tests::dynamodb::dynamodb_api().await else {
        return;
    };
    let ran = cursors_never_reach_another_list(&api, CURSOR_CASES).await;
    println!("cursor cases run on DynamoDB (moto): {ran}");
}

fn api() -> &'static Api {
    static API: std::sync::OnceLock<Api> = std::sync::OnceLock::new();
    API.get_or_init(Api::embedded)
}

/// The most a post to a connection may carry, and so the largest message a client may send.
const POST_LIMIT: usize = 128 * 1024;

/// One WebSocket frame.
#[derive(Debug, Clone)]
enum Frame {
    Text(String),
    Binary(Vec<u8>),
}

/// Any characters, control characters included.
fn any_text(len: std::ops::Range<usize>) -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), len).prop_map(String::from_iter)
}

fn json_value() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("action".to_string()),
        Just("noteId".to_string()),
        Just("type".to_string()),
        any_text(0..8),
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(Value::from)),
        any_text(0..40).prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..4)
                .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    })
}

/// Subscription requests, well formed or nearly.
fn subscription() -> impl Strategy<Value = Value> {
    let action = prop_oneof![
        Just(json!("subscribe")),
        Just(json!("unsubscribe")),
        Just(json!("Subscribe")),
        Just(json!(1)),
    ];
    let note = prop_oneof![
        any::<u128>().prop_map(|n| json!(uuid::Uuid::from_u128(n))),
        any::<u128>().prop_map(|n| json!(uuid::Uuid::from_u128(n).simple().to_string())),
        Just(json!(uuid::Uuid::nil())),
        Just(json!("not-a-uuid")),
        Just(json!(7)),
        Just(Value::Null),
    ];
    (action, prop::option::of(note)).prop_map(|(action, note)| match note {
        Some(note) => json!({"action": action, "noteId": note}),
        None => json!({"action": action}),
    })
}

/// Up to a whole message (128 KB) of one character: `"` and `\` come back escaped, so the
/// echo of a large one would be over what a post may carry.
fn large_text() -> impl Strategy<Value = String> {
    prop::sample::select(vec!['"', '\\', '\u{1F600}', 'x']).prop_flat_map(|c| {
        (0..POST_LIMIT / c.len_utf8()).prop_map(move |n| c.to_string().repeat(n))
    })
}

fn frame() -> impl Strategy<Value = Frame> {
    prop_oneof![
        2 => json_value().prop_map(|v| Frame::Text(v.to_string())),
        2 => subscription().prop_map(|v| Frame::Text(v.to_string())),
        2 => any_text(0..300).prop_map(Frame::Text),
        2 => "[\\[\\]{}\",:0-9a-z\\\\ .-]{0,60}".prop_map(Frame::Text),
        2 => prop::collection::vec(any::<u8>(), 0..200).prop_map(Frame::Binary),
        1 => large_text().prop_map(Frame::Text),
    ]
}

/// The answer `$default` owes a message whose body (as API Gateway passes it: binary frames in
/// base64) is `body`: `(type, data)` without the connection id.
fn expected_answer(body: &str) -> (&'static str, Value) {
    let parsed = serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_string()));
    let subscribed = match parsed.get("action").and_then(Value::as_str) {
        Some("subscribe") => true,
        Some("unsubscribe") => false,
        _ => {
            return (
                "echo",
                json!({"message": "Message received", "original": parsed}),
            );
        }
    };
    let note = parsed
        .get("noteId")
        .and_then(Value::as_str)
        .map(uuid::Uuid::parse_str);
    match note {
        Some(Ok(note)) if subscribed => ("subscribed", json!({"noteId": note})),
        Some(Ok(note)) => ("unsubscribed", json!({"noteId": note})),
        _ => (
            "error",
            json!({"message": "noteId must be a note id (UUID)"}),
        ),
    }
}

#[test]
fn every_websocket_message_gets_its_own_answer_and_the_connection_stays() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let server = LocalServer::start(dir.path(), &[]);
    let url = format!("{}/", server.ws_url());
    let config = Config {
        cases: 64,
        failure_persistence: None,
        ..Config::default()
    };
    // A fresh connection per case: its few messages stay inside one connection's rate limit.
    let frames = prop::collection::vec(frame(), 1..8);
    let outcome = TestRunner::new(config).run(&frames, |frames| {
        runtime.block_on(async {
            let mut client = connect(&url).await.expect("websocket connects");
            for frame in &frames {
                let body = match frame {
                    Frame::Text(text) => {
                        client.send_text(text).await;
                        text.clone()
                    }
                    Frame::Binary(data) => {
                        client.send_binary(data.clone()).await;
                        base64::engine::general_purpose::STANDARD.encode(data)
                    }
                };
                let answer = client.next_json(std::time::Duration::from_secs(5)).await;
                let Some(mut answer) = answer else {
                    return Err(TestCaseError::fail(format!("no answer to {frame:?}")));
                };
                prop_assert!(
                    answer["timestamp"]
                        .as_str()
                        .is_some_and(|t| t.ends_with('Z')),
                    "{}",
                    answer
                );
                if answer["type"] == "echo" {
                    let id = answer["data"]
                        .as_object_mut()
                        .and_then(|d| d.remove("connectionId"));
                    prop_assert!(id.is_some_and(|id| id.is_string()), "{}", answer);
                }
                let (kind, data) = expected_answer(&body);
                // As the answer did, through the wire: serde_json reads some floats back one
                // unit in the last place off.
                let data: Value = serde_json::from_str(&data.to_string()).unwrap();
                if kind == "echo" && answer["type"] == "error" {
                    // An echo over what a post may carry is refused, and said so.
                    let echo = data.to_string().len();
                    prop_assert!(
                        echo > POST_LIMIT - 256,
                        "{} for an echo of {} bytes",
                        answer,
                        echo
                    );
                    let message = "the message is too large to echo: an answer is at most 128 KB";
                    prop_assert_eq!(&answer["data"], &json!({"message": message}));
                    continue;
                }
                prop_assert_eq!(&answer["type"], kind, "{:?}", frame);
                prop_assert_eq!(&answer["data"], &data, "{:?}", frame);
            }
            client.send_json(&json!({"still": "there"})).await;
            let echo = client.expect_json().await;
            prop_assert_eq!(&echo["data"]["original"], &json!({"still": "there"}));
            client.close().await;
            Ok(())
        })
    });
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
}
