//! The peers of noteapp's test suites, found or started the same way in every crate.
//!
//! One rule for a missing peer ([`missing`]): the test fails, naming the peer and the command
//! that installs it. Skipping is an explicit opt-in (`NOTEAPP_ALLOW_SKIP=1`, for someone running
//! a few tests without the services), never the default, so no run passes on a test that did
//! not run. One `moto_server`
//! launcher ([`moto::MotoServer`]), one [`free_port`], one way to find the Docker engine and the
//! loopback registry ([`docker`]). And one judge of AWS permissions ([`iam`]): whether the
//! policies the project renders allow each request it makes, as AWS would decide it.

pub mod docker;
pub mod iam;
pub mod kit;
pub mod loopback;
pub mod modules;
pub mod moto;
pub mod sigv4;

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The command that installs and starts every test service, then runs every test.
pub const TEST_COMMAND: &str = "scripts/test.sh";

/// Whether a missing test service fails a test (the default) rather than skipping it: only
/// `NOTEAPP_ALLOW_SKIP=1` (or `true`) lets a test skip, and never under `CI`.
pub fn services_required() -> bool {
    let set =
        |name: &str| std::env::var(name).is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    set("CI") || !set("NOTEAPP_ALLOW_SKIP")
}

/// The one rule for a missing peer: panics naming it (the default), or, with
/// `NOTEAPP_ALLOW_SKIP=1`, prints a skip notice for `test` and returns `None`.
#[track_caller]
pub fn missing<T>(test: &str, what: &str) -> Option<T> {
    let message = format!(
        "{what}: run `{TEST_COMMAND}` (it installs and starts the test services), or set \
         NOTEAPP_ALLOW_SKIP=1 to skip the tests that need it"
    );
    assert!(!services_required(), "{test}: {message}");
    eprintln!("skipping {test}: {message}");
    None
}

/// The workspace root (this crate lives directly under it).
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("test-support lives in the workspace")
        .to_path_buf()
}

/// A TCP port on 127.0.0.1 that nobody listens on right now, for a server that another process
/// binds later (`noteapp local`, a container, an emulator).
///
/// The port is drawn below the system's ephemeral range, never from it: the system hands out
/// ephemeral ports to every `bind(0)` and every outgoing connection, so one that a test picked
/// and has not bound yet (a `noteapp local --docker` still building its image) could be given
/// to another test's server in the meantime, and the first test would then talk to the wrong
/// server. Below the range only another pick can take it, and no port is picked twice in one
/// process.
pub fn free_port() -> u16 {
    use std::collections::BTreeSet;
    use std::hash::{BuildHasher, RandomState};
    use std::sync::Mutex;

    static PICKED: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    // Above the registry's 5000–5050 and the Firebase emulator's 9099.
    const LOW: u16 = 10_000;
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    if ephemeral_low < LOW + 1_000 {
        // No room below the range: the system's pick, as it comes.
        return TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free loopback port");
    }
    let span = u64::from(ephemeral_low - LOW);
    let random = RandomState::new();
    let mut picked = PICKED.lock().unwrap_or_else(|e| e.into_inner());
    (0u64..10_000)
        .map(|attempt| LOW + (random.hash_one(attempt) % span) as u16)
        .find(|&port| {
            !picked.contains(&port) && TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
        })
        .inspect(|&port| {
            picked.insert(port);
        })
        .unwrap_or_else(|| panic!("no free loopback port in {LOW}..{ephemeral_low}"))
}

/// Waits until something accepts connections on `addr`, for at most `timeout`.
pub fn wait_for_port(addr: SocketAddr, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// A name no earlier run used (registries and shared servers outlive the tests).
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

/// A plain HTTP/1.1 GET on loopback, with an optional bearer token: (status, body).
pub fn http_get(port: u16, path: &str, token: Option<&str>) -> std::io::Result<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Connection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_missing_service_fails_the_test_unless_skipping_was_asked_for() {
        // The tests of this binary run without NOTEAPP_ALLOW_SKIP (scripts/test.sh never sets it).
        if std::env::var_os("NOTEAPP_ALLOW_SKIP").is_some() {
            return;
        }
        assert!(super::services_required());
        let refused = std::panic::catch_unwind(|| super::missing::<()>("t", "no moto"));
        let message = refused.unwrap_err();
        let text = message
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default();
        assert!(
            text.contains("no moto") && text.contains("NOTEAPP_ALLOW_SKIP"),
            "{text}"
        );
    }
}
