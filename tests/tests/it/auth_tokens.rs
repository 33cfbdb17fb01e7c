//! Every kind of bad token is refused by the API with 401 and the JSON error body, on a route
//! that a valid token opens. The verifier's own unit tests cover the same cases one level down.

use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use noteapp_tests::api::{Api, PROJECT, signer, user};
use serde_json::{Value, json};

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn claims() -> Value {
    let t = now() - 10;
    json!({
        "iss": format!("https://securetoken.google.com/{PROJECT}"),
        "aud": PROJECT,
        "sub": "mallory",
        "user_id": "mallory",
        "iat": t,
        "auth_time": t,
        "exp": t + 3600,
        "firebase": {"sign_in_provider": "password", "identities": {}},
    })
}

fn rs256(claims: &Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(signer().kid().to_string());
    signer().sign_raw(header, claims).unwrap()
}

fn with(change: impl FnOnce(&mut Value)) -> String {
    let mut c = claims();
    change(&mut c);
    rs256(&c)
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

async fn assert_refused(api: &Api, token: &str, why: &str) {
    let reply = api.get("/me/notes", Some(token)).await;
    let body = reply.expect(401);
    assert_eq!(body["error"]["code"], "UNAUTHORIZED", "{why}");
    assert!(
        !body.to_string().contains(token),
        "{why}: the token is echoed back"
    );
}

#[tokio::test]
async fn a_valid_token_is_accepted_as_the_control_case() {
    let api = Api::embedded();
    api.get("/me/notes", Some(&rs256(&claims())))
        .await
        .expect(200);
    api.get("/me/notes", Some(&user("someone")))
        .await
        .expect(200);
}

#[tokio::test]
async fn expired_tokens_are_refused() {
    let token = with(|c| {
        c["exp"] = json!(now() - 120);
        c["iat"] = json!(now() - 4000);
        c["auth_time"] = json!(now() - 4000);
    });
    assert_refused(&Api::embedded(), &token, "expired").await;
}

#[tokio::test]
async fn tokens_issued_in_the_future_are_refused() {
    let token = with(|c| c["iat"] = json!(now() + 600));
    assert_refused(&Api::embedded(), &token, "iat in the future").await;
    let token = with(|c| c["auth_time"] = json!(now() + 600));
    assert_refused(&Api::embedded(), &token, "auth_time in the future").await;
}

#[tokio::test]
async fn tokens_for_another_audience_or_issuer_are_refused() {
    let api = Api::embedded();
    assert_refused(
        &api,
        &with(|c| c["aud"] = json!("other-project")),
        "audience",
    )
    .await;
    assert_refused(
        &api,
        &with(|c| c["iss"] = json!("https://securetoken.google.com/other-project")),
        "issuer",
    )
    .await;
    assert_refused(
        &api,
        &with(|c| c["iss"] = json!("https://evil.example/noteapp-test")),
        "issuer",
    )
    .await;
}

#[tokio::test]
async fn tokens_with_an_unknown_or_missing_kid_are_refused() {
    let api = Api::embedded();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("not-a-known-key".into());
    assert_refused(
        &api,
        &signer().sign_raw(header, &claims()).unwrap(),
        "unknown kid",
    )
    .await;
    let header = Header::new(Algorithm::RS256);
    assert_refused(
        &api,
        &signer().sign_raw(header, &claims()).unwrap(),
        "no kid",
    )
    .await;
}

#[tokio::test]
async fn alg_none_tokens_are_refused() {
    let header = json!({"alg": "none", "typ": "JWT", "kid": signer().kid()});
    let token = format!(
        "{}.{}.",
        b64(header.to_string().as_bytes()),
        b64(claims().to_string().as_bytes())
    );
    assert_refused(&Api::embedded(), &token, "alg none").await;
}

#[tokio::test]
async fn hs256_signed_with_the_public_key_is_refused() {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(signer().kid().to_string());
    let secret = signer().public_key_pem();
    let token = jsonwebtoken::encode(
        &header,
        &claims(),
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap();
    assert_refused(&Api::embedded(), &token, "HS256 with the public key").await;
}

#[tokio::test]
async fn a_tampered_payload_is_refused() {
    let token = rs256(&claims());
    let parts: Vec<&str> = token.split('.').collect();
    let mut forged = claims();
    forged["sub"] = json!("alice");
    forged["user_id"] = json!("alice");
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64(forged.to_string().as_bytes()),
        parts[2]
    );
    assert_refused(&Api::embedded(), &tampered, "tampered payload").await;
}

#[tokio::test]
async fn empty_or_overlong_subjects_are_refused() {
    let api = Api::embedded();
    assert_refused(&api, &with(|c| c["sub"] = json!("")), "empty sub").await;
    assert_refused(
        &api,
        &with(|c| c["sub"] = json!("x".repeat(129))),
        "129-char sub",
    )
    .await;
    api.get(
        "/me/notes",
        Some(&with(|c| c["sub"] = json!("x".repeat(128)))),
    )
    .await
    .expect(200);
}

#[tokio::test]
async fn garbage_and_malformed_headers_are_refused() {
    let api = Api::embedded();
    for token in [
        "garbage",
        "a.b.c",
        "user:alice",
        "anon:bob",
        "..",
        "e30.e30.e30",
    ] {
        assert_refused(&api, token, token).await;
    }
    for header in ["Basic abc", "Bearer", "Bearer  two spaces", "bearer"] {
        let request = http::Request::builder()
            .uri("/me/notes")
            .header("authorization", header)
            .body(bytes::Bytes::new())
            .unwrap();
        let response = noteapp_runtime::api::handle(&api.app, request).await;
        assert_eq!(response.status(), 401, "{header}");
        let body: Value = serde_json::from_str(response.body()).unwrap();
        noteapp_tests::api::assert_error_body(&body);
    }
}
