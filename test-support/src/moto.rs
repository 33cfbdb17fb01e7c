//! A real `moto_server` (AWS emulator: DynamoDB, ECR, STS, Lambda, Logs, SQS…) on a free
//! loopback port.
//!
//! The executable is `$NOTEAPP_MOTO_SERVER` or `<workspace>/.venv/bin/moto_server` (installed by
//! `scripts/services.sh`). When it is missing, [`crate::missing`] decides: skip, or fail under
//! the test command. [`shared`] starts one server per test binary; tests then isolate themselves
//! with unique names; a slow test can start its own ([`MotoServer::start_or_skip`]) so it does
//! not hold up the others (the emulator serves one request at a time per process).
//!
//! moto answers requests on several threads, and a DynamoDB transaction that fails puts back a
//! copy of the whole table taken when it began, undoing whatever other requests wrote meanwhile:
//! a deleted item comes back. DynamoDB never does that. So the server is started through
//! [`SERIAL_SERVER`], moto's own app behind one lock: one request at a time, each atomic, as
//! DynamoDB's per-item writes are.
//!
//! The server runs under a small `sh` watchdog that reads its stdin: when the test process ends
//! for any reason (even without running destructors, as with a `static`), the pipe closes and
//! the watchdog stops the server, so no `moto_server` outlives the tests.

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long a starting server may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// moto's server, one request at a time (see the module doc); `argv`: host. It binds a port the
/// system picks and prints it (`noteapp-moto-port N`) before serving, so no other server can
/// take the port between a free one being found and it being bound.
pub const SERIAL_SERVER: &str = r#"
import sys, threading
from werkzeug.serving import make_server
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication, MotoRequestHandler, create_backend_app)
app = DomainDispatcherApplication(create_backend_app)
lock = threading.Lock()
def serial(environ, start_response):
    with lock:
        return [b"".join(app(environ, start_response))]
server = make_server(sys.argv[1], 0, serial, threaded=True,
                     request_handler=MotoRequestHandler)
print("noteapp-moto-port", server.socket.getsockname()[1], flush=True)
server.serve_forever()
"#;

/// The line [`SERIAL_SERVER`] prints with its port.
const PORT_LINE: &str = "noteapp-moto-port ";

/// The Python interpreter of a `moto_server` script: its `#!` line.
fn interpreter(executable: &Path) -> Option<PathBuf> {
    let text = std::fs::read(executable).ok()?;
    let first = text.split(|b| *b == b'\n').next()?;
    let line = std::str::from_utf8(first).ok()?.strip_prefix("#!")?;
    Some(PathBuf::from(line.split_whitespace().next()?))
}

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
            _ => crate::workspace().join(".venv/bin/moto_server"),
        }
    }

    /// Starts a server for `test`, or returns `None` (after the skip notice) when the executable
    /// is missing outside the test command. Panics whenever it is there but fails to start.
    pub fn start_or_skip(test: &str) -> Option<Self> {
        let executable = Self::executable();
        if !executable.is_file() {
            return crate::missing(
                test,
                &format!(
                    "no moto_server at {} (or set NOTEAPP_MOTO_SERVER)",
                    executable.display()
                ),
            );
        }
        Some(Self::start(&executable))
    }

    /// Starts `executable` on a loopback port the system picks and waits until it accepts
    /// connections. Panics (with the server's output) if it does not.
    pub fn start(executable: &Path) -> Self {
        Self::try_start(executable)
            .unwrap_or_else(|failure| panic!("moto_server did not start: {failure}"))
    }

    fn try_start(executable: &Path) -> Result<Self, String> {
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
        let python = interpreter(executable).ok_or_else(|| {
            format!(
                "{} is not a Python script with a #! line",
                executable.display()
            )
        })?;
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg(python)
            .args(["-c", SERIAL_SERVER, "127.0.0.1"])
            .stdin(Stdio::piped())
            .stdout(log_out)
            .stderr(log_err)
            .spawn()
            .map_err(|e| format!("cannot run sh for {}: {e}", executable.display()))?;
        let stdin = child.stdin.take();
        let mut server = Self {
            child,
            stdin,
            endpoint: String::new(),
            log,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let port = server.output().lines().find_map(|line| {
                line.strip_prefix(PORT_LINE)
                    .and_then(|p| p.trim().parse::<u16>().ok())
            });
            if let Some(port) = port {
                let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
                if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
                    server.endpoint = format!("http://127.0.0.1:{port}");
                    return Ok(server);
                }
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!("exited with {status}: {}", server.output()));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "not listening after {START_TIMEOUT:?}: {}",
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

/// One server for the whole test binary, started on first use; `None` when skipping.
pub fn shared() -> Option<&'static MotoServer> {
    static SERVER: OnceLock<Option<MotoServer>> = OnceLock::new();
    SERVER
        .get_or_init(|| MotoServer::start_or_skip("the shared moto_server"))
        .as_ref()
}

/// The variables that point an AWS SDK (or the `noteapp` binary) at `moto` with static test
/// credentials and nothing from the machine's own AWS configuration.
pub fn aws_env(moto: &MotoServer, region: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", moto.endpoint().to_owned()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_SESSION_TOKEN", "testing".into()),
        ("AWS_REGION", region.to_owned()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ("AWS_CONFIG_FILE", "/dev/null".into()),
        ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null".into()),
    ]
}

/// An image manifest for pushing straight to an emulated ECR (`PutImage`): moto derives the
/// digest from the layers, so each `n` gives its own image.
pub fn test_manifest(n: u32) -> String {
    format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{{"mediaType":"application/vnd.docker.container.image.v1+json","size":1,"digest":"sha256:{n:064x}"}},"layers":[{{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":{n},"digest":"sha256:{:064x}"}}]}}"#,
        n + 100
    )
}
