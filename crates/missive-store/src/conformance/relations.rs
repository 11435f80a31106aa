//! Relations: indexed with their event on every write path, paged by
//! position, threads by latest activity, aggregations in one read, and
//! forgotten on redaction.

use std::collections::HashMap;

use super::*;

/// An event of `sender` relating to `parent` by `rel_type`.
fn related(id: &str, prev: &str, sender: &str, rel_type: &str, parent: &str) -> NewEvent {
    NewEvent {
        sender: sender.into(),
        relation: Some(NewRelation {
            relates_to: parent.into(),
            rel_type: rel_type.into(),
        }),
        ..event("!r:test", id, "m.room.message", None, &[prev])
    }
}

fn event_ids(events: &[StoredEvent]) -> Vec<&str> {
    events.iter().map(|e| e.event_id.as_str()).collect()
}

fn query<'a>(parent: &'a ruma::EventId, direction: TimelineDirection) -> RelationQuery<'a> {
    RelationQuery {
        room_id: room_id!("!r:test"),
        parent,
        rel_type: None,
        event_type: None,
        from: match direction {
            TimelineDirection::Backward => StreamPos::END,
            TimelineDirection::Forward => StreamPos::ZERO,
        },
        bound: None,
        direction,
        limit: 100,
        recurse: false,
    }
}

pub async fn relations_are_indexed_paged_and_redacted(store: SqlStore) {
    let last = create_room(&store, "!r:test").await;
    let other = create_room(&store, "!o:test").await;
    let bob = "@bob:test";
    let alice = "@alice:test";
    store
        .persist_event(event("!r:test", "$root", "m.room.message", None, &[&last]))
        .await
        .unwrap();
    // The first reply and a message elsewhere are written together (the
    // batched path for plain messages); the rest one by one.
    let (t1, elsewhere) = tokio::join!(
        store.persist_event(related("$t1", "$root", bob, "m.thread", "$root")),
        store.persist_event(event("!o:test", "$o1", "m.room.message", None, &[&other])),
    );
    t1.unwrap();
    elsewhere.unwrap();
    let chain = [
        related("$t2", "$t1", alice, "m.thread", "$root"),
        related("$edit_bob", "$t2", bob, "m.replace", "$root"),
        related("$edit1", "$edit_bob", alice, "m.replace", "$root"),
        related("$edit2", "$edit1", alice, "m.replace", "$root"),
        related("$ref", "$edit2", bob, "m.reference", "$root"),
        related("$ann", "$ref", bob, "m.annotation", "$t1"),
        related("$root2", "$ann", bob, "m.thread", "$elsewhere"),
    ];
    for mut e in chain {
        if e.event_id == "$edit2" {
            e.origin_server_ts = 2000;
        }
        if e.event_id == "$edit_bob" {
            e.origin_server_ts = 9000;
        }
        store.persist_event(e).await.unwrap();
    }
    // A message with no relation is not indexed.
    store
        .persist_event(event(
            "!r:test",
            "$plain",
            "m.room.message",
            None,
            &["$root2"],
        ))
        .await
        .unwrap();

    let root = event_id!("$root");
    let all = store
        .relations(query(root, TimelineDirection::Backward))
        .await
        .unwrap();
    assert_eq!(
        event_ids(&all),
        ["$ref", "$edit2", "$edit1", "$edit_bob", "$t2", "$t1"]
    );
    let forward = store
        .relations(query(root, TimelineDirection::Forward))
        .await
        .unwrap();
    assert_eq!(
        event_ids(&forward),
        ["$t1", "$t2", "$edit_bob", "$edit1", "$edit2", "$ref"]
    );
    // Pages: two at a time backward, the next page at or before the
    // position before the last one.
    let mut page = query(root, TimelineDirection::Backward);
    page.limit = 2;
    let first = store.relations(page).await.unwrap();
    assert_eq!(event_ids(&first), ["$ref", "$edit2"]);
    page.from = first[1].stream_ordering.prev();
    let second = store.relations(page).await.unwrap();
    assert_eq!(event_ids(&second), ["$edit1", "$edit_bob"]);
    // Forward with an upper bound.
    let mut bounded = query(root, TimelineDirection::Forward);
    bounded.from = all[5].stream_ordering;
    bounded.bound = Some(all[2].stream_ordering);
    assert_eq!(
        event_ids(&store.relations(bounded).await.unwrap()),
        ["$t2", "$edit_bob", "$edit1"]
    );
    let mut threads_only = query(root, TimelineDirection::Backward);
    threads_only.rel_type = Some("m.thread");
    assert_eq!(
        event_ids(&store.relations(threads_only).await.unwrap()),
        ["$t2", "$t1"]
    );
    threads_only.event_type = Some("m.reaction");
    assert!(store.relations(threads_only).await.unwrap().is_empty());
    // Recursion reaches the annotation of a thread reply.
    let mut deep = query(root, TimelineDirection::Backward);
    deep.recurse = true;
    assert_eq!(event_ids(&store.relations(deep).await.unwrap())[0], "$ann");
    // The room must match.
    let mut wrong_room = query(root, TimelineDirection::Backward);
    wrong_room.room_id = room_id!("!o:test");
    assert!(store.relations(wrong_room).await.unwrap().is_empty());

    // Threads: latest activity first; a thread rooted in an unknown event
    // is not listed.
    let room = room_id!("!r:test");
    let threads = store.threads(room, None, StreamPos::END, 10).await.unwrap();
    assert_eq!(threads.len(), 1);
    assert_eq!(threads[0].root.event_id, "$root");
    assert_eq!(threads[0].latest_pos, all[4].stream_ordering);
    let before = store
        .threads(room, None, threads[0].latest_pos.prev(), 10)
        .await
        .unwrap();
    assert!(before.is_empty());
    for (who, n) in [(alice, 1), (bob, 1), ("@carol:test", 0)] {
        let user = <&ruma::UserId>::try_from(who).unwrap();
        let mine = store
            .threads(room, Some(user), StreamPos::END, 10)
            .await
            .unwrap();
        assert_eq!(mine.len(), n, "{who}");
    }

    // Aggregations, in one read.
    let parents: Vec<String> = vec!["$root".into(), "$t1".into(), "$plain".into()];
    let aggregates = store
        .relation_aggregates(user_id!("@bob:test"), &parents)
        .await
        .unwrap();
    let of_root = &aggregates["$root"];
    let thread = of_root.thread.as_ref().unwrap();
    assert_eq!(
        (
            thread.latest.event_id.as_str(),
            thread.count,
            thread.replied
        ),
        ("$t2", 2, true)
    );
    // The newest edit by the original's sender: bob's does not count.
    assert_eq!(of_root.edit.as_ref().unwrap().event_id, "$edit2");
    assert_eq!(event_ids(&of_root.references), ["$ref"]);
    assert!(!aggregates.contains_key("$plain"));
    let alice_view = store
        .relation_aggregates(user_id!("@alice:test"), &parents)
        .await
        .unwrap();
    assert!(alice_view["$root"].thread.as_ref().unwrap().replied);
    let carol_view = store
        .relation_aggregates(user_id!("@carol:test"), &parents)
        .await
        .unwrap();
    assert!(!carol_view["$root"].thread.as_ref().unwrap().replied);

    // Redacting a reply forgets its relation and recounts its thread.
    let mut redaction = event("!r:test", "$red", "m.room.redaction", None, &["$plain"]);
    redaction.redaction = Some(("$t2".into(), r#"{"redacted":true}"#.into()));
    store.persist_event(redaction).await.unwrap();
    let aggregates = store
        .relation_aggregates(user_id!("@alice:test"), &parents)
        .await
        .unwrap();
    let thread = aggregates["$root"].thread.as_ref().unwrap();
    assert_eq!(
        (
            thread.latest.event_id.as_str(),
            thread.count,
            thread.replied
        ),
        ("$t1", 1, false)
    );
    let threads = store.threads(room, None, StreamPos::END, 10).await.unwrap();
    assert_eq!(threads[0].latest_pos, all[5].stream_ordering);
    let mut redaction = event("!r:test", "$red2", "m.room.redaction", None, &["$red"]);
    redaction.redaction = Some(("$t1".into(), r#"{"redacted":true}"#.into()));
    store.persist_event(redaction).await.unwrap();
    assert!(
        store
            .threads(room, None, StreamPos::END, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        event_ids(
            &store
                .relations(query(root, TimelineDirection::Backward))
                .await
                .unwrap()
        ),
        ["$ref", "$edit2", "$edit1", "$edit_bob"]
    );

    // One sender's annotations of an event, gone once redacted.
    let t1 = event_id!("$t1");
    let bob_id = user_id!("@bob:test");
    let mine = store
        .relations_by_sender(t1, bob_id, "m.annotation")
        .await
        .unwrap();
    assert_eq!(event_ids(&mine), ["$ann"]);
    for (sender, rel_type) in [("@alice:test", "m.annotation"), (bob, "m.reference")] {
        let sender = <&ruma::UserId>::try_from(sender).unwrap();
        let none = store
            .relations_by_sender(t1, sender, rel_type)
            .await
            .unwrap();
        assert!(none.is_empty(), "{sender} {rel_type}");
    }
    let mut redaction = event("!r:test", "$red3", "m.room.redaction", None, &["$red2"]);
    redaction.redaction = Some(("$ann".into(), r#"{"redacted":true}"#.into()));
    store.persist_event(redaction).await.unwrap();
    let mine = store
        .relations_by_sender(t1, bob_id, "m.annotation")
        .await
        .unwrap();
    assert!(mine.is_empty());
}

pub async fn thread_unread_counts_follow_threaded_receipts(store: SqlStore) {
    let last = create_room(&store, "!r:test").await;
    let bob = "@bob:test";
    store
        .persist_event(member("!r:test", "$bobjoin", bob, "join", &[&last]))
        .await
        .unwrap();
    let notify = |mut e: NewEvent, highlight: bool| {
        e.push_actions = vec![(bob.into(), highlight)];
        e
    };
    let sends = [
        notify(
            event("!r:test", "$root", "m.room.message", None, &["$bobjoin"]),
            false,
        ),
        notify(
            related("$t1", "$root", "@alice:test", "m.thread", "$root"),
            true,
        ),
        notify(
            related("$t2", "$t1", "@alice:test", "m.thread", "$root"),
            false,
        ),
        notify(
            event("!r:test", "$main", "m.room.message", None, &["$t2"]),
            false,
        ),
    ];
    let mut positions = HashMap::new();
    for e in sends {
        let id = e.event_id.clone();
        let PersistOutcome::Persisted { stream_ordering } = store.persist_event(e).await.unwrap()
        else {
            panic!("not persisted");
        };
        positions.insert(id, stream_ordering);
    }
    let rooms = ids(&["!r:test".to_owned()]);
    let user = user_id!("@bob:test");
    let counts = |store: &SqlStore| {
        let rooms = rooms.clone();
        let store = store.clone();
        async move {
            store
                .thread_unread_counts(user, &rooms, StreamPos::END)
                .await
                .unwrap()
                .remove("!r:test")
                .unwrap_or_default()
        }
    };
    let got = counts(&store).await;
    assert_eq!(got["main"], (2, 0));
    assert_eq!(got["$root"], (2, 1));
    let receipt = |thread: &str, event: &str| ReceiptRecord {
        room_id: "!r:test".into(),
        user_id: bob.into(),
        receipt_type: "m.read".into(),
        thread_id: thread.into(),
        event_id: event.into(),
        event_order: positions[event],
        ts: 1,
    };
    // Reading the thread up to its first reply leaves the second unread.
    store.set_receipt(receipt("$root", "$t1")).await.unwrap();
    let got = counts(&store).await;
    assert_eq!((got["main"], got["$root"]), ((2, 0), (1, 0)));
    // The main timeline's receipt leaves the thread alone.
    store.set_receipt(receipt("main", "$main")).await.unwrap();
    let got = counts(&store).await;
    assert_eq!((got.get("main"), got["$root"]), (None, (1, 0)));
    // An unthreaded receipt covers everything before it.
    store.set_receipt(receipt("", "$main")).await.unwrap();
    assert!(counts(&store).await.is_empty());
}
