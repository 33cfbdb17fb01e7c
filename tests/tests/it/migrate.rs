//! `noteapp migrate` end to end on moto: the seed's SAM stack (`next-fastapi-note-app-staging`,
//! its three tables as its template defines them, created through moto's CloudFormation), items
//! in exactly the shape the seed backend writes, the built `noteapp` binary migrating them into
//! the tables `noteapp local --dynamodb-endpoint` uses, and noteapp's own API, in process, over
//! those tables.
//!
//! Each test starts its own moto server, so each can hold a stack of the seed's own name.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use noteapp_runtime::domain::format_time;
use noteapp_runtime::store::Store;
use noteapp_runtime::store::dynamodb::{DynamoStore, Item, TableNames, create_tables};
use noteapp_tests::api::{self, Api};
use noteapp_tests::dynamodb::{self as moto, MotoServer};
use noteapp_tests::local::binary;
use noteapp_tests::seed_stack::{self, REGION, STACK, SeedStack, dump, note_id};
use serde_json::{Value, json};

/// The longest content the seed can hold: its notes are single DynamoDB items (400 KB).
const LONGEST: usize = 380_000;

/// The seed's notes and users: regular ones, and every odd item the tests expect handled.
fn fixture(notes: u32) -> (Vec<Item>, Vec<Item>) {
    let owners = ["alice", "bob", "carol", "anon-1"];
    let mut items: Vec<Item> = (0..notes)
        .map(|n| {
            let owner = owners[n as usize % owners.len()];
            let mut item = seed_stack::note(&note_id(n), owner, i64::from(n), n % 3 == 0);
            if owner == "carol" {
                item.insert(
                    "author_avatar_url".into(),
                    AttributeValue::S("https://example.com/carol.png".into()),
                );
            }
            item
        })
        .collect();
    // A note saved without a title (None is NULL).
    let mut untitled = seed_stack::note(&note_id(1000), "alice", 1000, false);
    untitled.insert("title".into(), AttributeValue::Null(true));
    // Missing content, on a public note.
    let mut empty = seed_stack::note(&note_id(1001), "bob", 1001, true);
    empty.remove("content");
    // The longest content, public.
    let mut longest = seed_stack::note(&note_id(1002), "carol", 1002, true);
    let text: String = "0123456789abcdef\n".repeat(LONGEST / 17 + 1);
    longest.insert(
        "content".into(),
        AttributeValue::S(text[..LONGEST].to_owned()),
    );
    // No owner_uid: owned by its author.
    let mut authored = seed_stack::note(&note_id(1003), "bob", 1003, false);
    authored.remove("owner_uid");
    // Nobody's: skipped.
    let mut orphan = seed_stack::note(&note_id(1004), "nobody", 1004, true);
    orphan.remove("owner_uid");
    orphan.remove("author_id");
    // A naive time (no offset).
    let mut naive = seed_stack::note(&note_id(1005), "alice", 1005, true);
    naive.insert(
        "created_at".into(),
        AttributeValue::S("2025-02-01T08:00:00.5".into()),
    );
    // An id no route accepts: skipped.
    let legacy = seed_stack::note("legacy-note-1", "alice", 1006, true);
    items.extend([untitled, empty, longest, authored, orphan, naive, legacy]);
    let mut users = vec![
        seed_stack::user("alice", false, 1),
        seed_stack::user("bob", false, 2),
        seed_stack::user("carol", false, 3),
        seed_stack::user("anon-1", true, 4),
        seed_stack::user("anon-2", true, 5),
    ];
    users[2].insert(
        "avatarUrl".into(),
        AttributeValue::S("https://example.com/carol.png".into()),
    );
    // A user without a display name.
    let mut dave = seed_stack::user("dave", false, 6);
    dave.remove("displayName");
    users.push(dave);
    (items, users)
}

/// The seed's stack on `moto`, holding the fixture.
async fn seeded(moto: &MotoServer, notes: u32) -> (SeedStack, Vec<Item>, Vec<Item>) {
    let stack = seed_stack::create(moto).await;
    let (notes, users) = fixture(notes);
    seed_stack::put(&stack.dynamodb, &stack.notes, &notes).await;
    seed_stack::put(&stack.dynamodb, &stack.users, &users).await;
    (stack, notes, users)
}

/// `noteapp migrate development --dynamodb-endpoint <moto> --table-prefix <prefix> ARGS`.
fn command(moto: &MotoServer, prefix: &str, args: &[&str]) -> Command {
    let mut command = Command::new(binary("noteapp"));
    command
        .current_dir(noteapp_test_support::workspace())
        .args(["migrate", "development", "--dynamodb-endpoint"])
        .args([moto.endpoint(), "--table-prefix", prefix])
        .args(args)
        .envs(noteapp_test_support::moto::aws_env(moto, REGION))
        .env_remove("NOTEAPP_ROOT")
        .stdin(Stdio::null());
    command
}

/// Runs a migration to its end: exit code, the JSON report (`Null` when there is none), stderr.
fn migrate(moto: &MotoServer, prefix: &str, args: &[&str]) -> (i32, Value, String) {
    let output: Output = command(moto, prefix, args)
        .output()
        .expect("run noteapp migrate");
    let report = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.code().unwrap_or(-1), report, stderr)
}

/// The target's store (no feed cache: it reads what the binary wrote).
fn target(moto: &MotoServer, prefix: &str) -> (DynamoStore, TableNames) {
    let names = TableNames::with_prefix(prefix);
    let client = moto::metered_client(moto.endpoint(), None);
    (
        DynamoStore::new(client, names.store_tables()).without_feed_cache(),
        names,
    )
}

/// Every table of a noteapp target, dumped.
async fn target_dump(
    store: &DynamoStore,
    names: &TableNames,
) -> Vec<Vec<BTreeMap<String, String>>> {
    let client = store.client();
    vec![
        dump(client, &names.notes).await,
        dump(client, &names.users).await,
        dump(client, &names.comments).await,
    ]
}

fn text<'a>(item: &'a Item, attribute: &str) -> Option<&'a str> {
    match item.get(attribute) {
        Some(AttributeValue::S(value)) => Some(value),
        _ => None,
    }
}

/// A seed time in noteapp's form (UTC, fixed width; a naive time read as UTC).
fn time(raw: &str) -> String {
    let parsed = chrono::DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&chrono::Utc))
        .or_else(|_| {
            chrono::NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S%.f").map(|t| t.and_utc())
        })
        .unwrap_or_else(|e| panic!("{raw}: {e}"));
    format_time(parsed)
}

/// What noteapp's API must answer for a migrated seed note: `PublicNote` and `PrivateNote`.
struct Expected {
    id: String,
    owner: String,
    public: Option<Value>,
    private: Value,
    created_at: String,
    published_at: Option<String>,
}

fn expected(item: &Item) -> Option<Expected> {
    let id = text(item, "id")?;
    uuid::Uuid::parse_str(id).ok()?;
    let owner = text(item, "owner_uid").or(text(item, "author_id"))?;
    let title = text(item, "title");
    let content = text(item, "content").unwrap_or_default();
    let avatar = text(item, "author_avatar_url").filter(|a| !a.is_empty());
    let created_at = time(text(item, "created_at")?);
    let updated_at = time(text(item, "updated_at")?);
    let public = text(item, "is_public") == Some("true");
    let published_at = public.then(|| time(text(item, "published_at").expect("published")));
    Some(Expected {
        id: id.to_owned(),
        owner: owner.to_owned(),
        public: published_at.as_ref().map(|published| {
            json!({
                "id": id, "title": title.unwrap_or_default(), "content": content,
                "author": {"id": owner, "displayName": text(item, "author_name"), "avatarUrl": avatar},
                "createdAt": created_at, "updatedAt": updated_at, "publishedAt": published,
            })
        }),
        private: json!({
            "id": id, "title": title, "content": content, "createdAt": created_at,
            "updatedAt": updated_at, "publishedAt": published_at, "isPublic": public,
        }),
        created_at,
        published_at,
    })
}

fn token(uid: &str) -> String {
    if uid.starts_with("anon") {
        api::anon(uid)
    } else {
        api::user(uid)
    }
}

/// noteapp's API over the target returns every migrated note and profile as the seed held them:
/// the public feed (exact total and order), each owner's notebook, each profile.
async fn assert_served(store: DynamoStore, notes: &[Item], users: &[Item]) {
    let api = Api::over(Arc::new(store));
    let mut migrated: Vec<Expected> = notes.iter().filter_map(expected).collect();

    migrated.sort_by(|a, b| b.published_at.cmp(&a.published_at));
    let feed: Vec<&Value> = migrated.iter().filter_map(|e| e.public.as_ref()).collect();
    let reply = api.get("/notes?limit=100", None).await;
    let data = &reply.expect(200)["data"];
    assert_eq!(data["pagination"]["total"], feed.len(), "the feed's total");
    let served: Vec<&Value> = data["notes"].as_array().expect("notes").iter().collect();
    assert_eq!(served.len(), feed.len());
    for (served, want) in served.iter().zip(&feed) {
        assert_eq!(*served, *want, "the feed, in order");
    }

    migrated.sort_by(|a, b| b.created_at.cmp(&a.created_at));
    let mut owners: Vec<&str> = migrated.iter().map(|e| e.owner.as_str()).collect();
    owners.sort_unstable();
    owners.dedup();
    for owner in owners {
        let want: Vec<&Value> = migrated
            .iter()
            .filter(|e| e.owner == owner)
            .map(|e| &e.private)
            .collect();
        let reply = api.get("/me/notes?limit=100", Some(&token(owner))).await;
        let data = &reply.expect(200)["data"];
        assert_eq!(data["pagination"]["total"], want.len(), "{owner}'s total");
        let served: Vec<&Value> = data["notes"].as_array().expect("notes").iter().collect();
        assert_eq!(served, want, "{owner}'s notebook, newest first");
    }
    for e in migrated.iter().filter(|e| e.public.is_some()) {
        let reply = api.get(&format!("/notes/{}", e.id), None).await;
        assert_eq!(Some(&reply.expect(200)["data"]), e.public.as_ref());
    }

    for user in users {
        let uid = text(user, "uid").expect("uid");
        let anonymous = user.get("isAnonymous") == Some(&AttributeValue::Bool(true));
        let profile = if anonymous {
            let reply = api
                .post("/auth/anonymous-login", Some(&token(uid)), &Value::Null)
                .await;
            let data = &reply.expect(200)["data"];
            assert_eq!(data["created"], false, "{uid} was migrated");
            data["user"].clone()
        } else {
            api.get("/me", Some(&token(uid))).await.expect(200)["data"].clone()
        };
        let name = text(user, "displayName")
            .map(str::to_owned)
            .unwrap_or_else(|| format!("User {uid}"));
        assert_eq!(
            profile,
            json!({
                "uid": uid, "displayName": name, "email": text(user, "email"),
                "avatarUrl": text(user, "avatarUrl"), "isAnonymous": anonymous,
                "createdAt": time(text(user, "createdAt").expect("createdAt")),
                "updatedAt": time(text(user, "updatedAt").expect("updatedAt")),
            }),
            "{uid}'s profile"
        );
    }
}

#[tokio::test]
async fn migrating_the_seed_stack_serves_every_note_and_profile_through_noteapps_api() {
    let Some(server) = MotoServer::start_or_skip("migrate end to end") else {
        return;
    };
    let (seed, notes, users) = seeded(&server, 24).await;
    let source_before = (
        dump(&seed.dynamodb, &seed.notes).await,
        dump(&seed.dynamodb, &seed.users).await,
    );
    let prefix = moto::unique_prefix();

    let (code, report, stderr) = migrate(
        &server,
        &prefix,
        &["--from-stack", STACK, "--yes", "--json"],
    );
    assert_eq!(code, 0, "{stderr}\n{report:#}");
    assert_eq!(report["result"], "migrated");
    assert_eq!(
        report["verification"]["differences"],
        json!([]),
        "{report:#}"
    );
    let plan = &report["plan"];
    assert_eq!(plan["notes"]["items"], 31);
    assert_eq!(plan["notes"]["skipped"], 2);
    assert_eq!(plan["users"]["items"], 6);
    assert_eq!(plan["users"]["private_or_anonymous"], 2);
    let skipped: Vec<&str> = plan["issues"]
        .as_array()
        .expect("issues")
        .iter()
        .filter(|i| i["action"] == "skipped")
        .map(|i| i["key"].as_str().expect("key"))
        .collect();
    assert_eq!(skipped, vec![note_id(1004).as_str(), "legacy-note-1"]);
    for (key, attribute) in [
        (note_id(1001), "content"),
        (note_id(1002), "content"),
        (note_id(1003), "owner_uid"),
        (note_id(1005), "created_at"),
        ("dave".to_owned(), "displayName"),
    ] {
        assert!(
            plan["issues"]
                .as_array()
                .expect("issues")
                .iter()
                .any(|i| i["key"] == key.as_str() && i["attribute"] == attribute),
            "{key} {attribute} is named: {plan:#}"
        );
    }
    assert_eq!(report["copy"]["notes"]["created"], 29);
    assert_eq!(report["copy"]["users"]["created"], 6);
    assert_eq!(report["catch_up"]["notes"]["unchanged"], 29);

    // The source: protected, its stack and items as they were.
    for table in [&seed.notes, &seed.users] {
        let described = seed
            .dynamodb
            .describe_table()
            .table_name(table)
            .send()
            .await
            .expect("describe");
        assert_eq!(
            described
                .table()
                .and_then(|t| t.deletion_protection_enabled()),
            Some(true),
            "{table} is protected"
        );
    }
    let tables = report["source"]["tables"].as_array().expect("tables");
    assert!(
        tables
            .iter()
            .all(|t| t["deletion_protection"] == "turned_on")
    );
    assert!(tables.iter().all(|t| t["point_in_time_recovery"] == false));
    assert!(stderr.contains("deletion protection turned on"), "{stderr}");
    let after = (
        dump(&seed.dynamodb, &seed.notes).await,
        dump(&seed.dynamodb, &seed.users).await,
    );
    assert!(after == source_before, "the seed's items are untouched");
    let stack = seed
        .cloudformation
        .list_stack_resources()
        .stack_name(STACK)
        .send()
        .await
        .expect("the seed's stack is still there");
    assert_eq!(stack.stack_resource_summaries().len(), 3);
    let cutover = report["cutover"].to_string();
    assert!(
        cutover.contains("NEXT_PUBLIC_API_BASE_URL=http://127.0.0.1:8000")
            && cutover.contains("NEXT_PUBLIC_WEBSOCKET_URL=ws://127.0.0.1:3001")
            && cutover.contains("never deletes")
            && cutover.contains(&format!("--function-name {STACK}-api")),
        "{cutover}"
    );

    let (store, _) = target(&server, &prefix);
    let longest = store
        .get_note(uuid::Uuid::parse_str(&note_id(1002)).expect("id"))
        .await
        .expect("read")
        .expect("the longest note");
    assert_eq!(longest.content.len(), LONGEST);
    assert_served(store, &notes, &users).await;
}

#[tokio::test]
async fn a_dry_run_writes_nothing_and_without_yes_nothing_is_written_either() {
    let Some(server) = MotoServer::start_or_skip("migrate dry run") else {
        return;
    };
    let (seed, _, _) = seeded(&server, 9).await;
    let prefix = moto::unique_prefix();
    let (store, names) = target(&server, &prefix);
    create_tables(store.client(), &names)
        .await
        .expect("target tables");
    // The target already holds a note of its own.
    let own = noteapp_tests::seed::note("erin", 1, true);
    store.create_note(&own).await.expect("a note of noteapp's");
    let snapshot = || async {
        let protection = seed
            .dynamodb
            .describe_table()
            .table_name(&seed.notes)
            .send()
            .await
            .expect("describe")
            .table()
            .and_then(|t| t.deletion_protection_enabled());
        (
            target_dump(&store, &names).await,
            dump(&seed.dynamodb, &seed.notes).await,
            dump(&seed.dynamodb, &seed.users).await,
            protection,
        )
    };
    let before = snapshot().await;
    let from = format!("notes={},users={}", seed.notes, seed.users);

    let (code, report, stderr) = migrate(
        &server,
        &prefix,
        &["--from-tables", &from, "--dry-run", "--json"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(report["result"], "planned");
    assert_eq!(report["copy"], Value::Null);
    assert_eq!(report["plan"]["notes"]["items"], 16);
    assert_eq!(report["plan"]["notes"]["skipped"], 2);
    assert!(report["mapping"].as_array().is_some_and(|m| m.len() > 10));
    assert!(
        report["source"]["tables"]
            .as_array()
            .expect("tables")
            .iter()
            .all(|t| t["deletion_protection"] == "off")
    );
    assert!(snapshot().await == before, "a dry run writes nothing");

    let (code, _, stderr) = migrate(&server, &prefix, &["--from-tables", &from]);
    assert_eq!(code, 3, "no terminal and no --yes is a refusal: {stderr}");
    assert!(stderr.contains("--yes"), "{stderr}");
    assert!(
        snapshot().await == before,
        "nothing written before the question"
    );
}

/// Target notes written so far (0 before the tables exist).
async fn notes_written(store: &DynamoStore) -> usize {
    store
        .client()
        .scan()
        .table_name(&store.tables().notes)
        .select(aws_sdk_dynamodb::types::Select::Count)
        .send()
        .await
        .map(|out| out.count() as usize)
        .unwrap_or(0)
}

#[tokio::test]
async fn a_migration_killed_halfway_and_run_again_ends_identical_to_one_never_killed() {
    let Some(server) = MotoServer::start_or_skip("migrate kill") else {
        return;
    };
    let (_seed, notes, _) = seeded(&server, 120).await;
    let total = notes.len() - 2;
    let whole = moto::unique_prefix();
    let (code, _, stderr) = migrate(
        &server,
        &whole,
        &["--from-stack", STACK, "--yes", "--json", "--rate", "0"],
    );
    assert_eq!(code, 0, "{stderr}");

    let killed = moto::unique_prefix();
    let (store, names) = target(&server, &killed);
    let mut child: Child = command(
        &server,
        &killed,
        &["--from-stack", STACK, "--yes", "--rate", "60"],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .expect("start noteapp migrate");
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut written = 0;
    while written < total / 3 {
        assert!(Instant::now() < deadline, "the copy did not start");
        assert!(
            child.try_wait().expect("wait").is_none(),
            "it ended before it was killed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        written = notes_written(&store).await;
    }
    child.kill().expect("kill -9");
    child.wait().expect("reap");
    let at_kill = notes_written(&store).await;
    assert!(
        at_kill < total,
        "killed halfway: {at_kill} of {total} notes were written"
    );

    let (code, report, stderr) = migrate(
        &server,
        &killed,
        &["--from-stack", STACK, "--yes", "--json", "--rate", "0"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        report["copy"]["notes"]["created"].as_u64(),
        Some((total - at_kill) as u64),
        "the rerun writes only what was missing: {report:#}"
    );
    let (reference, reference_names) = target(&server, &whole);
    assert!(
        target_dump(&store, &names).await == target_dump(&reference, &reference_names).await,
        "every item of every table is the same as after a run never killed"
    );
}

#[tokio::test]
async fn notes_written_and_edited_on_the_seed_during_the_copy_arrive_with_the_catch_up() {
    let Some(server) = MotoServer::start_or_skip("migrate catch-up") else {
        return;
    };
    let (seed, mut notes, users) = seeded(&server, 12).await;
    let prefix = moto::unique_prefix();
    let dir = tempfile::tempdir().expect("temp dir");
    let pause = dir.path().join("pause");
    let child = command(
        &server,
        &prefix,
        &["--from-stack", STACK, "--yes", "--json"],
    )
    .env("NOTEAPP_MIGRATE_PAUSE_FILE", &pause)
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("start noteapp migrate");
    wait_for(&pause).await;

    // During the copy: a new note, an edit, and a publish (the seed's update_item leaves
    // updated_at as it was).
    let added = seed_stack::note(&note_id(500), "bob", 500, true);
    let mut edited = notes[1].clone();
    edited.insert(
        "content".into(),
        AttributeValue::S("edited during the copy".into()),
    );
    edited.insert(
        "updated_at".into(),
        AttributeValue::S(seed_stack::iso(90_000, 1)),
    );
    let mut published = notes[2].clone();
    published.insert("is_public".into(), AttributeValue::S("true".into()));
    published.insert(
        "published_at".into(),
        AttributeValue::S(seed_stack::iso(90_001, 0)),
    );
    seed_stack::put(
        &seed.dynamodb,
        &seed.notes,
        &[added.clone(), edited.clone(), published.clone()],
    )
    .await;
    notes[1] = edited;
    notes[2] = published;
    notes.push(added);
    std::fs::remove_file(&pause).expect("go on");

    let output = child.wait_with_output().expect("noteapp migrate");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let report: Value = serde_json::from_slice(&output.stdout).expect("report");
    let catch_up = &report["catch_up"]["notes"];
    assert_eq!(
        (&catch_up["created"], &catch_up["updated"]),
        (&json!(1), &json!(2)),
        "{report:#}"
    );
    assert_eq!(report["verification"]["differences"], json!([]));
    let (store, _) = target(&server, &prefix);
    assert_served(store, &notes, &users).await;

    // A note deleted on the seed after it was copied: named by the verification, exit 4.
    seed.dynamodb
        .delete_item()
        .table_name(&seed.notes)
        .key("id", AttributeValue::S(note_id(3)))
        .send()
        .await
        .expect("delete on the seed");
    let (code, report, stderr) = migrate(
        &server,
        &prefix,
        &["--from-stack", STACK, "--yes", "--json"],
    );
    assert_eq!(code, 4, "differences exit 4: {stderr}");
    assert_eq!(report["result"], "differences");
    let differences = report["verification"]["differences"]
        .as_array()
        .expect("differences");
    assert!(
        differences.iter().any(|d| d["key"] == note_id(3).as_str()
            && d["problem"]
                .as_str()
                .is_some_and(|p| p.contains("not in the seed"))),
        "{differences:#?}"
    );
}

/// Waits until `path` exists (the binary's pause between its copy and its catch-up).
async fn wait_for(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !path.exists() {
        assert!(Instant::now() < deadline, "the copy pass did not end");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A stand-in for noteapp's deployed staging stack on moto: its tables (made from the store's
/// schema, as the template's are) and the outputs `noteapp migrate` reads.
async fn deployed_staging(server: &MotoServer, seed: &SeedStack) -> DynamoStore {
    let names = TableNames::with_prefix(&moto::unique_prefix());
    let client = seed_stack::dynamodb_client(server, None);
    create_tables(&client, &names)
        .await
        .expect("noteapp's tables");
    let template = format!(
        "Resources:\n  Queue:\n    Type: AWS::SQS::Queue\nOutputs:\n\
         \x20 NotesTableName: {{Value: {}}}\n  UsersTableName: {{Value: {}}}\n\
         \x20 CommentsTableName: {{Value: {}}}\n\
         \x20 FunctionUrlEndpoint: {{Value: 'https://abc.lambda-url.{REGION}.on.aws/'}}\n\
         \x20 WebSocketURL: {{Value: 'wss://xyz.execute-api.{REGION}.amazonaws.com/staging'}}\n",
        names.notes, names.users, names.comments
    );
    seed.cloudformation
        .create_stack()
        .stack_name("noteapp-staging")
        .template_body(template)
        .send()
        .await
        .expect("noteapp's staging stack");
    DynamoStore::new(client, names.store_tables()).without_feed_cache()
}

#[tokio::test]
async fn migrating_into_a_deployed_stack_finds_its_tables_and_urls_in_its_outputs() {
    let Some(server) = MotoServer::start_or_skip("migrate into staging") else {
        return;
    };
    let (seed, notes, users) = seeded(&server, 8).await;
    let store = deployed_staging(&server, &seed).await;
    let output = Command::new(binary("noteapp"))
        .current_dir(noteapp_test_support::workspace())
        .args([
            "migrate",
            "staging",
            "--from-stack",
            STACK,
            "--yes",
            "--json",
        ])
        .envs(noteapp_test_support::moto::aws_env(&server, REGION))
        .env_remove("NOTEAPP_ROOT")
        .stdin(Stdio::null())
        .output()
        .expect("run noteapp migrate");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let report: Value = serde_json::from_slice(&output.stdout).expect("report");
    assert_eq!(report["target"]["tables"], "stack noteapp-staging's tables");
    assert_eq!(
        report["target"]["api_url"],
        format!("https://abc.lambda-url.{REGION}.on.aws/")
    );
    assert!(
        report["cutover"][2]
            .as_str()
            .is_some_and(|s| s.contains("NEXT_PUBLIC_WEBSOCKET_URL=wss://xyz.execute-api")),
        "{report:#}"
    );
    assert_eq!(report["verification"]["differences"], json!([]));
    assert_served(store, &notes, &users).await;
}
