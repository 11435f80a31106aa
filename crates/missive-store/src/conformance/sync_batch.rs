//! Conformance: reads a sync makes for many rooms at once answer as the
//! per-room reads do.

use super::*;

pub async fn sync_reads_for_many_rooms_match_per_room_reads(store: SqlStore) {
    let rooms: Vec<String> = vec!["!a:test".into(), "!b:test".into(), "!quiet:test".into()];
    let a = create_room(&store, "!a:test").await;
    let b = create_room(&store, "!b:test").await;
    create_room(&store, "!quiet:test").await;
    let before = store.current_position().await.unwrap();

    // Bob joins a; a gets a visibility change and two messages for bob,
    // one highlighted, the first of which he has read.
    store
        .persist_event(member("!a:test", "$bj", "@bob:test", "join", &[&a]))
        .await
        .unwrap();
    store
        .persist_event(event(
            "!a:test",
            "$hv",
            "m.room.history_visibility",
            Some(""),
            &["$bj"],
        ))
        .await
        .unwrap();
    let mut m1 = event("!a:test", "$m1", "m.room.message", None, &["$hv"]);
    m1.push_actions = vec![("@bob:test".into(), false)];
    store.persist_event(m1).await.unwrap();
    let mut m2 = event("!a:test", "$m2", "m.room.message", None, &["$m1"]);
    m2.push_actions = vec![("@bob:test".into(), true)];
    store.persist_event(m2).await.unwrap();
    let m1_order = store
        .event(event_id!("$m1"))
        .await
        .unwrap()
        .unwrap()
        .stream_ordering;
    store
        .set_receipt(ReceiptRecord {
            room_id: "!a:test".into(),
            user_id: "@bob:test".into(),
            receipt_type: "m.read".into(),
            thread_id: String::new(),
            event_id: "$m1".into(),
            event_order: m1_order,
            ts: 1,
        })
        .await
        .unwrap();
    // In b, carol types and bob is invited.
    store
        .persist_event(member("!b:test", "$bi", "@bob:test", "invite", &[&b]))
        .await
        .unwrap();
    store
        .set_typing(room_id!("!b:test"), user_id!("@carol:test"), Some(10_000))
        .await
        .unwrap();

    // Visibility: bob's memberships and visibility changes, per room.
    let batch = store
        .visibility_events_in(&ids(&rooms), user_id!("@bob:test"))
        .await
        .unwrap();
    // In stream order across both kinds (visibility is replayed in order).
    assert!(
        batch
            .windows(2)
            .all(|w| w[0].stream_ordering < w[1].stream_ordering)
    );
    for room in &rooms {
        let mut expected: Vec<String> = store
            .state_history(rid(room), "m.room.member", "@bob:test")
            .await
            .unwrap()
            .into_iter()
            .chain(
                store
                    .state_history(rid(room), "m.room.history_visibility", "")
                    .await
                    .unwrap(),
            )
            .map(|e| e.event_id)
            .collect();
        expected.sort();
        let mut got: Vec<String> = batch
            .iter()
            .filter(|e| &e.room_id == room)
            .map(|e| e.event_id.clone())
            .collect();
        got.sort();
        assert_eq!(got, expected, "{room}");
    }
    assert!(
        batch
            .windows(2)
            .all(|w| w[0].stream_ordering < w[1].stream_ordering)
    );

    // Typing: only the room that changed, with its typers.
    let typing = store.typing_in(&ids(&rooms), before, 5_000).await.unwrap();
    assert_eq!(typing.len(), 1);
    assert_eq!(typing["!b:test"], ["@carol:test"]);
    // Everyone stopped: the room is still reported, with nobody.
    assert_eq!(
        store.typing_in(&ids(&rooms), before, 50_000).await.unwrap()["!b:test"],
        Vec::<String>::new()
    );

    // Receipts as per room.
    let receipts = store.receipts_in(&ids(&rooms), before).await.unwrap();
    assert_eq!(
        receipts,
        store
            .receipts_since(room_id!("!a:test"), before)
            .await
            .unwrap()
    );

    // Unread counts after the read receipt.
    let now = store.current_position().await.unwrap();
    let unread = store
        .unread_counts_in(user_id!("@bob:test"), &ids(&rooms), now)
        .await
        .unwrap();
    let read = store
        .read_up_to(room_id!("!a:test"), user_id!("@bob:test"))
        .await
        .unwrap();
    assert_eq!(
        unread["!a:test"],
        store
            .unread_counts(user_id!("@bob:test"), room_id!("!a:test"), read)
            .await
            .unwrap()
    );
    assert_eq!(unread["!a:test"], (1, 1));
    assert_eq!(unread.len(), 1);

    // Memberships changed since `before`.
    let changed = store
        .members_changed_in(&ids(&rooms), before)
        .await
        .unwrap();
    let got: Vec<(&str, &str, &str)> = changed
        .iter()
        .map(|m| {
            (
                m.room_id.as_str(),
                m.user_id.as_str(),
                m.membership.as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("!a:test", "@bob:test", "join"),
            ("!b:test", "@bob:test", "invite")
        ]
    );
    assert!(
        store
            .members_changed_in(&[], StreamPos::ZERO)
            .await
            .unwrap()
            .is_empty()
    );

    // Timelines: as `room_events` per room, for any window and limit.
    let upto = store.current_position().await.unwrap();
    for (since, limit) in [(None, 2), (None, 100), (Some(before), 3), (Some(upto), 5)] {
        let batch = store
            .timelines_in(&ids(&rooms), since, upto, limit)
            .await
            .unwrap();
        for room in &rooms {
            let expected: Vec<String> = store
                .room_events(
                    rid(room),
                    upto.next(),
                    since,
                    TimelineDirection::Backward,
                    limit,
                )
                .await
                .unwrap()
                .into_iter()
                .map(|e| e.event_id)
                .collect();
            let got: Vec<String> = batch
                .get(room)
                .into_iter()
                .flatten()
                .map(|e| e.event_id.clone())
                .collect();
            assert_eq!(got, expected, "{room} since {since:?} limit {limit}");
        }
    }
    // Events after `upto` are not included.
    let earlier = store
        .timelines_in(&ids(&rooms), None, before, 100)
        .await
        .unwrap();
    assert!(
        earlier
            .values()
            .flatten()
            .all(|e| e.stream_ordering <= before)
    );
}

/// The device's counts read together equal the separate reads.
pub async fn device_sync_counts_match_the_separate_reads(store: SqlStore) {
    let empty = store
        .device_sync_counts(user_id!("@a:test"), device_id!("D"))
        .await
        .unwrap();
    assert_eq!(empty, DeviceSyncCounts::default());

    store
        .add_one_time_keys(
            user_id!("@a:test"),
            device_id!("D"),
            &[otk("k1", "1"), otk("k2", "2")],
        )
        .await
        .unwrap();
    store
        .set_fallback_key(user_id!("@a:test"), device_id!("D"), &otk("f1", "fb"))
        .await
        .unwrap();
    // Another device's keys and messages do not count.
    store
        .add_one_time_keys(user_id!("@a:test"), device_id!("E"), &[otk("k3", "3")])
        .await
        .unwrap();
    let msg = |device: &str| ToDeviceMessage {
        recipient_user: "@a:test".into(),
        recipient_device: device.into(),
        message_json: "{}".into(),
    };
    store
        .queue_to_device(None, &[msg("D"), msg("D"), msg("E")])
        .await
        .unwrap();

    let counts = store
        .device_sync_counts(user_id!("@a:test"), device_id!("D"))
        .await
        .unwrap();
    assert_eq!(
        counts.one_time_keys,
        store
            .one_time_key_counts(user_id!("@a:test"), device_id!("D"))
            .await
            .unwrap()
    );
    assert_eq!(counts.one_time_keys.values().sum::<i64>(), 2);
    assert_eq!(
        counts.unused_fallback_keys,
        store
            .unused_fallback_key_types(user_id!("@a:test"), device_id!("D"))
            .await
            .unwrap()
    );
    assert_eq!(counts.unused_fallback_keys.len(), 1);
    assert_eq!(counts.queued_to_device, 2);
}

/// Unread counts stay exact when long ones are folded into summaries: as
/// more messages come, when the read receipt moves past the summary's
/// start, and when it moves into the messages counted one by one.
pub async fn unread_counts_fold_and_stay_exact(store: SqlStore) {
    let room = "!busy:test";
    let create = create_room(&store, room).await;
    store
        .persist_event(member(room, "$bj", "@bob:test", "join", &[&create]))
        .await
        .unwrap();
    let mut prev = "$bj".to_owned();
    let send = async |n: usize, prev: &mut String| {
        for _ in 0..n {
            let id = format!("$m{}", store.current_position().await.unwrap());
            let mut m = event(room, &id, "m.room.message", None, &[prev.as_str()]);
            // Every tenth one mentions bob.
            let order = store.current_position().await.unwrap();
            m.push_actions = vec![("@bob:test".into(), order.get() % 10 == 0)];
            store.persist_event(m).await.unwrap();
            *prev = id;
        }
    };
    // What the count must be: every action after bob's unread start, one
    // by one (the reference read, which never uses summaries).
    let expected = async |store: &SqlStore| {
        let from = match store
            .read_up_to(
                <&ruma::RoomId>::try_from(room).unwrap(),
                user_id!("@bob:test"),
            )
            .await
            .unwrap()
        {
            StreamPos::ZERO => {
                store
                    .event(event_id!("$bj"))
                    .await
                    .unwrap()
                    .unwrap()
                    .stream_ordering
            }
            read => read,
        };
        store
            .unread_counts(user_id!("@bob:test"), rid(room), from)
            .await
            .unwrap()
    };
    let rooms = vec![room.to_owned()];
    let counts = async |store: &SqlStore| {
        let now = store.current_position().await.unwrap();
        store
            .unread_counts_in(user_id!("@bob:test"), &ids(&rooms), now)
            .await
            .unwrap()[room]
    };
    let summaries = async |store: &SqlStore| -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM push_summaries")
            .fetch_one(&store.read)
            .await
            .unwrap()
    };

    send(150, &mut prev).await;
    assert_eq!(summaries(&store).await, 0);
    let first = counts(&store).await;
    assert_eq!(first.0, 150);
    assert_eq!(first, expected(&store).await);
    // That count walked 150 rows: it was folded.
    assert_eq!(summaries(&store).await, 1);
    assert_eq!(counts(&store).await, first);

    send(5, &mut prev).await;
    assert_eq!(counts(&store).await.0, 155);
    assert_eq!(counts(&store).await, expected(&store).await);

    // Bob reads up to the 60th message: the summary no longer applies.
    let read_at: StreamPos = sqlx::query_scalar(
        "SELECT stream_ordering FROM events WHERE room_id = $1 AND event_type = 'm.room.message' \
         ORDER BY stream_ordering LIMIT 1 OFFSET 59",
    )
    .bind(room)
    .fetch_one(&store.read)
    .await
    .unwrap();
    let read_event: String =
        sqlx::query_scalar("SELECT event_id FROM events WHERE stream_ordering = $1")
            .bind(read_at)
            .fetch_one(&store.read)
            .await
            .unwrap();
    store
        .set_receipt(ReceiptRecord {
            room_id: room.into(),
            user_id: "@bob:test".into(),
            receipt_type: "m.read".into(),
            thread_id: String::new(),
            event_id: read_event,
            event_order: read_at,
            ts: 2,
        })
        .await
        .unwrap();
    assert_eq!(counts(&store).await.0, 95);
    assert_eq!(counts(&store).await, expected(&store).await);
    send(10, &mut prev).await;
    assert_eq!(counts(&store).await.0, 105);
    assert_eq!(counts(&store).await, expected(&store).await);
}

/// A room ID the test wrote as text.
fn rid(room: &str) -> &ruma::RoomId {
    <&ruma::RoomId>::try_from(room).unwrap()
}
