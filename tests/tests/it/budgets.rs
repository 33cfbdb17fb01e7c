//! What a request costs DynamoDB, at two sizes of data: every list route, a comment, and a
//! private note's fan-out, read by an interceptor on the store's client (a real `moto_server`).
//!
//! Each budget is a named formula in the page size and the feed's shard count, not in the
//! table's size: the same request over 5,000 notes may cost no more than the budget it meets
//! over 100.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use noteapp_runtime::api::{AppEvents, Recipients};
use noteapp_runtime::domain::CommentView;
use noteapp_runtime::store::Connection;
use noteapp_runtime::store::dynamodb::{counts, feed_shard};
use noteapp_runtime::store::schema::FEED_SHARDS;
use noteapp_runtime::ws::fanout::{FanoutOptions, PostError, Poster, fan_out};
use noteapp_runtime::ws::messages::Target;
use noteapp_tests::api::{self, Api};
use noteapp_tests::meter::{Meter, Tally};
use noteapp_tests::{dynamodb, seed};

const LIMIT: u64 = 20;
const SHARDS: u64 = FEED_SHARDS as u64;

/// DynamoDB's work on one request: calls and items evaluated, at most.
#[derive(Debug, Clone, Copy)]
struct Budget {
    calls: u64,
    items: u64,
}

/// `GET /notes?page=P`: per shard, one keys-only query of at most P × limit keys (and one
/// more, to learn whether the list goes on; a cursor's own key another); one
/// `BatchGetItem` of the page's notes; the shard counters (one `BatchGetItem`).
fn public_feed(page: u64, limit: u64) -> Budget {
    Budget {
        calls: SHARDS + 2,
        items: SHARDS * (page * limit + 2) + limit + SHARDS,
    }
}

/// `GET /me/notes?page=P`: one query of the owner's index (P × limit keys, and two), the page's notes,
/// the owner's counter.
fn owner_notes(page: u64) -> Budget {
    Budget {
        calls: 3,
        items: page * LIMIT + 2 + LIMIT + 1,
    }
}

/// A comment list: the note's gate (which holds the comment count) and one page of comments
/// (plus the keys before it, through the keys-only index, for page > 1).
fn comment_list(page: u64) -> Budget {
    Budget {
        calls: 3,
        items: 1 + page * LIMIT + LIMIT,
    }
}

/// `POST /notes/{id}/comments`: the author's profile, the write (one transaction with the
/// gate), the gate again (who gets it) and the first page of the list that goes out with the
/// comment (the gate and one query).
const ADD_COMMENT: Budget = Budget {
    calls: 5,
    items: 3 + LIMIT + 1,
};

/// Asserts `tally` within `budget`, naming the request.
#[track_caller]
fn within(request: &str, tally: &Tally, budget: Budget) {
    let calls: u64 = tally.calls.values().sum();
    println!("{request}: {tally:?}");
    assert!(
        calls <= budget.calls && tally.items <= budget.items,
        "{request} cost {calls} calls and {} items evaluated, over its budget of {} calls and {} items: {tally:?}",
        tally.items,
        budget.calls,
        budget.items,
    );
    assert_eq!(tally.calls_of("Scan"), 0, "{request} scanned a table");
}

/// One data set: `size` public notes (half of them alice's, plus a tenth as many private
/// ones of hers), and `comments` comments on one of her public notes.
struct Data {
    api: Api,
    meter: Meter,
    note: String,
}

async fn data(server: &dynamodb::MotoServer, size: u32, comments: u32) -> Data {
    let meter = Meter::default();
    let (store, _) = dynamodb::metered_on(server, &meter).await;
    let mut notes: Vec<_> = (0..size)
        .map(|n| seed::note(if n % 2 == 0 { "alice" } else { "bob" }, n, true))
        .collect();
    notes.extend((0..size / 10).map(|n| seed::note("alice", size + n, false)));
    seed::notes(&store, &notes).await;
    let note = &notes[0];
    seed::comments(&store, note, comments).await;
    meter.take();
    Data {
        api: Api::over(Arc::new(store.without_feed_cache())),
        meter,
        note: note.id.to_string(),
    }
}

impl Data {
    async fn measure(&self, request: &str, path: &str, token: Option<&str>) -> Tally {
        self.meter.take();
        let reply = self.api.get(path, token).await;
        reply.expect(200);
        let tally = self.meter.take();
        within(request, &tally, budget(path));
        tally
    }
}

fn budget(path: &str) -> Budget {
    let page = path
        .split("page=")
        .nth(1)
        .and_then(|p| p.split('&').next()?.parse().ok())
        .unwrap_or(1);
    if path.starts_with("/me/notes/") || path.starts_with("/notes/") {
        comment_list(page)
    } else if path.starts_with("/me/notes") {
        owner_notes(page)
    } else {
        public_feed(page, LIMIT)
    }
}

#[tokio::test]
async fn every_list_costs_the_same_over_5000_notes_as_over_100() {
    let Some(server) = dynamodb::MotoServer::start_or_skip("budgets") else {
        return;
    };
    let small = data(&server, 100, 50).await;
    let large = data(&server, 5000, 2000).await;
    let alice = api::user("alice");
    for (request, path, token) in [
        ("GET /notes", "/notes?page=1&limit=20".to_string(), None),
        (
            "GET /notes page 3",
            "/notes?page=3&limit=20".to_string(),
            None,
        ),
        (
            "GET /me/notes",
            "/me/notes?page=1&limit=20".to_string(),
            Some(&alice),
        ),
        (
            "GET /me/notes page 3",
            "/me/notes?page=3&limit=20".to_string(),
            Some(&alice),
        ),
        (
            "GET /notes/{id}/comments",
            format!("/notes/{}/comments?page=1&limit=20", small.note),
            None,
        ),
        (
            "GET /me/notes/{id}/comments page 3",
            format!("/me/notes/{}/comments?page=3&limit=20", small.note),
            Some(&alice),
        ),
    ] {
        let token = token.map(String::as_str);
        let at_100 = small.measure(request, &path, token).await;
        let path = path.replace(&small.note, &large.note);
        let at_5000 = large.measure(request, &path, token).await;
        assert_eq!(
            at_100.calls, at_5000.calls,
            "{request}: the same calls whatever the size"
        );
    }

    // Totals come from counters, not from reading the list.
    let feed = large.api.get("/notes?limit=20", None).await;
    assert_eq!(feed.expect(200)["data"]["pagination"]["total"], 5000);
    let mine = large.api.get("/me/notes?limit=20", Some(&alice)).await;
    assert_eq!(mine.expect(200)["data"]["pagination"]["total"], 2500 + 500);
    let comments = large
        .api
        .get(&format!("/notes/{}/comments", large.note), None)
        .await;
    assert_eq!(comments.expect(200)["data"]["count"], 2000);

    // A comment on the large note, with its real-time message: a fixed number of calls too.
    let mut api = large.api.clone();
    let events = Arc::new(Events::default());
    api.app = api.app.with_events(events.clone());
    large.meter.take();
    let reply = api
        .post(
            &format!("/notes/{}/comments", large.note),
            Some(&api::user("carol")),
            &serde_json::json!({"content": "one more"}),
        )
        .await;
    reply.expect(201);
    within(
        "POST /notes/{id}/comments",
        &large.meter.take(),
        ADD_COMMENT,
    );
    let lists = events.0.lock().expect("events");
    assert_eq!(lists.len(), 1);
    assert_eq!(
        lists[0]["count"], 2001,
        "the list sent with the comment: {}",
        lists[0]
    );
}

/// Keeps the lists comments are sent with.
#[derive(Default)]
struct Events(std::sync::Mutex<Vec<serde_json::Value>>);

#[async_trait]
impl AppEvents for Events {
    async fn comment_created(&self, _: &CommentView, _: Recipients, list: serde_json::Value) {
        self.0.lock().expect("events").push(list);
    }

    async fn note_deleted(&self, _: uuid::Uuid) {}
}

#[tokio::test]
async fn a_cursor_reads_page_100_at_the_cost_of_page_1() {
    let Some(server) = dynamodb::MotoServer::start_or_skip("budgets") else {
        return;
    };
    // Five a page, to keep the emulator's index reads (which scan its whole table) short.
    let large = data(&server, 520, 0).await;
    let mut path = "/notes?limit=5&cursor=".to_string();
    let mut seen = std::collections::HashSet::new();
    let mut previous = None::<String>;
    for page in 1..=100u64 {
        large.meter.take();
        let reply = large.api.get(&path, None).await;
        let json = reply.expect(200).clone();
        let tally = large.meter.take();
        within(
            &format!("GET /notes cursor page {page}"),
            &tally,
            public_feed(1, 5),
        );
        for note in json["data"]["notes"].as_array().expect("notes") {
            let at = note["publishedAt"]
                .as_str()
                .expect("publishedAt")
                .to_string();
            if let Some(previous) = &previous {
                assert!(at <= *previous, "newest published first");
            }
            previous = Some(at);
            assert!(seen.insert(note["id"].to_string()), "a note twice");
        }
        let next = json["data"]["pagination"]["nextCursor"]
            .as_str()
            .expect("nextCursor");
        path = format!("/notes?limit=5&cursor={next}");
    }
    assert_eq!(seen.len(), 500);
}

#[tokio::test]
async fn the_first_page_of_the_feed_is_read_once_a_second_however_often_it_is_asked_for() {
    let Some(server) = dynamodb::MotoServer::start_or_skip("budgets") else {
        return;
    };
    let meter = Meter::default();
    let (store, _) = dynamodb::metered_on(&server, &meter).await;
    let notes: Vec<_> = (0..400).map(|n| seed::note("alice", n, true)).collect();
    seed::notes(&store, &notes).await;

    // The feed keys are spread over every shard, evenly enough that none is hot.
    let report = counts::check(&store).await.expect("check");
    assert!(report.drifts.is_empty(), "{report:?}");
    let mut shards = [0u32; FEED_SHARDS as usize];
    for note in &notes {
        shards[feed_shard(note.id) as usize] += 1;
    }
    for (shard, count) in shards.iter().enumerate() {
        assert!(
            (50..=150).contains(count),
            "shard {shard} holds {count} of 400 public notes: {shards:?}"
        );
    }

    let api = Api::over(Arc::new(store));
    meter.take();
    for _ in 0..50 {
        api.get("/notes", None).await.expect(200);
    }
    let fifty = meter.take();
    let calls: u64 = fifty.calls.values().sum();
    assert!(
        calls <= public_feed(1, LIMIT).calls * 2,
        "50 reads of page 1 within a second or two reach DynamoDB once or twice: {fifty:?}"
    );
    // Deeper pages are never cached: each read is a read.
    api.get("/notes?page=2", None).await.expect(200);
    let once = meter.take();
    api.get("/notes?page=2", None).await.expect(200);
    assert_eq!(meter.take(), once);
}

/// Counts posts; every connection is reachable.
#[derive(Default)]
struct Counting(AtomicU64);

#[async_trait]
impl Poster for Counting {
    async fn post(&self, _connection: &str, _data: Bytes) -> Result<(), PostError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

#[tokio::test]
async fn a_private_notes_comment_reads_only_its_owners_connections() {
    let Some(server) = dynamodb::MotoServer::start_or_skip("budgets") else {
        return;
    };
    let meter = Meter::default();
    let (_, connections) = dynamodb::metered_on(&server, &meter).await;
    let now = chrono::Utc::now().timestamp_millis();
    let rows: Vec<Connection> = (0..5000)
        .map(|i| {
            let uid = match i % 1000 {
                0..=2 if i < 1000 => Some("alice".to_string()),
                n if n % 3 == 0 => None,
                n => Some(format!("user-{n}")),
            };
            Connection::new(format!("conn-{i:05}="), uid, now)
        })
        .collect();
    seed::connections(&connections, &rows).await;
    let connections = Arc::new(connections);
    meter.take();

    let poster = Arc::new(Counting::default());
    let results = fan_out(
        connections.clone(),
        poster.clone(),
        vec![Bytes::from_static(b"{}")],
        &Target::Owner("alice".into()),
        Some(uuid::Uuid::new_v4()),
        FanoutOptions::default(),
    )
    .await
    .expect("fan out");
    let tally = meter.take();
    println!("private fan-out: {tally:?}");
    assert_eq!(results.sent, 3);
    assert_eq!(poster.0.load(Ordering::Relaxed), 3);
    assert_eq!(
        tally.calls_of("Scan"),
        0,
        "no scan for one user's connections"
    );
    assert_eq!(tally.calls_of("Query"), 1);
    assert_eq!(tally.items, 3, "only alice's rows are read");

    // A public note's comment reaches everyone: that read grows with the connections, as it
    // must, one scan page per 1,000 rows and segment.
    let results = fan_out(
        connections,
        poster,
        vec![Bytes::from_static(b"{}")],
        &Target::Everyone,
        None,
        FanoutOptions::default(),
    )
    .await
    .expect("fan out");
    let tally = meter.take();
    assert_eq!(results.sent, 5000);
    assert_eq!(tally.items, 5000);
    assert!(tally.calls_of("Scan") <= 6, "{tally:?}");
}
