//! `noteapp local` as a child process on free loopback ports, for end-to-end tests and benchmarks.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The directory holding the workspace's built binaries of the current profile
/// (`target/debug` for tests, `target/release` for benchmarks).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    // target/<profile>/deps/<test binary>
    exe.parent()
        .and_then(Path::parent)
        .expect("target/<profile>")
        .to_path_buf()
}

/// A workspace binary, with a clear message when it has not been built.
pub fn binary(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.exists(),
        "{} is missing: build it first with `cargo build --workspace --bins` (scripts/test.sh does)",
        path.display()
    );
    path
}

pub use noteapp_test_support::{free_port, wait_for_port};

/// A running `noteapp local`, stopped on drop.
pub struct LocalServer {
    /// The HTTP API's port on 127.0.0.1 (`--port`).
    pub port: u16,
    /// The WebSocket gateway's port on 127.0.0.1 (`--ws-port`).
    pub ws_port: u16,
    /// Where the server keeps its data (`--data-dir`); the test owns it.
    pub data_dir: PathBuf,
    child: Child,
}

impl LocalServer {
    /// Starts `noteapp local` on a free port with its data in `data_dir`.
    pub fn start(data_dir: &Path, extra_args: &[&str]) -> Self {
        Self::start_with_env(data_dir, extra_args, &[])
    }

    /// As [`LocalServer::start`], with extra environment variables for the server.
    pub fn start_with_env(data_dir: &Path, extra_args: &[&str], env: &[(&str, &str)]) -> Self {
        Self::spawn(data_dir, extra_args, env, Stdio::inherit())
    }

    /// As [`LocalServer::start`], with the server's stderr written to `log` instead of the test's
    /// (for a server under a file-size limit, which the test's own output file may exceed).
    pub fn start_logging_to(data_dir: &Path, extra_args: &[&str], log: &Path) -> Self {
        let file = std::fs::File::create(log).expect("create the server's log file");
        Self::spawn(data_dir, extra_args, &[], Stdio::from(file))
    }

    fn spawn(data_dir: &Path, extra_args: &[&str], env: &[(&str, &str)], stderr: Stdio) -> Self {
        let port = free_port();
        let ws_port = free_port();
        let child = Command::new(binary("noteapp"))
            .args([
                "local",
                "--port",
                &port.to_string(),
                "--ws-port",
                &ws_port.to_string(),
                "--data-dir",
            ])
            .arg(data_dir)
            .args(extra_args)
            .env_remove("FIREBASE_AUTH_EMULATOR_HOST")
            .env_remove("FIREBASE_PROJECT_ID")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("spawn noteapp local");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut server = Self {
            port,
            ws_port,
            data_dir: data_dir.to_path_buf(),
            child,
        };
        let ws_addr = SocketAddr::from(([127, 0, 0, 1], ws_port));
        if !wait_for_port(addr, Duration::from_secs(60))
            || !wait_for_port(ws_addr, Duration::from_secs(5))
        {
            let status = server.child.try_wait().ok().flatten();
            panic!("noteapp local did not listen on {addr} (exit status: {status:?})");
        }
        // Listening is not serving: the sockets are bound before the stack is ready (a
        // connection waits in the backlog meanwhile). Ready is `/healthz` answering.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while !matches!(
            noteapp_test_support::http_get(port, "/healthz", None),
            Ok((200, _))
        ) {
            if std::time::Instant::now() > deadline
                || server.child.try_wait().ok().flatten().is_some()
            {
                let status = server.child.try_wait().ok().flatten();
                panic!("noteapp local did not answer /healthz on {addr} (exit status: {status:?})");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    /// Runs `noteapp local` on free ports with its data in `data_dir` until it exits by itself
    /// (a start that must be refused), killing it after `wait`; its exit status and output.
    pub fn run_to_exit(
        data_dir: &Path,
        extra_args: &[&str],
        wait: Duration,
    ) -> (Option<std::process::ExitStatus>, String) {
        let mut child = Command::new(binary("noteapp"))
            .args(["local", "--port", &free_port().to_string()])
            .args(["--ws-port", &free_port().to_string(), "--data-dir"])
            .arg(data_dir)
            .args(extra_args)
            .env_remove("FIREBASE_AUTH_EMULATOR_HOST")
            .env_remove("FIREBASE_PROJECT_ID")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn noteapp local");
        let deadline = std::time::Instant::now() + wait;
        let status = loop {
            match child.try_wait().expect("wait for noteapp local") {
                Some(status) => break Some(status),
                None if std::time::Instant::now() >= deadline => {
                    let _ = child.kill();
                    break None;
                }
                None => std::thread::sleep(Duration::from_millis(50)),
            }
        };
        let output = child.wait_with_output().expect("noteapp local output");
        let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&output.stderr));
        (status, text)
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `ws://127.0.0.1:WS_PORT`.
    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.ws_port)
    }

    /// `http://127.0.0.1:WS_PORT`: the management API and the broadcast route.
    pub fn ws_http_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.ws_port)
    }

    /// A token from `noteapp local token` for this server's data directory.
    pub fn token(&self, args: &[&str]) -> String {
        let output = Command::new(binary("noteapp"))
            .args(["local", "token", "--data-dir"])
            .arg(&self.data_dir)
            .args(args)
            .env_remove("FIREBASE_PROJECT_ID")
            .output()
            .expect("run noteapp local token");
        assert!(
            output.status.success(),
            "noteapp local token failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout)
            .expect("utf-8 token")
            .trim()
            .to_string()
    }

    /// Stops the server (SIGKILL) and waits for it.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        self.stop();
    }
}
