//! Conformance: Account data, receipts, typing, presence, filters, aliases, UIA sessions.

use super::*;

pub async fn account_data_streams_changes(store: SqlStore) {
    let p1 = store
        .set_account_data(user_id!("@a:test"), None, "m.direct", "{}")
        .await
        .unwrap();
    let p2 = store
        .set_account_data(
            user_id!("@a:test"),
            Some(room_id!("!r:test")),
            "m.tag",
            r#"{"tags":{}}"#,
        )
        .await
        .unwrap();
    assert!(p2 > p1);
    store
        .set_account_data(user_id!("@a:test"), None, "m.direct", r#"{"x":1}"#)
        .await
        .unwrap();
    assert_eq!(
        store
            .account_data(user_id!("@a:test"), None, "m.direct")
            .await
            .unwrap()
            .as_deref(),
        Some(r#"{"x":1}"#)
    );
    assert!(
        store
            .account_data(user_id!("@a:test"), None, "m.tag")
            .await
            .unwrap()
            .is_none()
    );
    let since = store
        .account_data_since(user_id!("@a:test"), p1)
        .await
        .unwrap();
    assert_eq!(since.len(), 2);
    assert!(
        since
            .iter()
            .any(|(room, ty, _)| room.as_deref() == Some("!r:test") && ty == "m.tag")
    );
    assert!(
        store
            .account_data_since(user_id!("@b:test"), StreamPos::ZERO)
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
        event_order: StreamPos::new(order),
        ts: 1,
    };
    assert!(store.set_receipt(r("$e5", 5)).await.unwrap());
    assert!(!store.set_receipt(r("$e3", 3)).await.unwrap());
    assert!(store.set_receipt(r("$e9", 9)).await.unwrap());
    assert_eq!(
        store
            .read_up_to(room_id!("!r:test"), user_id!("@a:test"))
            .await
            .unwrap(),
        StreamPos::new(9)
    );
    let all = store
        .receipts_since(room_id!("!r:test"), StreamPos::ZERO)
        .await
        .unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].event_id, "$e9");
    let now = store.current_position().await.unwrap();
    assert!(
        store
            .receipts_since(room_id!("!r:test"), now)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn typing_expires(store: SqlStore) {
    store
        .set_typing(room_id!("!r:test"), user_id!("@a:test"), Some(10_000))
        .await
        .unwrap();
    store
        .set_typing(room_id!("!r:test"), user_id!("@b:test"), Some(20_000))
        .await
        .unwrap();
    assert_eq!(
        store
            .typing_since(room_id!("!r:test"), StreamPos::ZERO, 5_000)
            .await
            .unwrap()
            .unwrap(),
        ["@a:test", "@b:test"]
    );
    let pos = store.current_position().await.unwrap();
    assert!(
        store
            .typing_since(room_id!("!r:test"), pos, 5_000)
            .await
            .unwrap()
            .is_none()
    );
    store.expire_typing(15_000).await.unwrap();
    assert_eq!(
        store
            .typing_since(room_id!("!r:test"), pos, 15_000)
            .await
            .unwrap()
            .unwrap(),
        ["@b:test"]
    );
    store
        .set_typing(room_id!("!r:test"), user_id!("@b:test"), None)
        .await
        .unwrap();
    assert!(
        store
            .typing_since(room_id!("!r:test"), StreamPos::ZERO, 15_000)
            .await
            .unwrap()
            .unwrap()
            .is_empty()
    );
}

pub async fn small_tables_round_trip(store: SqlStore) {
    let f = store
        .create_filter(user_id!("@a:test"), r#"{"room":{}}"#)
        .await
        .unwrap();
    assert_eq!(
        store
            .filter(user_id!("@a:test"), &f)
            .await
            .unwrap()
            .as_deref(),
        Some(r#"{"room":{}}"#)
    );
    assert!(
        store
            .filter(user_id!("@b:test"), &f)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .filter(user_id!("@a:test"), "not-a-number")
            .await
            .unwrap()
            .is_none()
    );

    store
        .create_alias(
            room_alias_id!("#a:test"),
            room_id!("!r:test"),
            user_id!("@a:test"),
        )
        .await
        .unwrap();
    assert!(matches!(
        store
            .create_alias(
                room_alias_id!("#a:test"),
                room_id!("!x:test"),
                user_id!("@a:test")
            )
            .await,
        Err(StoreError::AlreadyExists(_))
    ));
    assert_eq!(
        store
            .alias(room_alias_id!("#a:test"))
            .await
            .unwrap()
            .unwrap()
            .0,
        "!r:test"
    );
    assert_eq!(
        store.room_aliases(room_id!("!r:test")).await.unwrap(),
        ["#a:test"]
    );
    // A room upgrade moves every alias of the old room, and no other.
    for (alias, room) in [("#b:test", "!r:test"), ("#c:test", "!other:test")] {
        store
            .create_alias(
                ruma::RoomAliasId::parse(alias).unwrap().as_ref(),
                ruma::RoomId::parse(room).unwrap().as_ref(),
                user_id!("@a:test"),
            )
            .await
            .unwrap();
    }
    let moved = store
        .move_aliases(room_id!("!r:test"), room_id!("!new"))
        .await
        .unwrap();
    assert_eq!(moved, 2);
    assert!(
        store
            .room_aliases(room_id!("!r:test"))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.room_aliases(room_id!("!new")).await.unwrap(),
        ["#a:test", "#b:test"]
    );
    assert_eq!(
        store.room_aliases(room_id!("!other:test")).await.unwrap(),
        ["#c:test"]
    );
    assert!(store.delete_alias(room_alias_id!("#a:test")).await.unwrap());
    assert!(!store.delete_alias(room_alias_id!("#a:test")).await.unwrap());

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
    assert_eq!(
        store.presence(user_id!("@a:test")).await.unwrap().unwrap(),
        p
    );
    assert_eq!(
        store
            .presence_since(user_id!("@a:test"), pos.prev())
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        store
            .presence_since(user_id!("@a:test"), pos)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .presence_of(&[user_id!("@a:test"), user_id!("@never:test")])
            .await
            .unwrap(),
        vec![p],
        "only users who set a presence"
    );
}

/// Every kind of change a sync asks about is seen from just before it,
/// whatever other kinds changed meanwhile, and hidden from after it (the
/// store may answer these questions without a query when nothing of that
/// kind moved, so a kind it failed to track would show here).
pub async fn each_kind_of_change_is_seen_from_just_before_it(store: SqlStore) {
    let last = create_room(&store, "!k:test").await;
    let rooms = vec!["!k:test".to_owned()];
    store
        .persist_event(member("!k:test", "$kb", "@bob:test", "join", &[&last]))
        .await
        .unwrap();

    let p = store.current_position().await.unwrap();
    store
        .set_account_data(user_id!("@bob:test"), None, "m.test", "{}")
        .await
        .unwrap();
    assert_eq!(
        store
            .account_data_since(user_id!("@bob:test"), p)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(store.receipts_in(&ids(&rooms), p).await.unwrap().is_empty());
    assert!(
        store
            .typing_in(&ids(&rooms), p, 0)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .members_changed_in(&ids(&rooms), p)
            .await
            .unwrap()
            .is_empty()
    );

    let p = store.current_position().await.unwrap();
    store
        .set_receipt(ReceiptRecord {
            room_id: "!k:test".into(),
            user_id: "@bob:test".into(),
            receipt_type: "m.read".into(),
            thread_id: String::new(),
            event_id: "$kb".into(),
            event_order: p,
            ts: 1,
        })
        .await
        .unwrap();
    assert_eq!(store.receipts_in(&ids(&rooms), p).await.unwrap().len(), 1);
    assert!(
        store
            .account_data_since(user_id!("@bob:test"), p)
            .await
            .unwrap()
            .is_empty()
    );

    let p = store.current_position().await.unwrap();
    store
        .set_typing(room_id!("!k:test"), user_id!("@bob:test"), Some(10_000))
        .await
        .unwrap();
    assert_eq!(
        store.typing_in(&ids(&rooms), p, 0).await.unwrap()["!k:test"],
        vec!["@bob:test".to_owned()]
    );
    assert!(store.receipts_in(&ids(&rooms), p).await.unwrap().is_empty());

    let p = store.current_position().await.unwrap();
    let bob = PresenceRecord {
        user_id: "@bob:test".into(),
        state: "online".into(),
        status_msg: None,
        last_active_ts: 3,
    };
    store.set_presence(&bob).await.unwrap();
    assert_eq!(
        store
            .presence_since(user_id!("@alice:test"), p)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        store
            .typing_in(&ids(&rooms), p, 0)
            .await
            .unwrap()
            .is_empty()
    );

    let p = store.current_position().await.unwrap();
    store
        .mark_device_list_changed(user_id!("@bob:test"))
        .await
        .unwrap();
    assert!(
        store
            .device_list_changes(user_id!("@alice:test"), p)
            .await
            .unwrap()
            .contains("@bob:test")
    );
    assert!(
        store
            .presence_since(user_id!("@alice:test"), p)
            .await
            .unwrap()
            .is_empty()
    );

    // A message is not a membership change; a join is.
    let p = store.current_position().await.unwrap();
    store
        .persist_event(event("!k:test", "$km", "m.room.message", None, &["$kb"]))
        .await
        .unwrap();
    assert!(
        store
            .members_changed_in(&ids(&rooms), p)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .device_list_changes(user_id!("@alice:test"), p)
            .await
            .unwrap()
            .is_empty()
    );
    store
        .persist_event(member("!k:test", "$kc", "@carol:test", "join", &["$km"]))
        .await
        .unwrap();
    let changed = store.members_changed_in(&ids(&rooms), p).await.unwrap();
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0].user_id, "@carol:test");
}
