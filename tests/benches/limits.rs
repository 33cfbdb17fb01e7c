//! What the rate limits cost a request: time and DynamoDB work, next to the same request without
//! the limiter, measured in the same run.
//!
//! Run: `cargo bench -p noteapp-tests --bench limits` (needs `.venv/bin/moto_server`, from
//! `scripts/services.sh`; `NOTEAPP_BENCH_LIMIT_REQUESTS=N` sets the requests per variant, default
//! 300).
//!
//! The notes API runs in process on DynamoDB (a `moto_server`) with an interceptor reading every
//! response, twice over the same tables: without a limiter, and with the one every deployed API
//! has (its counters in the Control table), at limits no request reaches. The request is a
//! comment on a public note (`POST /notes/{id}/comments`, no real-time hand-off) and a new note
//! (`POST /me/notes`); the two variants alternate in rounds, each going first every other round,
//! so a change in the machine's load, or moto slowing as its tables grow, falls on both. A third variant is a request the limiter refuses. The same is measured on the
//! embedded store, where the counter is in memory. Write units are not returned by moto; the
//! limiter's one UpdateItem writes an item of under 100 bytes: one write unit.

use std::sync::Arc;
use std::time::{Duration, Instant};

use noteapp_runtime::domain::limits::RateLimits;
use noteapp_runtime::store::dynamodb::{DynamoControl, DynamoStore};
use noteapp_runtime::store::embedded::EmbeddedStore;
use noteapp_runtime::store::{ControlStore, Limiter, Store};
use noteapp_tests::api::{self, Api};
use noteapp_tests::dynamodb::{self, MotoServer};
use noteapp_tests::meter::{Meter, Tally};
use serde_json::json;

const ROUNDS: usize = 10;

fn requests() -> usize {
    std::env::var("NOTEAPP_BENCH_LIMIT_REQUESTS")
        .ok()
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(300)
}

/// Limits no benchmark request reaches.
fn roomy() -> RateLimits {
    RateLimits::DEFAULT
        .with("comments=1000000/day,note_creates=1000000/day")
        .expect("limits")
}

/// One variant's timings and DynamoDB calls.
#[derive(Default)]
struct Sample {
    millis: Vec<f64>,
    tally: Tally,
}

impl Sample {
    fn add(&mut self, elapsed: Duration, tally: Tally) {
        self.millis.push(elapsed.as_secs_f64() * 1000.0);
        for (operation, n) in tally.calls {
            *self.tally.calls.entry(operation).or_default() += n;
        }
        self.tally.items += tally.items;
        self.tally.read_units += tally.read_units;
    }

    fn median(&self) -> f64 {
        let mut sorted = self.millis.clone();
        sorted.sort_by(f64::total_cmp);
        sorted.get(sorted.len() / 2).copied().unwrap_or(0.0)
    }

    fn p90(&self) -> f64 {
        let mut sorted = self.millis.clone();
        sorted.sort_by(f64::total_cmp);
        sorted.get(sorted.len() * 9 / 10).copied().unwrap_or(0.0)
    }

    fn calls(&self) -> String {
        let n = self.millis.len().max(1) as f64;
        let calls: Vec<String> = self
            .tally
            .calls
            .iter()
            .map(|(op, c)| format!("{op} {:.2}", *c as f64 / n))
            .collect();
        if calls.is_empty() {
            "none".to_owned()
        } else {
            calls.join(", ")
        }
    }
}

fn line(name: &str, sample: &Sample, baseline: Option<&Sample>) {
    let versus = baseline
        .map(|b| format!("  ({:+.2} ms median)", sample.median() - b.median()))
        .unwrap_or_default();
    println!(
        "  {name:<34} median {:>6.2} ms  p90 {:>6.2} ms  calls/request: {}{versus}",
        sample.median(),
        sample.p90(),
        sample.calls()
    );
}

/// A public note of `owner`'s on `api`.
async fn public_note(api: &Api, owner: &str) -> String {
    api.create_note(owner, "bench", true).await
}

/// Runs `request` on `api` `count` times, timing each and reading `meter` after each.
async fn run<F, Fut>(count: usize, meter: Option<&Meter>, sample: &mut Sample, request: F)
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = u16>,
{
    for i in 0..count {
        if let Some(meter) = meter {
            meter.take();
        }
        let start = Instant::now();
        let status = request(i).await;
        let elapsed = start.elapsed();
        assert!(matches!(status, 201 | 429), "status {status}");
        let tally = meter.map(Meter::take).unwrap_or_default();
        sample.add(elapsed, tally);
    }
}

async fn comment(api: &Api, note: &str, token: &str, i: usize) -> u16 {
    api.post(
        &format!("/notes/{note}/comments"),
        Some(token),
        &json!({"content": format!("comment {i}")}),
    )
    .await
    .status
    .as_u16()
}

async fn create(api: &Api, token: &str, i: usize) -> u16 {
    api.post(
        "/me/notes",
        Some(token),
        &json!({"title": format!("note {i}"), "content": "a short note"}),
    )
    .await
    .status
    .as_u16()
}

/// The three variants of each request, over `store` with counters in `control`.
async fn compare(
    label: &str,
    store: Arc<dyn Store>,
    control: Arc<dyn ControlStore>,
    meter: Option<&Meter>,
) {
    let plain = Api::over(store.clone());
    let mut limited = Api::over(store.clone());
    limited.app.limiter = Some(Limiter::new(control.clone(), roomy()));
    let mut refusing = Api::over(store);
    refusing.app.limiter = Some(Limiter::new(
        control,
        RateLimits::DEFAULT
            .with("comments=1/day,note_creates=1/day")
            .expect("limits"),
    ));
    let owner = api::user("bench-owner");
    let writer = api::user("bench-writer");
    let refused = api::user("bench-refused");
    let note = public_note(&plain, &owner).await;
    // Warm up: the first requests verify the token's key, create the profiles' items.
    comment(&plain, &note, &writer, 0).await;
    comment(&limited, &note, &writer, 0).await;
    comment(&refusing, &note, &refused, 0).await;
    create(&refusing, &refused, 0).await;
    if let Some(meter) = meter {
        meter.take();
    }
    let per_round = (requests() / ROUNDS).max(1);
    let (mut c_plain, mut c_limited, mut c_refused) =
        (Sample::default(), Sample::default(), Sample::default());
    let (mut n_plain, mut n_limited, mut n_refused) =
        (Sample::default(), Sample::default(), Sample::default());
    for round in 0..ROUNDS {
        // Each round the other variant goes first: moto slows as its tables grow, so neither
        // variant always meets the larger table.
        let limited_first = round % 2 == 1;
        for variant in [limited_first, !limited_first] {
            let (api, comments, notes) = if variant {
                (&limited, &mut c_limited, &mut n_limited)
            } else {
                (&plain, &mut c_plain, &mut n_plain)
            };
            run(per_round, meter, comments, |i| {
                comment(api, &note, &writer, i)
            })
            .await;
            run(per_round, meter, notes, |i| create(api, &writer, i)).await;
        }
        run(per_round, meter, &mut c_refused, |i| {
            comment(&refusing, &note, &refused, i)
        })
        .await;
        run(per_round, meter, &mut n_refused, |i| {
            create(&refusing, &refused, i)
        })
        .await;
    }
    let n = per_round * ROUNDS;
    println!("\n## {label}: {n} requests per variant, in {ROUNDS} alternating rounds");
    println!("POST /notes/{{id}}/comments");
    line("without the limiter (baseline)", &c_plain, None);
    line("with the limiter", &c_limited, Some(&c_plain));
    line("refused by the limiter (429)", &c_refused, Some(&c_plain));
    println!("POST /me/notes");
    line("without the limiter (baseline)", &n_plain, None);
    line("with the limiter", &n_limited, Some(&n_plain));
    line("refused by the limiter (429)", &n_refused, Some(&n_plain));
}

async fn on_dynamodb(server: &MotoServer) {
    let meter = Meter::default();
    let (_, tables) = dynamodb::tables_on(server).await;
    let client = dynamodb::metered_client(server.endpoint(), Some(&meter));
    let store = DynamoStore::new(client.clone(), tables.store_tables()).without_feed_cache();
    let control = DynamoControl::new(client, tables.control);
    compare(
        "DynamoDB (moto_server)",
        Arc::new(store),
        Arc::new(control),
        Some(&meter),
    )
    .await;
    println!(
        "(the limiter's UpdateItem writes one item of under 100 bytes: 1 write unit, with no read; \
         a refused request writes nothing else)"
    );
}

async fn on_embedded() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(EmbeddedStore::open(dir.path()).expect("embedded store"));
    compare("embedded store", store.clone(), store, None).await;
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    println!("noteapp limits benchmark (rerun: cargo bench -p noteapp-tests --bench limits)");
    let server = MotoServer::start(&MotoServer::executable());
    runtime.block_on(on_dynamodb(&server));
    drop(server);
    runtime.block_on(on_embedded());
}
