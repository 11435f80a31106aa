//! Conformance checks of remote event writes: joined rooms, forks,
//! invites to rooms this server is not in, rejections and inbound
//! transactions.

use super::*;

fn entry(e: &NewEvent) -> StateEntry {
    StateEntry {
        event_type: e.event_type.clone(),
        state_key: e.state_key.clone().unwrap_or_default(),
        event_id: e.event_id.clone(),
        membership: e.membership.clone(),
        join_rule: e.join_rule.clone(),
    }
}

fn remote_member(id: &str, user: &str, membership: &str, prev: &[&str]) -> NewEvent {
    NewEvent {
        sender: user.into(),
        ..member("!far:remote", id, user, membership, prev)
    }
}

/// A room joined over federation: the state the join brought is stored
/// outside the timeline, the join is the room's first timeline event, and
/// the room's state, memberships and extremities follow.
pub async fn a_joined_room_starts_with_its_join_and_the_state_before_it(store: SqlStore) {
    let mut create = event("!far:remote", "$c", "m.room.create", Some(""), &[]);
    create.sender = "@ann:remote".into();
    let ann = remote_member("$ann", "@ann:remote", "join", &["$c"]);
    let mut rules = event(
        "!far:remote",
        "$jr",
        "m.room.join_rules",
        Some(""),
        &["$ann"],
    );
    rules.join_rule = Some("public".into());
    let join = remote_member("$bob", "@bob:test", "join", &["$jr"]);
    let before = vec![entry(&create), entry(&ann), entry(&rules)];
    let mut after = before.clone();
    after.push(entry(&join));
    let outcome = store
        .persist_remote(RemoteWrite {
            room_id: "!far:remote".into(),
            new_room: Some(RoomRecord {
                room_id: "!far:remote".into(),
                room_version: "11".into(),
                creator: "@ann:remote".into(),
                published: false,
                join_rule: "public".into(),
            }),
            outliers: vec![create, ann, rules],
            event: Some(join),
            state_before: before,
            current_state: after,
            extremities_before: Vec::new(),
            memberships: Vec::new(),
        })
        .await
        .unwrap();
    let pos = outcome.stream_ordering.unwrap();
    assert!(pos > StreamPos::ZERO);
    assert_eq!(outcome.membership_changes.len(), 2);

    let room = room_id!("!far:remote");
    // The timeline holds the join alone; the outliers are found by ID.
    let timeline = store
        .room_events(room, StreamPos::END, None, TimelineDirection::Backward, 10)
        .await
        .unwrap();
    assert_eq!(
        timeline
            .iter()
            .map(|e| e.event_id.as_str())
            .collect::<Vec<_>>(),
        ["$bob"]
    );
    let found = store
        .events(&["$c".into(), "$ann".into(), "$jr".into()])
        .await
        .unwrap();
    assert_eq!(found.len(), 3);
    assert!(found.iter().all(|e| e.stream_ordering <= StreamPos::ZERO));

    // State: current, before the join (as sync reads it), memberships.
    let current = store.current_state(room).await.unwrap();
    assert_eq!(current.len(), 4);
    assert_eq!(
        current.get(&("m.room.member".into(), "@bob:test".into())),
        Some(&"$bob".to_owned())
    );
    let group = store.state_group_before(room, pos).await.unwrap().unwrap();
    let before = store.state_at_group(group).await.unwrap();
    assert_eq!(before.len(), 3);
    assert!(!before.contains_key(&("m.room.member".into(), "@bob:test".into())));
    let bob = store
        .membership(room, user_id!("@bob:test"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(bob.membership, MembershipState::Join);
    assert_eq!(store.room(room).await.unwrap().unwrap().join_rule, "public");
    let extremities = store.forward_extremities(room).await.unwrap();
    assert_eq!(extremities.len(), 1);
    assert_eq!(extremities[0].event_id, "$bob");

    // A local event then builds on the join as on any extremity.
    store
        .persist_event(event(
            "!far:remote",
            "$m",
            "m.room.message",
            None,
            &["$bob"],
        ))
        .await
        .unwrap();
}

/// An event on a fork: its own state and the room's resolved state are
/// the caller's; the extremities are the ones it does not follow, plus it.
pub async fn an_event_on_a_fork_keeps_both_tips_and_the_resolved_state(store: SqlStore) {
    let last = create_room(&store, "!r:test").await;
    let a = event("!r:test", "$a", "m.room.topic", Some(""), &[&last]);
    store.persist_event(a.clone()).await.unwrap();
    let room = room_id!("!r:test");
    let base = store.current_state(room).await.unwrap();
    let base_entries: Vec<StateEntry> = base
        .iter()
        .filter(|((ty, _), _)| ty != "m.room.topic")
        .map(|((ty, key), id)| StateEntry {
            event_type: ty.clone(),
            state_key: key.clone(),
            event_id: id.clone(),
            membership: (ty == "m.room.member").then(|| "join".to_owned()),
            join_rule: None,
        })
        .collect();
    // A remote server's name change, built on the event before `$a`.
    let b = event("!r:test", "$b", "m.room.name", Some(""), &[&last]);
    let mut resolved = base_entries.clone();
    resolved.push(entry(&a));
    resolved.push(entry(&b));
    let stale = store
        .persist_remote(RemoteWrite {
            room_id: "!r:test".into(),
            event: Some(b.clone()),
            state_before: base_entries.clone(),
            current_state: resolved.clone(),
            extremities_before: vec![last.clone()],
            ..Default::default()
        })
        .await;
    assert!(matches!(stale, Err(StoreError::RoomChanged(_))));
    let outcome = store
        .persist_remote(RemoteWrite {
            room_id: "!r:test".into(),
            event: Some(b),
            state_before: base_entries,
            current_state: resolved,
            extremities_before: vec!["$a".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    let pos = outcome.stream_ordering.unwrap();
    let mut tips: Vec<String> = store
        .forward_extremities(room)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event_id)
        .collect();
    tips.sort();
    assert_eq!(tips, ["$a", "$b"]);
    let current = store.current_state(room).await.unwrap();
    assert_eq!(
        current.get(&("m.room.topic".into(), String::new())),
        Some(&"$a".to_owned())
    );
    assert_eq!(
        current.get(&("m.room.name".into(), String::new())),
        Some(&"$b".to_owned())
    );
    // The event's own state has no topic: it was built before `$a`.
    let at = store.event(eid("$b")).await.unwrap().unwrap();
    assert_eq!(at.stream_ordering, pos);
    let own = store.state_at_group(at.state_group).await.unwrap();
    assert!(!own.contains_key(&("m.room.topic".into(), String::new())));
    assert!(own.contains_key(&("m.room.name".into(), String::new())));
    // A message on both tips merges them.
    store
        .persist_event(event(
            "!r:test",
            "$m",
            "m.room.message",
            None,
            &["$a", "$b"],
        ))
        .await
        .unwrap();
    // Writing the same event again is refused, changing nothing.
    let again = store
        .persist_remote(RemoteWrite {
            room_id: "!r:test".into(),
            event: Some(event("!r:test", "$b", "m.room.name", Some(""), &[&last])),
            extremities_before: vec!["$m".into()],
            ..Default::default()
        })
        .await;
    assert!(matches!(again, Err(StoreError::AlreadyExists(_))));
}

/// Rejected events and inbound transactions are remembered.
pub async fn rejections_and_inbound_transactions_are_kept(store: SqlStore) {
    store
        .reject_event("!r:test", "$x", "{}", "not allowed")
        .await
        .unwrap();
    store
        .reject_event("!r:test", "$x", "{}", "again")
        .await
        .unwrap();
    let rejected = store
        .rejected_among(&["$x".into(), "$y".into()])
        .await
        .unwrap();
    assert_eq!(rejected.into_iter().collect::<Vec<_>>(), ["$x"]);
    assert_eq!(store.inbound_txn("a.example", "t1").await.unwrap(), None);
    store
        .record_inbound_txn("a.example", "t1", r#"{"pdus":{}}"#, 5)
        .await
        .unwrap();
    store
        .record_inbound_txn("a.example", "t1", "other", 6)
        .await
        .unwrap();
    assert_eq!(
        store
            .inbound_txn("a.example", "t1")
            .await
            .unwrap()
            .as_deref(),
        Some(r#"{"pdus":{}}"#)
    );
    assert_eq!(store.inbound_txn("b.example", "t1").await.unwrap(), None);
}

/// An invite to a room this server is not in: the room is known, the
/// invite is an outlier, and the invitee's membership moves the stream.
pub async fn an_invite_to_a_remote_room_is_a_membership_outside_the_timeline(store: SqlStore) {
    let before = store.current_position().await.unwrap();
    let invite = remote_member("$inv", "@bob:test", "invite", &["$ann"]);
    let outcome = store
        .persist_remote(RemoteWrite {
            room_id: "!far:remote".into(),
            new_room: Some(RoomRecord {
                room_id: "!far:remote".into(),
                room_version: "12".into(),
                creator: "@ann:remote".into(),
                published: false,
                join_rule: "invite".into(),
            }),
            memberships: vec![entry(&invite)],
            outliers: vec![invite],
            ..Default::default()
        })
        .await
        .unwrap();
    let pos = outcome.stream_ordering.unwrap();
    assert!(pos > before);
    assert_eq!(outcome.membership_changes, ["@bob:test"]);
    let room = room_id!("!far:remote");
    let bob = store
        .membership(room, user_id!("@bob:test"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (bob.membership, bob.event_id.as_str(), bob.stream_ordering),
        (MembershipState::Invite, "$inv", pos)
    );
    assert!(store.event(eid("$inv")).await.unwrap().is_some());
    assert!(
        store
            .room_events(room, StreamPos::END, None, TimelineDirection::Backward, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // Bob then joins: the state before his join is what the join brought,
    // not the invite's (an outlier outside any state).
    let mut create = event("!far:remote", "$c", "m.room.create", Some(""), &[]);
    create.sender = "@ann:remote".into();
    let ann = remote_member("$ann", "@ann:remote", "join", &["$c"]);
    let join = remote_member("$bob", "@bob:test", "join", &["$ann"]);
    let before = vec![entry(&create), entry(&ann)];
    let mut after = before.clone();
    after.push(entry(&join));
    let joined = store
        .persist_remote(RemoteWrite {
            room_id: "!far:remote".into(),
            outliers: vec![create, ann],
            event: Some(join),
            state_before: before,
            current_state: after,
            ..Default::default()
        })
        .await
        .unwrap()
        .stream_ordering
        .unwrap();
    let group = store
        .state_group_before(room, joined)
        .await
        .unwrap()
        .unwrap();
    let state = store.state_at_group(group).await.unwrap();
    assert_eq!(
        state
            .values()
            .map(String::as_str)
            .collect::<std::collections::BTreeSet<_>>(),
        std::collections::BTreeSet::from(["$c", "$ann"])
    );
    let group = store
        .event_state_group_at(room, joined)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(store.state_at_group(group).await.unwrap().len(), 3);
}

/// History backfilled from another server: ordered newest first below
/// the timeline, paged by position, outliers already held placed in it,
/// timeline events and repeats skipped.
pub async fn backfilled_history_is_kept_in_order(store: SqlStore) {
    let mut create = event("!far:remote", "$c", "m.room.create", Some(""), &[]);
    create.sender = "@ann:remote".into();
    let ann = remote_member("$ann", "@ann:remote", "join", &["$c"]);
    let join = remote_member("$bob", "@bob:test", "join", &["$m2"]);
    let before = vec![entry(&create), entry(&ann)];
    let mut after = before.clone();
    after.push(entry(&join));
    store
        .persist_remote(RemoteWrite {
            room_id: "!far:remote".into(),
            new_room: Some(RoomRecord {
                room_id: "!far:remote".into(),
                room_version: "11".into(),
                creator: "@ann:remote".into(),
                published: true,
                join_rule: "public".into(),
            }),
            outliers: vec![create.clone(), ann.clone()],
            event: Some(join.clone()),
            state_before: before,
            current_state: after,
            ..Default::default()
        })
        .await
        .unwrap();
    let message = |id: &str, prev: &str| {
        let mut m = event("!far:remote", id, "m.room.message", None, &[prev]);
        m.sender = "@ann:remote".into();
        m
    };
    let (m2, m1) = (message("$m2", "$m1"), message("$m1", "$ann"));
    // The join (in the timeline) and a repeat are skipped; the state the
    // join brought takes its place.
    let placed = store
        .add_backfilled(
            "!far:remote",
            &[join, m2.clone(), m1.clone(), m1.clone(), ann],
        )
        .await
        .unwrap();
    assert_eq!(placed, 3);
    assert_eq!(store.add_backfilled("!far:remote", &[m2]).await.unwrap(), 0);
    assert_eq!(
        store
            .add_backfilled("!far:remote", &[create])
            .await
            .unwrap(),
        1
    );

    let page = store.backfilled("!far:remote", 0, 2).await.unwrap();
    let ids = |rows: &[(i64, StoredEvent)]| -> Vec<String> {
        rows.iter().map(|(_, e)| e.event_id.clone()).collect()
    };
    assert_eq!(ids(&page), ["$m2", "$m1"]);
    let next = store
        .backfilled("!far:remote", page[1].0, 10)
        .await
        .unwrap();
    assert_eq!(ids(&next), ["$ann", "$c"]);
    assert_eq!(
        store
            .oldest_backfilled("!far:remote")
            .await
            .unwrap()
            .unwrap()
            .event_id,
        "$c"
    );
    // Outside the timeline: a timeline read still sees the join alone.
    let timeline = store
        .room_events(
            room_id!("!far:remote"),
            StreamPos::END,
            None,
            TimelineDirection::Backward,
            10,
        )
        .await
        .unwrap();
    assert_eq!(timeline.len(), 1);
}
