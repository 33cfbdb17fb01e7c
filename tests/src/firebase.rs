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
    /// Where it listens, as `127.0.0.1:PORT`: the value of `FIREBASE_AUTH_EMULATOR_HOST`.
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
        // Ports are picked free, then taken by the emulator a moment later: on a busy machine
        // another server can take one first, and the emulator then stops. Each try checks that
        // the emulator itself answers, and a failed one starts again on other ports.
        let mut why = String::new();
        for _ in 0..3 {
            let mut emulator = Self::spawn(&cli);
            match emulator.ready(Duration::from_secs(60)) {
                Ok(()) => return Some(emulator),
                Err(reason) => why = reason,
            }
        }
        panic!("the Auth emulator did not start in three tries; the last: {why}");
    }

    fn spawn(cli: &std::path::Path) -> Self {
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
        let child = Command::new(cli)
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
        Self {
            host: format!("127.0.0.1:{port}"),
            child,
            _config: config,
        }
    }

    /// Waits for the emulator's port, then checks that the emulator (not another server) answers
    /// there and is still running.
    fn ready(&mut self, limit: Duration) -> Result<(), String> {
        let addr: std::net::SocketAddr = self.host.parse().expect("host:port");
        if !wait_for_port(addr, limit) {
            let status = self.child.try_wait().ok().flatten();
            return Err(format!(
                "no listener on {addr} within {limit:?} (exit: {status:?})"
            ));
        }
        let answer = http_get_root(addr).unwrap_or_else(|e| e.to_string());
        if let Ok(Some(status)) = self.child.try_wait() {
            return Err(format!(
                "the emulator on {addr} exited ({status}): {answer}"
            ));
        }
        if !answer.contains("authEmulator") {
            return Err(format!("{addr} is not the Auth emulator: {answer:.200}"));
        }
        Ok(())
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

/// `GET /` on `addr`, the whole answer as text (the Auth emulator names itself there).
fn http_get_root(addr: std::net::SocketAddr) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(format!("GET / HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    Ok(answer)
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
