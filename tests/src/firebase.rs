//! The real Firebase Auth emulator (npm `firebase-tools`, auth only, no UI) on a free loopback
//! port, and its REST sign-up, which returns ID tokens exactly as the front end gets them.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::local::{free_port, wait_for_port};

/// The Firebase project the emulator runs (a `demo-` project needs no credentials).
pub const PROJECT: &str = "demo-noteapp";

/// A running Auth emulator, stopped on drop.
pub struct AuthEmulator {
    pub host: String,
    child: Child,
    _config: tempfile::TempDir,
}

fn firebase_cli() -> PathBuf {
    match std::env::var_os("NOTEAPP_FIREBASE_CLI") {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("firebase/node_modules/.bin/firebase"),
    }
}

impl AuthEmulator {
    /// Starts the emulator, or returns `None` (saying why) when `firebase-tools` is not installed
    /// outside the test command; there a missing emulator fails (`noteapp_test_support::missing`).
    pub fn start_or_skip() -> Option<Self> {
        let cli = firebase_cli();
        if !cli.exists() {
            return noteapp_test_support::missing(
                "the Firebase Auth emulator",
                &format!("firebase-tools not found at {}", cli.display()),
            );
        }
        let port = free_port();
        let config = tempfile::tempdir().expect("temp dir");
        let firebase_json = json!({
            "emulators": {
                "auth": {"host": "127.0.0.1", "port": port},
                "ui": {"enabled": false},
                "hub": {"host": "127.0.0.1", "port": free_port()},
                "logging": {"host": "127.0.0.1", "port": free_port()},
            }
        });
        std::fs::write(
            config.path().join("firebase.json"),
            firebase_json.to_string(),
        )
        .expect("firebase.json");
        let child = Command::new(&cli)
            .args(["emulators:start", "--only", "auth", "--project", PROJECT])
            .current_dir(config.path())
            .env("NO_UPDATE_NOTIFIER", "1")
            .env("FIREBASE_CLI_DISABLE_TELEMETRY", "1")
            .env("HOME", config.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the firebase emulator");
        let mut emulator = Self {
            host: format!("127.0.0.1:{port}"),
            child,
            _config: config,
        };
        let addr = ([127, 0, 0, 1], port).into();
        if !wait_for_port(addr, Duration::from_secs(60)) {
            let status = emulator.child.try_wait().ok().flatten();
            panic!("the Auth emulator did not listen on {addr} within 60 s (exit: {status:?})");
        }
        Some(emulator)
    }

    async fn sign_up(&self, body: Value) -> Value {
        let url = format!(
            "http://{}/identitytoolkit.googleapis.com/v1/accounts:signUp?key=fake-api-key",
            self.host
        );
        let response = crate::http_client()
            .post(url)
            .json_body(&body)
            .send()
            .await
            .expect("signUp");
        let status = response.status();
        let text = response.text().await.expect("signUp body");
        assert!(status.is_success(), "signUp failed: {status} {text}");
        serde_json::from_str(&text).expect("signUp JSON")
    }

    /// An anonymous user's ID token.
    pub async fn anonymous_token(&self) -> String {
        let reply = self.sign_up(json!({"returnSecureToken": true})).await;
        reply["idToken"].as_str().expect("idToken").to_string()
    }

    /// An email-and-password user's ID token.
    pub async fn email_token(&self, email: &str) -> String {
        let reply = self
            .sign_up(json!({"email": email, "password": "correct horse battery", "returnSecureToken": true}))
            .await;
        reply["idToken"].as_str().expect("idToken").to_string()
    }
}

impl Drop for AuthEmulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

trait JsonBody {
    fn json_body(self, body: &Value) -> Self;
}

impl JsonBody for reqwest::RequestBuilder {
    fn json_body(self, body: &Value) -> Self {
        self.header("content-type", "application/json")
            .body(body.to_string())
    }
}
