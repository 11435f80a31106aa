//! Pushers: keyed by app ID, pushkey and user, tied to a device, with a
//! delivery position that only moves forward; the notified events they
//! deliver, read after a position and newest first.

use super::*;

fn pusher(user: &str, device: &str, pushkey: &str) -> PusherRecord {
    PusherRecord {
        user_id: ruma::UserId::parse(user).unwrap(),
        device_id: device.into(),
        app_id: "org.example.app".into(),
        pushkey: pushkey.into(),
        kind: "http".into(),
        app_display_name: "Example".into(),
        device_display_name: "Phone".into(),
        profile_tag: None,
        lang: "en".into(),
        data: r#"{"url":"https://push.example.org/_matrix/push/v1/notify"}"#.into(),
        pushkey_ts: 7,
        last_pushed: StreamPos::ZERO,
    }
}

fn device(user: &str, id: &str) -> DeviceRecord {
    DeviceRecord {
        user_id: user.into(),
        device_id: id.into(),
        display_name: None,
        last_seen_ts: None,
        last_seen_ip: None,
    }
}

pub async fn pushers_are_keyed_tied_to_devices_and_advance(store: SqlStore) {
    let alice = user_id!("@alice:test");
    let bob = user_id!("@bob:test");
    store
        .create_device_with_token(device("@alice:test", "A1"), "ha")
        .await
        .unwrap();
    store
        .create_device_with_token(device("@bob:test", "B1"), "hb")
        .await
        .unwrap();
    let last = create_room(&store, "!r:test").await;
    let now = store.current_position().await.unwrap();

    // A new pusher starts at the current position.
    store
        .set_pusher(&pusher("@alice:test", "A1", "k"), false)
        .await
        .unwrap();
    let listed = store.pushers(alice).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].last_pushed, now);
    assert_eq!(listed[0].pushkey_ts, 7);

    // Setting it again keeps its position; moving it back does nothing.
    store
        .advance_pusher(alice, "org.example.app", "k", now.next())
        .await
        .unwrap();
    let mut again = pusher("@alice:test", "A1", "k");
    again.lang = "fr".into();
    store.set_pusher(&again, false).await.unwrap();
    store
        .advance_pusher(alice, "org.example.app", "k", now)
        .await
        .unwrap();
    let listed = store.pushers(alice).await.unwrap();
    assert_eq!(
        (listed[0].lang.as_str(), listed[0].last_pushed),
        ("fr", now.next())
    );

    // With append, the same key may serve two users; without, it moves.
    store
        .set_pusher(&pusher("@bob:test", "B1", "k"), true)
        .await
        .unwrap();
    assert_eq!(store.all_pushers().await.unwrap().len(), 2);
    store
        .set_pusher(&pusher("@bob:test", "B1", "k"), false)
        .await
        .unwrap();
    assert!(store.pushers(alice).await.unwrap().is_empty());
    assert_eq!(store.pushers(bob).await.unwrap().len(), 1);

    // Deleted one by one, with the device's token, or with the device.
    assert!(
        store
            .delete_pusher(bob, "org.example.app", "k")
            .await
            .unwrap()
    );
    assert!(
        !store
            .delete_pusher(bob, "org.example.app", "k")
            .await
            .unwrap()
    );
    store
        .set_pusher(&pusher("@bob:test", "B1", "k"), false)
        .await
        .unwrap();
    store.delete_token("hb").await.unwrap();
    assert!(store.pushers(bob).await.unwrap().is_empty());
    store
        .set_pusher(&pusher("@alice:test", "A1", "k"), false)
        .await
        .unwrap();
    store
        .delete_devices(alice, &[ruma::OwnedDeviceId::from("A1")])
        .await
        .unwrap();
    assert!(store.pushers(alice).await.unwrap().is_empty());

    // Notified events: after a position, oldest first; before one, newest
    // first, highlights alone on demand.
    let mut m1 = event("!r:test", "$m1", "m.room.message", None, &[&last]);
    m1.push_actions = vec![("@bob:test".into(), false)];
    store.persist_event(m1).await.unwrap();
    let mut m2 = event("!r:test", "$m2", "m.room.message", None, &["$m1"]);
    m2.push_actions = vec![("@bob:test".into(), true), ("@carol:test".into(), false)];
    store.persist_event(m2).await.unwrap();
    let after = store.notified_after(bob, now, 10).await.unwrap();
    let ids: Vec<(&str, bool)> = after
        .iter()
        .map(|n| (n.event.event_id.as_str(), n.highlight))
        .collect();
    assert_eq!(ids, vec![("$m1", false), ("$m2", true)]);
    let later = store
        .notified_after(bob, after[0].event.stream_ordering, 10)
        .await
        .unwrap();
    assert_eq!(later.len(), 1);
    let newest = store.notified_before(bob, None, 10, false).await.unwrap();
    let ids: Vec<&str> = newest.iter().map(|n| n.event.event_id.as_str()).collect();
    assert_eq!(ids, vec!["$m2", "$m1"]);
    let older = store
        .notified_before(bob, Some(newest[0].event.stream_ordering), 10, false)
        .await
        .unwrap();
    assert_eq!(older.len(), 1);
    assert_eq!(older[0].event.event_id, "$m1");
    let highlights = store.notified_before(bob, None, 10, true).await.unwrap();
    assert_eq!(highlights.len(), 1);
    assert_eq!(highlights[0].event.event_id, "$m2");
    assert_eq!(
        store
            .notified_before(bob, None, 1, false)
            .await
            .unwrap()
            .len(),
        1
    );
}

/// Push targets say who has a pusher, and follow pushers coming and
/// going by every path (cached where the backend caches).
pub async fn push_targets_follow_pushers(store: SqlStore) {
    let alice = user_id!("@alice:test");
    store
        .create_device_with_token(device("@alice:test", "A1"), "ha")
        .await
        .unwrap();
    let last = create_room(&store, "!r:test").await;
    store
        .persist_event(member("!r:test", "$bj", "@bob:test", "join", &[&last]))
        .await
        .unwrap();
    let with_pushers = || async {
        store
            .push_targets("!r:test")
            .await
            .unwrap()
            .iter()
            .filter(|t| t.has_pusher)
            .map(|t| t.user_id.clone())
            .collect::<Vec<_>>()
    };
    assert!(with_pushers().await.is_empty());
    store
        .set_pusher(&pusher("@alice:test", "A1", "k"), false)
        .await
        .unwrap();
    assert_eq!(with_pushers().await, ["@alice:test"]);
    store
        .delete_pusher(alice, "org.example.app", "k")
        .await
        .unwrap();
    assert!(with_pushers().await.is_empty());
    store
        .set_pusher(&pusher("@alice:test", "A1", "k"), false)
        .await
        .unwrap();
    assert_eq!(with_pushers().await, ["@alice:test"]);
    store.delete_token("ha").await.unwrap();
    assert!(with_pushers().await.is_empty());
    store
        .set_pusher(&pusher("@alice:test", "A1", "k"), false)
        .await
        .unwrap();
    assert_eq!(with_pushers().await, ["@alice:test"]);
    store
        .delete_devices(alice, &[ruma::OwnedDeviceId::from("A1")])
        .await
        .unwrap();
    assert!(with_pushers().await.is_empty());
}

pub async fn one_process_delivers_pushes(store: SqlStore) {
    let first = store.try_lock_push_delivery().await.unwrap();
    assert!(first.is_some());
    let second = store.try_lock_push_delivery().await.unwrap();
    match store.backend() {
        // Another connection stands for another process: refused while
        // the first holds the lock, granted once it lets go.
        Backend::Postgres => {
            assert!(second.is_none());
            drop(first);
            // The server ends the dropped session when it sees it closed.
            for _ in 0..100 {
                if store.try_lock_push_delivery().await.unwrap().is_some() {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            panic!("the lock outlived its session");
        }
        // One process owns a SQLite database.
        Backend::Sqlite => assert!(second.is_some()),
    }
}
