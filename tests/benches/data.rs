//! Data at scale, each figure printed next to a baseline measured in the same run.
//!
//! Run: `cargo bench -p noteapp-tests --bench data` (needs `.venv/bin/moto_server`, from
//! `scripts/services.sh`; `NOTEAPP_BENCH_SIZES=1000,10000` picks the sizes, default
//! 1,000, 10,000 and 100,000).
//!
//! 1. `GET /notes` (page 1, limit 20) over 1k, 10k and 100k public notes of about 2 KB each, on
//!    moto seeded with BatchWriteItem: items DynamoDB evaluated and read units per request, read
//!    by an SDK interceptor (4 KB units per call, strongly consistent; eventually consistent
//!    reads cost half). Baseline: the old algorithm, which read the whole public partition for
//!    its offset and its total, measured here as one full read of the same notes.
//! 2. A public fan-out to 100,000 connections at production's send rate (2,000 posts a second),
//!    with four parallel scan segments, to a poster that answers at once. Floor: connections ÷
//!    rate. Baseline: the same fan-out unpaced.
//! 3. `DELETE /me/notes/{id}` of a note with 10,000 comments: the calls and the time to the
//!    answer (the comments go in the background). Baseline: deleting a note with none, same
//!    tables (moto copies each table a transaction touches, so both times include that copy).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use noteapp_runtime::store::embedded::EmbeddedStore;
use noteapp_runtime::store::{Connection, ConnectionStore};
use noteapp_runtime::ws::fanout::{FanoutOptions, PostError, Poster, fan_out};
use noteapp_runtime::ws::messages::Target;
use noteapp_tests::api::{self, Api};
use noteapp_tests::meter::{Meter, Tally};
use noteapp_tests::{dynamodb, seed};

const NOTE_BYTES: usize = 2000;
const CONNECTIONS: usize = 100_000;
const SEND_RATE: u32 = 2000;
const COMMENTS: u32 = 10_000;

fn sizes() -> Vec<u32> {
    std::env::var("NOTEAPP_BENCH_SIZES")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1_000, 10_000, 100_000])
}

fn two_kb_note(n: u32) -> noteapp_runtime::domain::Note {
    let mut note = seed::note(if n.is_multiple_of(2) { "alice" } else { "bob" }, n, true);
    note.content = format!("{n:>8} {}", "lorem ipsum ".repeat(NOTE_BYTES / 12));
    note
}

/// Reads every note once, as the old `GET /notes` did for its offset and its total.
async fn old_algorithm(client: &aws_sdk_dynamodb::Client, table: &str) {
    let mut start = None;
    loop {
        let out = client
            .scan()
            .table_name(table)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("scan");
        match out.last_evaluated_key {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => return,
        }
    }
}

async fn feed_benchmark(server: &dynamodb::MotoServer) {
    println!("\n## GET /notes page 1 (limit 20), notes of ~2 KB, reads per request");
    println!(
        "{:>8}  {:>22}  {:>26}  {:>10}",
        "notes", "noteapp items / RCU", "old algorithm items / RCU", "ratio"
    );
    for size in sizes() {
        let meter = Meter::default();
        let (store, _) = dynamodb::metered_on(server, &meter).await;
        let started = Instant::now();
        let notes: Vec<_> = (0..size).map(two_kb_note).collect();
        seed::notes(&store, &notes).await;
        let seeded = started.elapsed();
        let client = store.client().clone();
        let table = store.tables().notes.clone();
        let api = Api::over(Arc::new(store.without_feed_cache()));
        meter.take();
        let reply = api.get("/notes?page=1&limit=20", None).await;
        let ours = meter.take();
        assert_eq!(reply.expect(200)["data"]["pagination"]["total"], size);
        old_algorithm(&client, &table).await;
        let old: Tally = meter.take();
        println!(
            "{size:>8}  {:>12} / {:<7}  {:>16} / {:<7}  {:>9.0}×   (seeded in {:.0} s)",
            ours.items,
            ours.read_units,
            old.items,
            old.read_units,
            old.read_units as f64 / ours.read_units.max(1) as f64,
            seeded.as_secs_f64(),
        );
    }
}

/// Answers every post at once, counting them.
#[derive(Default)]
struct Counting(AtomicU64);

#[async_trait]
impl Poster for Counting {
    async fn post(&self, _connection: &str, _data: Bytes) -> Result<(), PostError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

async fn fan_out_benchmark() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(EmbeddedStore::open(dir.path()).expect("store"));
    let now = chrono::Utc::now().timestamp_millis();
    for i in 0..CONNECTIONS {
        let connection = Connection::new(format!("c{i:07}="), None, now);
        store.put_connection(&connection).await.expect("connection");
    }
    let run = |send_rate: Option<u32>| {
        let store: Arc<dyn ConnectionStore> = store.clone();
        async move {
            let poster = Arc::new(Counting::default());
            let options = FanoutOptions {
                segments: 4,
                send_rate,
                ..FanoutOptions::default()
            };
            let started = Instant::now();
            let results = fan_out(
                store,
                poster.clone(),
                vec![Bytes::from_static(b"{\"type\":\"comment.created\"}")],
                &Target::Everyone,
                None,
                options,
            )
            .await
            .expect("fan out");
            assert_eq!(results.sent as usize, CONNECTIONS);
            assert_eq!(poster.0.load(Ordering::Relaxed) as usize, CONNECTIONS);
            started.elapsed()
        }
    };
    let unpaced = run(None).await;
    let paced = run(Some(SEND_RATE)).await;
    let floor = Duration::from_secs_f64(CONNECTIONS as f64 / f64::from(SEND_RATE));
    println!("\n## public fan-out to {CONNECTIONS} connections, 4 scan segments");
    println!(
        "at {SEND_RATE} posts/s: {:.1} s (floor {:.1} s, {:.0} posts/s achieved); unpaced baseline {:.1} s",
        paced.as_secs_f64(),
        floor.as_secs_f64(),
        CONNECTIONS as f64 / paced.as_secs_f64(),
        unpaced.as_secs_f64(),
    );
    println!(
        "1,000,000 connections at this rate: {:.0} s, inside production's 900 s broadcast timeout",
        paced.as_secs_f64() * 10.0
    );
}

async fn delete_benchmark(server: &dynamodb::MotoServer) {
    let meter = Meter::default();
    let (store, _) = dynamodb::metered_on(server, &meter).await;
    let busy = seed::note("alice", 1, true);
    let quiet = seed::note("alice", 2, true);
    seed::notes(&store, &[busy.clone(), quiet.clone()]).await;
    seed::comments(&store, &busy, COMMENTS).await;
    let api = Api::over(Arc::new(store));
    let alice = api::user("alice");
    let time = |id: String| {
        let (api, alice, meter) = (api.clone(), alice.clone(), meter.clone());
        async move {
            meter.take();
            let started = Instant::now();
            api.delete(&format!("/me/notes/{id}"), Some(&alice))
                .await
                .expect(200);
            (started.elapsed(), meter.take())
        }
    };
    let (baseline, quiet_calls) = time(quiet.id.to_string()).await;
    let (busy_time, busy_calls) = time(busy.id.to_string()).await;
    assert_eq!(
        busy_calls.calls, quiet_calls.calls,
        "the same calls either way"
    );
    println!("\n## DELETE /me/notes/{{id}} with {COMMENTS} comments (moto)");
    println!(
        "answered in {:.0} ms with {:?}; baseline (no comments, same tables) {:.0} ms → {:.2}× the baseline",
        busy_time.as_secs_f64() * 1000.0,
        busy_calls.calls,
        baseline.as_secs_f64() * 1000.0,
        busy_time.as_secs_f64() / baseline.as_secs_f64(),
    );
    println!(
        "(both are mostly moto deep-copying each table a transaction touches, {COMMENTS} comment rows here; DynamoDB runs the same two calls in tens of ms)"
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    println!("noteapp data benchmarks (rerun: cargo bench -p noteapp-tests --bench data)");
    let server = dynamodb::MotoServer::start(&dynamodb::MotoServer::executable());
    runtime.block_on(feed_benchmark(&server));
    drop(server);
    // Its own server: moto copies every table it holds on each transaction.
    let server = dynamodb::MotoServer::start(&dynamodb::MotoServer::executable());
    runtime.block_on(delete_benchmark(&server));
    runtime.block_on(fan_out_benchmark());
}
