//! Relations and threads: `/relations` pages and filters, what a late
//! joiner may see, bundled aggregations (threads, edits, references) in
//! sync, `/messages`, `/event` and `/context`, `/threads` ordering, and
//! threaded read receipts.

// Test code throughout: allow-unwrap-in-tests (clippy.toml) covers only
// #[test] functions, not the helpers an integration test crate shares.
#![allow(clippy::unwrap_used)]

mod support;

use serde_json::{Value, json};
use support::{Backend, TestServer};

both_backends! {
    relations_page_filter_and_hide => relations_page_filter_and_hide,
    aggregations_are_bundled_everywhere => aggregations_are_bundled_everywhere,
    threads_by_latest_activity => threads_by_latest_activity,
    threaded_receipts_are_checked_and_synced => threaded_receipts_are_checked_and_synced,
    matrix_sdk_reads_relations_and_threads => matrix_sdk_reads_relations_and_threads,
    unread_counts_per_thread => unread_counts_per_thread,
    reactions_are_not_repeated => reactions_are_not_repeated,
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Sends `content` of `ty` as `token`; returns the event ID.
async fn send(server: &TestServer, token: &str, room: &str, ty: &str, content: Value) -> String {
    let txn = format!("t{}", rand_suffix());
    let (status, v) = server.send_event(token, room, ty, &txn, content).await;
    assert_eq!(status, 200, "send: {v}");
    v["event_id"].as_str().unwrap().to_owned()
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

fn text(body: &str) -> Value {
    json!({ "msgtype": "m.text", "body": body })
}

fn thread_reply(root: &str, body: &str) -> Value {
    json!({
        "msgtype": "m.text", "body": body,
        "m.relates_to": { "rel_type": "m.thread", "event_id": root, "is_falling_back": true,
                          "m.in_reply_to": { "event_id": root } }
    })
}

fn edit(original: &str, body: &str) -> Value {
    json!({
        "msgtype": "m.text", "body": format!("* {body}"),
        "m.new_content": { "msgtype": "m.text", "body": body },
        "m.relates_to": { "rel_type": "m.replace", "event_id": original }
    })
}

async fn get(server: &TestServer, token: &str, path: &str) -> (u16, Value) {
    server.call(Some(token), "GET", path, Value::Null).await
}

fn ids(chunk: &Value) -> Vec<String> {
    chunk
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_id"].as_str().unwrap().to_owned())
        .collect()
}

fn relations_path(room: &str, parent: &str, rest: &str) -> String {
    format!("/_matrix/client/v1/rooms/{room}/relations/{parent}{rest}")
}

async fn relations_page_filter_and_hide(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register_token("alice").await;
    let bob = server.register_token("bob").await;
    let carol = server.register_token("carol").await;
    let room = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    let root = send(&server, &alice, &room, "m.room.message", text("root")).await;
    let mut sent = Vec::new();
    for i in 0..3 {
        sent.push(
            send(
                &server,
                &alice,
                &room,
                "m.room.message",
                thread_reply(&root, &format!("reply {i}")),
            )
            .await,
        );
    }
    let reaction = send(
        &server,
        &alice,
        &room,
        "m.reaction",
        json!({ "m.relates_to": { "rel_type": "m.annotation", "event_id": root, "key": "👍" } }),
    )
    .await;
    sent.push(reaction.clone());
    // A reply alone is no relation.
    send(
        &server,
        &alice,
        &room,
        "m.room.message",
        json!({ "msgtype": "m.text", "body": "re", "m.relates_to": { "m.in_reply_to": { "event_id": root } } }),
    )
    .await;
    // A reaction to a thread reply: found only when recursing.
    let nested = send(
        &server,
        &alice,
        &room,
        "m.reaction",
        json!({ "m.relates_to": { "rel_type": "m.annotation", "event_id": sent[0], "key": "1" } }),
    )
    .await;

    // Backward, two at a time, following next_batch.
    let mut seen = Vec::new();
    let mut from: Option<String> = None;
    for _ in 0..5 {
        let path = relations_path(
            &room,
            &root,
            &format!(
                "?limit=2{}",
                from.as_ref()
                    .map(|f| format!("&from={}", enc(f)))
                    .unwrap_or_default()
            ),
        );
        let (status, page) = get(&server, &alice, &path).await;
        assert_eq!(status, 200, "{page}");
        seen.extend(ids(&page["chunk"]));
        if let Some(f) = &from {
            assert_eq!(page["prev_batch"], json!(f));
        }
        match page["next_batch"].as_str() {
            Some(next) => from = Some(next.to_owned()),
            None => break,
        }
    }
    let mut newest_first = sent.clone();
    newest_first.reverse();
    assert_eq!(seen, newest_first);
    // Forward, oldest first.
    let (_, forward) = get(
        &server,
        &alice,
        &relations_path(&room, &root, "?dir=f&limit=10"),
    )
    .await;
    assert_eq!(ids(&forward["chunk"]), sent);
    assert!(forward.get("next_batch").is_none());
    // Forward pages.
    let (_, first) = get(
        &server,
        &alice,
        &relations_path(&room, &root, "?dir=f&limit=3"),
    )
    .await;
    assert_eq!(ids(&first["chunk"]), sent[..3]);
    let next = first["next_batch"].as_str().unwrap();
    let (_, second) = get(
        &server,
        &alice,
        &relations_path(&room, &root, &format!("?dir=f&limit=3&from={}", enc(next))),
    )
    .await;
    assert_eq!(ids(&second["chunk"]), sent[3..]);

    // Filters by relation type, then event type.
    let (_, threads) = get(&server, &alice, &relations_path(&room, &root, "/m.thread")).await;
    assert_eq!(
        ids(&threads["chunk"]),
        [sent[2].clone(), sent[1].clone(), sent[0].clone()]
    );
    let (_, reactions) = get(
        &server,
        &alice,
        &relations_path(&room, &root, "/m.annotation/m.reaction"),
    )
    .await;
    assert_eq!(ids(&reactions["chunk"]), vec![reaction.clone()]);
    let (_, none) = get(
        &server,
        &alice,
        &relations_path(&room, &root, "/m.thread/m.reaction"),
    )
    .await;
    assert_eq!(ids(&none["chunk"]), Vec::<String>::new());
    // Recursion reaches the reaction to a reply.
    let (_, deep) = get(
        &server,
        &alice,
        &relations_path(&room, &root, "?recurse=true&limit=20"),
    )
    .await;
    assert_eq!(ids(&deep["chunk"])[0], nested);
    assert_eq!(deep["recursion_depth"], json!(3));

    // Someone never in the room may not read it; an unknown parent is 404.
    let (status, _) = get(&server, &carol, &relations_path(&room, &root, "")).await;
    assert_eq!(status, 403);
    let (status, v) = get(&server, &alice, &relations_path(&room, "$nosuchevent", "")).await;
    assert_eq!((status, v["errcode"].clone()), (404, json!("M_NOT_FOUND")));

    // History visible only from joining: a later joiner gets 404 for a
    // parent from before, and, for a parent shared before the switch,
    // sees only the relations sent after their join.
    let (status, _) = server
        .send_state(
            &alice,
            &room,
            "m.room.history_visibility",
            "",
            json!({ "history_visibility": "joined" }),
        )
        .await;
    assert_eq!(status, 200);
    let hidden = send(
        &server,
        &alice,
        &room,
        "m.room.message",
        thread_reply(&root, "hidden"),
    )
    .await;
    server.join(&bob, &room).await;
    let after = send(
        &server,
        &alice,
        &room,
        "m.room.message",
        thread_reply(&root, "after"),
    )
    .await;
    // The root was shared before the switch: bob sees it and its
    // relations, but not the one sent while history was `joined` and he
    // was out.
    let (status, page) = get(
        &server,
        &bob,
        &relations_path(&room, &root, "/m.thread?limit=50"),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    let got = ids(&page["chunk"]);
    assert!(got.contains(&after) && got.contains(&sent[0]), "{got:?}");
    assert!(!got.contains(&hidden), "{got:?}");
    // A room whose history was always `joined`: a parent from before his
    // join is not found.
    let room2 = server
        .create_room(
            &alice,
            json!({ "preset": "public_chat", "initial_state": [{
                "type": "m.room.history_visibility", "state_key": "",
                "content": { "history_visibility": "joined" } }] }),
        )
        .await;
    let root2 = send(&server, &alice, &room2, "m.room.message", text("before")).await;
    send(
        &server,
        &alice,
        &room2,
        "m.room.message",
        thread_reply(&root2, "x"),
    )
    .await;
    server.join(&bob, &room2).await;
    let (status, _) = get(&server, &bob, &relations_path(&room2, &root2, "")).await;
    assert_eq!(status, 404);
}

async fn aggregations_are_bundled_everywhere(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register_token("alice").await;
    let bob = server.register_token("bob").await;
    let room = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    server.join(&bob, &room).await;
    let root = send(&server, &alice, &room, "m.room.message", text("root")).await;
    let t1 = send(
        &server,
        &bob,
        &room,
        "m.room.message",
        thread_reply(&root, "one"),
    )
    .await;
    let t2 = send(
        &server,
        &alice,
        &room,
        "m.room.message",
        thread_reply(&root, "two"),
    )
    .await;
    let edit_alice = send(
        &server,
        &alice,
        &room,
        "m.room.message",
        edit(&root, "fixed"),
    )
    .await;
    // Only the original sender's edits count.
    send(
        &server,
        &bob,
        &room,
        "m.room.message",
        edit(&root, "vandal"),
    )
    .await;
    let reference = send(
        &server,
        &bob,
        &room,
        "m.room.message",
        json!({ "msgtype": "m.text", "body": "see",
                "m.relates_to": { "rel_type": "m.reference", "event_id": root } }),
    )
    .await;

    let check = |ev: &Value, who: &str, participated: bool| {
        let rel = &ev["unsigned"]["m.relations"];
        assert_eq!(rel["m.thread"]["count"], json!(2), "{who}: {ev}");
        assert_eq!(rel["m.thread"]["latest_event"]["event_id"], json!(t2));
        assert_eq!(
            rel["m.thread"]["latest_event"]["content"]["body"],
            json!("two")
        );
        assert_eq!(
            rel["m.thread"]["current_user_participated"],
            json!(participated)
        );
        assert_eq!(rel["m.replace"]["event_id"], json!(edit_alice), "{who}");
        assert_eq!(rel["m.replace"]["sender"], ev["sender"]);
        assert!(rel["m.replace"]["origin_server_ts"].is_u64());
        assert_eq!(
            rel["m.reference"]["chunk"],
            json!([{ "event_id": reference }])
        );
    };

    // /event, for each user.
    let (status, ev) = get(
        &server,
        &alice,
        &format!("/_matrix/client/v3/rooms/{room}/event/{root}"),
    )
    .await;
    assert_eq!(status, 200);
    check(&ev, "alice /event", true);
    let (_, ev) = get(
        &server,
        &bob,
        &format!("/_matrix/client/v3/rooms/{room}/event/{root}"),
    )
    .await;
    check(&ev, "bob /event", true);
    let carol = server.register_token("carol").await;
    server.join(&carol, &room).await;
    let (_, ev) = get(
        &server,
        &carol,
        &format!("/_matrix/client/v3/rooms/{room}/event/{root}"),
    )
    .await;
    check(&ev, "carol /event", false);

    // /messages.
    let (_, page) = get(
        &server,
        &alice,
        &format!("/_matrix/client/v3/rooms/{room}/messages?dir=b&limit=50"),
    )
    .await;
    let find = |chunk: &Value, id: &str| -> Value {
        chunk
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["event_id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("{id} not in {chunk}"))
    };
    check(&find(&page["chunk"], &root), "/messages", true);
    // Replies carry no summary of their own.
    assert!(
        find(&page["chunk"], &t1)["unsigned"]
            .get("m.relations")
            .is_none()
    );

    // /context, with the event in the middle and around.
    let (_, context) = get(
        &server,
        &alice,
        &format!("/_matrix/client/v3/rooms/{room}/context/{root}?limit=10"),
    )
    .await;
    check(&context["event"], "/context", true);
    let (_, context) = get(
        &server,
        &alice,
        &format!("/_matrix/client/v3/rooms/{room}/context/{t1}?limit=10"),
    )
    .await;
    check(
        &find(&context["events_before"], &root),
        "/context before",
        true,
    );

    // Sync: the prefetched timeline, and one a filter chose.
    for filter in [
        json!({ "room": { "timeline": { "limit": 50 } } }),
        json!({ "room": { "timeline": { "limit": 50, "types": ["m.room.message"] } } }),
    ] {
        let (status, sync) = get(
            &server,
            &alice,
            &format!(
                "/_matrix/client/v3/sync?filter={}",
                enc(&filter.to_string())
            ),
        )
        .await;
        assert_eq!(status, 200);
        let timeline = &sync["rooms"]["join"][&room]["timeline"]["events"];
        check(&find(timeline, &root), "sync", true);
    }

    // Redacting the latest reply: the summary falls back to the first.
    let (status, v) = server
        .call(
            Some(&alice),
            "PUT",
            &format!("/_matrix/client/v3/rooms/{room}/redact/{t2}/r1"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let (_, ev) = get(
        &server,
        &alice,
        &format!("/_matrix/client/v3/rooms/{room}/event/{root}"),
    )
    .await;
    let thread = &ev["unsigned"]["m.relations"]["m.thread"];
    assert_eq!(thread["count"], json!(1));
    assert_eq!(thread["latest_event"]["event_id"], json!(t1));
    let (_, page) = get(&server, &alice, &relations_path(&room, &root, "/m.thread")).await;
    assert_eq!(ids(&page["chunk"]), vec![t1.clone()]);
}

async fn threads_by_latest_activity(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register_token("alice").await;
    let bob = server.register_token("bob").await;
    let room = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    server.join(&bob, &room).await;
    let a = send(&server, &alice, &room, "m.room.message", text("A")).await;
    let b = send(&server, &alice, &room, "m.room.message", text("B")).await;
    let c = send(
        &server,
        &alice,
        &room,
        "m.room.message",
        text("C, no thread"),
    )
    .await;
    send(
        &server,
        &bob,
        &room,
        "m.room.message",
        thread_reply(&a, "a1"),
    )
    .await;
    send(
        &server,
        &alice,
        &room,
        "m.room.message",
        thread_reply(&b, "b1"),
    )
    .await;
    let latest = send(
        &server,
        &alice,
        &room,
        "m.room.message",
        thread_reply(&a, "a2"),
    )
    .await;

    let threads_path = |query: &str| format!("/_matrix/client/v1/rooms/{room}/threads{query}");
    let (status, all) = get(&server, &alice, &threads_path("")).await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(ids(&all["chunk"]), [a.clone(), b.clone()]);
    assert!(!ids(&all["chunk"]).contains(&c));
    let summary = &all["chunk"][0]["unsigned"]["m.relations"]["m.thread"];
    assert_eq!(summary["latest_event"]["event_id"], json!(latest));
    assert_eq!(all["chunk"][0]["room_id"], json!(room));
    // Pages of one.
    let (_, first) = get(&server, &alice, &threads_path("?limit=1")).await;
    assert_eq!(ids(&first["chunk"]), vec![a.clone()]);
    let next = first["next_batch"].as_str().unwrap();
    let (_, second) = get(
        &server,
        &alice,
        &threads_path(&format!("?limit=1&from={}", enc(next))),
    )
    .await;
    assert_eq!(ids(&second["chunk"]), vec![b.clone()]);
    assert!(second.get("next_batch").is_none());
    // Bob took part in A only; alice started both.
    let (_, mine) = get(&server, &bob, &threads_path("?include=participated")).await;
    assert_eq!(ids(&mine["chunk"]), vec![a.clone()]);
    let (_, mine) = get(&server, &alice, &threads_path("?include=participated")).await;
    assert_eq!(ids(&mine["chunk"]), [a.clone(), b.clone()]);
    let (status, _) = get(&server, &alice, &threads_path("?include=mine")).await;
    assert_eq!(status, 400);
    // New activity in B puts it first.
    send(
        &server,
        &bob,
        &room,
        "m.room.message",
        thread_reply(&b, "b2"),
    )
    .await;
    let (_, all) = get(&server, &alice, &threads_path("")).await;
    assert_eq!(ids(&all["chunk"]), [b, a.clone()]);

    // As Synapse: no thread from a thread reply, no relation to another
    // room's event.
    let (status, v) = server
        .send_event(
            &alice,
            &room,
            "m.room.message",
            "bad1",
            thread_reply(&latest, "x"),
        )
        .await;
    assert_eq!(
        (status, v["errcode"].clone()),
        (400, json!("M_INVALID_PARAM"))
    );
    let other = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    let (status, _) = server
        .send_event(
            &alice,
            &other,
            "m.room.message",
            "bad2",
            thread_reply(&a, "x"),
        )
        .await;
    assert_eq!(status, 400);
}

async fn threaded_receipts_are_checked_and_synced(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register_token("alice").await;
    let bob = server.register_token("bob").await;
    let room = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    server.join(&bob, &room).await;
    let root = send(&server, &alice, &room, "m.room.message", text("root")).await;
    let reply = send(
        &server,
        &alice,
        &room,
        "m.room.message",
        thread_reply(&root, "r"),
    )
    .await;
    let plain = send(&server, &alice, &room, "m.room.message", text("plain")).await;
    let receipt =
        |event: &str, ty: &str| format!("/_matrix/client/v3/rooms/{room}/receipt/{ty}/{event}");

    for (event, ty, body, want) in [
        (&reply, "m.read", json!({ "thread_id": root }), 200),
        (&plain, "m.read", json!({ "thread_id": "main" }), 200),
        (&plain, "m.read", json!({ "thread_id": "nonsense" }), 400),
        (&plain, "m.read", json!({ "thread_id": plain }), 400),
        (&plain, "m.fully_read", json!({ "thread_id": "main" }), 400),
        (&plain, "m.read", json!({}), 200),
    ] {
        let (status, v) = server
            .call(Some(&bob), "POST", &receipt(event, ty), body.clone())
            .await;
        assert_eq!(status, want, "{ty} {body}: {v}");
        if want == 400 {
            assert!(v["errcode"].as_str().unwrap().starts_with("M_"), "{v}");
        }
    }
    let (_, sync) = get(&server, &alice, "/_matrix/client/v3/sync").await;
    let ephemeral = &sync["rooms"]["join"][&room]["ephemeral"]["events"];
    let receipts = ephemeral
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "m.receipt")
        .unwrap_or_else(|| panic!("no receipts in {ephemeral}"));
    let bob_id = format!("@bob:{}", "localhost");
    assert_eq!(
        receipts["content"][&reply]["m.read"][&bob_id]["thread_id"],
        json!(root),
        "{receipts}"
    );
}

/// matrix-sdk's `Room::relations` and `Room::list_threads` (which leaves
/// out `include=all`, the default) against the server.
async fn matrix_sdk_reads_relations_and_threads(backend: Backend) {
    use matrix_sdk::{
        room::{IncludeRelations, ListThreadsOptions, RelationsOptions},
        ruma::{api::client::room::create_room, events::relation::RelationType},
    };
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    support::sync_once(&alice).await;
    let room = alice
        .create_room(create_room::v3::Request::new())
        .await
        .unwrap();
    let root = room
        .send_raw("m.room.message", text("root"))
        .await
        .unwrap()
        .response
        .event_id;
    let reply = room
        .send_raw("m.room.message", thread_reply(root.as_str(), "reply"))
        .await
        .unwrap()
        .response
        .event_id;
    let relations = room
        .relations(
            root.clone(),
            RelationsOptions {
                include_relations: IncludeRelations::RelationsOfType(RelationType::Thread),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let got: Vec<_> = relations
        .chunk
        .iter()
        .filter_map(|e| e.event_id())
        .collect();
    assert_eq!(got, [reply]);
    let threads = room
        .list_threads(ListThreadsOptions::default())
        .await
        .unwrap();
    let roots: Vec<_> = threads.chunk.iter().filter_map(|e| e.event_id()).collect();
    assert_eq!(roots, [root]);
}

/// With `unread_thread_notifications` in the filter, a room's count is its
/// main timeline's and each thread has its own, each after its receipt.
async fn unread_counts_per_thread(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register_token("alice").await;
    let bob = server.register_token("bob").await;
    let room = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    server.join(&bob, &room).await;
    let root = send(&server, &alice, &room, "m.room.message", text("root")).await;
    let t1 = send(
        &server,
        &alice,
        &room,
        "m.room.message",
        thread_reply(&root, "1"),
    )
    .await;
    send(
        &server,
        &alice,
        &room,
        "m.room.message",
        thread_reply(&root, "2"),
    )
    .await;
    let main = send(&server, &alice, &room, "m.room.message", text("main")).await;
    let filter = json!({ "room": { "timeline": { "unread_thread_notifications": true } } });
    let sync = |filter: Value| {
        let server = &server;
        let bob = bob.clone();
        let room = room.clone();
        async move {
            let (status, v) = get(
                server,
                &bob,
                &format!(
                    "/_matrix/client/v3/sync?filter={}",
                    enc(&filter.to_string())
                ),
            )
            .await;
            assert_eq!(status, 200);
            v["rooms"]["join"][&room].clone()
        }
    };
    let joined = sync(filter.clone()).await;
    assert_eq!(
        joined["unread_notifications"]["notification_count"],
        json!(2)
    );
    assert_eq!(
        joined["unread_thread_notifications"][&root]["notification_count"],
        json!(2),
        "{joined}"
    );
    // Without the flag: one count for everything.
    let plain = sync(json!({})).await;
    assert_eq!(
        plain["unread_notifications"]["notification_count"],
        json!(4)
    );
    assert!(plain.get("unread_thread_notifications").is_none());

    let receipt = |event: &str| format!("/_matrix/client/v3/rooms/{room}/receipt/m.read/{event}");
    let (status, _) = server
        .call(
            Some(&bob),
            "POST",
            &receipt(&t1),
            json!({ "thread_id": root }),
        )
        .await;
    assert_eq!(status, 200);
    let joined = sync(filter.clone()).await;
    assert_eq!(
        joined["unread_thread_notifications"][&root]["notification_count"],
        json!(1)
    );
    assert_eq!(
        joined["unread_notifications"]["notification_count"],
        json!(2)
    );
    let (status, _) = server
        .call(
            Some(&bob),
            "POST",
            &receipt(&main),
            json!({ "thread_id": "main" }),
        )
        .await;
    assert_eq!(status, 200);
    let joined = sync(filter).await;
    assert_eq!(
        joined["unread_notifications"]["notification_count"],
        json!(0)
    );
    assert_eq!(
        joined["unread_thread_notifications"][&root]["notification_count"],
        json!(1)
    );
}

/// As Synapse: the same reaction (sender, target, key) is refused until
/// the first one is redacted; a reaction needs a key.
async fn reactions_are_not_repeated(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register_token("alice").await;
    let bob = server.register_token("bob").await;
    let room = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    server.join(&bob, &room).await;
    let target = send(&server, &alice, &room, "m.room.message", text("vote")).await;
    let reaction = |key: &str| json!({ "m.relates_to": { "rel_type": "m.annotation", "event_id": target, "key": key } });
    let first = send(&server, &alice, &room, "m.reaction", reaction("👍")).await;
    let (status, v) = server
        .send_event(&alice, &room, "m.reaction", "again", reaction("👍"))
        .await;
    assert_eq!(
        (status, v["errcode"].as_str()),
        (400, Some("M_DUPLICATE_ANNOTATION")),
        "{v}"
    );
    // Another key, or another sender, is a new reaction.
    send(&server, &alice, &room, "m.reaction", reaction("🎉")).await;
    send(&server, &bob, &room, "m.reaction", reaction("👍")).await;
    let (status, v) = server
        .send_event(&alice, &room, "m.reaction", "nokey", reaction(""))
        .await;
    assert_eq!(
        (status, v["errcode"].as_str()),
        (400, Some("M_BAD_JSON")),
        "{v}"
    );
    // Sent twice at once, one of the two is refused.
    let (a, b) = tokio::join!(
        server.send_event(&bob, &room, "m.reaction", "race1", reaction("🚀")),
        server.send_event(&bob, &room, "m.reaction", "race2", reaction("🚀")),
    );
    let mut statuses = [a.0, b.0];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 400], "{} {}", a.1, b.1);
    // Once redacted, it may be sent again.
    let path = format!("/_matrix/client/v3/rooms/{room}/redact/{first}/undo");
    let (status, v) = server.call(Some(&alice), "PUT", &path, json!({})).await;
    assert_eq!(status, 200, "{v}");
    send(&server, &alice, &room, "m.reaction", reaction("👍")).await;
}
