//! `noteapp migrate` on moto: items per second and the DynamoDB work per item of each pass,
//! next to a baseline measured in the same run.
//!
//! Run: `cargo bench -p noteapp-tests --bench migrate` (needs `.venv/bin/moto_server`, from
//! `scripts/services.sh`; `NOTEAPP_BENCH_MIGRATE_NOTES=N` sets the seed's notes, default 2,000,
//! with a user per 10 notes).
//!
//! The seed's stack is created on moto as its template defines it and filled with notes of about
//! 1 KB in the seed backend's shape. Then, each with its own fresh target tables where it
//! writes, and every call read by an SDK interceptor on the source's and the target's clients:
//! - baseline: a plain copy, the same parallel scan (4 segments, no pacing) and BatchWriteItem
//!   of the items as they are into a table of the same key: no transform, no comparison;
//! - the migration's passes, in process, unpaced: plan, copy, catch-up (nothing changed),
//!   counters, verification;
//! - the plan at `--rate 200`, to show the pace holds (the copy is slower than that on moto).
//!
//! Calls per item are counted by operation; read units per call as a strongly consistent read
//! is billed (4 KB units; scans and batch reads here are eventually consistent, half that).
//! Write units are not returned by moto. They follow from the item sizes (1 unit per started
//! KB): a migrated note is a conditional PutItem of the note (2 units for these 1–2 KB notes)
//! and an UpdateItem of its gate (1 unit), a plain copy one batched put of the note (2 units).

use std::collections::BTreeMap;
use std::time::Instant;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use noteapp::flow::migrate::passes::Passes;
use noteapp::flow::migrate::scan::{Pacer, ScanOptions, scan};
use noteapp::progress::Progress;
use noteapp_runtime::store::dynamodb::{DynamoStore, Item, counts};
use noteapp_tests::dynamodb::{self as moto, MotoServer};
use noteapp_tests::meter::{Meter, Tally};
use noteapp_tests::seed::put_all;
use noteapp_tests::seed_stack::{self, note_id};

fn notes() -> u32 {
    std::env::var("NOTEAPP_BENCH_MIGRATE_NOTES")
        .ok()
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(2_000)
}

/// The seed's notes (about 1 KB each, a third public) and users.
fn seed_items(notes: u32) -> (Vec<Item>, Vec<Item>) {
    let body = "A line of a note, as people write them. ".repeat(25);
    let items = (0..notes)
        .map(|n| {
            let owner = format!("user-{}", n % (notes / 10).max(1));
            let mut item = seed_stack::note(&note_id(n), &owner, i64::from(n), n % 3 == 0);
            item.insert(
                "content".into(),
                aws_sdk_dynamodb::types::AttributeValue::S(format!("{n} {body}")),
            );
            item
        })
        .collect();
    let users = (0..(notes / 10).max(1))
        .map(|n| seed_stack::user(&format!("user-{n}"), n % 5 == 0, i64::from(n)))
        .collect();
    (items, users)
}

/// One line: the work per item of both meters and the rate.
fn row(name: &str, items: u64, seconds: f64, source: &Tally, target: &Tally) {
    let per = |n: u64| n as f64 / items.max(1) as f64;
    let mut calls: BTreeMap<String, u64> = BTreeMap::new();
    for (side, tally) in [("source", source), ("target", target)] {
        for (operation, n) in &tally.calls {
            *calls.entry(format!("{side} {operation}")).or_default() += n;
        }
    }
    let calls: Vec<String> = calls
        .iter()
        .map(|(operation, n)| format!("{operation} {:.3}", per(*n)))
        .collect();
    println!(
        "{name:<34} {items:>6} items {seconds:>6.1} s {:>7.0} items/s   RU/item: source {:.3}, target {:.3}   calls/item: {}",
        items as f64 / seconds.max(0.001),
        per(source.read_units),
        per(target.read_units),
        calls.join(", ")
    );
}

/// The baseline: scan the seed's notes and put them as they are into `table`.
async fn plain_copy(
    source: &aws_sdk_dynamodb::Client,
    from: &str,
    target: &aws_sdk_dynamodb::Client,
    table: &str,
) -> u64 {
    let copied = std::sync::atomic::AtomicU64::new(0);
    let unpaced = Pacer::new(0);
    scan(source, from, ScanOptions::paced(4, 0), &unpaced, |page| {
        let copied = &copied;
        async move {
            copied.fetch_add(page.len() as u64, std::sync::atomic::Ordering::Relaxed);
            put_all(target, table, page).await;
            Ok(())
        }
    })
    .await
    .expect("plain copy");
    copied.into_inner()
}

async fn run(server: &MotoServer) {
    let n = notes();
    let stack = seed_stack::create(server).await;
    let (notes, users) = seed_items(n);
    let started = Instant::now();
    put_all(&stack.dynamodb, &stack.notes, notes).await;
    put_all(&stack.dynamodb, &stack.users, users).await;
    println!(
        "seeded {n} notes (~1 KB) and {} users in {:.1} s",
        (n / 10).max(1),
        started.elapsed().as_secs_f64()
    );
    let source_meter = Meter::default();
    let target_meter = Meter::default();
    let source = seed_stack::dynamodb_client(server, Some(&source_meter));

    // Baseline: a plain copy into a table of the same key.
    let target = moto::metered_client(server.endpoint(), Some(&target_meter));
    let plain = format!("{}-plain", moto::unique_prefix());
    let key = KeySchemaElement::builder()
        .attribute_name("id")
        .key_type(KeyType::Hash)
        .build()
        .expect("key");
    let id = AttributeDefinition::builder()
        .attribute_name("id")
        .attribute_type(ScalarAttributeType::S)
        .build()
        .expect("attribute");
    target
        .create_table()
        .table_name(&plain)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key)
        .attribute_definitions(id)
        .send()
        .await
        .expect("plain table");
    source_meter.take();
    target_meter.take();
    let started = Instant::now();
    let copied = plain_copy(&source, &stack.notes, &target, &plain).await;
    row(
        "baseline: plain scan + batch put",
        copied,
        started.elapsed().as_secs_f64(),
        &source_meter.take(),
        &target_meter.take(),
    );

    // The migration's passes, unpaced, into fresh noteapp tables.
    let (_, names) = moto::tables_on(server).await;
    let store = DynamoStore::new(target.clone(), names.store_tables()).without_feed_cache();
    let progress = Progress::stderr();
    let unpaced = Pacer::new(0);
    let passes = Passes {
        source: &source,
        notes_table: &stack.notes,
        users_table: &stack.users,
        store: &store,
        options: ScanOptions::paced(4, 0),
        pacer: &unpaced,
        progress: &progress,
        estimates: (None, None),
    };
    let items = u64::from(n) + u64::from((n / 10).max(1));
    source_meter.take();
    target_meter.take();
    let started = Instant::now();
    passes.plan().await.expect("plan");
    row(
        "migrate: plan (read, map)",
        items,
        started.elapsed().as_secs_f64(),
        &source_meter.take(),
        &target_meter.take(),
    );
    let copy = passes.copy("copying").await.expect("copy");
    let seconds = copy.notes.seconds + copy.users.seconds;
    row(
        "migrate: copy (compare, write)",
        items,
        seconds,
        &source_meter.take(),
        &target_meter.take(),
    );
    let catch_up = passes.copy("catching up").await.expect("catch-up");
    assert_eq!(catch_up.notes.written() + catch_up.users.written(), 0);
    let seconds = catch_up.notes.seconds + catch_up.users.seconds;
    row(
        "migrate: catch-up (nothing changed)",
        items,
        seconds,
        &source_meter.take(),
        &target_meter.take(),
    );
    let started = Instant::now();
    counts::repair(&store).await.expect("counters");
    row(
        "migrate: counters (counts::repair)",
        items,
        started.elapsed().as_secs_f64(),
        &source_meter.take(),
        &target_meter.take(),
    );
    let started = Instant::now();
    let verification = passes.verify().await.expect("verify");
    assert!(
        verification.differences.is_empty(),
        "{:?}",
        verification.differences
    );
    row(
        "migrate: verify",
        items,
        started.elapsed().as_secs_f64(),
        &source_meter.take(),
        &target_meter.take(),
    );

    // The plan (a read of every item) paced at 200 items a second: the pace holds.
    let pacer = Pacer::new(200);
    let paced = Passes {
        options: ScanOptions::paced(4, 200),
        pacer: &pacer,
        ..passes
    };
    let started = Instant::now();
    paced.plan().await.expect("paced plan");
    row(
        "migrate: plan at --rate 200",
        items,
        started.elapsed().as_secs_f64(),
        &source_meter.take(),
        &target_meter.take(),
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    println!("noteapp migrate benchmark (rerun: cargo bench -p noteapp-tests --bench migrate)");
    let Some(server) = MotoServer::start_or_skip("the migrate benchmark") else {
        return;
    };
    runtime.block_on(run(&server));
}
