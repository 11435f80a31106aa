//! Conformance: Accounts, profiles, devices and tokens.

use super::*;

pub async fn accounts_are_unique_and_updatable(store: SqlStore) {
    store.create_user(user("@alice:test")).await.unwrap();
    assert!(matches!(
        store.create_user(user("@alice:test")).await,
        Err(StoreError::AlreadyExists(_))
    ));
    let alice = store.user(user_id!("@alice:test")).await.unwrap().unwrap();
    assert_eq!(alice.displayname.as_deref(), Some("alice"));
    assert!(!alice.deactivated);
    store
        .set_password_hash(user_id!("@alice:test"), "new")
        .await
        .unwrap();
    store
        .set_displayname(user_id!("@alice:test"), Some("Alice A."))
        .await
        .unwrap();
    store
        .set_avatar_url(user_id!("@alice:test"), Some("mxc://test/a"))
        .await
        .unwrap();
    let alice = store.user(user_id!("@alice:test")).await.unwrap().unwrap();
    assert_eq!(alice.password_hash.as_deref(), Some("new"));
    assert_eq!(alice.displayname.as_deref(), Some("Alice A."));
    store
        .deactivate_user(user_id!("@alice:test"))
        .await
        .unwrap();
    let alice = store.user(user_id!("@alice:test")).await.unwrap().unwrap();
    assert!(alice.deactivated && alice.password_hash.is_none() && alice.displayname.is_none());
    assert!(
        store
            .user(user_id!("@nobody:test"))
            .await
            .unwrap()
            .is_none()
    );
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
    let found = store
        .search_users(
            user_id!("@alice:test"),
            "bo",
            UserSearchScope::SharedRooms,
            10,
        )
        .await
        .unwrap();
    assert_eq!(
        found.iter().map(|u| u.user_id.as_str()).collect::<Vec<_>>(),
        ["@bob:test"]
    );
    // Carol shares no room with alice and is in no public room.
    assert!(
        store
            .search_users(
                user_id!("@alice:test"),
                "carol",
                UserSearchScope::SharedRooms,
                10
            )
            .await
            .unwrap()
            .is_empty()
    );
    // The organisation-wide directory finds her.
    let all = store
        .search_users(
            user_id!("@alice:test"),
            "carol",
            UserSearchScope::AllLocal,
            10,
        )
        .await
        .unwrap();
    assert_eq!(all.len(), 1);
    // Wildcards in the term match literally.
    assert!(
        store
            .search_users(user_id!("@alice:test"), "%", UserSearchScope::AllLocal, 10)
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
    // Without an account row the token names nobody; with one, both at once.
    assert!(store.token_user("h1").await.unwrap().is_none());
    store.create_user(user("@alice:test")).await.unwrap();
    let owner_now = store.token_user("h1").await.unwrap().unwrap();
    assert_eq!(
        (owner_now.device_id.as_str(), owner_now.user_id.as_str()),
        ("D1", "@alice:test")
    );
    assert!(!owner_now.is_admin && !owner_now.deactivated);
    assert!(store.token_user("nope").await.unwrap().is_none());
    assert_eq!(
        (owner.user_id.as_str(), owner.device_id.as_str()),
        ("@alice:test", "D1")
    );
    assert_eq!(
        store.devices(user_id!("@alice:test")).await.unwrap().len(),
        3
    );
    assert!(
        store
            .rename_device(user_id!("@alice:test"), device_id!("D1"), "laptop")
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .rename_device(user_id!("@alice:test"), device_id!("nope"), "x")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store
            .device(user_id!("@alice:test"), device_id!("D1"))
            .await
            .unwrap()
            .unwrap()
            .display_name
            .as_deref(),
        Some("laptop")
    );

    // Every token answered once (and cached, where the backend caches):
    // each way of removing it must still be seen at once.
    for token in ["h1", "h2", "h3"] {
        assert!(store.token_user(token).await.unwrap().is_some());
    }
    store.delete_token("h1").await.unwrap();
    assert!(store.token_owner("h1").await.unwrap().is_none());
    assert!(store.token_user("h1").await.unwrap().is_none());
    store
        .delete_devices(user_id!("@alice:test"), &["D2".into()])
        .await
        .unwrap();
    assert!(store.token_owner("h2").await.unwrap().is_none());
    assert!(store.token_user("h2").await.unwrap().is_none());
    assert!(
        store
            .device(user_id!("@alice:test"), device_id!("D2"))
            .await
            .unwrap()
            .is_none()
    );
    store
        .create_device_with_token(dev("D4"), "h4")
        .await
        .unwrap();
    store
        .delete_all_devices(user_id!("@alice:test"), Some(device_id!("D4")))
        .await
        .unwrap();
    assert!(store.token_owner("h3").await.unwrap().is_none());
    assert!(store.token_user("h3").await.unwrap().is_none());
    assert!(store.token_owner("h4").await.unwrap().is_some());
    assert_eq!(
        store.devices(user_id!("@alice:test")).await.unwrap().len(),
        1
    );
    assert!(!store.token_user("h4").await.unwrap().unwrap().deactivated);
    store
        .deactivate_user(user_id!("@alice:test"))
        .await
        .unwrap();
    assert!(store.token_user("h4").await.unwrap().unwrap().deactivated);
}

/// An OpenID token names its user until it expires, then nobody; adding
/// one clears the expired ones.
pub async fn openid_tokens_expire(store: SqlStore) {
    let alice = user_id!("@alice:test");
    store.add_openid_token("old", alice, 100, 50).await.unwrap();
    store
        .add_openid_token("new", alice, 1_000, 50)
        .await
        .unwrap();
    assert_eq!(
        store.openid_token_user("old", 99).await.unwrap().as_deref(),
        Some("@alice:test")
    );
    assert_eq!(store.openid_token_user("old", 100).await.unwrap(), None);
    assert_eq!(store.openid_token_user("nope", 0).await.unwrap(), None);
    store
        .add_openid_token("later", alice, 2_000, 500)
        .await
        .unwrap();
    assert_eq!(store.openid_token_user("old", 0).await.unwrap(), None);
    assert_eq!(
        store
            .openid_token_user("new", 500)
            .await
            .unwrap()
            .as_deref(),
        Some("@alice:test")
    );
}

/// A guest account is a guest to its tokens until upgraded, once.
pub async fn guests_upgrade_once(store: SqlStore) {
    let mut guest = user("@1234:test");
    guest.is_guest = true;
    guest.password_hash = None;
    store.create_user(guest).await.unwrap();
    let device = DeviceRecord {
        user_id: "@1234:test".into(),
        device_id: "G".into(),
        display_name: None,
        last_seen_ts: None,
        last_seen_ip: None,
    };
    store.create_device_with_token(device, "gh").await.unwrap();
    assert!(store.token_user("gh").await.unwrap().unwrap().is_guest);
    let id = user_id!("@1234:test");
    assert!(store.user(id).await.unwrap().unwrap().is_guest);
    assert!(store.upgrade_guest(id, "new hash").await.unwrap());
    assert!(!store.token_user("gh").await.unwrap().unwrap().is_guest);
    let upgraded = store.user(id).await.unwrap().unwrap();
    assert!(!upgraded.is_guest);
    assert_eq!(upgraded.password_hash.as_deref(), Some("new hash"));
    assert!(
        !store.upgrade_guest(id, "again").await.unwrap(),
        "only a guest can be upgraded"
    );
}
