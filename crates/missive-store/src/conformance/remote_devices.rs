//! Other servers' users' device lists kept here.

use super::*;

fn list(stream_id: i64, devices: &[(&str, &str)], cross: &[(&str, &str)]) -> RemoteDeviceList {
    let pairs = |v: &[(&str, &str)]| {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    RemoteDeviceList {
        stream_id,
        devices: pairs(devices),
        cross_signing: pairs(cross),
    }
}

/// A whole list replaces what was kept and starts tracking the user; an
/// update adds, changes or removes one device and moves the stream ID;
/// forgetting drops it all. Each is a device-list change that room
/// members see, and a local user's stream ID is their latest change.
pub async fn remote_device_lists_are_replaced_updated_and_forgotten(store: SqlStore) {
    let last = create_room(&store, "!r:test").await;
    store
        .persist_event(member("!r:test", "$rj", "@rob:remote", "join", &[&last]))
        .await
        .unwrap();
    let rob = user_id!("@rob:remote");
    let alice = user_id!("@alice:test");
    assert_eq!(store.remote_device_stream(rob).await.unwrap(), None);
    // An update to an untracked user keeps no stream (the list is not whole).
    store
        .update_remote_device(rob, "OLD", Some("{\"o\":1}"), 3)
        .await
        .unwrap();
    assert_eq!(store.remote_device_stream(rob).await.unwrap(), None);

    let before = store.current_position().await.unwrap();
    let pos = store
        .replace_remote_devices(
            rob,
            &list(
                7,
                &[("D1", "{\"d\":1}"), ("D2", "{\"d\":2}")],
                &[("master", "{\"m\":1}")],
            ),
            1_000,
        )
        .await
        .unwrap();
    assert!(pos > before);
    assert_eq!(store.remote_device_stream(rob).await.unwrap(), Some(7));
    let keys = store.device_keys(rob).await.unwrap();
    assert_eq!(
        keys.keys().cloned().collect::<Vec<_>>(),
        ["D1", "D2"],
        "the old device is gone"
    );
    assert_eq!(
        store.cross_signing_keys(rob).await.unwrap().get("master"),
        Some(&"{\"m\":1}".to_owned())
    );
    assert!(
        store
            .device_list_changes(alice, before)
            .await
            .unwrap()
            .contains("@rob:remote")
    );

    let before = store.current_position().await.unwrap();
    store
        .update_remote_device(rob, "D2", None, 8)
        .await
        .unwrap();
    store
        .update_remote_device(rob, "D3", Some("{\"d\":3}"), 9)
        .await
        .unwrap();
    store
        .update_remote_device(rob, "D1", Some("{\"d\":11}"), 10)
        .await
        .unwrap();
    assert_eq!(store.remote_device_stream(rob).await.unwrap(), Some(10));
    let keys = store.device_keys(rob).await.unwrap();
    assert_eq!(keys.get("D1"), Some(&"{\"d\":11}".to_owned()));
    assert_eq!(keys.get("D2"), None);
    assert_eq!(keys.get("D3"), Some(&"{\"d\":3}".to_owned()));
    assert!(
        store
            .device_list_changes(alice, before)
            .await
            .unwrap()
            .contains("@rob:remote")
    );

    let before = store.current_position().await.unwrap();
    store.forget_remote_devices(rob).await.unwrap();
    assert_eq!(store.remote_device_stream(rob).await.unwrap(), None);
    assert!(store.device_keys(rob).await.unwrap().is_empty());
    assert!(store.cross_signing_keys(rob).await.unwrap().is_empty());
    assert!(
        store
            .device_list_changes(alice, before)
            .await
            .unwrap()
            .contains("@rob:remote")
    );

    // A local user's stream ID: 0 before any change, then their latest.
    assert_eq!(store.device_list_stream_id(alice).await.unwrap(), 0);
    let pos = store
        .set_device_keys(alice, device_id!("A"), "{}")
        .await
        .unwrap();
    assert_eq!(
        store.device_list_stream_id(alice).await.unwrap(),
        pos.pos.get()
    );
}
