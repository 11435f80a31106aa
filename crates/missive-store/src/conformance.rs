//! The storage conformance suite: behaviour every backend must share.
//!
//! Each check is a plain async function taking a fresh, empty store, so
//! backends run the same checks through [`store_conformance_tests!`]. Checks
//! panic (assert) on failure.

use crate::*;

fn user(id: &str) -> NewUser {
    NewUser {
        user_id: id.into(),
        password_hash: Some("hash".into()),
        is_admin: false,
        displayname: Some(
            id.trim_start_matches('@')
                .split(':')
                .next()
                .unwrap_or("")
                .into(),
        ),
        created_ts: 1,
    }
}

/// A minimal event for `room` built on `prev`.
pub fn event(room: &str, id: &str, ty: &str, state_key: Option<&str>, prev: &[&str]) -> NewEvent {
    NewEvent {
        event_id: id.into(),
        room_id: room.into(),
        sender: "@alice:test".into(),
        event_type: ty.into(),
        state_key: state_key.map(Into::into),
        membership: None,
        join_rule: None,
        depth: 1,
        origin_server_ts: 1000,
        json: format!(r#"{{"type":"{ty}","event_id":"{id}"}}"#),
        prev_events: prev.iter().map(|p| p.to_string()).collect(),
        ..Default::default()
    }
}

fn member(room: &str, id: &str, user: &str, membership: &str, prev: &[&str]) -> NewEvent {
    NewEvent {
        membership: Some(membership.into()),
        ..event(room, id, "m.room.member", Some(user), prev)
    }
}

/// Creates `room` with a create event and alice's join; returns the last event ID.
pub async fn create_room(store: &SqlStore, room: &str) -> String {
    let mut create = event(
        room,
        &format!("$create{room}"),
        "m.room.create",
        Some(""),
        &[],
    );
    create.create_room = Some(RoomRecord {
        room_id: room.into(),
        room_version: "11".into(),
        creator: "@alice:test".into(),
        published: false,
        join_rule: "invite".into(),
    });
    let join = member(
        room,
        &format!("$join{room}"),
        "@alice:test",
        "join",
        &[&format!("$create{room}")],
    );
    store.persist_events(vec![create, join]).await.unwrap();
    format!("$join{room}")
}

pub async fn accounts_are_unique_and_updatable(store: SqlStore) {
    store.create_user(user("@alice:test")).await.unwrap();
    assert!(matches!(
        store.create_user(user("@alice:test")).await,
        Err(StoreError::AlreadyExists(_))
    ));
    let alice = store.user("@alice:test").await.unwrap().unwrap();
    assert_eq!(alice.displayname.as_deref(), Some("alice"));
    assert!(!alice.deactivated);
    store.set_password_hash("@alice:test", "new").await.unwrap();
    store
        .set_displayname("@alice:test", Some("Alice A."))
        .await
        .unwrap();
    store
        .set_avatar_url("@alice:test", Some("mxc://test/a"))
        .await
        .unwrap();
    let alice = store.user("@alice:test").await.unwrap().unwrap();
    assert_eq!(alice.password_hash.as_deref(), Some("new"));
    assert_eq!(alice.displayname.as_deref(), Some("Alice A."));
    store.deactivate_user("@alice:test").await.unwrap();
    let alice = store.user("@alice:test").await.unwrap().unwrap();
    assert!(alice.deactivated && alice.password_hash.is_none() && alice.displayname.is_none());
    assert!(store.user("@nobody:test").await.unwrap().is_none());
}

pub async fn user_search_respects_shared_rooms(store: SqlStore) {
    for u in ["@alice:test", "@bob:test", "@carol:test"] {
        store.create_user(user(u)).await.unwrap();
    }
    let last = create_room(&store, "!r:test").await;
    store
        .persist_event(member("!r:test", "$bobjoin", "@bob:test", "join", &[&last]))
        .await
        .unwrap();
    let found = store.search_users("@alice:test", "bo", 10).await.unwrap();
    assert_eq!(
        found.iter().map(|u| u.user_id.as_str()).collect::<Vec<_>>(),
        ["@bob:test"]
    );
    // Carol shares no room with alice and is in no public room.
    assert!(
        store
            .search_users("@alice:test", "carol", 10)
            .await
            .unwrap()
            .is_empty()
    );
    // Wildcards in the term match literally.
    assert!(
        store
            .search_users("@alice:test", "%", 10)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn tokens_die_with_their_device(store: SqlStore) {
    let dev = |id: &str| DeviceRecord {
        user_id: "@alice:test".into(),
        device_id: id.into(),
        display_name: Some(format!("phone {id}")),
        last_seen_ts: Some(5),
        last_seen_ip: None,
    };
    store
        .create_device_with_token(dev("D1"), "h1")
        .await
        .unwrap();
    store
        .create_device_with_token(dev("D2"), "h2")
        .await
        .unwrap();
    store
        .create_device_with_token(dev("D3"), "h3")
        .await
        .unwrap();
    let owner = store.token_owner("h1").await.unwrap().unwrap();
    assert_eq!(
        (owner.user_id.as_str(), owner.device_id.as_str()),
        ("@alice:test", "D1")
    );
    assert_eq!(store.devices("@alice:test").await.unwrap().len(), 3);
    assert!(
        store
            .rename_device("@alice:test", "D1", "laptop")
            .await
            .unwrap()
    );
    assert!(
        !store
            .rename_device("@alice:test", "nope", "x")
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .device("@alice:test", "D1")
            .await
            .unwrap()
            .unwrap()
            .display_name
            .as_deref(),
        Some("laptop")
    );

    store.delete_token("h1").await.unwrap();
    assert!(store.token_owner("h1").await.unwrap().is_none());
    store
        .delete_devices("@alice:test", &["D2".into()])
        .await
        .unwrap();
    assert!(store.token_owner("h2").await.unwrap().is_none());
    assert!(store.device("@alice:test", "D2").await.unwrap().is_none());
    store
        .create_device_with_token(dev("D4"), "h4")
        .await
        .unwrap();
    store
        .delete_all_devices("@alice:test", Some("D4"))
        .await
        .unwrap();
    assert!(store.token_owner("h3").await.unwrap().is_none());
    assert!(store.token_owner("h4").await.unwrap().is_some());
    assert_eq!(store.devices("@alice:test").await.unwrap().len(), 1);
}

pub async fn events_extend_the_room_and_its_state(store: SqlStore) {
    let before = store.current_position().await.unwrap();
    let last = create_room(&store, "!r:test").await;
    let room = store.room("!r:test").await.unwrap().unwrap();
    assert_eq!(room.room_version, "11");
    let ext = store.forward_extremities("!r:test").await.unwrap();
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
    assert!(store.event("$m2").await.unwrap().is_none());

    let mut name = event("!r:test", "$name", "m.room.name", Some(""), &["$m1"]);
    name.json = r#"{"content":{"name":"Room"}}"#.into();
    store.persist_event(name).await.unwrap();
    let state = store.current_state("!r:test").await.unwrap();
    assert_eq!(
        state
            .get(&("m.room.name".into(), "".into()))
            .map(String::as_str),
        Some("$name")
    );
    assert_eq!(state.len(), 3);
    let name_event = store
        .current_state_event("!r:test", "m.room.name", "")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(name_event.event_id, "$name");
    // The state before the name event lacks it; the state after has it.
    let before_name = store
        .state_group_before("!r:test", name_event.stream_ordering)
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
    let current = store.current_state("!r:test").await.unwrap();
    let last = store.event(&prev).await.unwrap().unwrap();
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
    let mid = store.event("$s100").await.unwrap().unwrap();
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
    store
        .persist_event(member("!r:test", "$inv", "@bob:test", "invite", &[&last]))
        .await
        .unwrap();
    assert_eq!(
        store
            .membership("!r:test", "@bob:test")
            .await
            .unwrap()
            .unwrap()
            .membership,
        "invite"
    );
    store
        .persist_event(member("!r:test", "$bj", "@bob:test", "join", &["$inv"]))
        .await
        .unwrap();
    store
        .persist_event(member("!r:test", "$bl", "@bob:test", "leave", &["$bj"]))
        .await
        .unwrap();
    let bob = store
        .membership("!r:test", "@bob:test")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (bob.membership.as_str(), bob.event_id.as_str()),
        ("leave", "$bl")
    );
    let history = store
        .state_history("!r:test", "m.room.member", "@bob:test")
        .await
        .unwrap();
    let kinds: Vec<_> = history
        .iter()
        .filter_map(|e| e.membership.as_deref())
        .collect();
    assert_eq!(kinds, ["invite", "join", "leave"]);
    assert_eq!(store.room_members("!r:test").await.unwrap().len(), 2);
    assert_eq!(store.user_memberships("@bob:test").await.unwrap().len(), 1);
    store.forget_room("!r:test", "@bob:test").await.unwrap();
    assert!(
        store
            .user_memberships("@bob:test")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .shared_rooms("@alice:test", "@bob:test")
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
        .room_events("!r:test", now + 1, None, TimelineDirection::Backward, 10)
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
            "!r:test",
            page[9].stream_ordering,
            None,
            TimelineDirection::Backward,
            100,
        )
        .await
        .unwrap();
    assert_eq!(older.len(), 15 + 2);
    let forward = store
        .room_events("!r:test", 0, Some(now), TimelineDirection::Forward, 5)
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
            "!r:test",
            now + 1,
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
            .txn_event("@alice:test", "D1", "txn1")
            .await
            .unwrap()
            .as_deref(),
        Some("$t1")
    );
    assert!(
        store
            .txn_event("@alice:test", "D2", "txn1")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store
            .unread_counts("@bob:test", "!r:test", 0)
            .await
            .unwrap(),
        (1, 1)
    );

    let mut redaction = event("!r:test", "$red", "m.room.redaction", None, &["$t1"]);
    redaction.redaction = Some(("$t1".into(), r#"{"redacted":true}"#.into()));
    store.persist_event(redaction).await.unwrap();
    let redacted = store.event("$t1").await.unwrap().unwrap();
    assert_eq!(redacted.json, r#"{"redacted":true}"#);
    assert_eq!(redacted.redacted_by.as_deref(), Some("$red"));
}

pub async fn account_data_streams_changes(store: SqlStore) {
    let p1 = store
        .set_account_data("@a:test", None, "m.direct", "{}")
        .await
        .unwrap();
    let p2 = store
        .set_account_data("@a:test", Some("!r:test"), "m.tag", r#"{"tags":{}}"#)
        .await
        .unwrap();
    assert!(p2 > p1);
    store
        .set_account_data("@a:test", None, "m.direct", r#"{"x":1}"#)
        .await
        .unwrap();
    assert_eq!(
        store
            .account_data("@a:test", None, "m.direct")
            .await
            .unwrap()
            .as_deref(),
        Some(r#"{"x":1}"#)
    );
    assert!(
        store
            .account_data("@a:test", None, "m.tag")
            .await
            .unwrap()
            .is_none()
    );
    let since = store.account_data_since("@a:test", p1).await.unwrap();
    assert_eq!(since.len(), 2);
    assert!(
        since
            .iter()
            .any(|(room, ty, _)| room.as_deref() == Some("!r:test") && ty == "m.tag")
    );
    assert!(
        store
            .account_data_since("@b:test", 0)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn receipts_only_move_forward(store: SqlStore) {
    let r = |event: &str, order: i64| ReceiptRecord {
        room_id: "!r:test".into(),
        user_id: "@a:test".into(),
        receipt_type: "m.read".into(),
        thread_id: String::new(),
        event_id: event.into(),
        event_order: order,
        ts: 1,
    };
    assert!(store.set_receipt(r("$e5", 5)).await.unwrap());
    assert!(!store.set_receipt(r("$e3", 3)).await.unwrap());
    assert!(store.set_receipt(r("$e9", 9)).await.unwrap());
    assert_eq!(store.read_up_to("!r:test", "@a:test").await.unwrap(), 9);
    let all = store.receipts_since("!r:test", 0).await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].event_id, "$e9");
    let now = store.current_position().await.unwrap();
    assert!(
        store
            .receipts_since("!r:test", now)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn typing_expires(store: SqlStore) {
    store
        .set_typing("!r:test", "@a:test", Some(10_000))
        .await
        .unwrap();
    store
        .set_typing("!r:test", "@b:test", Some(20_000))
        .await
        .unwrap();
    assert_eq!(
        store
            .typing_since("!r:test", 0, 5_000)
            .await
            .unwrap()
            .unwrap(),
        ["@a:test", "@b:test"]
    );
    let pos = store.current_position().await.unwrap();
    assert!(
        store
            .typing_since("!r:test", pos, 5_000)
            .await
            .unwrap()
            .is_none()
    );
    store.expire_typing(15_000).await.unwrap();
    assert_eq!(
        store
            .typing_since("!r:test", pos, 15_000)
            .await
            .unwrap()
            .unwrap(),
        ["@b:test"]
    );
    store.set_typing("!r:test", "@b:test", None).await.unwrap();
    assert!(
        store
            .typing_since("!r:test", 0, 15_000)
            .await
            .unwrap()
            .unwrap()
            .is_empty()
    );
}

pub async fn small_tables_round_trip(store: SqlStore) {
    let f = store
        .create_filter("@a:test", r#"{"room":{}}"#)
        .await
        .unwrap();
    assert_eq!(
        store.filter("@a:test", &f).await.unwrap().as_deref(),
        Some(r#"{"room":{}}"#)
    );
    assert!(store.filter("@b:test", &f).await.unwrap().is_none());
    assert!(
        store
            .filter("@a:test", "not-a-number")
            .await
            .unwrap()
            .is_none()
    );

    store
        .create_alias("#a:test", "!r:test", "@a:test")
        .await
        .unwrap();
    assert!(matches!(
        store.create_alias("#a:test", "!x:test", "@a:test").await,
        Err(StoreError::AlreadyExists(_))
    ));
    assert_eq!(store.alias("#a:test").await.unwrap().unwrap().0, "!r:test");
    assert_eq!(store.room_aliases("!r:test").await.unwrap(), ["#a:test"]);
    assert!(store.delete_alias("#a:test").await.unwrap());
    assert!(!store.delete_alias("#a:test").await.unwrap());

    let s = UiaaSession {
        session_id: "s1".into(),
        completed: vec!["m.login.dummy".into()],
        params: "{}".into(),
        created_ts: 10,
    };
    store.save_uiaa_session(&s).await.unwrap();
    assert_eq!(store.uiaa_session("s1").await.unwrap().unwrap(), s);
    store.expire_uiaa_sessions(11).await.unwrap();
    assert!(store.uiaa_session("s1").await.unwrap().is_none());

    let token = RegistrationToken {
        token: "tok".into(),
        uses_allowed: Some(1),
        completed: 0,
        expiry_ts: None,
    };
    store
        .create_registration_token(token.clone())
        .await
        .unwrap();
    store.use_registration_token("tok").await.unwrap();
    assert_eq!(
        store
            .registration_token("tok")
            .await
            .unwrap()
            .unwrap()
            .completed,
        1
    );

    let p = PresenceRecord {
        user_id: "@a:test".into(),
        state: "online".into(),
        status_msg: None,
        last_active_ts: 3,
    };
    let pos = store.set_presence(&p).await.unwrap();
    assert_eq!(store.presence("@a:test").await.unwrap().unwrap(), p);
    assert_eq!(
        store
            .presence_since("@a:test", pos - 1)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        store
            .presence_since("@a:test", pos)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn room_activity_is_indexed(store: SqlStore) {
    let last = create_room(&store, "!r1:test").await;
    create_room(&store, "!r2:test").await;
    let pos = store.current_position().await.unwrap();
    assert!(
        store
            .rooms_active_since("@alice:test", pos)
            .await
            .unwrap()
            .is_empty()
    );
    store
        .persist_event(event("!r1:test", "$x", "m.room.message", None, &[&last]))
        .await
        .unwrap();
    let active = store.rooms_active_since("@alice:test", pos).await.unwrap();
    assert_eq!(active.into_iter().collect::<Vec<_>>(), ["!r1:test"]);
    store.set_room_published("!r2:test", true).await.unwrap();
    assert_eq!(store.published_rooms(0, 10).await.unwrap(), ["!r2:test"]);
    assert_eq!(store.count_published_rooms().await.unwrap(), 1);
}

fn otk(id: &str, json: &str) -> OneTimeKey {
    OneTimeKey {
        algorithm: "signed_curve25519".into(),
        key_id: id.into(),
        key_json: json.into(),
    }
}

pub async fn one_time_keys_are_claimed_once_then_fallback(store: SqlStore) {
    store
        .add_one_time_keys("@a:test", "D", &[otk("k1", "1"), otk("k2", "2")])
        .await
        .unwrap();
    // A retry with the same content is fine; a different key under a used ID is not.
    store
        .add_one_time_keys("@a:test", "D", &[otk("k1", "1")])
        .await
        .unwrap();
    assert!(matches!(
        store
            .add_one_time_keys("@a:test", "D", &[otk("k1", "other")])
            .await,
        Err(StoreError::AlreadyExists(_))
    ));
    assert_eq!(
        store
            .one_time_key_counts("@a:test", "D")
            .await
            .unwrap()
            .get("signed_curve25519"),
        Some(&2)
    );
    let first = store
        .claim_key("@a:test", "D", "signed_curve25519")
        .await
        .unwrap()
        .unwrap();
    let second = store
        .claim_key("@a:test", "D", "signed_curve25519")
        .await
        .unwrap()
        .unwrap();
    assert_ne!(first.key_id, second.key_id);
    assert!(
        store
            .claim_key("@a:test", "D", "signed_curve25519")
            .await
            .unwrap()
            .is_none()
    );

    store
        .set_fallback_key("@a:test", "D", &otk("f1", "fb"))
        .await
        .unwrap();
    assert_eq!(
        store
            .unused_fallback_key_types("@a:test", "D")
            .await
            .unwrap(),
        ["signed_curve25519"]
    );
    let fb = store
        .claim_key("@a:test", "D", "signed_curve25519")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(fb.key_id, "f1");
    // The fallback key stays claimable but is reported used.
    assert!(
        store
            .claim_key("@a:test", "D", "signed_curve25519")
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .unused_fallback_key_types("@a:test", "D")
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn device_list_changes_reach_room_members(store: SqlStore) {
    let last = create_room(&store, "!r:test").await;
    store
        .persist_event(member("!r:test", "$bj", "@bob:test", "join", &[&last]))
        .await
        .unwrap();
    let before = store.current_position().await.unwrap();
    store
        .set_device_keys("@bob:test", "BOBDEV", r#"{"device_id":"BOBDEV"}"#)
        .await
        .unwrap();
    store
        .set_device_keys("@carol:test", "C", "{}")
        .await
        .unwrap();
    let changed = store
        .device_list_changes("@alice:test", before)
        .await
        .unwrap();
    assert!(changed.contains("@bob:test"));
    assert!(
        !changed.contains("@carol:test"),
        "carol shares no room with alice"
    );
    assert_eq!(store.device_keys("@bob:test").await.unwrap().len(), 1);

    let pos = store.current_position().await.unwrap();
    store
        .delete_device_keys("@bob:test", "BOBDEV")
        .await
        .unwrap();
    assert!(store.device_keys("@bob:test").await.unwrap().is_empty());
    assert!(
        store
            .device_list_changes("@alice:test", pos)
            .await
            .unwrap()
            .contains("@bob:test")
    );

    store
        .set_cross_signing_key("@bob:test", "master", r#"{"usage":["master"]}"#)
        .await
        .unwrap();
    assert_eq!(
        store.cross_signing_keys("@bob:test").await.unwrap().len(),
        1
    );
}

pub async fn to_device_messages_wait_for_acknowledgement(store: SqlStore) {
    let msg = |n: i64| ToDeviceMessage {
        recipient_user: "@b:test".into(),
        recipient_device: "D".into(),
        message_json: format!(r#"{{"n":{n}}}"#),
    };
    let pos = store
        .queue_to_device(Some(("@a:test", "A", "t1")), &[msg(1), msg(2)])
        .await
        .unwrap()
        .unwrap();
    // The same transaction is not queued twice.
    assert!(
        store
            .queue_to_device(Some(("@a:test", "A", "t1")), &[msg(9)])
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.has_pending_to_device("@b:test", "D").await.unwrap());
    let first = store
        .take_to_device("@b:test", "D", None, pos, 1)
        .await
        .unwrap();
    assert_eq!(first, [r#"{"n":1}"#]);
    // Without an acknowledgement the same message comes again.
    let again = store
        .take_to_device("@b:test", "D", None, pos, 10)
        .await
        .unwrap();
    assert_eq!(again.len(), 2);
    assert!(!store.has_pending_to_device("@b:test", "D").await.unwrap());
    let after_ack = store
        .take_to_device("@b:test", "D", Some(pos), pos + 1, 10)
        .await
        .unwrap();
    assert!(after_ack.is_empty());
    assert!(
        store
            .take_to_device("@b:test", "OTHER", None, pos, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn backups_keep_the_best_session_copy(store: SqlStore) {
    let v1 = store
        .create_backup_version("@a:test", "m.megolm_backup.v1.curve25519-aes-sha2", "{}")
        .await
        .unwrap();
    let v2 = store
        .create_backup_version(
            "@a:test",
            "m.megolm_backup.v1.curve25519-aes-sha2",
            r#"{"x":1}"#,
        )
        .await
        .unwrap();
    assert_ne!(v1, v2);
    assert_eq!(
        store
            .backup_version("@a:test", None)
            .await
            .unwrap()
            .unwrap()
            .version,
        v2
    );
    let key = |index: i64, verified: bool, data: &str| BackedUpKey {
        room_id: "!r:test".into(),
        session_id: "s1".into(),
        first_message_index: index,
        forwarded_count: 0,
        is_verified: verified,
        session_data: data.into(),
    };
    store
        .put_backup_keys("@a:test", &v2, &[key(5, false, "a")])
        .await
        .unwrap();
    let etag1 = store
        .backup_version("@a:test", Some(&v2))
        .await
        .unwrap()
        .unwrap()
        .etag;
    store
        .put_backup_keys("@a:test", &v2, &[key(7, false, "worse")])
        .await
        .unwrap();
    assert_eq!(
        store.backup_keys("@a:test", &v2, None, None).await.unwrap()[0].session_data,
        "a"
    );
    assert_eq!(
        store
            .backup_version("@a:test", Some(&v2))
            .await
            .unwrap()
            .unwrap()
            .etag,
        etag1
    );
    store
        .put_backup_keys("@a:test", &v2, &[key(9, true, "verified")])
        .await
        .unwrap();
    let keys = store
        .backup_keys("@a:test", &v2, Some("!r:test"), Some("s1"))
        .await
        .unwrap();
    assert_eq!(keys[0].session_data, "verified");
    let info = store
        .backup_version("@a:test", Some(&v2))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(info.count, 1);
    assert_ne!(info.etag, etag1);
    store
        .delete_backup_keys("@a:test", &v2, Some("!r:test"), None)
        .await
        .unwrap();
    assert!(
        store
            .backup_keys("@a:test", &v2, None, None)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.delete_backup_version("@a:test", &v2).await.unwrap());
    assert_eq!(
        store
            .backup_version("@a:test", None)
            .await
            .unwrap()
            .unwrap()
            .version,
        v1
    );
    assert!(
        store
            .backup_version("@a:test", Some("nope"))
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn dehydrated_devices_replace_each_other(store: SqlStore) {
    assert!(
        store
            .set_dehydrated_device("@a:test", "DH1", "{}")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store
            .set_dehydrated_device("@a:test", "DH2", r#"{"v":2}"#)
            .await
            .unwrap()
            .as_deref(),
        Some("DH1")
    );
    assert_eq!(
        store.dehydrated_device("@a:test").await.unwrap(),
        Some(("DH2".into(), r#"{"v":2}"#.into()))
    );
    assert_eq!(
        store
            .delete_dehydrated_device("@a:test")
            .await
            .unwrap()
            .as_deref(),
        Some("DH2")
    );
    assert!(store.dehydrated_device("@a:test").await.unwrap().is_none());
}

pub async fn media_records_share_blobs_and_count_quota(store: SqlStore) {
    let record = |id: &str, sha: Option<&str>, size: i64| MediaRecord {
        server_name: "test".into(),
        media_id: id.into(),
        uploader: "@a:test".into(),
        content_type: Some("image/png".into()),
        filename: Some("cat.png".into()),
        size,
        sha256: sha.map(Into::into),
        created_ts: 1,
        expires_ts: None,
    };
    let sha = "a".repeat(64);
    store
        .create_media(&record("m1", Some(&sha), 100))
        .await
        .unwrap();
    store
        .create_media(&record("m2", Some(&sha), 100))
        .await
        .unwrap();
    assert!(matches!(
        store.create_media(&record("m1", None, 0)).await,
        Err(StoreError::AlreadyExists(_))
    ));
    assert_eq!(store.media_usage("@a:test").await.unwrap(), 200);
    assert_eq!(
        store
            .media("test", "m1")
            .await
            .unwrap()
            .unwrap()
            .filename
            .as_deref(),
        Some("cat.png")
    );

    // An async upload: reserved, then filled exactly once.
    let mut pending = record("m3", None, 0);
    pending.expires_ts = Some(10_000);
    store.create_media(&pending).await.unwrap();
    assert_eq!(
        store.pending_media_count("@a:test", 5_000).await.unwrap(),
        1
    );
    assert!(
        store
            .complete_media("test", "m3", &sha, 7, Some("text/plain"), None)
            .await
            .unwrap()
    );
    assert!(
        !store
            .complete_media("test", "m3", &sha, 7, None, None)
            .await
            .unwrap()
    );
    assert_eq!(
        store.pending_media_count("@a:test", 5_000).await.unwrap(),
        0
    );

    let thumb = ThumbnailRecord {
        sha256: sha.clone(),
        width: 32,
        height: 32,
        method: "scale".into(),
        thumb_sha256: "b".repeat(64),
        content_type: "image/png".into(),
        size: 9,
    };
    store.add_thumbnail(&thumb).await.unwrap();
    assert_eq!(
        store.thumbnail(&sha, 32, 32, "scale").await.unwrap(),
        Some(thumb.clone())
    );
    assert!(
        store
            .thumbnail(&sha, 32, 32, "crop")
            .await
            .unwrap()
            .is_none()
    );

    // The blob is orphaned only when its last record goes.
    assert!(store.delete_media("test", "m1").await.unwrap().is_empty());
    assert!(
        store.delete_media("test", "m2").await.unwrap().is_empty(),
        "m3 still uses it"
    );
    let orphans = store.delete_media("test", "m3").await.unwrap();
    assert_eq!(orphans, vec![sha.clone(), "b".repeat(64)]);
    assert!(store.user_media("@a:test").await.unwrap().is_empty());
    assert!(store.thumbnails_of(&sha).await.unwrap().is_empty());
}

/// Generates one `#[tokio::test]` per conformance check, each on a fresh
/// store from `$make` (an async expression yielding a `SqlStore`).
#[macro_export]
macro_rules! store_conformance_tests {
    ($make:expr) => {
        $crate::store_conformance_tests!(@tests $make;
            accounts_are_unique_and_updatable,
            user_search_respects_shared_rooms,
            tokens_die_with_their_device,
            events_extend_the_room_and_its_state,
            long_state_chains_resolve,
            memberships_track_the_latest_event,
            timelines_paginate_both_ways,
            transactions_and_redactions_apply_once,
            account_data_streams_changes,
            receipts_only_move_forward,
            typing_expires,
            small_tables_round_trip,
            room_activity_is_indexed,
            one_time_keys_are_claimed_once_then_fallback,
            device_list_changes_reach_room_members,
            to_device_messages_wait_for_acknowledgement,
            backups_keep_the_best_session_copy,
            dehydrated_devices_replace_each_other,
            media_records_share_blobs_and_count_quota,
        );
    };
    (@tests $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let store = $make.await;
                $crate::conformance::$name(store).await;
            }
        )*
    };
}
