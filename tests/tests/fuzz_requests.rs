//! Property test: no request, however malformed, makes the API panic or answer anything but
//! JSON; every error is the contract's error body.

use noteapp_tests::api::{Api, assert_error_body, user};
use proptest::prelude::*;

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
        Just(serde_json::json!({"content": "x"})),
        any::<i64>().prop_map(|n| serde_json::json!({"title": n, "content": n})),
        "\\PC{0,50}".prop_map(
            |s| serde_json::json!({"title": s, "content": s, "displayName": s, "email": s})
        ),
        Just(serde_json::json!(null)),
        Just(serde_json::json!([{"content": []}])),
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

fn api() -> &'static Api {
    static API: std::sync::OnceLock<Api> = std::sync::OnceLock::new();
    API.get_or_init(Api::embedded)
}
