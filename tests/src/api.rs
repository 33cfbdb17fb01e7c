//! The notes API in process, on the embedded store or on DynamoDB (moto), with token helpers.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use noteapp_runtime::api::{App, handle};
use noteapp_runtime::auth::{KeySource, LocalSigner, TokenClaims, Verifier};
use noteapp_runtime::store::Store;
use noteapp_runtime::store::embedded::EmbeddedStore;
use serde_json::Value;

/// The Firebase project id test tokens are issued for.
pub const PROJECT: &str = "noteapp-test";

/// One signing key per test binary (RSA key generation is the slow part).
pub fn signer() -> &'static LocalSigner {
    static SIGNER: OnceLock<LocalSigner> = OnceLock::new();
    SIGNER.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        LocalSigner::load_or_create(dir.path()).expect("test signing key")
    })
}

/// A token for `uid` signed by the test key.
pub fn token(uid: &str, anonymous: bool) -> String {
    signer()
        .sign(&TokenClaims {
            uid: uid.into(),
            project_id: PROJECT.into(),
            anonymous,
            name: None,
            email: None,
            issued_at: chrono::Utc::now().timestamp() - 5,
            expires_in_secs: 3600,
        })
        .expect("sign test token")
}

/// A regular user's token.
pub fn user(uid: &str) -> String {
    token(uid, false)
}

/// An anonymous user's token.
pub fn anon(uid: &str) -> String {
    token(uid, true)
}

/// An answer from the API.
#[derive(Debug)]
pub struct Reply {
    /// The HTTP status.
    pub status: StatusCode,
    /// The response headers, as the handler set them.
    pub headers: http::HeaderMap,
    /// The body, parsed: every answer of the API is JSON.
    pub json: Value,
}

impl Reply {
    /// Asserts the status and, for errors, the contract's error body; returns the JSON.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.json
        );
        if status >= 400 {
            assert_error_body(&self.json);
        }
        &self.json
    }
}

/// Asserts `{status:"error", error:{code, message, field?}}`.
#[track_caller]
pub fn assert_error_body(json: &Value) {
    assert_eq!(json["status"], "error", "not an error body: {json}");
    assert!(json["error"]["code"].is_string(), "no error.code: {json}");
    let message = json["error"]["message"].as_str().unwrap_or_default();
    assert!(!message.is_empty(), "no error.message: {json}");
    if let Some(field) = json["error"].get("field") {
        assert!(field.is_string(), "error.field must be a string: {json}");
    }
}

/// The API over one store.
#[derive(Clone)]
pub struct Api {
    /// The handlers' shared state (store and token verifier), for a test that calls
    /// `noteapp_runtime::api::handle` itself.
    pub app: App,
    _dir: Option<Arc<tempfile::TempDir>>,
}

impl Api {
    /// The API over `store`, trusting the test key.
    pub fn over(store: Arc<dyn Store>) -> Self {
        let verifier = Verifier::new(PROJECT, KeySource::Static(signer().jwks()));
        Self {
            app: App::new(store, verifier),
            _dir: None,
        }
    }

    /// The API over a fresh embedded store in a temporary directory.
    pub fn embedded() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = EmbeddedStore::open(dir.path()).expect("open embedded store");
        let mut api = Self::over(Arc::new(store));
        api._dir = Some(Arc::new(dir));
        api
    }

    /// Sends one request; `body` is sent as is.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> Reply {
        let mut builder = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).expect("method"))
            .uri(path);
        if let Some(token) = token {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        let request = builder
            .body(Bytes::from(body.unwrap_or_default().to_string()))
            .expect("request");
        let response = handle(&self.app, request).await;
        let status = response.status();
        let headers = response.headers().clone();
        let json = serde_json::from_str(response.body()).unwrap_or_else(|e| {
            panic!(
                "{method} {path}: body is not JSON ({e}): {}",
                response.body()
            )
        });
        Reply {
            status,
            headers,
            json,
        }
    }

    /// `GET path`, as the owner of `token` (`None`: no `authorization` header).
    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.call("GET", path, token, None).await
    }

    /// `POST path` with `body` as JSON, as the owner of `token`.
    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Reply {
        self.call("POST", path, token, Some(&body.to_string()))
            .await
    }

    /// `PATCH path` with `body` as JSON, as the owner of `token`.
    pub async fn patch(&self, path: &str, token: Option<&str>, body: &Value) -> Reply {
        self.call("PATCH", path, token, Some(&body.to_string()))
            .await
    }

    /// `DELETE path`, as the owner of `token`.
    pub async fn delete(&self, path: &str, token: Option<&str>) -> Reply {
        self.call("DELETE", path, token, None).await
    }

    /// Creates a note for the owner of `token` and returns its id.
    pub async fn create_note(&self, token: &str, title: &str, public: bool) -> String {
        let reply = self
            .post(
                "/me/notes",
                Some(token),
                &serde_json::json!({"title": title, "content": format!("{title} body")}),
            )
            .await;
        let id = reply.expect(201)["data"]["id"]
            .as_str()
            .expect("id")
            .to_string();
        if public {
            self.post(
                &format!("/me/notes/{id}/publish"),
                Some(token),
                &Value::Null,
            )
            .await
            .expect(200);
        }
        id
    }
}
