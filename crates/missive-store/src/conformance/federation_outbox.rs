//! The outbound federation queue.

use super::*;

fn dests(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| n.to_string()).collect()
}

fn pending(destination: &str, failures: u32, retry_at: i64) -> PendingDestination {
    PendingDestination {
        destination: destination.into(),
        failures,
        retry_at,
    }
}

/// The JSON the conformance `event` helper writes for `id`.
fn json_of(id: &str) -> String {
    event("!x:test", id, "m.room.message", None, &[]).json
}

/// An event's PDU is queued for its destinations with the event, on every
/// write path (the message fast path, the general path, a group-commit
/// batch), and not when the event is turned away.
pub async fn outbound_pdus_are_queued_with_their_events(store: SqlStore) {
    let a = create_room(&store, "!a:test").await;
    let b = create_room(&store, "!b:test").await;
    assert!(store.pending_destinations().await.unwrap().is_empty());

    // The fast path (a message on the one extremity).
    let m1 = NewEvent {
        federation_destinations: dests(&["one.example", "two.example"]),
        txn: Some(("@alice:test".into(), "D".into(), "t1".into())),
        ..event("!a:test", "$m1", "m.room.message", None, &[&a])
    };
    store.persist_event(m1).await.unwrap();
    // A repeated transaction writes nothing, and queues nothing.
    let again = NewEvent {
        federation_destinations: dests(&["one.example"]),
        txn: Some(("@alice:test".into(), "D".into(), "t1".into())),
        ..event("!a:test", "$m1bis", "m.room.message", None, &["$m1"])
    };
    assert!(matches!(
        store.persist_event(again).await.unwrap(),
        PersistOutcome::DuplicateTxn { .. }
    ));
    // A room that changed under the event: nothing written or queued.
    let stale = NewEvent {
        federation_destinations: dests(&["one.example"]),
        ..event("!a:test", "$stale", "m.room.message", None, &[&a])
    };
    assert!(store.persist_event(stale).await.is_err());
    // The general path (a state event).
    let topic = NewEvent {
        federation_destinations: dests(&["one.example"]),
        ..event("!a:test", "$topic", "m.room.topic", Some(""), &["$m1"])
    };
    store.persist_event(topic).await.unwrap();
    // A group-commit batch of plain messages sharing their statements.
    let x = NewEvent {
        federation_destinations: dests(&["two.example"]),
        ..event("!a:test", "$x", "m.room.message", None, &["$topic"])
    };
    let y = NewEvent {
        federation_destinations: dests(&["two.example"]),
        ..event("!b:test", "$y", "m.room.message", None, &[&b])
    };
    let mut tx = store.begin().await.unwrap();
    let last = store
        .next_positions(&mut tx, 2, crate::StreamKind::Events)
        .await
        .unwrap();
    let written = store
        .insert_messages(&mut tx, &[(&x, last.prev()), (&y, last)])
        .await
        .unwrap();
    assert_eq!(written.len(), 2);
    tx.commit().await.unwrap();
    // A batch that is rolled back queues nothing.
    let z = NewEvent {
        federation_destinations: dests(&["three.example"]),
        ..event("!b:test", "$z", "m.room.message", None, &["$y"])
    };
    let mut tx = store.begin().await.unwrap();
    let pos = store
        .next_positions(&mut tx, 1, crate::StreamKind::Events)
        .await
        .unwrap();
    store.insert_event(&mut tx, &z, pos).await.unwrap();
    tx.rollback().await.unwrap();

    assert_eq!(
        store.pending_destinations().await.unwrap(),
        [pending("one.example", 0, 0), pending("two.example", 0, 0)]
    );
    let one = store
        .next_transaction("one.example", 1_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        one.pdus,
        [
            json_of("$m1"),
            r#"{"type":"m.room.topic","event_id":"$topic"}"#.to_string()
        ]
    );
    assert!(one.edus.is_empty());
    let two = store
        .next_transaction("two.example", 1_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(two.pdus, [json_of("$m1"), json_of("$x"), json_of("$y")]);
    assert!(
        store
            .next_transaction("three.example", 1_000)
            .await
            .unwrap()
            .is_none()
    );
}

/// Transactions take the oldest PDUs and EDUs up to the limits; the one in
/// flight is sent again as it was until acknowledged; retry state is kept;
/// an acknowledgement removes exactly its rows.
pub async fn outbound_transactions_batch_retry_and_acknowledge(store: SqlStore) {
    let mut prev = create_room(&store, "!a:test").await;
    let mut messages = Vec::new();
    for i in 0..60 {
        let id = format!("$m{i}");
        messages.push(NewEvent {
            federation_destinations: dests(&["one.example"]),
            ..event("!a:test", &id, "m.room.message", None, &[&prev])
        });
        prev = id;
    }
    store.persist_events(messages).await.unwrap();
    for i in 0..120 {
        let edu = format!(r#"{{"edu_type":"m.typing","content":{{"n":{i}}}}}"#);
        store
            .queue_edu(&dests(&["one.example", "other.example"]), &edu)
            .await
            .unwrap();
    }
    let edu = |i: usize| format!(r#"{{"edu_type":"m.typing","content":{{"n":{i}}}}}"#);
    let pdu = |i: usize| json_of(&format!("$m{i}"));

    let first = store
        .next_transaction("one.example", 1_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.pdus, (0..50).map(pdu).collect::<Vec<_>>());
    assert_eq!(first.edus, (0..100).map(edu).collect::<Vec<_>>());
    // Not acknowledged: the same transaction again, whenever asked.
    store
        .transaction_failed("one.example", 3, 9_999)
        .await
        .unwrap();
    assert_eq!(
        store.pending_destinations().await.unwrap(),
        [
            pending("one.example", 3, 9_999),
            pending("other.example", 0, 0)
        ]
    );
    assert_eq!(
        store.next_transaction("one.example", 5_000).await.unwrap(),
        Some(first.clone())
    );
    // Acknowledging another ID removes nothing.
    store
        .transaction_sent("one.example", "not-it")
        .await
        .unwrap();
    assert_eq!(
        store.next_transaction("one.example", 5_000).await.unwrap(),
        Some(first.clone())
    );

    store
        .transaction_sent("one.example", &first.txn_id)
        .await
        .unwrap();
    assert_eq!(
        store.pending_destinations().await.unwrap(),
        [pending("one.example", 0, 0), pending("other.example", 0, 0)]
    );
    let second = store
        .next_transaction("one.example", 1_000)
        .await
        .unwrap()
        .unwrap();
    assert_ne!(second.txn_id, first.txn_id);
    assert_eq!(second.pdus, (50..60).map(pdu).collect::<Vec<_>>());
    assert_eq!(second.edus, (100..120).map(edu).collect::<Vec<_>>());
    store
        .transaction_sent("one.example", &second.txn_id)
        .await
        .unwrap();
    assert!(
        store
            .next_transaction("one.example", 1_000)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store.pending_destinations().await.unwrap(),
        [pending("other.example", 0, 0)]
    );

    // Something new after an acknowledged transaction: a new ID again,
    // even at the same time.
    store
        .queue_edu(&dests(&["one.example"]), &edu(999))
        .await
        .unwrap();
    let third = store
        .next_transaction("one.example", 1_000)
        .await
        .unwrap()
        .unwrap();
    assert_ne!(third.txn_id, first.txn_id);
    assert_ne!(third.txn_id, second.txn_id);
    assert_eq!(third.edus, [edu(999)]);

    // A destination dropped loses its queue, its transaction in flight
    // and its retry state.
    store
        .transaction_failed("other.example", 2, 5)
        .await
        .unwrap();
    store
        .next_transaction("other.example", 1_000)
        .await
        .unwrap()
        .unwrap();
    store.drop_destination("other.example").await.unwrap();
    assert!(
        store
            .next_transaction("other.example", 1_000)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store.pending_destinations().await.unwrap(),
        [pending("one.example", 0, 0)]
    );
}

/// A room's servers are those of its joined members.
pub async fn room_servers_are_the_joined_members_servers(store: SqlStore) {
    let mut prev = create_room(&store, "!a:test").await;
    for (i, (user, membership)) in [
        ("@bob:b.example", "join"),
        ("@carol:b.example", "join"),
        ("@dan:c.example", "invite"),
        ("@eve:e.example", "join"),
    ]
    .iter()
    .enumerate()
    {
        let id = format!("$member{i}");
        store
            .persist_event(member("!a:test", &id, user, membership, &[&prev]))
            .await
            .unwrap();
        prev = id;
    }
    assert_eq!(
        store.room_servers("!a:test").await.unwrap(),
        ["b.example", "e.example", "test"]
    );
    store
        .persist_event(member(
            "!a:test",
            "$eveleft",
            "@eve:e.example",
            "leave",
            &[&prev],
        ))
        .await
        .unwrap();
    assert_eq!(
        store.room_servers("!a:test").await.unwrap(),
        ["b.example", "test"]
    );
    assert!(
        store
            .room_servers("!unknown:test")
            .await
            .unwrap()
            .is_empty()
    );
}

/// One process sends to other servers at a time.
pub async fn one_process_sends_to_other_servers(store: SqlStore) {
    let first = store.try_lock_federation_sender().await.unwrap();
    assert!(first.is_some());
    // Push delivery's lock is another one.
    assert!(store.try_lock_push_delivery().await.unwrap().is_some());
    let second = store.try_lock_federation_sender().await.unwrap();
    match store.backend() {
        Backend::Postgres => {
            assert!(second.is_none());
            drop(first);
            for _ in 0..100 {
                if store.try_lock_federation_sender().await.unwrap().is_some() {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            panic!("the lock outlived its session");
        }
        Backend::Sqlite => assert!(second.is_some()),
    }
}
