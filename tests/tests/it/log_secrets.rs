//! Every handler, run as its function runs in AWS: the real `bootstrap` against a stand-in
//! Lambda Runtime API with AWS's own event shapes (`runtime/tests/data`), signing as its
//! function's execution role (the rendered staging template's, resolved for the test's
//! tables), with IAM in front of moto and of the management API deciding each request for that
//! role (`noteapp_tests::roles`): a handler that needs more than its role holds is refused as
//! AWS refuses it, and the test fails.
//!
//! And no log line carries a secret, even at `LOG_LEVEL=trace`: the events carry an
//! `Authorization: Bearer` token, a `?token=` query, an email (in the token's claims and in
//! bodies) and SigV4 credentials. Everything the processes write is searched for each secret.

use aws_credential_types::Credentials;
use base64::Engine as _;
use noteapp_runtime::auth::TokenClaims;
use noteapp_runtime::functions::Function;
use noteapp_runtime::store::Store;
use noteapp_runtime::store::dynamodb::TableNames;
use noteapp_test_support::kit::Endpoint;
use noteapp_test_support::loopback::{Reply, Server};
use noteapp_tests::api::{PROJECT, signer};
use noteapp_tests::dynamodb;
use noteapp_tests::lambda::{Answer, BootstrapRun, run_bootstrap};
use noteapp_tests::roles::{self, roles};
use serde_json::{Value, json};

const EMAIL: &str = "ada.secret@example.com";
const SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETKEY";
const SESSION_TOKEN: &str = "IQoJb3JpZ2luX2VjEXAMPLESESSIONTOKENvalue";
const SIGNATURE: &str = "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7";
const CONNECTION: &str = "Lq9x1eHItjMCJbQ=";

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/../runtime/tests/data/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A token whose claims hold the email (and a name).
fn token() -> String {
    signer()
        .sign(&TokenClaims {
            uid: "ada".into(),
            project_id: PROJECT.into(),
            anonymous: false,
            name: Some("Ada Secret".into()),
            email: Some(EMAIL.into()),
            issued_at: chrono::Utc::now().timestamp() - 5,
            expires_in_secs: 3600,
        })
        .expect("sign")
}

/// Every string that must never appear in a log.
fn secrets(token: &str) -> Vec<String> {
    let mut all = vec![
        token.to_owned(),
        format!("Bearer {token}"),
        EMAIL.to_owned(),
        SECRET_KEY.to_owned(),
        SESSION_TOKEN.to_owned(),
        SIGNATURE.to_owned(),
    ];
    all.extend(
        ROLE_CREDENTIALS
            .lock()
            .unwrap()
            .iter()
            .map(|c| c.secret_access_key().to_owned()),
    );
    // The token's claims (which hold the email) and its signature, each on its own.
    all.extend(token.split('.').skip(1).map(str::to_owned));
    // The email as it would look inside a JSON string or base64.
    all.push(base64::engine::general_purpose::STANDARD.encode(EMAIL));
    all
}

#[track_caller]
fn assert_no_secret(run: &BootstrapRun, token: &str, handler: &str) {
    for secret in secrets(token) {
        if let Some(at) = run.output.find(&secret) {
            let line_start = run.output[..at].rfind('\n').map_or(0, |i| i + 1);
            let line_end = run.output[at..]
                .find('\n')
                .map_or(run.output.len(), |i| at + i);
            panic!(
                "bootstrap {handler} logged a secret ({secret:.12}…):\n{}",
                &run.output[line_start..line_end]
            );
        }
    }
}

fn status(answer: &Answer) -> i64 {
    answer.body["statusCode"]
        .as_i64()
        .unwrap_or_else(|| panic!("no statusCode in {answer:?}"))
}

/// A Function URL event (payload 2.0) from the fixture, for `method path?query` with `body`.
fn function_url(
    method: &str,
    path: &str,
    query: &[(&str, &str)],
    token: Option<&str>,
    body: Option<Value>,
) -> Value {
    let mut event = fixture("function_url_request.json");
    event["rawPath"] = path.into();
    event["requestContext"]["http"]["method"] = method.into();
    event["requestContext"]["http"]["path"] = path.into();
    event["rawQueryString"] = query
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
        .into();
    event["queryStringParameters"] = query
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Value::from(*v)))
        .collect::<serde_json::Map<_, _>>()
        .into();
    if let Some(token) = token {
        event["headers"]["authorization"] = format!("Bearer {token}").into();
        event["headers"]["cookie"] = format!("session={token}").into();
    }
    if let Some(body) = body {
        event["headers"]["content-type"] = "application/json".into();
        event["body"] = body.to_string().into();
    }
    event
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// What every function gets: a deployed environment at `trace`, a session token, DynamoDB on
/// moto behind IAM.
fn common(dynamodb: &str) -> Vec<(String, String)> {
    env(&[
        ("ENVIRONMENT", "staging"),
        ("LOG_LEVEL", "trace"),
        ("AWS_SESSION_TOKEN", SESSION_TOKEN),
        ("AWS_ENDPOINT_URL_DYNAMODB", dynamodb),
    ])
}

/// The roles' credentials given to the handlers: their secrets are never to be logged either.
static ROLE_CREDENTIALS: std::sync::Mutex<Vec<Credentials>> = std::sync::Mutex::new(Vec::new());

/// `base` with the credentials of `function`'s role for `tables`.
fn as_role(
    base: &[(String, String)],
    function: Function,
    tables: &TableNames,
) -> Vec<(String, String)> {
    let credentials = roles().credentials(function, tables);
    ROLE_CREDENTIALS.lock().unwrap().push(credentials.clone());
    let mut vars = base.to_vec();
    vars.extend(env(&[
        ("AWS_ACCESS_KEY_ID", credentials.access_key_id()),
        ("AWS_SECRET_ACCESS_KEY", credentials.secret_access_key()),
    ]));
    vars
}

#[tokio::test]
async fn no_handler_logs_a_token_an_authorization_header_or_an_email_at_trace() {
    let Some(server) = dynamodb::shared() else {
        return;
    };
    let (admin, tables) = dynamodb::tables_on(server).await;
    // The WebSocket stage's management API, behind IAM: `execute-api:ManageConnections`.
    let kit = roles().kit().clone();
    let api = roles().reference("WebSocketApi", &tables);
    let management = Server::answering(move |request| {
        let endpoint = Endpoint::ExecuteApi {
            api: &api,
            stage: "staging",
        };
        match kit.admit(request, endpoint) {
            Ok(_) => Reply::json(200, "{}"),
            Err(refusal) => refusal,
        }
    })
    .await;
    let token = token();
    let mut base = common(&roles::guard_of(server));
    base.extend(env(&[
        ("FIREBASE_PROJECT_ID", PROJECT),
        ("NOTES_TABLE", &tables.notes),
        ("USERS_TABLE", &tables.users),
        ("COMMENTS_TABLE", &tables.comments),
        ("CONNECTIONS_TABLE", &tables.connections),
        ("CONTROL_TABLE", &tables.control),
        ("WEBSOCKET_ENDPOINT", &format!("{}/staging", management.url)),
    ]));

    // The API: signed-in routes (the keys cannot be fetched here, so they are refused), a body
    // with an email, a `?token=` query, and a public read that reaches DynamoDB.
    let note = uuid::Uuid::new_v4().to_string();
    let api = run_bootstrap(
        "api",
        &as_role(&base, Function::Api, &tables),
        vec![
            function_url("GET", "/me", &[("token", &token)], Some(&token), None),
            function_url(
                "PATCH",
                "/me",
                &[],
                Some(&token),
                Some(json!({"email": EMAIL, "displayName": "Ada"})),
            ),
            function_url(
                "POST",
                &format!("/notes/{note}/comments"),
                &[],
                Some(&token),
                Some(json!({"content": format!("write to {EMAIL}")})),
            ),
            function_url(
                "GET",
                "/notes",
                &[("limit", "5"), ("token", &token)],
                None,
                None,
            ),
        ],
    )
    .await;
    let statuses: Vec<_> = api.answers.iter().map(status).collect();
    assert!(statuses[..3].iter().all(|s| *s >= 400), "{statuses:?}");
    assert_eq!(statuses[3], 200, "{:?}", api.answers[3]);
    assert_no_secret(&api, &token, "api");

    // `$connect` with `?token=` (and the header) is refused; an anonymous one is recorded.
    let mut signed_in = fixture("ws_connect.json");
    signed_in["queryStringParameters"]["token"] = token.clone().into();
    signed_in["multiValueQueryStringParameters"]["token"] = json!([token]);
    signed_in["headers"]["Authorization"] = format!("Bearer {token}").into();
    let mut anonymous = fixture("ws_connect.json");
    let fields = anonymous.as_object_mut().expect("object");
    fields.remove("queryStringParameters");
    fields.remove("multiValueQueryStringParameters");
    anonymous["requestContext"]["connectionId"] = CONNECTION.into();
    anonymous["requestContext"]["connectedAt"] = chrono::Utc::now().timestamp_millis().into();
    let connect = run_bootstrap(
        "ws-connect",
        &as_role(&base, Function::WsConnect, &tables),
        vec![signed_in, anonymous],
    )
    .await;
    assert_ne!(status(&connect.answers[0]), 200, "{:?}", connect.answers[0]);
    assert_eq!(status(&connect.answers[1]), 200, "{:?}", connect.answers[1]);
    assert!(
        connect.output.contains("connected"),
        "LOG_LEVEL=trace did not reach the handler's own debug lines:\n{}",
        connect.output
    );
    assert_no_secret(&connect, &token, "ws-connect");

    // `$default` echoes a body holding the token and the email back to its connection.
    let mut message = fixture("ws_message.json");
    message["requestContext"]["connectionId"] = CONNECTION.into();
    message["body"] = json!({"note": format!("mail {EMAIL}"), "token": token})
        .to_string()
        .into();
    let default = run_bootstrap(
        "ws-default",
        &as_role(&base, Function::WsDefault, &tables),
        vec![message],
    )
    .await;
    assert_eq!(status(&default.answers[0]), 200, "{:?}", default.answers[0]);
    assert_no_secret(&default, &token, "ws-default");

    // A broadcast invoked directly, and one through the IAM-signed HTTP route.
    let direct = json!({"type": "note.shared", "data": {"by": EMAIL, "token": token}});
    let mut http = function_url("POST", "/websocket/broadcast", &[], None, None);
    http["headers"]["authorization"] = format!(
        "AWS4-HMAC-SHA256 Credential=ASIAEXAMPLEKEYID0001/20261201/us-east-1/execute-api/aws4_request, \
         SignedHeaders=host;x-amz-date;x-amz-security-token, Signature={SIGNATURE}"
    )
    .into();
    http["headers"]["x-amz-security-token"] = SESSION_TOKEN.into();
    http["requestContext"]["authorizer"] = json!({"iam": {
        "accessKey": "ASIAEXAMPLEKEYID0001", "accountId": "123456789012",
        "callerId": "AROAEXAMPLE:ops", "principalOrgId": null,
        "userArn": "arn:aws:sts::123456789012:assumed-role/ops/ops", "userId": "AROAEXAMPLE:ops"
    }});
    http["body"] = json!({"type": "ping", "data": {"email": EMAIL}})
        .to_string()
        .into();
    let broadcast = run_bootstrap(
        "ws-broadcast",
        &as_role(&base, Function::WsBroadcast, &tables),
        vec![direct, http],
    )
    .await;
    assert!(!broadcast.answers[0].error, "{:?}", broadcast.answers[0]);
    assert_eq!(broadcast.answers[0].body["results"]["sent"], 1);
    assert_eq!(
        status(&broadcast.answers[1]),
        200,
        "{:?}",
        broadcast.answers[1]
    );
    assert_no_secret(&broadcast, &token, "ws-broadcast");

    // The echo and both broadcasts reached the connection: the handlers did their work.
    let posts = management
        .requests()
        .into_iter()
        .filter(|r| {
            r.path().contains(&CONNECTION.replace('=', "%3D")) || r.path().contains(CONNECTION)
        })
        .count();
    assert_eq!(posts, 3, "{:?}", management.requests());

    let disconnect = run_bootstrap(
        "ws-disconnect",
        &as_role(&base, Function::WsDisconnect, &tables),
        vec![{
            let mut event = fixture("ws_disconnect.json");
            event["requestContext"]["connectionId"] = CONNECTION.into();
            event
        }],
    )
    .await;
    assert_eq!(status(&disconnect.answers[0]), 200);
    assert_no_secret(&disconnect, &token, "ws-disconnect");

    // The cleanup function, after a note with comments is deleted: invoked by the API for that
    // note, and by its schedule (EventBridge's scheduled event) for whatever is left.
    let seeded = noteapp_runtime::store::dynamodb::DynamoStore::new(admin, tables.store_tables());
    let note = noteapp_tests::seed::note("ada", 1, true);
    noteapp_tests::seed::notes(&seeded, std::slice::from_ref(&note)).await;
    noteapp_tests::seed::comments(&seeded, &note, 3).await;
    let store = dynamodb::api_store(server, &tables);
    store.delete_note(note.id, "ada").await.unwrap();
    let note = note.id;
    let scheduled = json!({
        "version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": "2026-12-07T03:00:00Z", "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/noteapp-staging-cleanup"],
        "detail": {},
    });
    let cleanup = run_bootstrap(
        "cleanup",
        &as_role(&base, Function::Cleanup, &tables),
        vec![json!({"noteId": note}), scheduled],
    )
    .await;
    assert!(!cleanup.answers[0].error, "{:?}", cleanup.answers[0]);
    assert_eq!(
        cleanup.answers[0].body["comments"], 3,
        "{:?}",
        cleanup.answers[0]
    );
    assert!(!cleanup.answers[1].error, "{:?}", cleanup.answers[1]);
    assert_no_secret(&cleanup, &token, "cleanup");
    let used = ROLE_CREDENTIALS.lock().unwrap().clone();
    let denials = roles().kit().take_denials_of(&used);
    assert!(
        denials.is_empty(),
        "a handler needed more than its function's role holds: {denials:#?}"
    );
}
