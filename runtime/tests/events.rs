//! The handlers against the JSON AWS sends them, kept under `tests/data/`: a Function URL request
//! (payload 2.0) and API Gateway's WebSocket `$connect`, `MESSAGE` and `$disconnect` events. And
//! the local gateway's generated events checked against the same files: every key AWS sends is
//! there, with the same JSON type, and nothing AWS does not send.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use noteapp_runtime::api::{App, body_bytes, handle};
use noteapp_runtime::auth::{KeySource, LocalSigner, TokenClaims, Verifier};
use noteapp_runtime::local::function_url;
use noteapp_runtime::local::ws_events::{Peer, connect_event, disconnect_event, message_event};
use noteapp_runtime::store::ConnectionStore;
use noteapp_runtime::store::embedded::EmbeddedStore;
use noteapp_runtime::ws::fanout::{FanoutOptions, PostError, Poster};
use noteapp_runtime::ws::{WsContext, handlers};
use serde_json::Value;

const PROJECT: &str = "noteapp-events";

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The posts a handler made, by connection.
#[derive(Default)]
struct Recorder(Mutex<Vec<(String, Value)>>);

#[async_trait]
impl Poster for Recorder {
    async fn post(&self, connection_id: &str, data: Bytes) -> Result<(), PostError> {
        let message = serde_json::from_slice(&data).expect("posts are JSON");
        self.0
            .lock()
            .unwrap()
            .push((connection_id.to_owned(), message));
        Ok(())
    }
}

struct World {
    _dir: tempfile::TempDir,
    store: Arc<EmbeddedStore>,
    signer: LocalSigner,
    posts: Arc<Recorder>,
    ctx: WsContext,
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(EmbeddedStore::open(&dir.path().join("store")).unwrap());
    let signer = LocalSigner::load_or_create(dir.path()).unwrap();
    let verifier = Verifier::new(PROJECT, KeySource::Static(signer.jwks()));
    let posts = Arc::new(Recorder::default());
    let ctx = WsContext {
        connections: store.clone(),
        control: Some(store.clone()),
        limits: None,
        verifier: Some(verifier),
        poster: posts.clone(),
        fanout: FanoutOptions::default(),
    };
    World {
        _dir: dir,
        store,
        signer,
        posts,
        ctx,
    }
}

fn token(signer: &LocalSigner, uid: &str) -> String {
    signer
        .sign(&TokenClaims {
            uid: uid.into(),
            project_id: PROJECT.into(),
            anonymous: false,
            name: None,
            email: None,
            issued_at: chrono::Utc::now().timestamp() - 5,
            expires_in_secs: 600,
        })
        .unwrap()
}

/// Every key path of `value` with the JSON type found there; the insides of header and query
/// maps (whose keys are the request's own) count as one entry each.
fn shape(value: &Value) -> BTreeSet<String> {
    fn walk(path: &str, value: &Value, out: &mut BTreeSet<String>) {
        let kind = match value {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        };
        out.insert(format!("{path}: {kind}"));
        let opaque = ["headers", "multiValueHeaders", "queryStringParameters"];
        let leaf = path.rsplit('.').next().unwrap_or(path);
        if let Value::Object(map) = value
            && !opaque.contains(&leaf)
            && !leaf.starts_with("multiValueQuery")
        {
            for (key, inner) in map {
                walk(&format!("{path}.{key}"), inner, out);
            }
        }
    }
    let mut out = BTreeSet::new();
    walk("event", value, &mut out);
    out
}

#[track_caller]
fn assert_same_shape(generated: &Value, aws: &Value) {
    let (ours, theirs) = (shape(generated), shape(aws));
    let missing: Vec<_> = theirs.difference(&ours).collect();
    let extra: Vec<_> = ours.difference(&theirs).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "the generated event differs from AWS's: missing {missing:?}, extra {extra:?}"
    );
}

#[tokio::test]
async fn a_function_url_request_is_answered_by_the_router() {
    let w = world();
    let app = App::new(
        w.store.clone(),
        Verifier::new(PROJECT, KeySource::Static(w.signer.jwks())),
    );
    let event = fixture("function_url_request.json").to_string();
    let request = lambda_http::request::from_str(&event).expect("lambda_http parses the event");
    let (parts, body) = request.into_parts();
    let response = handle(&app, http::Request::from_parts(parts, body_bytes(body))).await;
    assert_eq!(response.status(), 200, "{}", response.body());
    let json: Value = serde_json::from_str(response.body()).unwrap();
    assert_eq!(json["data"]["pagination"]["page"], 2);
    assert_eq!(json["data"]["pagination"]["limit"], 5);
}

#[test]
fn the_local_gateways_function_url_event_has_the_keys_and_types_aws_sends() {
    let aws = fixture("function_url_request.json");
    let request = http::Request::get("/notes?page=2&limit=5")
        .header("host", "127.0.0.1:8000")
        .header("user-agent", "test")
        .body(Bytes::new())
        .unwrap();
    let generated: Value = serde_json::from_str(&function_url::event(
        &request,
        "127.0.0.1:5000".parse().unwrap(),
    ))
    .unwrap();
    assert_same_shape(&generated, &aws);
}

#[tokio::test]
async fn connect_with_a_token_records_the_user_and_disconnect_forgets_the_connection() {
    let w = world();
    let mut event = fixture("ws_connect.json");
    let id = event["requestContext"]["connectionId"]
        .as_str()
        .unwrap()
        .to_owned();
    event["queryStringParameters"]["token"] = Value::String(token(&w.signer, "alice"));
    // The row expires from `connectedAt`: connect now.
    event["requestContext"]["connectedAt"] = chrono::Utc::now().timestamp_millis().into();
    let answer = handlers::connect(&w.ctx, &event).await;
    assert_eq!(answer["statusCode"], 200, "{answer}");
    let now = chrono::Utc::now().timestamp();
    let row = w.store.get_connection(&id, now).await.unwrap().unwrap();
    assert_eq!(row.uid.as_deref(), Some("alice"));

    let answer = handlers::disconnect(&w.ctx, &fixture("ws_disconnect.json")).await;
    assert_eq!(answer["statusCode"], 200, "{answer}");
    assert!(w.store.get_connection(&id, now).await.unwrap().is_none());
}

#[tokio::test]
async fn connect_with_a_bad_token_is_refused_with_the_error_body() {
    let w = world();
    let mut event = fixture("ws_connect.json");
    event["queryStringParameters"]["token"] = Value::String("not-a-token".into());
    let answer = handlers::connect(&w.ctx, &event).await;
    assert_eq!(answer["statusCode"], 401, "{answer}");
    let body: Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["status"], "error");
    assert_eq!(body["error"]["code"], "UNAUTHORIZED");
}

#[tokio::test]
async fn a_message_is_echoed_to_its_connection() {
    let w = world();
    // The message's connection, registered as `$connect` would.
    let mut anonymous = fixture("ws_connect.json");
    let fields = anonymous.as_object_mut().unwrap();
    fields.remove("queryStringParameters");
    fields.remove("multiValueQueryStringParameters");
    anonymous["requestContext"]["connectedAt"] = chrono::Utc::now().timestamp_millis().into();
    handlers::connect(&w.ctx, &anonymous).await;
    let answer = handlers::default(&w.ctx, &fixture("ws_message.json")).await;
    assert_eq!(answer["statusCode"], 200, "{answer}");
    let posts = w.posts.0.lock().unwrap().clone();
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert_eq!(posts[0].0, "Cq9x1eHItjMCJbQ=");
    assert_eq!(posts[0].1["type"], "echo");
    assert_eq!(posts[0].1["data"]["original"]["hello"], "there");
}

#[test]
fn the_local_gateways_websocket_events_have_the_keys_and_types_aws_sends() {
    let peer = Peer {
        source_ip: "127.0.0.1",
        user_agent: "test",
    };
    let mut headers = http::HeaderMap::new();
    headers.insert("host", "127.0.0.1:3001".parse().unwrap());
    let connect = connect_event("development", "abc=", 1, &headers, Some("token=t"), peer);
    assert_same_shape(&connect, &fixture("ws_connect.json"));
    let message = message_event("development", "abc=", 1, peer, "{}", false);
    assert_same_shape(&message, &fixture("ws_message.json"));
    let disconnect = disconnect_event("development", "abc=", 1, peer, 1001, "Going away");
    assert_same_shape(&disconnect, &fixture("ws_disconnect.json"));
}
