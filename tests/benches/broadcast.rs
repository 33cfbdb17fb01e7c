//! Broadcast benchmarks, each printed next to a baseline measured in the same run.
//!
//! Run: `cargo build --release --workspace --bins && cargo bench -p noteapp-tests --bench broadcast`
//!
//! 1. Fan-out of one message to 10,000 connections through the management API (the real SDK
//!    client, over HTTP, to a loopback stand-in that takes 20 ms per post and answers 410 Gone for
//!    10 % of the connections). Target ≤ 1 s, nothing lost, every stale row removed. Baseline: the
//!    seed's algorithm (chunks of 50 sent together, 10 ms pause between chunks) with the same
//!    client, store and stand-in.
//! 2. Memory per idle WebSocket connection in the local gateway (`noteapp local`, release build):
//!    resident memory before and after opening 2,000 idle connections. Target ≤ 16 KiB.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use noteapp_runtime::store::embedded::EmbeddedStore;
use noteapp_runtime::store::{Connection, ConnectionStore, Segment};
use noteapp_runtime::ws::fanout::{FanoutOptions, PostError, Poster, fan_out};
use noteapp_runtime::ws::management::ManagementPoster;
use noteapp_runtime::ws::messages::Target;
use noteapp_test_support::loopback::{Reply, Server};
use noteapp_tests::local::LocalServer;

// The fan-out runs in this process, so it gets the allocator `bootstrap` runs it with.
#[global_allocator]
static ALLOCATOR: noteapp_runtime::Allocator = noteapp_runtime::Allocator {};

const CONNECTIONS: usize = 10_000;
const LATENCY: Duration = Duration::from_millis(20);
const IDLE_SOCKETS: usize = 2_000;

/// Deliveries per connection id, as the stand-in saw them.
type Deliveries = Arc<Mutex<HashMap<String, u32>>>;

fn is_stale(id: &str) -> bool {
    id.ends_with("0=")
}

/// The management API stand-in: 20 ms per post, 410 for stale ids.
async fn management_stand_in(deliveries: Deliveries) -> Server {
    Server::start_unrecorded(move |request| {
        let deliveries = deliveries.clone();
        async move {
            let id = request
                .path()
                .trim_start_matches("/@connections/")
                .replace("%3D", "=");
            tokio::time::sleep(LATENCY).await;
            if is_stale(&id) {
                Reply::json(410, r#"{"message":null}"#).header("x-amzn-errortype", "GoneException")
            } else {
                *deliveries.lock().unwrap().entry(id).or_default() += 1;
                Reply::json(200, "")
            }
        }
    })
    .await
}

async fn filled_store(dir: &std::path::Path) -> Arc<EmbeddedStore> {
    let store = Arc::new(EmbeddedStore::open(dir).unwrap());
    let now = chrono::Utc::now().timestamp_millis();
    for i in 0..CONNECTIONS {
        store
            .put_connection(&Connection::new(format!("c{i:06}="), None, now))
            .await
            .unwrap();
    }
    store
}

async fn remaining(store: &EmbeddedStore) -> usize {
    let mut count = 0;
    let mut cursor = None;
    loop {
        let page = store
            .scan_connections(
                Segment::WHOLE,
                cursor.as_deref(),
                5000,
                chrono::Utc::now().timestamp(),
            )
            .await
            .unwrap();
        count += page.connections.len();
        match page.next {
            Some(next) => cursor = Some(next),
            None => return count,
        }
    }
}

/// The seed's algorithm: all rows, chunks of 50 sent together, 10 ms between chunks.
async fn seed_broadcast(
    store: &EmbeddedStore,
    poster: &ManagementPoster,
    message: Bytes,
) -> (u64, u64) {
    let page = store
        .scan_connections(
            Segment::WHOLE,
            None,
            u32::MAX,
            chrono::Utc::now().timestamp(),
        )
        .await
        .unwrap();
    let (mut sent, mut stale) = (0, 0);
    for (index, chunk) in page.connections.chunks(50).enumerate() {
        if index > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let posts = chunk
            .iter()
            .map(|c| poster.post(&c.connection_id, message.clone()));
        for (connection, result) in chunk
            .iter()
            .zip(futures_util::future::join_all(posts).await)
        {
            match result {
                Ok(()) => sent += 1,
                Err(PostError::Gone) => {
                    store
                        .delete_connection(&connection.connection_id)
                        .await
                        .unwrap();
                    stale += 1;
                }
                Err(_) => {}
            }
        }
    }
    (sent, stale)
}

async fn fan_out_benchmark() {
    let deliveries = Deliveries::default();
    let stand_in = management_stand_in(deliveries.clone()).await;
    let endpoint = stand_in.url.clone();
    let poster = Arc::new(ManagementPoster::local(&endpoint));
    let message = Bytes::from_static(
        br#"{"type":"test","data":{},"timestamp":"2026-11-25T00:00:00.000000Z"}"#,
    );
    let stale_ids = (0..CONNECTIONS)
        .filter(|i| is_stale(&format!("c{i:06}=")))
        .count();

    let dir = tempfile::tempdir().unwrap();
    let store = filled_store(dir.path()).await;
    let started = Instant::now();
    let results = fan_out(
        store.clone(),
        poster.clone(),
        vec![message.clone()],
        &Target::Everyone,
        None,
        FanoutOptions::default(),
    )
    .await
    .unwrap();
    let ours = started.elapsed();
    let delivered: HashSet<String> = deliveries.lock().unwrap().keys().cloned().collect();
    let duplicates = deliveries
        .lock()
        .unwrap()
        .values()
        .filter(|n| **n > 1)
        .count();
    let left = remaining(&store).await;
    assert_eq!(
        results.sent as usize,
        CONNECTIONS - stale_ids,
        "{results:?}"
    );
    assert_eq!(results.stale_removed as usize, stale_ids);
    assert_eq!(
        delivered.len(),
        CONNECTIONS - stale_ids,
        "every live connection got the message"
    );
    assert_eq!(duplicates, 0, "nobody got it twice");
    assert_eq!(left, CONNECTIONS - stale_ids, "every stale row was removed");

    deliveries.lock().unwrap().clear();
    let dir = tempfile::tempdir().unwrap();
    let store = filled_store(dir.path()).await;
    let started = Instant::now();
    let (seed_sent, seed_stale) = seed_broadcast(&store, &poster, message).await;
    let seed = started.elapsed();
    assert_eq!(seed_sent as usize, CONNECTIONS - stale_ids);
    assert_eq!(seed_stale as usize, stale_ids);

    println!(
        "\n## broadcast to {CONNECTIONS} connections, 20 ms per post, {stale_ids} stale (10 %)"
    );
    println!(
        "noteapp fan-out ({} in flight): {:>7.0} ms (target ≤ 1000 ms); sent {}, failed {}, staleRemoved {}, rows left {left}",
        FanoutOptions::default().concurrency,
        ours.as_secs_f64() * 1000.0,
        results.sent,
        results.failed,
        results.stale_removed
    );
    println!(
        "seed algorithm (chunks of 50, 10 ms pauses): {:>7.0} ms → noteapp is {:.1}× faster",
        seed.as_secs_f64() * 1000.0,
        seed.as_secs_f64() / ours.as_secs_f64()
    );
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

async fn idle_memory_benchmark() {
    let dir = tempfile::tempdir().unwrap();
    // Thousands of sockets without a token from one address: past the per-address `$connect`
    // limit, which is not what this measures.
    let server = LocalServer::start(dir.path(), &["--rate-limits", "off"]);
    let pid = server.pid();
    let url = format!("{}/", server.ws_url());
    // Warm the gateway up with a few connections first, so one-off allocations are not counted.
    let mut warm = Vec::new();
    for _ in 0..50 {
        warm.push(noteapp_tests::ws_client::connect(&url).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = rss_kib(pid);
    let mut sockets = Vec::with_capacity(IDLE_SOCKETS);
    for _ in 0..IDLE_SOCKETS {
        sockets.push(noteapp_tests::ws_client::connect(&url).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = rss_kib(pid);
    let per = (after.saturating_sub(before)) as f64 / IDLE_SOCKETS as f64;
    println!(
        "\n## local gateway memory per idle WebSocket connection ({IDLE_SOCKETS} connections)"
    );
    println!(
        "resident before {before} KiB, after {after} KiB → {per:.1} KiB per connection (target ≤ 16 KiB)"
    );
    drop(sockets);
    drop(warm);
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!(
        "noteapp broadcast benchmarks (rerun: cargo build --release --workspace --bins && cargo bench -p noteapp-tests --bench broadcast)"
    );
    runtime.block_on(fan_out_benchmark());
    runtime.block_on(idle_memory_benchmark());
}
