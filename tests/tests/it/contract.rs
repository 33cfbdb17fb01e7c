//! The API contract, route by route, run against both stores: the embedded one and DynamoDB
//! (a real `moto_server` on loopback). Each scenario is written once and instantiated per store.

use noteapp_tests::api::{Api, anon, user};
use serde_json::{Value, json};

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::Api::embedded()).await;
                }
            )*
        }
        mod dynamodb {
            $(
                #[tokio::test]
                async fn $name() {
                    let Some(api) = noteapp_tests::dynamodb::dynamodb_api().await else { return };
                    super::$name(api).await;
                }
            )*
        }
    };
}

contract!(
    health_check_answers_ok,
    public_notes_list_newest_published_first_with_pagination,
    list_parameters_are_validated,
    a_public_note_is_readable_by_anyone_and_a_private_one_is_404,
    a_malformed_note_id_is_422,
    creating_a_note_requires_content_and_bounds_the_title,
    new_notes_are_private_and_listed_for_their_owner_only,
    patch_changes_only_the_fields_sent,
    publish_and_unpublish_flip_visibility,
    publishing_a_public_note_again_keeps_its_published_at_and_feed_position,
    delete_answers_the_id_and_the_note_is_gone,
    another_users_private_note_is_404_on_every_route,
    comments_on_a_public_note_are_listed_oldest_first,
    comment_content_is_one_to_a_thousand_characters,
    public_comment_routes_refuse_private_notes,
    owners_comment_on_their_own_private_notes,
    profile_is_created_on_first_read_and_patchable,
    anonymous_users_are_refused_on_regular_only_routes,
    login_creates_then_refreshes_the_profile,
    anonymous_login_creates_a_guest_profile,
    promotion_marks_only_the_callers_own_profile,
    signed_in_routes_need_a_token,
    bad_bodies_answer_the_json_error_body,
    unknown_routes_and_methods_answer_json,
    a_cursor_before_every_comment_is_422_naming_the_cursor,
    every_list_refuses_another_lists_cursor_and_walks_only_its_own_items,
);

async fn health_check_answers_ok(api: Api) {
    assert_eq!(
        api.get("/healthz", None).await.expect(200),
        &json!({"status": "ok"})
    );
}

async fn public_notes_list_newest_published_first_with_pagination(api: Api) {
    let alice = user("alice-pub");
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(api.create_note(&alice, &format!("note {i}"), true).await);
    }
    api.create_note(&alice, "private", false).await;
    ids.reverse(); // newest published first

    let reply = api.get("/notes?limit=2&page=1&sort=latest", None).await;
    let data = &reply.expect(200)["data"];
    assert_eq!(reply.json["status"], "success");
    let got: Vec<&str> = data["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, ids[..2]);
    assert_eq!(
        data["pagination"],
        json!({"page": 1, "limit": 2, "total": 5, "hasNext": true, "hasPrev": false})
    );
    let note = &data["notes"][0];
    for key in [
        "id",
        "title",
        "content",
        "author",
        "createdAt",
        "updatedAt",
        "publishedAt",
    ] {
        assert!(note.get(key).is_some(), "PublicNote lacks {key}: {note}");
    }
    assert_eq!(note["author"]["id"], "alice-pub");
    assert!(note["author"]["displayName"].is_string());
    assert!(note["publishedAt"].as_str().unwrap().ends_with('Z'));

    let last = api.get("/notes?limit=2&page=3", None).await;
    let data = &last.expect(200)["data"];
    assert_eq!(data["notes"].as_array().unwrap().len(), 1);
    assert_eq!(data["notes"][0]["id"], ids[4]);
    assert_eq!(data["pagination"]["hasNext"], false);
    assert_eq!(data["pagination"]["hasPrev"], true);

    let beyond = api.get("/notes?limit=2&page=9", None).await;
    assert_eq!(beyond.expect(200)["data"]["notes"], json!([]));
    let default = api.get("/notes", None).await;
    assert_eq!(default.expect(200)["data"]["pagination"]["limit"], 20);
}

async fn list_parameters_are_validated(api: Api) {
    let alice = user("alice-params");
    for (query, field) in [
        ("page=0", "page"),
        ("page=-1", "page"),
        ("page=x", "page"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=1.5", "limit"),
        ("sort=oldest", "sort"),
    ] {
        let reply = api.get(&format!("/notes?{query}"), None).await;
        assert_eq!(reply.expect(422)["error"]["field"], field, "{query}");
        let mine = api.get(&format!("/me/notes?{query}"), Some(&alice)).await;
        if field != "sort" {
            assert_eq!(mine.expect(422)["error"]["field"], field, "{query}");
        }
    }
    api.get("/notes?page=1&limit=100", None).await.expect(200);
    api.get("/notes?limit=1", None).await.expect(200);
}

async fn a_public_note_is_readable_by_anyone_and_a_private_one_is_404(api: Api) {
    let alice = user("alice-read");
    let public = api.create_note(&alice, "open", true).await;
    let private = api.create_note(&alice, "closed", false).await;
    let reply = api.get(&format!("/notes/{public}"), None).await;
    assert_eq!(reply.expect(200)["data"]["title"], "open");
    // The front end sends its token on public GETs too: with or without, same answer.
    api.get(&format!("/notes/{public}"), Some(&user("bob-read")))
        .await
        .expect(200);
    api.get(&format!("/notes/{public}"), Some("not-a-token"))
        .await
        .expect(200);
    api.get(&format!("/notes/{private}"), None)
        .await
        .expect(404);
    api.get(&format!("/notes/{private}"), Some(&alice))
        .await
        .expect(404);
    api.get(&format!("/notes/{}", uuid::Uuid::new_v4()), None)
        .await
        .expect(404);
}

async fn a_malformed_note_id_is_422(api: Api) {
    let alice = user("alice-uuid");
    for path in [
        "/notes/not-a-uuid",
        "/notes/123/comments",
        "/me/notes/zzz",
        "/me/notes/zzz/publish",
        "/me/notes/zzz/unpublish",
        "/me/notes/zzz/comments",
    ] {
        let method = if path.ends_with("publish") {
            "POST"
        } else {
            "GET"
        };
        let reply = api.call(method, path, Some(&alice), None).await;
        assert_eq!(
            reply.expect(422)["error"]["message"],
            "Invalid UUID format",
            "{path}"
        );
    }
    api.delete("/me/notes/zzz", Some(&alice)).await.expect(422);
    api.patch("/me/notes/zzz", Some(&alice), &json!({}))
        .await
        .expect(422);
}

async fn creating_a_note_requires_content_and_bounds_the_title(api: Api) {
    let alice = user("alice-create");
    let reply = api
        .post(
            "/me/notes",
            Some(&alice),
            &json!({"title": "t".repeat(120), "content": "c"}),
        )
        .await;
    let note = &reply.expect(201)["data"];
    assert_eq!(reply.json["status"], "success");
    assert_eq!(note["isPublic"], false);
    assert_eq!(note["publishedAt"], Value::Null);
    assert!(uuid::Uuid::parse_str(note["id"].as_str().unwrap()).is_ok());
    assert!(note["createdAt"].as_str().unwrap().ends_with('Z'));

    let untitled = api
        .post("/me/notes", Some(&alice), &json!({"content": "c"}))
        .await;
    assert_eq!(untitled.expect(201)["data"]["title"], Value::Null);

    for (body, field) in [
        (json!({"title": "t".repeat(121), "content": "c"}), "title"),
        (json!({"title": "t"}), "content"),
        (json!({"content": "   "}), "content"),
        (json!({"content": 42}), "content"),
        (json!({"title": 7, "content": "c"}), "title"),
        (json!(["content"]), "body"),
    ] {
        let reply = api.post("/me/notes", Some(&alice), &body).await;
        assert_eq!(reply.expect(422)["error"]["field"], field, "{body}");
    }
}

async fn new_notes_are_private_and_listed_for_their_owner_only(api: Api) {
    let alice = user("alice-mine");
    let bob = user("bob-mine");
    let first = api.create_note(&alice, "first", false).await;
    let second = api.create_note(&alice, "second", true).await;
    api.create_note(&bob, "bob's", false).await;

    let reply = api.get("/me/notes", Some(&alice)).await;
    let data = &reply.expect(200)["data"];
    let ids: Vec<&str> = data["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [second.as_str(), first.as_str()],
        "newest created first"
    );
    assert_eq!(data["pagination"]["total"], 2);
    assert_eq!(data["notes"][0]["isPublic"], true);
    assert_eq!(data["notes"][1]["isPublic"], false);

    let bobs = api.get("/me/notes", Some(&bob)).await;
    assert_eq!(bobs.expect(200)["data"]["pagination"]["total"], 1);
    let anon_notes = api.get("/me/notes", Some(&anon("anon-mine"))).await;
    assert_eq!(anon_notes.expect(200)["data"]["notes"], json!([]));
}

async fn patch_changes_only_the_fields_sent(api: Api) {
    let alice = user("alice-patch");
    let id = api.create_note(&alice, "before", false).await;
    let path = format!("/me/notes/{id}");
    let original = api.get(&path, Some(&alice)).await.expect(200)["data"].clone();

    let reply = api
        .patch(&path, Some(&alice), &json!({"content": "new body"}))
        .await;
    let note = &reply.expect(200)["data"];
    assert_eq!(note["title"], "before");
    assert_eq!(note["content"], "new body");
    assert!(note["updatedAt"].as_str() > original["updatedAt"].as_str());
    assert_eq!(note["createdAt"], original["createdAt"]);

    let reply = api
        .patch(&path, Some(&alice), &json!({"title": "after"}))
        .await;
    assert_eq!(reply.expect(200)["data"]["content"], "new body");
    let reply = api
        .patch(&path, Some(&alice), &json!({"title": null}))
        .await;
    assert_eq!(reply.expect(200)["data"]["title"], Value::Null);
    api.patch(&path, Some(&alice), &json!({"title": "x".repeat(121)}))
        .await
        .expect(422);
    api.patch(&path, Some(&alice), &json!({"content": ""}))
        .await
        .expect(422);
    api.patch(&path, Some(&alice), &json!({"content": null}))
        .await
        .expect(422);
}

async fn publish_and_unpublish_flip_visibility(api: Api) {
    let alice = user("alice-publish");
    let id = api.create_note(&alice, "flip", false).await;
    let reply = api
        .post(
            &format!("/me/notes/{id}/publish"),
            Some(&alice),
            &Value::Null,
        )
        .await;
    let note = &reply.expect(200)["data"];
    assert_eq!(note["isPublic"], true);
    assert!(note["publishedAt"].as_str().unwrap().ends_with('Z'));
    api.get(&format!("/notes/{id}"), None).await.expect(200);

    let reply = api
        .post(
            &format!("/me/notes/{id}/unpublish"),
            Some(&alice),
            &Value::Null,
        )
        .await;
    let note = &reply.expect(200)["data"];
    assert_eq!(note["isPublic"], false);
    assert_eq!(note["publishedAt"], Value::Null);
    api.get(&format!("/notes/{id}"), None).await.expect(404);
    let list = api.get("/notes?limit=100", None).await;
    let listed = list.expect(200)["data"]["notes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n["id"] == id.as_str());
    assert!(!listed, "an unpublished note left the public list");
}

async fn publishing_a_public_note_again_keeps_its_published_at_and_feed_position(api: Api) {
    let alice = user("alice-republish");
    let first = api.create_note(&alice, "first", true).await;
    let second = api.create_note(&alice, "second", true).await;
    let feed = |reply: &noteapp_tests::api::Reply| -> Vec<(Value, Value)> {
        reply.expect(200)["data"]["notes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| (n["id"].clone(), n["publishedAt"].clone()))
            .collect()
    };
    let before = feed(&api.get("/notes?limit=100", None).await);
    assert_eq!(before[0].0, second.as_str(), "newest published first");
    let mine = api.get(&format!("/me/notes/{first}"), Some(&alice)).await;
    let stored = mine.expect(200)["data"].clone();
    // A later publish would carry a later time.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;

    let reply = api
        .post(
            &format!("/me/notes/{first}/publish"),
            Some(&alice),
            &Value::Null,
        )
        .await;
    let note = &reply.expect(200)["data"];
    assert_eq!(note["isPublic"], true);
    assert_eq!(note["publishedAt"], stored["publishedAt"]);
    assert_eq!(note["updatedAt"], stored["updatedAt"]);
    assert_eq!(
        feed(&api.get("/notes?limit=100", None).await),
        before,
        "the feed keeps its order and times"
    );
    let public = api.get(&format!("/notes/{first}"), None).await;
    assert_eq!(
        public.expect(200)["data"]["publishedAt"],
        stored["publishedAt"]
    );
}

async fn delete_answers_the_id_and_the_note_is_gone(api: Api) {
    let alice = user("alice-delete");
    let id = api.create_note(&alice, "doomed", true).await;
    let reply = api.delete(&format!("/me/notes/{id}"), Some(&alice)).await;
    assert_eq!(
        reply.expect(200),
        &json!({"status": "success", "data": {"id": id}})
    );
    api.get(&format!("/me/notes/{id}"), Some(&alice))
        .await
        .expect(404);
    api.get(&format!("/notes/{id}"), None).await.expect(404);
    api.delete(&format!("/me/notes/{id}"), Some(&alice))
        .await
        .expect(404);
    api.post(
        &format!("/me/notes/{id}/publish"),
        Some(&alice),
        &Value::Null,
    )
    .await
    .expect(404);
}

async fn another_users_private_note_is_404_on_every_route(api: Api) {
    let alice = user("alice-sec");
    let bob = user("bob-sec");
    let id = api.create_note(&alice, "secret", false).await;
    let base = format!("/me/notes/{id}");
    let comment = json!({"content": "hi"});
    for reply in [
        api.get(&base, Some(&bob)).await,
        api.patch(&base, Some(&bob), &json!({"title": "pwned"}))
            .await,
        api.delete(&base, Some(&bob)).await,
        api.post(&format!("{base}/publish"), Some(&bob), &Value::Null)
            .await,
        api.post(&format!("{base}/unpublish"), Some(&bob), &Value::Null)
            .await,
        api.get(&format!("{base}/comments"), Some(&bob)).await,
        api.post(&format!("{base}/comments"), Some(&bob), &comment)
            .await,
        api.get(&format!("/notes/{id}"), Some(&bob)).await,
        api.get(&format!("/notes/{id}/comments"), Some(&bob)).await,
        api.post(&format!("/notes/{id}/comments"), Some(&bob), &comment)
            .await,
    ] {
        reply.expect(404);
    }
    // Nothing changed for the owner.
    let note = api.get(&base, Some(&alice)).await;
    assert_eq!(note.expect(200)["data"]["title"], "secret");
    assert_eq!(note.json["data"]["isPublic"], false);
    let comments = api.get(&format!("{base}/comments"), Some(&alice)).await;
    assert_eq!(comments.expect(200)["data"]["count"], 0);

    // A public note is still not Bob's to change.
    let public = api.create_note(&alice, "public", true).await;
    api.patch(
        &format!("/me/notes/{public}"),
        Some(&bob),
        &json!({"title": "x"}),
    )
    .await
    .expect(404);
    api.delete(&format!("/me/notes/{public}"), Some(&bob))
        .await
        .expect(404);
    api.get(&format!("/me/notes/{public}/comments"), Some(&bob))
        .await
        .expect(404);
}

async fn comments_on_a_public_note_are_listed_oldest_first(api: Api) {
    let alice = user("alice-comments");
    let id = api.create_note(&alice, "discuss", true).await;
    api.patch(
        "/me",
        Some(&user("bob-comments")),
        &json!({"displayName": "Bob B."}),
    )
    .await
    .expect(200);
    let path = format!("/notes/{id}/comments");
    let mut sent = Vec::new();
    for (i, who) in [user("bob-comments"), anon("anon-comments"), alice.clone()]
        .iter()
        .enumerate()
    {
        let reply = api
            .post(
                &path,
                Some(who),
                &json!({"content": format!("comment {i}")}),
            )
            .await;
        let data = &reply.expect(201)["data"];
        assert_eq!(reply.json["success"], true);
        assert_eq!(data["postId"], id.as_str());
        assert_eq!(data["content"], format!("comment {i}"));
        for key in ["id", "username", "createdAt", "updatedAt"] {
            assert!(data[key].is_string(), "Comment lacks {key}: {data}");
        }
        sent.push(data.clone());
    }
    assert_eq!(
        sent[0]["username"], "Bob B.",
        "username is the profile's display name"
    );
    assert!(sent[1]["username"].as_str().unwrap().starts_with("Guest"));

    let reply = api.get(&path, None).await;
    let data = &reply.expect(200)["data"];
    assert_eq!(reply.json["success"], true);
    assert_eq!(data["count"], 3);
    assert_eq!(data["postId"], id.as_str());
    assert_eq!(data["comments"], json!(sent));

    let page = api.get(&format!("{path}?limit=2&page=2"), None).await;
    let data = &page.expect(200)["data"];
    assert_eq!(data["comments"], json!([sent[2]]));
    assert_eq!(data["count"], 3);
    // The owner sees the same comments through the private route.
    let mine = api
        .get(&format!("/me/notes/{id}/comments"), Some(&alice))
        .await;
    assert_eq!(mine.expect(200)["data"]["count"], 3);
}

async fn comment_content_is_one_to_a_thousand_characters(api: Api) {
    let alice = user("alice-limits");
    let id = api.create_note(&alice, "limits", true).await;
    let path = format!("/notes/{id}/comments");
    for body in [
        json!({"content": ""}),
        json!({"content": "  "}),
        json!({"content": "é".repeat(1001)}),
        json!({"content": 5}),
        json!({}),
    ] {
        let reply = api.post(&path, Some(&alice), &body).await;
        assert_eq!(reply.expect(422)["error"]["field"], "content", "{body}");
    }
    api.post(&path, Some(&alice), &json!({"content": "é".repeat(1000)}))
        .await
        .expect(201);
    api.post(&path, Some(&alice), &json!({"content": "x"}))
        .await
        .expect(201);
}

async fn public_comment_routes_refuse_private_notes(api: Api) {
    let alice = user("alice-privcom");
    let id = api.create_note(&alice, "mine", false).await;
    api.get(&format!("/notes/{id}/comments"), None)
        .await
        .expect(404);
    api.post(
        &format!("/notes/{id}/comments"),
        Some(&alice),
        &json!({"content": "x"}),
    )
    .await
    .expect(404);
    let missing = uuid::Uuid::new_v4();
    api.post(
        &format!("/notes/{missing}/comments"),
        Some(&alice),
        &json!({"content": "x"}),
    )
    .await
    .expect(404);
}

async fn owners_comment_on_their_own_private_notes(api: Api) {
    let alice = user("alice-owncom");
    let id = api.create_note(&alice, "diary", false).await;
    let path = format!("/me/notes/{id}/comments");
    let reply = api
        .post(&path, Some(&alice), &json!({"content": "note to self"}))
        .await;
    assert_eq!(reply.expect(201)["data"]["postId"], id.as_str());
    let list = api.get(&path, Some(&alice)).await;
    let data = &list.expect(200)["data"];
    assert_eq!(data["count"], 1);
    assert_eq!(data["comments"][0]["content"], "note to self");
}

async fn profile_is_created_on_first_read_and_patchable(api: Api) {
    let carol = user("carol-profile-uid");
    let reply = api.get("/me", Some(&carol)).await;
    let profile = reply.expect(200)["data"].clone();
    assert_eq!(reply.json["status"], "success");
    assert_eq!(profile["uid"], "carol-profile-uid");
    assert_eq!(profile["isAnonymous"], false);
    assert!(!profile["displayName"].as_str().unwrap().is_empty());
    assert_eq!(profile["email"], Value::Null);
    assert_eq!(
        api.get("/me", Some(&carol)).await.expect(200)["data"],
        profile,
        "stable"
    );

    let reply = api
        .patch(
            "/me",
            Some(&carol),
            &json!({"displayName": "Carol", "email": "carol@example.com", "avatarUrl": "https://img.example/c.png"}),
        )
        .await;
    let patched = &reply.expect(200)["data"];
    assert_eq!(patched["displayName"], "Carol");
    assert_eq!(patched["email"], "carol@example.com");
    assert_eq!(patched["avatarUrl"], "https://img.example/c.png");
    assert_eq!(patched["createdAt"], profile["createdAt"]);
    let reply = api
        .patch("/me", Some(&carol), &json!({"email": null}))
        .await;
    assert_eq!(reply.expect(200)["data"]["email"], Value::Null);
    assert_eq!(reply.json["data"]["displayName"], "Carol");

    for (body, field) in [
        (json!({"displayName": "x".repeat(61)}), "displayName"),
        (json!({"displayName": ""}), "displayName"),
        (json!({"displayName": 3}), "displayName"),
        (json!({"email": "not-an-email"}), "email"),
        (json!({"avatarUrl": "ftp://x"}), "avatarUrl"),
    ] {
        let reply = api.patch("/me", Some(&carol), &body).await;
        assert_eq!(reply.expect(422)["error"]["field"], field, "{body}");
    }
    api.patch("/me", Some(&carol), &json!({"displayName": "x".repeat(60)}))
        .await
        .expect(200);
    // PATCH before any GET creates the profile too.
    let reply = api
        .patch(
            "/me",
            Some(&user("dave-profile")),
            &json!({"displayName": "Dave"}),
        )
        .await;
    assert_eq!(reply.expect(200)["data"]["displayName"], "Dave");
}

async fn anonymous_users_are_refused_on_regular_only_routes(api: Api) {
    let guest = anon("guest-403");
    for reply in [
        api.get("/me", Some(&guest)).await,
        api.patch("/me", Some(&guest), &json!({"displayName": "x"}))
            .await,
        api.get("/auth/login", Some(&guest)).await,
        api.post("/auth/anonymous-promote", Some(&guest), &json!({}))
            .await,
    ] {
        assert_eq!(
            reply.expect(403)["error"]["message"],
            "Regular account required"
        );
    }
}

async fn login_creates_then_refreshes_the_profile(api: Api) {
    let erin = user("erin-login");
    let first = api.get("/auth/login", Some(&erin)).await;
    let data = &first.expect(200)["data"];
    assert_eq!(first.json["status"], "success");
    assert_eq!(data["created"], true);
    assert_eq!(data["wasPromoted"], false);
    assert_eq!(data["isAnonymous"], false);
    assert_eq!(data["user"]["uid"], "erin-login");
    let again = api.get("/auth/login", Some(&erin)).await;
    assert_eq!(again.expect(200)["data"]["created"], false);
    assert_eq!(again.json["data"]["user"], first.json["data"]["user"]);
}

async fn anonymous_login_creates_a_guest_profile(api: Api) {
    let guest = anon("guest-login");
    let reply = api
        .post("/auth/anonymous-login", Some(&guest), &Value::Null)
        .await;
    let data = &reply.expect(200)["data"];
    assert_eq!(data["created"], true);
    assert_eq!(data["isAnonymous"], true);
    assert_eq!(data["user"]["isAnonymous"], true);
    assert_eq!(data["wasPromoted"], false);
    let again = api
        .call("POST", "/auth/anonymous-login", Some(&guest), None)
        .await;
    assert_eq!(again.expect(200)["data"]["created"], false);
}

async fn promotion_marks_only_the_callers_own_profile(api: Api) {
    // The same Firebase uid signs in anonymously, then links a regular account.
    let uid = "frank-promote";
    api.post("/auth/anonymous-login", Some(&anon(uid)), &Value::Null)
        .await
        .expect(200);
    let victim = anon("victim-promote");
    api.post("/auth/anonymous-login", Some(&victim), &Value::Null)
        .await
        .expect(200);

    let reply = api
        .post(
            "/auth/anonymous-promote",
            Some(&user(uid)),
            &json!({"anonymous_firebase_uuid": "victim-promote"}),
        )
        .await;
    let data = &reply.expect(200)["data"];
    assert_eq!(data["wasPromoted"], true);
    assert_eq!(data["user"]["uid"], uid);
    assert_eq!(data["user"]["isAnonymous"], false);
    let again = api
        .post("/auth/anonymous-promote", Some(&user(uid)), &json!({}))
        .await;
    assert_eq!(again.expect(200)["data"]["wasPromoted"], false);

    // The account named in the body is untouched.
    let victim_profile = api
        .post("/auth/anonymous-login", Some(&victim), &Value::Null)
        .await;
    assert_eq!(
        victim_profile.expect(200)["data"]["user"]["isAnonymous"],
        true
    );
    api.post(
        "/auth/anonymous-promote",
        Some(&user(uid)),
        &json!({"anonymous_firebase_uuid": 5}),
    )
    .await
    .expect(422);
}

async fn signed_in_routes_need_a_token(api: Api) {
    let id = uuid::Uuid::new_v4();
    for (method, path) in [
        ("GET", "/me/notes".to_string()),
        ("POST", "/me/notes".to_string()),
        ("GET", format!("/me/notes/{id}")),
        ("PATCH", format!("/me/notes/{id}")),
        ("DELETE", format!("/me/notes/{id}")),
        ("POST", format!("/me/notes/{id}/publish")),
        ("POST", format!("/me/notes/{id}/unpublish")),
        ("GET", format!("/me/notes/{id}/comments")),
        ("POST", format!("/me/notes/{id}/comments")),
        ("POST", format!("/notes/{id}/comments")),
        ("GET", "/me".to_string()),
        ("PATCH", "/me".to_string()),
        ("GET", "/auth/login".to_string()),
        ("POST", "/auth/anonymous-login".to_string()),
        ("POST", "/auth/anonymous-promote".to_string()),
    ] {
        api.call(method, &path, None, Some("{}")).await.expect(401);
        api.call(method, &path, Some("garbage"), Some("{}"))
            .await
            .expect(401);
    }
}

async fn bad_bodies_answer_the_json_error_body(api: Api) {
    let alice = user("alice-bodies");
    let reply = api
        .call("POST", "/me/notes", Some(&alice), Some("{not json"))
        .await;
    assert!(
        reply.expect(400)["error"]["message"]
            .as_str()
            .unwrap()
            .contains("malformed JSON")
    );
    api.call("POST", "/me/notes", Some(&alice), Some(""))
        .await
        .expect(400);
    api.call("PATCH", "/me", Some(&alice), Some("["))
        .await
        .expect(400);
    let big = format!(r#"{{"content":"{}"}}"#, "x".repeat(300 * 1024));
    api.call("POST", "/me/notes", Some(&alice), Some(&big))
        .await
        .expect(413);
    let id = api.create_note(&alice, "n", true).await;
    api.call(
        "POST",
        &format!("/notes/{id}/comments"),
        Some(&alice),
        Some("\"text\""),
    )
    .await
    .expect(422);
}

async fn unknown_routes_and_methods_answer_json(api: Api) {
    api.get("/nope", None).await.expect(404);
    api.get("/notes/a/b/c/d", None).await.expect(404);
    let reply = api.delete("/notes", None).await;
    reply.expect(405);
    assert_eq!(reply.headers["allow"], "GET");
    api.call("PUT", "/me", None, None).await.expect(405);
}

/// `cursor` refused with 422 and the error body naming it.
#[track_caller]
fn assert_cursor_refused(reply: &noteapp_tests::api::Reply, what: &str) {
    assert_eq!(reply.status.as_u16(), 422, "{what}: {}", reply.json);
    noteapp_tests::api::assert_error_body(&reply.json);
    assert_eq!(
        reply.json["error"]["field"], "cursor",
        "{what}: {}",
        reply.json
    );
}

async fn a_cursor_before_every_comment_is_422_naming_the_cursor(api: Api) {
    use base64::Engine as _;
    let alice = user("alice-cursor-gate");
    let id = api.create_note(&alice, "gated", true).await;
    api.post(
        &format!("/notes/{id}/comments"),
        Some(&alice),
        &json!({"content": "first"}),
    )
    .await
    .expect(201);
    // A position that sorts before every comment, and so (unbounded) reaches the note's gate
    // item, which shares the comments' partition.
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let before_all = engine.encode(format!("\u{0}\u{ffff}|{}", uuid::Uuid::new_v4()));
    for path in [
        format!("/notes/{id}/comments?cursor={before_all}"),
        format!("/me/notes/{id}/comments?cursor={before_all}"),
        format!("/notes?cursor={before_all}"),
        format!("/me/notes?cursor={before_all}"),
    ] {
        let reply = api.get(&path, Some(&alice)).await;
        assert_cursor_refused(&reply, &path);
    }
}

/// Every page of `path` (which ends in `cursor=`), followed cursor by cursor: the ids in order
/// and every cursor given on the way.
async fn walk(api: &Api, path: &str, key: &str, token: &str) -> (Vec<String>, Vec<String>) {
    let (mut ids, mut cursors) = (Vec::new(), Vec::new());
    let mut next = path.to_owned();
    loop {
        let reply = api.get(&next, Some(token)).await;
        let data = &reply.expect(200)["data"];
        ids.extend(
            data[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|item| item["id"].as_str().unwrap().to_owned()),
        );
        // Notes carry it in their pagination, comments beside them.
        let next_cursor = data["pagination"]["nextCursor"]
            .as_str()
            .or(data["nextCursor"].as_str());
        match next_cursor {
            Some(cursor) => {
                cursors.push(cursor.to_owned());
                next = format!("{path}{cursor}");
            }
            None => return (ids, cursors),
        }
    }
}

async fn every_list_refuses_another_lists_cursor_and_walks_only_its_own_items(api: Api) {
    let alice = user("alice-cursor-lists");
    let bob = user("bob-cursor-lists");
    let mut alice_notes = Vec::new();
    for i in 0..3 {
        alice_notes.push(api.create_note(&alice, &format!("a{i}"), true).await);
    }
    let bob_note = api.create_note(&bob, "b", true).await;
    let other_note = alice_notes[1].clone();
    let note = alice_notes[0].clone();
    for (on, count) in [(&note, 3), (&other_note, 2)] {
        for i in 0..count {
            api.post(
                &format!("/notes/{on}/comments"),
                Some(&bob),
                &json!({"content": format!("c{i}")}),
            )
            .await
            .expect(201);
        }
    }
    // Each list, walked a page of one at a time: the lists' own items, and a cursor per step.
    let lists = [
        ("feed", "/notes?limit=1&cursor=".to_owned(), "notes", &alice),
        (
            "alice's notes",
            "/me/notes?limit=1&cursor=".to_owned(),
            "notes",
            &alice,
        ),
        (
            "bob's notes",
            "/me/notes?limit=1&cursor=".to_owned(),
            "notes",
            &bob,
        ),
        (
            "comments",
            format!("/notes/{note}/comments?limit=1&cursor="),
            "comments",
            &alice,
        ),
        (
            "owner's comments",
            format!("/me/notes/{note}/comments?limit=1&cursor="),
            "comments",
            &alice,
        ),
        (
            "other comments",
            format!("/notes/{other_note}/comments?limit=1&cursor="),
            "comments",
            &alice,
        ),
    ];
    let mut walked = Vec::new();
    for (name, path, key, token) in &lists {
        let (ids, cursors) = walk(&api, path, key, token).await;
        walked.push((name, ids, cursors));
    }
    let (_, feed, _) = &walked[0];
    for id in alice_notes.iter().chain([&bob_note]) {
        assert!(feed.contains(id), "the feed lists {id}");
    }
    assert_eq!(
        walked[1].1,
        alice_notes.iter().rev().cloned().collect::<Vec<_>>()
    );
    assert_eq!(walked[2].1, vec![bob_note.clone()]);
    assert_eq!(walked[3].1.len(), 3, "{:?}", walked[3].1);
    assert_eq!(
        walked[4].1, walked[3].1,
        "the owner's route lists the same comments"
    );
    assert_eq!(walked[5].1.len(), 2);
    // A cursor is good on its own list only: the public and the owner's comment routes list
    // the same comments, so they share cursors; any other pair refuses.
    let same_list = |a: usize, b: usize| a == b || (a.min(b), a.max(b)) == (3, 4);
    for (from, (from_name, _, cursors)) in walked.iter().enumerate() {
        for cursor in cursors {
            for (to, (to_name, path, _, token)) in lists.iter().enumerate() {
                let reply = api.get(&format!("{path}{cursor}"), Some(token)).await;
                if same_list(from, to) {
                    reply.expect(200);
                } else {
                    assert_cursor_refused(&reply, &format!("{from_name}'s cursor on {to_name}"));
                }
            }
        }
    }
}
