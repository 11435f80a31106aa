//! Conformance: Rooms, events, state and memberships.

use super::*;

pub async fn events_extend_the_room_and_its_state(store: SqlStore) {
    let before = store.current_position().await.unwrap();
    let last = create_room(&store, "!r:test").await;
    let room = store.room(room_id!("!r:test")).await.unwrap().unwrap();
    assert_eq!(room.room_version, "11");
    let ext = store
        .forward_extremities(room_id!("!r:test"))
        .await
        .unwrap();
    assert_eq!(
        ext.iter().map(|e| e.event_id.as_str()).collect::<Vec<_>>(),
        [last.as_str()]
    );

    let outcome = store
        .persist_event(event("!r:test", "$m1", "m.room.message", None, &[&last]))
        .await
        .unwrap();
    let PersistOutcome::Persisted { stream_ordering } = outcome else {
        panic!("not persisted")
    };
    assert!(stream_ordering > before);
    assert_eq!(store.current_position().await.unwrap(), stream_ordering);

    // Building on stale extremities is refused, and nothing is written.
    let stale = store
        .persist_event(event("!r:test", "$m2", "m.room.message", None, &[&last]))
        .await;
    assert!(matches!(stale, Err(StoreError::RoomChanged(_))));
    assert!(store.event(event_id!("$m2")).await.unwrap().is_none());

    let mut name = event("!r:test", "$name", "m.room.name", Some(""), &["$m1"]);
    name.json = r#"{"content":{"name":"Room"}}"#.into();
    store.persist_event(name).await.unwrap();
    let state = store.current_state(room_id!("!r:test")).await.unwrap();
    assert_eq!(
        state
            .get(&("m.room.name".into(), "".into()))
            .map(String::as_str),
        Some("$name")
    );
    assert_eq!(state.len(), 3);
    let name_event = store
        .current_state_event(room_id!("!r:test"), "m.room.name", "")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(name_event.event_id, "$name");
    // Several at once: the ones that exist, whatever the order asked.
    let key = |t: &str, k: &str| (t.to_owned(), k.to_owned());
    let mut some: Vec<String> = store
        .current_state_events_for(
            room_id!("!r:test"),
            &[
                key("m.room.name", ""),
                key("m.room.topic", ""),
                key("m.room.create", ""),
            ],
        )
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event_id)
        .collect();
    some.sort();
    assert_eq!(some, ["$create!r:test", "$name"]);
    assert!(
        store
            .current_state_events_for(room_id!("!r:test"), &[])
            .await
            .unwrap()
            .is_empty()
    );
    // The state before the name event lacks it; the state after has it.
    let before_name = store
        .state_group_before(room_id!("!r:test"), name_event.stream_ordering)
        .await
        .unwrap()
        .unwrap();
    assert!(
        !store
            .state_at_group(before_name)
            .await
            .unwrap()
            .contains_key(&("m.room.name".into(), "".into()))
    );
    assert_eq!(
        store.state_at_group(name_event.state_group).await.unwrap(),
        state
    );
}

pub async fn long_state_chains_resolve(store: SqlStore) {
    let mut prev = create_room(&store, "!r:test").await;
    // Enough state changes to cross several snapshots.
    for i in 0..250 {
        let id = format!("$s{i}");
        let key = format!("k{}", i % 7);
        store
            .persist_event(event(
                "!r:test",
                &id,
                "org.example.setting",
                Some(&key),
                &[&prev],
            ))
            .await
            .unwrap();
        prev = id;
    }
    let current = store.current_state(room_id!("!r:test")).await.unwrap();
    let last = store.event(eid(&prev)).await.unwrap().unwrap();
    assert_eq!(
        store.state_at_group(last.state_group).await.unwrap(),
        current
    );
    assert_eq!(current.len(), 2 + 7);
    assert_eq!(
        current
            .get(&("org.example.setting".into(), "k5".into()))
            .map(String::as_str),
        Some("$s243")
    );
    // State in the middle of the chain is still exact.
    let mid = store.event(event_id!("$s100")).await.unwrap().unwrap();
    let mid_state = store.state_at_group(mid.state_group).await.unwrap();
    assert_eq!(
        mid_state
            .get(&("org.example.setting".into(), "k2".into()))
            .map(String::as_str),
        Some("$s100")
    );
    assert_eq!(
        mid_state
            .get(&("org.example.setting".into(), "k3".into()))
            .map(String::as_str),
        Some("$s94")
    );
}

pub async fn memberships_track_the_latest_event(store: SqlStore) {
    let last = create_room(&store, "!r:test").await;
    // Each membership as the user's list of memberships shows it, read
    // (and cached, where the backend caches) before every change.
    let bobs = || async {
        store
            .user_memberships(user_id!("@bob:test"))
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.membership.to_string())
            .collect::<Vec<_>>()
    };
    assert!(bobs().await.is_empty());
    store
        .persist_event(member("!r:test", "$inv", "@bob:test", "invite", &[&last]))
        .await
        .unwrap();
    assert_eq!(bobs().await, ["invite"]);
    assert_eq!(
        store
            .membership(room_id!("!r:test"), user_id!("@bob:test"))
            .await
            .unwrap()
            .unwrap()
            .membership,
        MembershipState::Invite
    );
    store
        .persist_event(member("!r:test", "$bj", "@bob:test", "join", &["$inv"]))
        .await
        .unwrap();
    assert_eq!(bobs().await, ["join"]);
    let sharing = async |user: &str| {
        let mut users = store
            .users_sharing_rooms_with(<&ruma::UserId>::try_from(user).unwrap())
            .await
            .unwrap();
        users.sort();
        users
    };
    assert_eq!(sharing("@bob:test").await, ["@alice:test", "@bob:test"]);
    store
        .persist_event(member("!r:test", "$bl", "@bob:test", "leave", &["$bj"]))
        .await
        .unwrap();
    assert_eq!(bobs().await, ["leave"]);
    // Gone: bob shares no room, and alice's room is hers alone.
    assert!(sharing("@bob:test").await.is_empty());
    assert_eq!(sharing("@alice:test").await, ["@alice:test"]);
    let bob = store
        .membership(room_id!("!r:test"), user_id!("@bob:test"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (bob.membership.as_str(), bob.event_id.as_str()),
        ("leave", "$bl")
    );
    let history = store
        .state_history(room_id!("!r:test"), "m.room.member", "@bob:test")
        .await
        .unwrap();
    let kinds: Vec<_> = history
        .iter()
        .filter_map(|e| e.membership.as_deref())
        .collect();
    assert_eq!(kinds, ["invite", "join", "leave"]);
    assert_eq!(
        store.room_members(room_id!("!r:test")).await.unwrap().len(),
        2
    );
    assert_eq!(
        store
            .user_memberships(user_id!("@bob:test"))
            .await
            .unwrap()
            .len(),
        1
    );
    store
        .forget_room(room_id!("!r:test"), user_id!("@bob:test"))
        .await
        .unwrap();
    assert!(
        store
            .user_memberships(user_id!("@bob:test"))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .shared_rooms(user_id!("@alice:test"), user_id!("@bob:test"))
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn timelines_paginate_both_ways(store: SqlStore) {
    let mut prev = create_room(&store, "!r:test").await;
    for i in 0..25 {
        let id = format!("$m{i}");
        store
            .persist_event(event("!r:test", &id, "m.room.message", None, &[&prev]))
            .await
            .unwrap();
        prev = id;
    }
    let now = store.current_position().await.unwrap();
    let page = store
        .room_events(
            room_id!("!r:test"),
            now.next(),
            None,
            TimelineDirection::Backward,
            10,
        )
        .await
        .unwrap();
    assert_eq!(page.len(), 10);
    assert_eq!(page[0].event_id, "$m24");
    assert!(
        page.windows(2)
            .all(|w| w[0].stream_ordering > w[1].stream_ordering)
    );
    let older = store
        .room_events(
            room_id!("!r:test"),
            page[9].stream_ordering,
            None,
            TimelineDirection::Backward,
            100,
        )
        .await
        .unwrap();
    assert_eq!(older.len(), 15 + 2);
    let forward = store
        .room_events(
            room_id!("!r:test"),
            StreamPos::ZERO,
            Some(now),
            TimelineDirection::Forward,
            5,
        )
        .await
        .unwrap();
    assert_eq!(forward[0].event_type, "m.room.create");
    assert!(
        forward
            .windows(2)
            .all(|w| w[0].stream_ordering < w[1].stream_ordering)
    );
    let bounded = store
        .room_events(
            room_id!("!r:test"),
            now.next(),
            Some(page[4].stream_ordering),
            TimelineDirection::Backward,
            100,
        )
        .await
        .unwrap();
    assert_eq!(bounded.len(), 4);
    let ids: Vec<String> = vec!["$m3".into(), "$m1".into(), "$missing".into()];
    let got = store.events(&ids).await.unwrap();
    assert_eq!(
        got.iter().map(|e| e.event_id.as_str()).collect::<Vec<_>>(),
        ["$m1", "$m3"]
    );
}

pub async fn transactions_and_redactions_apply_once(store: SqlStore) {
    let last = create_room(&store, "!r:test").await;
    let mut send = event("!r:test", "$t1", "m.room.message", None, &[&last]);
    send.txn = Some(("@alice:test".into(), "D1".into(), "txn1".into()));
    send.push_actions = vec![("@bob:test".into(), true)];
    store.persist_event(send.clone()).await.unwrap();
    let mut again = send.clone();
    again.event_id = "$t1bis".into();
    again.prev_events = vec!["$t1".into()];
    assert_eq!(
        store.persist_event(again).await.unwrap(),
        PersistOutcome::DuplicateTxn {
            event_id: "$t1".into()
        }
    );
    assert_eq!(
        store
            .txn_event(user_id!("@alice:test"), device_id!("D1"), "txn1")
            .await
            .unwrap()
            .as_deref(),
        Some("$t1")
    );
    assert!(
        store
            .txn_event(user_id!("@alice:test"), device_id!("D2"), "txn1")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store
            .unread_counts(user_id!("@bob:test"), room_id!("!r:test"), StreamPos::ZERO)
            .await
            .unwrap(),
        (1, 1)
    );

    let mut redaction = event("!r:test", "$red", "m.room.redaction", None, &["$t1"]);
    redaction.redaction = Some(("$t1".into(), r#"{"redacted":true}"#.into()));
    store.persist_event(redaction).await.unwrap();
    let redacted = store.event(event_id!("$t1")).await.unwrap().unwrap();
    assert_eq!(redacted.json, r#"{"redacted":true}"#);
    assert_eq!(redacted.redacted_by.as_deref(), Some("$red"));
}

pub async fn room_activity_is_indexed(store: SqlStore) {
    let last = create_room(&store, "!r1:test").await;
    create_room(&store, "!r2:test").await;
    let pos = store.current_position().await.unwrap();
    assert!(
        store
            .rooms_active_since(user_id!("@alice:test"), pos)
            .await
            .unwrap()
            .is_empty()
    );
    store
        .persist_event(event("!r1:test", "$x", "m.room.message", None, &[&last]))
        .await
        .unwrap();
    let active = store
        .rooms_active_since(user_id!("@alice:test"), pos)
        .await
        .unwrap();
    assert_eq!(active.into_iter().collect::<Vec<_>>(), ["!r1:test"]);
    store
        .set_room_published(room_id!("!r2:test"), true)
        .await
        .unwrap();
    assert_eq!(store.published_rooms(0, 10).await.unwrap(), ["!r2:test"]);
    assert_eq!(store.count_published_rooms().await.unwrap(), 1);
}

/// Events written at the same time share one commit; a conflicting one (a
/// second event on the same extremities of a room) fails alone.
pub async fn concurrent_events_commit_together_and_conflicts_fail_alone(store: SqlStore) {
    let a = create_room(&store, "!a:test").await;
    let b = create_room(&store, "!b:test").await;
    let (first, second, other) = tokio::join!(
        store.persist_event(event("!a:test", "$a1", "m.room.message", None, &[&a])),
        store.persist_event(event("!a:test", "$a2", "m.room.message", None, &[&a])),
        store.persist_event(event("!b:test", "$b1", "m.room.message", None, &[&b])),
    );
    let (winner, loser) = match (&first, &second) {
        (Ok(PersistOutcome::Persisted { .. }), Err(StoreError::RoomChanged(_))) => ("$a1", "$a2"),
        (Err(StoreError::RoomChanged(_)), Ok(PersistOutcome::Persisted { .. })) => ("$a2", "$a1"),
        results => panic!("one of two conflicting events must win: {results:?}"),
    };
    assert!(matches!(other, Ok(PersistOutcome::Persisted { .. })));
    assert!(store.event(eid(winner)).await.unwrap().is_some());
    assert!(store.event(eid(loser)).await.unwrap().is_none());
    assert!(store.event(event_id!("$b1")).await.unwrap().is_some());
    let extremities: Vec<String> = store
        .forward_extremities(room_id!("!a:test"))
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event_id)
        .collect();
    assert_eq!(extremities, [winner]);
    // The loser, rebuilt on the new extremity, goes through.
    store
        .persist_event(event("!a:test", loser, "m.room.message", None, &[winner]))
        .await
        .unwrap();

    // In one batch: a transaction ID used twice, and an event that fails
    // mid-write (its room does not exist), beside events that must commit.
    let c = create_room(&store, "!c:test").await;
    let with_txn = |room: &str, id: &str, prev: &str| NewEvent {
        txn: Some(("@alice:test".into(), "D".into(), "t1".into())),
        ..event(room, id, "m.room.message", None, &[prev])
    };
    let (first, repeat, broken, fine) = tokio::join!(
        store.persist_event(with_txn("!b:test", "$t1", "$b1")),
        store.persist_event(with_txn("!c:test", "$t1again", &c)),
        store.persist_event(event("!none:test", "$x", "m.room.message", None, &[])),
        store.persist_event(NewEvent {
            push_actions: vec![("@bob:test".into(), true), ("@carol:test".into(), false)],
            ..event("!a:test", "$a3", "m.room.message", None, &[loser])
        }),
    );
    let (kept, dropped) = match (&first, &repeat) {
        (Ok(PersistOutcome::Persisted { .. }), Ok(PersistOutcome::DuplicateTxn { event_id })) => {
            assert_eq!(event_id, "$t1");
            ("$t1", "$t1again")
        }
        (Ok(PersistOutcome::DuplicateTxn { event_id }), Ok(PersistOutcome::Persisted { .. })) => {
            assert_eq!(event_id, "$t1again");
            ("$t1again", "$t1")
        }
        results => panic!("one transaction, one event: {results:?}"),
    };
    assert!(store.event(eid(kept)).await.unwrap().is_some());
    assert!(store.event(eid(dropped)).await.unwrap().is_none());
    assert!(broken.is_err());
    assert!(store.event(event_id!("$x")).await.unwrap().is_none());
    assert!(matches!(fine, Ok(PersistOutcome::Persisted { .. })));
    assert!(store.event(event_id!("$a3")).await.unwrap().is_some());
    // Whom it notifies was written with it.
    assert_eq!(
        store
            .unread_counts(user_id!("@bob:test"), room_id!("!a:test"), StreamPos::ZERO)
            .await
            .unwrap(),
        (1, 1)
    );
    assert_eq!(
        store
            .unread_counts(
                user_id!("@carol:test"),
                room_id!("!a:test"),
                StreamPos::ZERO
            )
            .await
            .unwrap(),
        (1, 0)
    );
    // The room whose event was dropped is as it was.
    let c_extremities: Vec<String> = store
        .forward_extremities(room_id!("!c:test"))
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event_id)
        .collect();
    let b_extremities: Vec<String> = store
        .forward_extremities(room_id!("!b:test"))
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event_id)
        .collect();
    if kept == "$t1" {
        assert_eq!(
            (b_extremities, c_extremities),
            (vec!["$t1".to_owned()], vec![c])
        );
    } else {
        assert_eq!(
            (b_extremities, c_extremities),
            (vec!["$b1".to_owned()], vec!["$t1again".to_owned()])
        );
    }
}

/// Plain messages to different rooms share their statements (the group
/// commit falls back to one by one if that fails, which would hide it).
pub async fn plain_messages_are_written_together(store: SqlStore) {
    let a = create_room(&store, "!a:test").await;
    let b = create_room(&store, "!b:test").await;
    let first = NewEvent {
        txn: Some(("@alice:test".into(), "D".into(), "t1".into())),
        push_actions: vec![("@bob:test".into(), false)],
        ..event("!a:test", "$m1", "m.room.message", None, &[&a])
    };
    let second = event("!b:test", "$m2", "m.room.message", None, &[&b]);
    let mut tx = store.begin().await.unwrap();
    let last = store
        .next_positions(&mut tx, 2, crate::StreamKind::Events)
        .await
        .unwrap();
    let mut written = store
        .insert_messages(&mut tx, &[(&first, last.prev()), (&second, last)])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    written.sort_by_key(|(at, _)| *at);
    assert_eq!(
        written,
        [
            (
                0,
                PersistOutcome::Persisted {
                    stream_ordering: last.prev()
                }
            ),
            (
                1,
                PersistOutcome::Persisted {
                    stream_ordering: last
                }
            ),
        ]
    );
    assert!(store.event(event_id!("$m1")).await.unwrap().is_some());
    assert!(store.event(event_id!("$m2")).await.unwrap().is_some());
    assert_eq!(
        store
            .unread_counts(user_id!("@bob:test"), room_id!("!a:test"), StreamPos::ZERO)
            .await
            .unwrap(),
        (1, 0)
    );
    let extremities = store
        .forward_extremities(room_id!("!b:test"))
        .await
        .unwrap();
    assert_eq!(extremities.len(), 1);
    assert_eq!(extremities[0].event_id, "$m2");
}

pub async fn push_targets_bring_profiles_and_rules_of_joined_members(store: SqlStore) {
    store.create_user(user("@alice:test")).await.unwrap();
    let last = create_room(&store, "!r:test").await;
    store
        .persist_event(member("!r:test", "$bj", "@bob:test", "join", &[&last]))
        .await
        .unwrap();
    store
        .persist_event(member("!r:test", "$ci", "@carol:test", "invite", &["$bj"]))
        .await
        .unwrap();
    let rules = store
        .set_account_data(
            user_id!("@bob:test"),
            None,
            "m.push_rules",
            r#"{"global":{}}"#,
        )
        .await
        .unwrap();
    // Room-scoped data of the same type is not the user's rule set.
    store
        .set_account_data(
            user_id!("@alice:test"),
            Some(room_id!("!r:test")),
            "m.push_rules",
            "{}",
        )
        .await
        .unwrap();
    let targets = store.push_targets("!r:test").await.unwrap();
    assert_eq!(
        targets.to_vec(),
        vec![
            PushTarget {
                user_id: "@alice:test".into(),
                displayname: Some("alice".into()),
                push_rules: None,
                has_pusher: false,
            },
            // Bob has no account here (a remote member): no profile.
            PushTarget {
                user_id: "@bob:test".into(),
                displayname: None,
                push_rules: Some((rules, r#"{"global":{}}"#.into())),
                has_pusher: false,
            },
        ]
    );
    assert!(store.push_targets("!none:test").await.unwrap().is_empty());
}

/// Push targets once read (and cached, where the backend caches) follow
/// every change they depend on at once.
pub async fn push_targets_follow_joins_leaves_names_and_rules(store: SqlStore) {
    store.create_user(user("@alice:test")).await.unwrap();
    store.create_user(user("@bob:test")).await.unwrap();
    let last = create_room(&store, "!r:test").await;
    let names = |targets: std::sync::Arc<[PushTarget]>| {
        targets
            .iter()
            .map(|t| {
                (
                    t.user_id.clone(),
                    t.displayname.clone(),
                    t.push_rules.clone(),
                )
            })
            .collect::<Vec<_>>()
    };
    let alice = |name: &str| ("@alice:test".to_owned(), Some(name.to_owned()), None);
    assert_eq!(
        names(store.push_targets("!r:test").await.unwrap()),
        vec![alice("alice")]
    );
    store
        .persist_event(member("!r:test", "$bj", "@bob:test", "join", &[&last]))
        .await
        .unwrap();
    let bob = |rules| ("@bob:test".to_owned(), Some("bob".to_owned()), rules);
    assert_eq!(
        names(store.push_targets("!r:test").await.unwrap()),
        vec![alice("alice"), bob(None)]
    );
    store
        .set_displayname(user_id!("@alice:test"), Some("Alice A."))
        .await
        .unwrap();
    assert_eq!(
        names(store.push_targets("!r:test").await.unwrap()),
        vec![alice("Alice A."), bob(None)]
    );
    let pos = store
        .set_account_data(
            user_id!("@bob:test"),
            None,
            "m.push_rules",
            r#"{"global":{}}"#,
        )
        .await
        .unwrap();
    assert_eq!(
        names(store.push_targets("!r:test").await.unwrap()),
        vec![
            alice("Alice A."),
            bob(Some((pos, r#"{"global":{}}"#.to_owned())))
        ]
    );
    store
        .persist_events(vec![member(
            "!r:test",
            "$bl",
            "@bob:test",
            "leave",
            &["$bj"],
        )])
        .await
        .unwrap();
    assert_eq!(
        names(store.push_targets("!r:test").await.unwrap()),
        vec![alice("Alice A.")]
    );
}

pub async fn push_actions_for_a_large_room_are_all_kept(store: SqlStore) {
    let last = create_room(&store, "!big:test").await;
    let mut message = event("!big:test", "$m", "m.room.message", None, &[&last]);
    // More recipients than one statement carries.
    message.push_actions = (0..450)
        .map(|i| (format!("@u{i}:test"), i % 3 == 0))
        .collect();
    store.persist_event(message).await.unwrap();
    for (i, expected) in [(0, (1, 1)), (1, (1, 0)), (449, (1, 0)), (450, (0, 0))] {
        assert_eq!(
            store
                .unread_counts(
                    &ruma::UserId::parse(format!("@u{i}:test")).unwrap(),
                    room_id!("!big:test"),
                    StreamPos::ZERO,
                )
                .await
                .unwrap(),
            expected,
            "@u{i}"
        );
    }
}

pub async fn events_are_found_by_time(store: SqlStore) {
    let mut prev = create_room(&store, "!r:test").await;
    // Times out of stream order (a remote server's clock may run behind),
    // with two events at the same time.
    for (id, ts) in [("$a", 1000), ("$b", 3000), ("$c", 2000), ("$d", 3000)] {
        let mut e = event("!r:test", id, "m.room.message", None, &[&prev]);
        e.origin_server_ts = ts;
        store.persist_event(e).await.unwrap();
        prev = id.to_owned();
    }
    create_room(&store, "!other:test").await;
    let room = room_id!("!r:test");
    let near = |ts, direction| {
        let store = store.clone();
        async move {
            let found = store
                .events_near_time(room, ts, direction, 2)
                .await
                .unwrap();
            found.into_iter().map(|e| e.event_id).collect::<Vec<_>>()
        }
    };
    assert_eq!(near(1500, TimelineDirection::Forward).await, ["$c", "$b"]);
    assert_eq!(near(2500, TimelineDirection::Backward).await, ["$c", "$a"]);
    assert_eq!(near(3000, TimelineDirection::Backward).await, ["$d", "$b"]);
    assert!(near(3001, TimelineDirection::Forward).await.is_empty());
}
