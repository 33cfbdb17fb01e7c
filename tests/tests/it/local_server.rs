//! `noteapp local` end to end, over real sockets: sign-in tokens from `noteapp local token`,
//! CORS as the front end needs it, body limits, and data that survives a restart.

use noteapp_tests::local::LocalServer;
use serde_json::{Value, json};

async fn json_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}")),
    )
}

#[tokio::test]
async fn notes_written_through_the_local_server_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = LocalServer::start(dir.path(), &[]);
    let token = server.token(&["--uid", "alice", "--name", "Alice"]);
    let client = noteapp_tests::http_client();

    let (status, body) = json_of(
        client
            .post(format!("{}/me/notes", server.url()))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(json!({"title": "Hello", "content": "from the socket"}).to_string())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let id = body["data"]["id"].as_str().unwrap().to_string();
    let (status, _) = json_of(
        client
            .post(format!("{}/me/notes/{id}/publish", server.url()))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);

    server.stop();
    let server = LocalServer::start(dir.path(), &[]);
    let (status, body) = json_of(
        client
            .get(format!("{}/notes/{id}", server.url()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["author"]["displayName"], "Alice");
    // The same token still works: the signing key lives in the data directory.
    let (status, body) = json_of(
        client
            .get(format!("{}/me/notes", server.url()))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["pagination"]["total"], 1);
}

#[tokio::test]
async fn tokens_from_another_data_directory_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let other = tempfile::tempdir().unwrap();
    let server = LocalServer::start(dir.path(), &[]);
    let stranger = LocalServer::start(other.path(), &[]);
    let foreign = stranger.token(&["--uid", "mallory"]);
    let (status, body) = json_of(
        noteapp_tests::http_client()
            .get(format!("{}/me/notes", server.url()))
            .bearer_auth(foreign)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(body["status"], "error");
}

#[tokio::test]
async fn cors_preflights_pass_for_the_front_end_origins_only() {
    let dir = tempfile::tempdir().unwrap();
    let server = LocalServer::start(dir.path(), &[]);
    let client = noteapp_tests::http_client();
    for origin in ["http://localhost:3000", "http://127.0.0.1:3000"] {
        let response = client
            .request(
                reqwest::Method::OPTIONS,
                format!("{}/me/notes", server.url()),
            )
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type",
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 204);
        assert_eq!(response.headers()["access-control-allow-origin"], origin);
        let allowed = response.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(allowed.contains("authorization") && allowed.contains("content-type"));

        let response = client
            .get(format!("{}/notes", server.url()))
            .header("origin", origin)
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["access-control-allow-origin"], origin);
    }
    let refused = client
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/me/notes", server.url()),
        )
        .header("origin", "http://evil.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 403);
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    let response = client
        .get(format!("{}/notes", server.url()))
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[tokio::test]
async fn an_oversized_body_is_413_with_the_json_error_body() {
    let dir = tempfile::tempdir().unwrap();
    let server = LocalServer::start(dir.path(), &[]);
    let token = server.token(&["--uid", "bob"]);
    let big = json!({"content": "x".repeat(1024 * 1024)}).to_string();
    let (status, body) = json_of(
        noteapp_tests::http_client()
            .post(format!("{}/me/notes", server.url()))
            .bearer_auth(token)
            .body(big)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 413);
    assert_eq!(body["error"]["code"], "PAYLOAD_TOO_LARGE");
}

#[tokio::test]
async fn anonymous_tokens_from_the_cli_are_anonymous() {
    let dir = tempfile::tempdir().unwrap();
    let server = LocalServer::start(dir.path(), &[]);
    let token = server.token(&["--uid", "guest", "--anonymous"]);
    let client = noteapp_tests::http_client();
    let (status, _) = json_of(
        client
            .get(format!("{}/me", server.url()))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 403);
    let (status, body) = json_of(
        client
            .post(format!("{}/auth/anonymous-login", server.url()))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["isAnonymous"], true);
}
