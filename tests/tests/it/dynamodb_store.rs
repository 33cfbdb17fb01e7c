//! The DynamoDB store against a real `moto_server`: pagination past DynamoDB's 1 MB pages,
//! updates that race, ownership and comment gates, the sparse public index, and profiles.
//! Each test works on its own uniquely named tables on one shared server.

use std::collections::HashSet;
use std::sync::Arc;

use aws_sdk_dynamodb::types::{AttributeValue, Select};
use chrono::{Duration, TimeZone, Utc};
use noteapp_runtime::domain::{
    Comment, Note, NoteEdit, PageRequest, ProfileEdit, UserProfile, format_time, now,
};
use noteapp_runtime::store::dynamodb::{DynamoStore, counts, create_tables, note_item};
use noteapp_runtime::store::schema::{FEED_INDEX, OWNER_INDEX};
use noteapp_runtime::store::{CommentGate, NoteChange, Store, StoreError};
use noteapp_tests::dynamodb::{MotoServer, fresh_store, shared, store_on, tables_on};
use noteapp_tests::seed;
use uuid::Uuid;

/// A timestamp `seconds` after a fixed origin, so order is known in advance.
fn at(seconds: i64) -> String {
    let origin = Utc
        .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .expect("origin");
    format_time(origin + Duration::seconds(seconds))
}

fn note(owner: &str, created: i64, published: Option<i64>, content: String) -> Note {
    Note {
        id: Uuid::new_v4(),
        owner_uid: owner.into(),
        title: Some(format!("note {created}")),
        content,
        author_name: format!("Author {owner}"),
        author_avatar_url: Some("https://example.com/a.png".into()),
        created_at: at(created),
        updated_at: at(created),
        published_at: published.map(at),
    }
}

fn small_note(owner: &str, public: bool) -> Note {
    let t = now();
    Note {
        id: Uuid::new_v4(),
        owner_uid: owner.into(),
        title: Some("title".into()),
        content: "content".into(),
        author_name: "Author".into(),
        author_avatar_url: None,
        created_at: t.clone(),
        updated_at: t.clone(),
        published_at: public.then_some(t),
    }
}

fn comment(note_id: Uuid, seconds: i64, author: &str) -> Comment {
    Comment {
        id: Uuid::new_v4(),
        note_id,
        author_uid: author.into(),
        username: format!("User {author}"),
        content: format!("comment at {seconds}"),
        created_at: at(seconds),
        updated_at: at(seconds),
    }
}

fn page(page: u32, limit: u32) -> PageRequest {
    PageRequest::at(page, limit)
}

type IdPage = noteapp_runtime::domain::Page<Uuid>;

/// The rows a note still has in the Comments table (its comments and its gate).
async fn raw_comment_rows(store: &DynamoStore, note: Uuid) -> i32 {
    store
        .client()
        .query()
        .table_name(&store.tables().comments)
        .key_condition_expression("note_id = :n")
        .expression_attribute_values(":n", AttributeValue::S(note.to_string()))
        .select(Select::Count)
        .send()
        .await
        .expect("count comment rows")
        .count()
}

/// Checks that each of `pages` at `limit` is exactly its slice of `expected` with the full
/// total; returns the items of all those pages in order.
async fn check_pages<F, Fut>(expected: &[Uuid], limit: u32, pages: &[u32], list: F) -> Vec<Uuid>
where
    F: Fn(PageRequest) -> Fut,
    Fut: std::future::Future<Output = Result<IdPage, StoreError>>,
{
    let mut seen = Vec::new();
    for &p in pages {
        let got = list(page(p, limit)).await.expect("list");
        let start = ((p - 1) * limit) as usize;
        let end = (start + limit as usize).min(expected.len());
        let want = if start < expected.len() {
            &expected[start..end]
        } else {
            &[]
        };
        assert_eq!(got.items, want, "page {p} at limit {limit}");
        assert_eq!(
            got.total,
            expected.len() as u64,
            "total, page {p} at limit {limit}"
        );
        seen.extend(got.items);
    }
    seen
}

fn all_pages(len: usize, limit: u32) -> Vec<u32> {
    (1..=len.div_ceil(limit as usize) as u32 + 1).collect()
}

#[tokio::test]
async fn public_pages_are_exact_slices_newest_published_first_across_feed_shards_and_query_pages() {
    // A server of its own: the emulator is single-threaded, and this test keeps it busy.
    let Some(server) = MotoServer::start_or_skip("a store test on its own moto_server") else {
        return;
    };
    // Query pages of 97 keys: every shard's key query crosses many LastEvaluatedKeys.
    let store = store_on(&server).await.with_query_page_size(97);
    const PUBLIC: i64 = 800;
    // ~1.4 KB per note: a page of 100 is a large BatchGetItem.
    let filler = "lorem ipsum ".repeat(100);
    let mut notes: Vec<Note> = (0..PUBLIC)
        .map(|i| {
            // Publish order differs from creation (and insertion) order.
            let published = (i * 7919) % PUBLIC;
            note(
                "alice",
                i,
                Some(10_000 + published),
                format!("{i} {filler}"),
            )
        })
        .collect();
    // Private notes must not show up (the index is sparse).
    notes.extend((0..50).map(|i| note("bob", i, None, filler.clone())));
    seed::notes(&store, &notes).await;

    let mut public: Vec<&Note> = notes.iter().filter(|n| n.published_at.is_some()).collect();
    public.sort_by(|a, b| b.published_at.cmp(&a.published_at));
    let expected: Vec<Uuid> = public.iter().map(|n| n.id).collect();

    let list = |request| {
        let store = &store;
        async move {
            let page = store.list_public_notes(&request).await?;
            Ok(IdPage::new(
                page.items.iter().map(|n| n.id).collect(),
                page.total,
            ))
        }
    };

    // Every page at limit 100 is its exact slice; together they are the list, once each.
    let pages = all_pages(expected.len(), 100);
    let seen = check_pages(&expected, 100, &pages, list).await;
    assert_eq!(
        seen.iter().collect::<HashSet<_>>().len(),
        seen.len(),
        "duplicates"
    );
    assert_eq!(seen, expected);

    // Other limits: the first page, pages across a query page's end (97 keys per shard), the
    // last (partial) page and past the end.
    check_pages(&expected, 7, &[1, 55, 56, 114, 115], list).await;
    check_pages(&expected, 33, &[12, 24, 25], list).await;
    check_pages(&expected, 1, &[1, 96, 97, 98, 388, 389, 800, 801], list).await;

    // Full notes come back intact.
    let first = store.list_public_notes(&page(1, 1)).await.expect("list");
    assert_eq!(&first.items[0], public[0]);

    // A cursor walks the whole list, a page at a time, at the cost of one page each.
    let mut request = page(1, 100);
    let mut walked = Vec::new();
    loop {
        let got = store.list_public_notes(&request).await.expect("list");
        walked.extend(got.items.iter().map(|n| n.id));
        match got.next_cursor {
            Some(cursor) => request.cursor = Some(cursor),
            None => break,
        }
    }
    assert_eq!(walked, expected);
}

#[tokio::test]
async fn small_query_pages_give_the_same_slices_for_owner_lists_and_comments() {
    let Some(store) = fresh_store().await else {
        return;
    };
    // Pages of 9 items: every count, skip and read loop crosses many LastEvaluatedKeys.
    let store = store.with_query_page_size(9);
    let notes: Vec<Note> = (0..230)
        .map(|i| note("carol", i, (i % 3 == 0).then_some(i), format!("n{i}")))
        .collect();
    seed::notes(&store, &notes).await;
    seed::notes(&store, &[note("dave", 5, Some(5), "other owner".into())]).await;
    let mut mine: Vec<&Note> = notes.iter().collect();
    mine.sort_by(|a, b| b.created_at.cmp(&a.created_at));
    let expected: Vec<Uuid> = mine.iter().map(|n| n.id).collect();

    let owner_list = |request| {
        let store = &store;
        async move {
            let page = store.list_owner_notes("carol", &request).await?;
            Ok(IdPage::new(
                page.items.iter().map(|n| n.id).collect(),
                page.total,
            ))
        }
    };
    check_pages(&expected, 20, &all_pages(expected.len(), 20), owner_list).await;
    check_pages(&expected, 100, &all_pages(expected.len(), 100), owner_list).await;
    check_pages(&expected, 9, &[1, 2, 25, 26, 27], owner_list).await;
    check_pages(&expected, 1, &[1, 9, 10, 230, 231], owner_list).await;

    let target = notes[0].id; // public (i = 0)
    let comments: Vec<Comment> = (0..47)
        .map(|i| comment(target, 1_000 - i, "erin"))
        .collect();
    for c in &comments {
        store
            .add_comment(c, &CommentGate::Public)
            .await
            .expect("comment");
    }
    let mut oldest_first: Vec<&Comment> = comments.iter().collect();
    oldest_first.sort_by(|a, b| a.created_at.cmp(&b.created_at));
    let expected: Vec<Uuid> = oldest_first.iter().map(|c| c.id).collect();
    let comment_list = |request| {
        let store = &store;
        async move {
            let page = store
                .list_comments(target, &request, &CommentGate::Public)
                .await?;
            Ok(IdPage::new(
                page.items.iter().map(|c| c.id).collect(),
                page.total,
            ))
        }
    };
    check_pages(&expected, 10, &all_pages(expected.len(), 10), comment_list).await;
    check_pages(&expected, 47, &[1, 2], comment_list).await;
    let first = store
        .list_comments(target, &page(1, 1), &CommentGate::Public)
        .await
        .expect("list");
    assert_eq!(&first.items[0], oldest_first[0]);

    // Deleting the note closes its comments at once and the purge removes them, across
    // several query pages.
    store.delete_note(target, "carol").await.expect("delete");
    let left = store
        .list_comments(target, &page(1, 100), &CommentGate::Public)
        .await;
    assert!(matches!(left, Err(StoreError::NotFound)), "{left:?}");
    let purged = store.purge_deleted(Some(target)).await.expect("purge");
    assert_eq!((purged.notes, purged.comments), (1, 47));
    assert_eq!(raw_comment_rows(&store, target).await, 0);
}

#[tokio::test]
async fn concurrent_title_content_and_publish_updates_are_never_lost() {
    let Some(store) = fresh_store().await else {
        return;
    };
    let n = small_note("alice", false);
    store.create_note(&n).await.expect("create");
    for round in 0..20 {
        let title = NoteChange::Edit(NoteEdit {
            title: Some(Some(format!("title {round}"))),
            content: None,
        });
        let content = NoteChange::Edit(NoteEdit {
            title: None,
            content: Some(format!("content {round}")),
        });
        let visibility = if round % 2 == 0 {
            NoteChange::Publish
        } else {
            NoteChange::Unpublish
        };
        let t = now();
        let (a, b, c) = tokio::join!(
            store.update_note(n.id, "alice", &title, &t),
            store.update_note(n.id, "alice", &content, &t),
            store.update_note(n.id, "alice", &visibility, &t),
        );
        assert_eq!(
            a.expect("title").title.as_deref(),
            Some(format!("title {round}").as_str())
        );
        assert_eq!(b.expect("content").content, format!("content {round}"));
        assert_eq!(c.expect("visibility").is_public(), round % 2 == 0);

        let stored = store.get_note(n.id).await.expect("get").expect("note");
        assert_eq!(
            stored.title,
            Some(format!("title {round}")),
            "round {round}"
        );
        assert_eq!(stored.content, format!("content {round}"), "round {round}");
        assert_eq!(stored.is_public(), round % 2 == 0, "round {round}");
        assert_eq!(stored.created_at, n.created_at);
        assert_eq!(stored.author_name, n.author_name);
    }
}

#[tokio::test]
async fn a_deleted_note_stays_deleted_under_concurrent_updates_and_comments() {
    let Some(store) = fresh_store().await else {
        return;
    };
    let store = Arc::new(store);
    for round in 0..15 {
        let n = small_note("alice", round % 2 == 0);
        store.create_note(&n).await.expect("create");
        let edit = NoteChange::Edit(NoteEdit {
            title: Some(Some("late".into())),
            content: Some("late".into()),
        });
        let c = comment(n.id, round, "alice");
        let gate = CommentGate::Owner("alice".into());
        let t = now();
        let (deleted, edited, published, commented) = tokio::join!(
            store.delete_note(n.id, "alice"),
            store.update_note(n.id, "alice", &edit, &t),
            store.update_note(n.id, "alice", &NoteChange::Publish, &t),
            store.add_comment(&c, &gate),
        );
        deleted.expect("delete");
        for result in [edited.map(|_| ()), published.map(|_| ()), commented] {
            assert!(
                matches!(result, Ok(()) | Err(StoreError::NotFound)),
                "round {round}: {result:?}"
            );
        }
        assert_eq!(
            store.get_note(n.id).await.expect("get"),
            None,
            "round {round}"
        );
        let comments = store
            .list_comments(n.id, &page(1, 10), &CommentGate::Owner("alice".into()))
            .await;
        assert!(
            matches!(comments, Err(StoreError::NotFound)),
            "round {round}: comments survived the delete: {comments:?}"
        );
        store.purge_deleted(Some(n.id)).await.expect("purge");
        assert_eq!(raw_comment_rows(&store, n.id).await, 0, "round {round}");

        // Later writes cannot bring it back.
        let again = store
            .update_note(n.id, "alice", &NoteChange::Publish, &now())
            .await;
        assert!(matches!(again, Err(StoreError::NotFound)), "{again:?}");
        let again = store.delete_note(n.id, "alice").await;
        assert!(matches!(again, Err(StoreError::NotFound)), "{again:?}");
        assert_eq!(store.get_note(n.id).await.expect("get"), None);
    }
    let listed = store
        .list_owner_notes("alice", &page(1, 100))
        .await
        .expect("list");
    assert_eq!(listed.total, 0);
    let public = store.list_public_notes(&page(1, 100)).await.expect("list");
    assert_eq!(public.total, 0);
    let check = counts::check(&store).await.expect("check");
    assert!(check.drifts.is_empty(), "{check:?}");
}

#[tokio::test]
async fn another_owner_can_neither_change_nor_delete_a_note() {
    let Some(store) = fresh_store().await else {
        return;
    };
    let n = small_note("alice", true);
    store.create_note(&n).await.expect("create");
    let edit = NoteChange::Edit(NoteEdit {
        title: Some(None),
        content: Some("mine now".into()),
    });
    for change in [&edit, &NoteChange::Publish, &NoteChange::Unpublish] {
        let result = store.update_note(n.id, "mallory", change, &now()).await;
        assert!(matches!(result, Err(StoreError::NotFound)), "{result:?}");
    }
    let result = store.delete_note(n.id, "mallory").await;
    assert!(matches!(result, Err(StoreError::NotFound)), "{result:?}");
    assert_eq!(store.get_note(n.id).await.expect("get"), Some(n.clone()));

    let missing = Uuid::new_v4();
    let result = store.update_note(missing, "alice", &edit, &now()).await;
    assert!(matches!(result, Err(StoreError::NotFound)), "{result:?}");
    let result = store.delete_note(missing, "alice").await;
    assert!(matches!(result, Err(StoreError::NotFound)), "{result:?}");
    assert_eq!(
        store.get_note(missing).await.expect("get"),
        None,
        "no item was created"
    );

    let result = store.create_note(&n).await;
    assert!(
        matches!(result, Err(StoreError::AlreadyExists)),
        "{result:?}"
    );
}

#[tokio::test]
async fn comment_gates_are_checked_in_the_same_write_as_the_comment() {
    let Some(store) = fresh_store().await else {
        return;
    };
    let n = small_note("alice", false);
    store.create_note(&n).await.expect("create");

    let result = store
        .add_comment(&comment(n.id, 1, "bob"), &CommentGate::Public)
        .await;
    assert!(
        matches!(result, Err(StoreError::NotFound)),
        "private note: {result:?}"
    );
    let result = store
        .add_comment(&comment(n.id, 2, "bob"), &CommentGate::Owner("bob".into()))
        .await;
    assert!(
        matches!(result, Err(StoreError::NotFound)),
        "not the owner: {result:?}"
    );
    let own = comment(n.id, 3, "alice");
    store
        .add_comment(&own, &CommentGate::Owner("alice".into()))
        .await
        .expect("owner comments on a private note");
    let result = store
        .add_comment(&own, &CommentGate::Owner("alice".into()))
        .await;
    assert!(
        matches!(result, Err(StoreError::AlreadyExists)),
        "duplicate: {result:?}"
    );

    store
        .update_note(n.id, "alice", &NoteChange::Publish, &now())
        .await
        .expect("publish");
    let public = comment(n.id, 4, "bob");
    store
        .add_comment(&public, &CommentGate::Public)
        .await
        .expect("public comment");
    store
        .update_note(n.id, "alice", &NoteChange::Unpublish, &now())
        .await
        .expect("unpublish");
    let result = store
        .add_comment(&comment(n.id, 5, "bob"), &CommentGate::Public)
        .await;
    assert!(
        matches!(result, Err(StoreError::NotFound)),
        "unpublished: {result:?}"
    );

    let missing = Uuid::new_v4();
    for gate in [CommentGate::Public, CommentGate::Owner("alice".into())] {
        let result = store
            .add_comment(&comment(missing, 6, "alice"), &gate)
            .await;
        assert!(
            matches!(result, Err(StoreError::NotFound)),
            "missing note: {result:?}"
        );
    }

    let listed = store
        .list_comments(n.id, &page(1, 10), &CommentGate::Owner("alice".into()))
        .await
        .expect("list");
    assert_eq!(listed.items, vec![own, public]);
    assert_eq!(listed.total, 2);
}

#[tokio::test]
async fn unpublishing_takes_a_note_out_of_the_public_list_and_the_sparse_index() {
    let Some(store) = fresh_store().await else {
        return;
    };
    let n = small_note("alice", false);
    store.create_note(&n).await.expect("create");
    let t = now();
    let published = store
        .update_note(n.id, "alice", &NoteChange::Publish, &t)
        .await
        .expect("publish");
    assert_eq!(published.published_at.as_deref(), Some(t.as_str()));
    assert_eq!(published.updated_at, t);
    let listed = store.list_public_notes(&page(1, 10)).await.expect("list");
    assert_eq!((listed.items, listed.total), (vec![published.clone()], 1));

    let unpublished = store
        .update_note(n.id, "alice", &NoteChange::Unpublish, &now())
        .await
        .expect("unpublish");
    assert_eq!(unpublished.published_at, None);
    let listed = store.list_public_notes(&page(1, 10)).await.expect("list");
    assert_eq!((listed.items.len(), listed.total), (0, 0));

    let raw = store
        .client()
        .get_item()
        .table_name(&store.tables().notes)
        .key("id", AttributeValue::S(n.id.to_string()))
        .send()
        .await
        .expect("raw get")
        .item
        .expect("item");
    assert!(
        !raw.contains_key("feed") && !raw.contains_key("published_at"),
        "{raw:?}"
    );
    let index = store
        .client()
        .scan()
        .table_name(&store.tables().notes)
        .index_name(FEED_INDEX)
        .send()
        .await
        .expect("scan index");
    assert_eq!(index.count(), 0, "the public index is sparse");
    let owner = store
        .client()
        .scan()
        .table_name(&store.tables().notes)
        .index_name(OWNER_INDEX)
        .send()
        .await
        .expect("scan index");
    assert_eq!(owner.count(), 1);

    // A title set to null is removed, not stored empty; other fields stay.
    let edited = store
        .update_note(
            n.id,
            "alice",
            &NoteChange::Edit(NoteEdit {
                title: Some(None),
                content: None,
            }),
            &now(),
        )
        .await
        .expect("edit");
    assert_eq!(edited.title, None);
    assert_eq!(edited.content, n.content);
    let owned = store
        .list_owner_notes("alice", &page(1, 10))
        .await
        .expect("list");
    assert_eq!(owned.items, vec![edited]);
}

fn profile(uid: &str) -> UserProfile {
    UserProfile {
        uid: uid.into(),
        display_name: format!("User {uid}"),
        email: Some(format!("{uid}@example.com")),
        avatar_url: None,
        is_anonymous: true,
        created_at: at(0),
        updated_at: at(0),
    }
}

#[tokio::test]
async fn ensure_user_creates_a_profile_once_and_then_returns_the_stored_one() {
    let Some(store) = fresh_store().await else {
        return;
    };
    let first = profile("u1");
    let ensured = store.ensure_user(&first).await.expect("ensure");
    assert!(ensured.created);
    assert_eq!(ensured.profile, first);

    let mut second = profile("u1");
    second.display_name = "Someone else".into();
    second.created_at = at(99);
    let ensured = store.ensure_user(&second).await.expect("ensure");
    assert!(!ensured.created);
    assert_eq!(ensured.profile, first);
    assert_eq!(store.get_user("u1").await.expect("get"), Some(first));
    assert_eq!(store.get_user("nobody").await.expect("get"), None);
}

#[tokio::test]
async fn update_user_creates_a_missing_profile_from_defaults_and_edits_fields() {
    let Some(store) = fresh_store().await else {
        return;
    };
    let defaults = profile("u2");
    let edit = ProfileEdit {
        display_name: None,
        email: None,
        avatar_url: Some(Some("https://example.com/me.png".into())),
    };
    let created = store
        .update_user(&defaults, &edit, None, &at(10))
        .await
        .expect("update missing");
    assert_eq!(
        created,
        UserProfile {
            avatar_url: Some("https://example.com/me.png".into()),
            updated_at: at(10),
            ..defaults.clone()
        }
    );

    // Defaults never overwrite stored values; edits and the flag do.
    let mut other_defaults = profile("u2");
    other_defaults.display_name = "Default".into();
    other_defaults.email = Some("default@example.com".into());
    other_defaults.created_at = at(5);
    let edit = ProfileEdit {
        display_name: Some("Renamed".into()),
        email: Some(None),
        avatar_url: None,
    };
    let updated = store
        .update_user(&other_defaults, &edit, Some(false), &at(20))
        .await
        .expect("update");
    assert_eq!(
        updated,
        UserProfile {
            uid: "u2".into(),
            display_name: "Renamed".into(),
            email: None,
            avatar_url: Some("https://example.com/me.png".into()),
            is_anonymous: false,
            created_at: at(0),
            updated_at: at(20),
        }
    );
    assert_eq!(store.get_user("u2").await.expect("get"), Some(updated));

    // Clearing a field of a missing profile whose defaults have it leaves it absent.
    let cleared = store
        .update_user(
            &profile("u3"),
            &ProfileEdit {
                email: Some(None),
                ..ProfileEdit::default()
            },
            None,
            &at(30),
        )
        .await
        .expect("update missing");
    assert_eq!(cleared.email, None);
    assert_eq!(cleared.display_name, "User u3");
    assert!(cleared.is_anonymous);
}

#[tokio::test]
async fn malformed_items_and_missing_tables_are_backend_errors() {
    let Some(store) = fresh_store().await else {
        return;
    };
    let n = small_note("alice", true);
    let mut item = note_item(&n);
    item.remove("author_name");
    store
        .client()
        .put_item()
        .table_name(&store.tables().notes)
        .set_item(Some(item))
        .send()
        .await
        .expect("raw put");
    counts::repair(&store).await.expect("repair");
    match store.get_note(n.id).await {
        Err(StoreError::Backend(message)) => assert!(message.contains("author_name"), "{message}"),
        other => panic!("expected a backend error, got {other:?}"),
    }
    match store.list_public_notes(&page(1, 10)).await {
        Err(StoreError::Backend(message)) => assert!(message.contains("author_name"), "{message}"),
        other => panic!("expected a backend error, got {other:?}"),
    }

    let missing = DynamoStore::new(
        store.client().clone(),
        noteapp_runtime::store::dynamodb::TableNames::with_prefix("no-such-prefix").store_tables(),
    );
    match missing.get_note(n.id).await {
        Err(StoreError::Backend(message)) => {
            assert!(message.contains("ResourceNotFound"), "{message}")
        }
        other => panic!("expected a backend error, got {other:?}"),
    }
}

#[tokio::test]
async fn creating_tables_twice_is_fine_and_connections_expire_by_ttl() {
    let Some(server) = shared() else {
        return;
    };
    let (client, tables) = tables_on(server).await;
    create_tables(&client, &tables)
        .await
        .expect("second create");
    let ttl = client
        .describe_time_to_live()
        .table_name(&tables.connections)
        .send()
        .await
        .expect("describe ttl");
    let description = ttl.time_to_live_description().expect("ttl description");
    assert_eq!(description.attribute_name(), Some("ttl"));
    assert_eq!(
        description.time_to_live_status().map(|s| s.as_str()),
        Some("ENABLED")
    );
}

#[tokio::test]
async fn concurrent_publishes_unpublishes_and_deletes_keep_every_total_exact() {
    let Some(store) = fresh_store().await else {
        return;
    };
    let store = Arc::new(store);
    // Twenty notes, each changed once at the same moment: a third published, a third published
    // then unpublished, a third deleted.
    let notes: Vec<Note> = (0..20).map(|i| small_note("alice", i % 2 == 0)).collect();
    for n in &notes {
        store.create_note(n).await.expect("create");
    }
    let changes = notes.iter().enumerate().map(|(i, n)| {
        let store = store.clone();
        let id = n.id;
        async move {
            match i % 3 {
                0 => store
                    .update_note(id, "alice", &NoteChange::Publish, &now())
                    .await
                    .map(|_| ()),
                1 => store
                    .update_note(id, "alice", &NoteChange::Unpublish, &now())
                    .await
                    .map(|_| ()),
                _ => store.delete_note(id, "alice").await,
            }
        }
    });
    // And one note that twenty writers publish, unpublish and delete at once.
    let contested = small_note("alice", false);
    store.create_note(&contested).await.expect("create");
    let contest = (0..20).map(|i| {
        let store = store.clone();
        async move {
            let result = match i % 4 {
                0 | 2 => store
                    .update_note(contested.id, "alice", &NoteChange::Publish, &now())
                    .await
                    .map(|_| ()),
                1 => store
                    .update_note(contested.id, "alice", &NoteChange::Unpublish, &now())
                    .await
                    .map(|_| ()),
                _ => store.delete_note(contested.id, "alice").await,
            };
            // After the first delete, every other writer finds it gone.
            assert!(
                matches!(result, Ok(()) | Err(StoreError::NotFound)),
                "{result:?}"
            );
        }
    });
    let (results, ()) = tokio::join!(futures_util::future::join_all(changes), async {
        futures_util::future::join_all(contest).await;
    });
    for result in results {
        result.expect("an uncontested change");
    }

    let public = (0..20).filter(|i| i % 3 == 0).count() as u64;
    let remaining = (0..20).filter(|i| i % 3 != 2).count() as u64;
    let listed = store.list_public_notes(&page(1, 100)).await.expect("list");
    assert_eq!(listed.total, public);
    assert_eq!(listed.items.len() as u64, public);
    let mine = store
        .list_owner_notes("alice", &page(1, 100))
        .await
        .expect("list");
    assert_eq!(mine.total, remaining);
    assert_eq!(mine.items.len() as u64, remaining);
    assert_eq!(store.get_note(contested.id).await.expect("get"), None);
    let check = counts::check(&store).await.expect("check");
    assert!(check.drifts.is_empty(), "{check:?}");
    assert_eq!(check.notes_fixed, 0, "{check:?}");
}

/// DynamoDB's answer to a transaction another one keeps winning.
const CANCELLED: &str = r#"{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException","Message":"Transaction cancelled, please refer cancellation reasons for specific reasons [TransactionConflict, None, None]","CancellationReasons":[{"Code":"TransactionConflict","Message":"Transaction is ongoing for the item"},{"Code":"None"},{"Code":"None"}]}"#;

#[tokio::test]
async fn a_write_still_contended_after_six_tries_is_a_409_with_the_json_error_body() {
    use noteapp_test_support::loopback::{Reply, Server};
    // Every transaction is cancelled by a conflict; every read finds nothing.
    let json = "application/x-amz-json-1.0";
    let dynamodb = Server::answering(move |request| match request.operation() {
        "TransactWriteItems" => Reply::with_type(400, json, CANCELLED),
        _ => Reply::with_type(200, json, "{}"),
    })
    .await;
    let client = noteapp_tests::dynamodb::metered_client(&dynamodb.url, None);
    let tables = noteapp_runtime::store::dynamodb::TableNames::with_prefix("contended");
    let store = DynamoStore::new(client, tables.store_tables());
    let api = noteapp_tests::api::Api::over(Arc::new(store));
    let reply = api
        .post(
            "/me/notes",
            Some(&noteapp_tests::api::user("alice")),
            &serde_json::json!({"title": "t", "content": "c"}),
        )
        .await;
    let body = reply.expect(409);
    assert_eq!(body["error"]["code"], "CONFLICT", "{body}");
    let tries = dynamodb
        .requests()
        .iter()
        .filter(|r| r.operation() == "TransactWriteItems")
        .count();
    assert_eq!(tries, 6, "retried with backoff, then gave up");
}
