//! Conformance: End-to-end encryption: keys, to-device, backup, dehydrated devices.

use super::*;

pub async fn one_time_keys_are_claimed_once_then_fallback(store: SqlStore) {
    store
        .add_one_time_keys(
            user_id!("@a:test"),
            device_id!("D"),
            &[otk("k1", "1"), otk("k2", "2")],
        )
        .await
        .unwrap();
    // A retry with the same content is fine; a different key under a used ID is not.
    store
        .add_one_time_keys(user_id!("@a:test"), device_id!("D"), &[otk("k1", "1")])
        .await
        .unwrap();
    assert!(matches!(
        store
            .add_one_time_keys(user_id!("@a:test"), device_id!("D"), &[otk("k1", "other")])
            .await,
        Err(StoreError::AlreadyExists(_))
    ));
    assert_eq!(
        store
            .one_time_key_counts(user_id!("@a:test"), device_id!("D"))
            .await
            .unwrap()
            .get("signed_curve25519"),
        Some(&2)
    );
    let first = store
        .claim_key(user_id!("@a:test"), device_id!("D"), "signed_curve25519")
        .await
        .unwrap()
        .unwrap();
    let second = store
        .claim_key(user_id!("@a:test"), device_id!("D"), "signed_curve25519")
        .await
        .unwrap()
        .unwrap();
    assert_ne!(first.key_id, second.key_id);
    assert!(
        store
            .claim_key(user_id!("@a:test"), device_id!("D"), "signed_curve25519")
            .await
            .unwrap()
            .is_none()
    );

    store
        .set_fallback_key(user_id!("@a:test"), device_id!("D"), &otk("f1", "fb"))
        .await
        .unwrap();
    assert_eq!(
        store
            .unused_fallback_key_types(user_id!("@a:test"), device_id!("D"))
            .await
            .unwrap(),
        ["signed_curve25519"]
    );
    let fb = store
        .claim_key(user_id!("@a:test"), device_id!("D"), "signed_curve25519")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(fb.key_id, "f1");
    // The fallback key stays claimable but is reported used.
    assert!(
        store
            .claim_key(user_id!("@a:test"), device_id!("D"), "signed_curve25519")
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .unused_fallback_key_types(user_id!("@a:test"), device_id!("D"))
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
        .set_device_keys(
            user_id!("@bob:test"),
            device_id!("BOBDEV"),
            r#"{"device_id":"BOBDEV"}"#,
        )
        .await
        .unwrap();
    store
        .set_device_keys(user_id!("@carol:test"), device_id!("C"), "{}")
        .await
        .unwrap();
    let changed = store
        .device_list_changes(user_id!("@alice:test"), before)
        .await
        .unwrap();
    assert!(changed.contains("@bob:test"));
    assert!(
        !changed.contains("@carol:test"),
        "carol shares no room with alice"
    );
    assert_eq!(
        store
            .device_keys(user_id!("@bob:test"))
            .await
            .unwrap()
            .len(),
        1
    );

    let pos = store.current_position().await.unwrap();
    store
        .delete_device_keys(user_id!("@bob:test"), device_id!("BOBDEV"))
        .await
        .unwrap();
    assert!(
        store
            .device_keys(user_id!("@bob:test"))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .device_list_changes(user_id!("@alice:test"), pos)
            .await
            .unwrap()
            .contains("@bob:test")
    );

    store
        .set_cross_signing_key(user_id!("@bob:test"), "master", r#"{"usage":["master"]}"#)
        .await
        .unwrap();
    assert_eq!(
        store
            .cross_signing_keys(user_id!("@bob:test"))
            .await
            .unwrap()
            .len(),
        1
    );
}

/// A new device, a renamed one and a deleted one are device-list changes
/// of their user, recorded with the write; signing in again on a known
/// device is not.
pub async fn device_lifecycle_is_a_device_list_change(store: SqlStore) {
    let last = create_room(&store, "!r:test").await;
    store
        .persist_event(member("!r:test", "$bj", "@bob:test", "join", &[&last]))
        .await
        .unwrap();
    let bob = user_id!("@bob:test");
    let dev = |id: &str| DeviceRecord {
        user_id: bob.to_string(),
        device_id: id.into(),
        display_name: Some("phone".into()),
        last_seen_ts: Some(1),
        last_seen_ip: None,
    };
    let changed_after = |pos| {
        let store = store.clone();
        async move {
            store
                .device_list_changes(user_id!("@alice:test"), pos)
                .await
                .unwrap()
                .contains("@bob:test")
        }
    };

    let before = store.current_position().await.unwrap();
    let created = store
        .create_device_with_token(dev("B1"), "hb1")
        .await
        .unwrap()
        .expect("a new device is a change");
    let pos = created.pos;
    assert!(pos > before);
    assert!(changed_after(before).await);
    assert_eq!(created.chain().collect::<Vec<_>>(), [(pos.get(), 0)]);
    let again = store
        .create_device_with_token(dev("B1"), "hb2")
        .await
        .unwrap();
    assert_eq!(again, None, "a known device signing in again is no change");
    assert!(!changed_after(pos).await);

    let renamed = store
        .rename_device(bob, device_id!("B1"), "laptop")
        .await
        .unwrap()
        .expect("renamed");
    assert!(renamed.pos > pos && changed_after(pos).await);
    // Other servers are told each change's predecessor (`prev_id`).
    assert_eq!(renamed.prev, pos.get());

    let deleted = store
        .delete_devices(bob, &["B1".into()])
        .await
        .unwrap()
        .expect("deleted");
    assert!(deleted.pos > renamed.pos && changed_after(renamed.pos).await);
    assert_eq!(deleted.prev, renamed.pos.get());
    assert_eq!(store.delete_devices(bob, &[]).await.unwrap(), None);
    for d in ["B2", "B3"] {
        store
            .create_device_with_token(dev(d), &format!("h{d}"))
            .await
            .unwrap();
    }
    let before_all = store.device_list_stream_id(bob).await.unwrap();
    let (gone, all) = store.delete_all_devices(bob, None).await.unwrap();
    assert_eq!(gone, ["B2", "B3"]);
    assert!(all.pos > deleted.pos && changed_after(deleted.pos).await);
    // One stream ID per device deleted, chained.
    let chain: Vec<_> = all.chain().collect();
    assert_eq!(
        chain,
        [
            (all.pos.get() - 1, before_all),
            (all.pos.get(), all.pos.get() - 1)
        ]
    );
    assert_eq!(
        store.device_list_stream_id(bob).await.unwrap(),
        all.pos.get()
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
    assert!(
        store
            .has_pending_to_device(user_id!("@b:test"), device_id!("D"))
            .await
            .unwrap()
    );
    let first = store
        .take_to_device(user_id!("@b:test"), device_id!("D"), None, pos, 1)
        .await
        .unwrap();
    assert_eq!(first, [r#"{"n":1}"#]);
    // Without an acknowledgement the same message comes again.
    let again = store
        .take_to_device(user_id!("@b:test"), device_id!("D"), None, pos, 10)
        .await
        .unwrap();
    assert_eq!(again.len(), 2);
    assert!(
        !store
            .has_pending_to_device(user_id!("@b:test"), device_id!("D"))
            .await
            .unwrap()
    );
    let after_ack = store
        .take_to_device(
            user_id!("@b:test"),
            device_id!("D"),
            Some(pos),
            pos.next(),
            10,
        )
        .await
        .unwrap();
    assert!(after_ack.is_empty());
    assert!(
        store
            .take_to_device(user_id!("@b:test"), device_id!("OTHER"), None, pos, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn backups_keep_the_best_session_copy(store: SqlStore) {
    let v1 = store
        .create_backup_version(
            user_id!("@a:test"),
            "m.megolm_backup.v1.curve25519-aes-sha2",
            "{}",
        )
        .await
        .unwrap();
    let v2 = store
        .create_backup_version(
            user_id!("@a:test"),
            "m.megolm_backup.v1.curve25519-aes-sha2",
            r#"{"x":1}"#,
        )
        .await
        .unwrap();
    assert_ne!(v1, v2);
    assert_eq!(
        store
            .backup_version(user_id!("@a:test"), None)
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
        .put_backup_keys(user_id!("@a:test"), &v2, &[key(5, false, "a")])
        .await
        .unwrap();
    let etag1 = store
        .backup_version(user_id!("@a:test"), Some(&v2))
        .await
        .unwrap()
        .unwrap()
        .etag;
    store
        .put_backup_keys(user_id!("@a:test"), &v2, &[key(7, false, "worse")])
        .await
        .unwrap();
    assert_eq!(
        store
            .backup_keys(user_id!("@a:test"), &v2, None, None)
            .await
            .unwrap()[0]
            .session_data,
        "a"
    );
    assert_eq!(
        store
            .backup_version(user_id!("@a:test"), Some(&v2))
            .await
            .unwrap()
            .unwrap()
            .etag,
        etag1
    );
    store
        .put_backup_keys(user_id!("@a:test"), &v2, &[key(9, true, "verified")])
        .await
        .unwrap();
    let keys = store
        .backup_keys(user_id!("@a:test"), &v2, Some("!r:test"), Some("s1"))
        .await
        .unwrap();
    assert_eq!(keys[0].session_data, "verified");
    let info = store
        .backup_version(user_id!("@a:test"), Some(&v2))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(info.count, 1);
    assert_ne!(info.etag, etag1);
    store
        .delete_backup_keys(user_id!("@a:test"), &v2, Some("!r:test"), None)
        .await
        .unwrap();
    assert!(
        store
            .backup_keys(user_id!("@a:test"), &v2, None, None)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .delete_backup_version(user_id!("@a:test"), &v2)
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .backup_version(user_id!("@a:test"), None)
            .await
            .unwrap()
            .unwrap()
            .version,
        v1
    );
    assert!(
        store
            .backup_version(user_id!("@a:test"), Some("nope"))
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn dehydrated_devices_replace_each_other(store: SqlStore) {
    assert!(
        store
            .set_dehydrated_device(user_id!("@a:test"), device_id!("DH1"), "{}")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store
            .set_dehydrated_device(user_id!("@a:test"), device_id!("DH2"), r#"{"v":2}"#)
            .await
            .unwrap()
            .as_deref(),
        Some("DH1")
    );
    assert_eq!(
        store.dehydrated_device(user_id!("@a:test")).await.unwrap(),
        Some(("DH2".into(), r#"{"v":2}"#.into()))
    );
    assert_eq!(
        store
            .delete_dehydrated_device(user_id!("@a:test"))
            .await
            .unwrap()
            .as_deref(),
        Some("DH2")
    );
    assert!(
        store
            .dehydrated_device(user_id!("@a:test"))
            .await
            .unwrap()
            .is_none()
    );
}
