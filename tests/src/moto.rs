//! A real `moto_server` (DynamoDB emulator) on a free loopback port, for tests.
//!
//! The executable is `$NOTEAPP_MOTO_SERVER` or `<workspace>/.venv/bin/moto_server` (installed by
//! `scripts/services.sh`). When it is missing, tests that need it print a skip notice and return,
//! unless [`crate::services_required`], in which case they fail. [`shared`] starts one server per test binary; tests
//! then isolate themselves with uniquely prefixed tables ([`fresh_store`]); a slow test can start
//! its own server ([`MotoServer::start_or_skip`], [`store_on`]) so it does not hold up the others
//! (the emulator serves one request at a time per process).
//!
//! The server runs under a small `sh` watchdog that reads its stdin: when the test process ends
//! for any reason (even without running destructors, as with a `static`), the pipe closes and
//! the watchdog stops the server, so no `moto_server` outlives the tests.

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use noteapp_runtime::store::dynamodb::{DynamoStore, TableNames, create_tables};

use crate::api::Api;

/// How long a starting server may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// The command that installs the test services and runs every test.
const README_COMMAND: &str = "scripts/test.sh";

/// A running `moto_server`, stopped on drop.
pub struct MotoServer {
    child: Child,
    /// Closing this pipe makes the watchdog stop the server.
    stdin: Option<ChildStdin>,
    endpoint: String,
    log: tempfile::NamedTempFile,
}

impl MotoServer {
    /// The executable to run: `$NOTEAPP_MOTO_SERVER`, else the workspace's `.venv`.
    pub fn executable() -> PathBuf {
        match std::env::var_os("NOTEAPP_MOTO_SERVER") {
            Some(path) if !path.is_empty() => PathBuf::from(path),
            _ => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join(".venv/bin/moto_server"),
        }
    }

    /// Starts a server, or returns `None` (after printing why) when the executable is missing
    /// outside the test command. Panics there when it is missing, and whenever it fails to start.
    pub fn start_or_skip() -> Option<Self> {
        let executable = Self::executable();
        if !executable.is_file() {
            if crate::services_required() {
                panic!(
                    "moto_server not found at {}; run `{README_COMMAND}` (it installs the test \
                     services into .venv) or set NOTEAPP_MOTO_SERVER",
                    executable.display()
                );
            }
            eprintln!(
                "skipping: moto_server not found at {} (run `{README_COMMAND}` to install it)",
                executable.display()
            );
            return None;
        }
        Some(Self::start(&executable))
    }

    /// Starts `executable` on a free loopback port and waits until it accepts connections.
    /// Panics (with the server's output) if it does not.
    pub fn start(executable: &std::path::Path) -> Self {
        let mut last_failure = String::new();
        // A port found free can be taken before the server binds it: try a few.
        for _ in 0..3 {
            match Self::try_start(executable) {
                Ok(server) => return server,
                Err(failure) => last_failure = failure,
            }
        }
        panic!("moto_server did not start: {last_failure}");
    }

    fn try_start(executable: &std::path::Path) -> Result<Self, String> {
        let port = free_port().map_err(|e| format!("no free port: {e}"))?;
        let log = tempfile::NamedTempFile::new().map_err(|e| format!("no log file: {e}"))?;
        let log_out = log.reopen().map_err(|e| format!("log file: {e}"))?;
        let log_err = log.reopen().map_err(|e| format!("log file: {e}"))?;
        // $0 = the server; the watchdog kills it once stdin closes; `wait` makes the shell
        // exit with the server, so an early death is visible to `try_wait`.
        // Background jobs get /dev/null as stdin unless redirected, hence fd 3.
        let script = r#"exec 3<&0
"$0" "$@" </dev/null 3<&- & pid=$!
(cat <&3 >/dev/null; kill "$pid" 2>/dev/null) &
exec 3<&-
wait "$pid""#;
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg(executable)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::piped())
            .stdout(log_out)
            .stderr(log_err)
            .spawn()
            .map_err(|e| format!("cannot run sh for {}: {e}", executable.display()))?;
        let stdin = child.stdin.take();
        let mut server = Self {
            child,
            stdin,
            endpoint: format!("http://127.0.0.1:{port}"),
            log,
        };
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
                return Ok(server);
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!("exited with {status}: {}", server.output()));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "not listening on port {port} after {START_TIMEOUT:?}: {}",
                    server.output()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The server's URL, `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// What the server printed so far.
    pub fn output(&self) -> String {
        let mut text = String::new();
        if let Ok(mut file) = self.log.reopen() {
            let _ = file.read_to_string(&mut text);
        }
        text
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        // Closing stdin makes the watchdog kill the server; the shell then exits.
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> std::io::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

/// One server for the whole test binary, started on first use; `None` when skipping.
pub fn shared() -> Option<&'static MotoServer> {
    static SERVER: OnceLock<Option<MotoServer>> = OnceLock::new();
    SERVER.get_or_init(MotoServer::start_or_skip).as_ref()
}

/// A DynamoDB client for `endpoint` with static test credentials in `us-east-1`.
pub async fn dynamodb_client(endpoint: &str) -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
        .endpoint_url(endpoint)
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// A table prefix no other test uses.
pub fn unique_prefix() -> String {
    format!("t{}", uuid::Uuid::new_v4().simple())
}

/// A [`DynamoStore`] over freshly created, uniquely named tables on the shared server;
/// `None` when skipping.
pub async fn fresh_store() -> Option<DynamoStore> {
    Some(store_on(shared()?).await)
}

/// A [`DynamoStore`] over freshly created, uniquely named tables on `server`.
pub async fn store_on(server: &MotoServer) -> DynamoStore {
    let client = dynamodb_client(server.endpoint()).await;
    let tables = TableNames::with_prefix(&unique_prefix());
    if let Err(e) = create_tables(&client, &tables).await {
        panic!("cannot create test tables: {e}");
    }
    DynamoStore::new(client, tables)
}

/// The notes API over a [`fresh_store`]; `None` when skipping.
pub async fn dynamodb_api() -> Option<Api> {
    Some(Api::over(Arc::new(fresh_store().await?)))
}
