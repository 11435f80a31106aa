//! Device-list updates reach the users who share a room: a new login, a
//! renamed device and leaving the last shared room appear in the others'
//! `/sync` (`device_lists.changed` / `left`) and in `GET /keys/changes`,
//! and `/keys/query` names each device.

// Test code throughout: allow-unwrap-in-tests (clippy.toml) covers only
// #[test] functions, not the helpers an integration test crate shares.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{Backend, PASSWORD, TestServer, sync_once, sync_until};

struct User {
    token: String,
    id: String,
    device: String,
}

async fn register(server: &TestServer, name: &str) -> User {
    let v = server.register_raw(name).await;
    User {
        token: v["access_token"].as_str().unwrap().to_owned(),
        id: v["user_id"].as_str().unwrap().to_owned(),
        device: v["device_id"].as_str().unwrap().to_owned(),
    }
}

/// Alice and bob sharing one room; returns it.
async fn shared_room(server: &TestServer, alice: &User, bob: &User) -> String {
    let room = server.create_room(&alice.token, json!({})).await;
    let (status, v) = server
        .call(
            Some(&alice.token),
            "POST",
            &format!("/_matrix/client/v3/rooms/{room}/invite"),
            json!({ "user_id": bob.id }),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    server.join(&bob.token, &room).await;
    room
}

/// A sync of `user` after `since` (no waiting unless `timeout_ms`).
async fn sync(server: &TestServer, user: &User, since: Option<&str>, timeout_ms: u64) -> Value {
    let path = match since {
        Some(s) => format!("/_matrix/client/v3/sync?since={s}&timeout={timeout_ms}"),
        None => "/_matrix/client/v3/sync?timeout=0".to_owned(),
    };
    let (status, v) = server
        .call(Some(&user.token), "GET", &path, Value::Null)
        .await;
    assert_eq!(status, 200, "{v}");
    v
}

fn ids(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|u| u.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// `GET /keys/changes` of `user` from `from` to `to`: (changed, left).
async fn key_changes(
    server: &TestServer,
    user: &User,
    from: &str,
    to: &str,
) -> (Vec<String>, Vec<String>) {
    let (status, v) = server
        .call(
            Some(&user.token),
            "GET",
            &format!("/_matrix/client/v3/keys/changes?from={from}&to={to}"),
            Value::Null,
        )
        .await;
    assert_eq!(status, 200, "{v}");
    (ids(&v["changed"]), ids(&v["left"]))
}

async fn login(server: &TestServer, name: &str) -> Value {
    let (status, v) = server
        .call(
            None,
            "POST",
            "/_matrix/client/v3/login",
            json!({
                "type": "m.login.password",
                "identifier": { "type": "m.id.user", "user": name },
                "password": PASSWORD,
            }),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    v
}

async fn new_login_is_a_device_list_change(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = register(&server, "alice").await;
    let bob = register(&server, "bob").await;
    shared_room(&server, &alice, &bob).await;
    let since = sync(&server, &alice, None, 0).await["next_batch"]
        .as_str()
        .unwrap()
        .to_owned();

    // Alice's long poll is waiting when bob signs in on a new device: the
    // login must wake it with bob's change.
    let waiting = {
        let base = server.base_url.clone();
        let token = alice.token.clone();
        let since = since.clone();
        tokio::spawn(async move {
            reqwest::Client::new()
                .get(format!(
                    "{base}/_matrix/client/v3/sync?since={since}&timeout=30000"
                ))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    login(&server, "bob").await;
    let answer = waiting.await.unwrap();
    assert!(
        ids(&answer["device_lists"]["changed"]).contains(&bob.id),
        "bob's new device in alice's sync: {answer}"
    );
    let next = answer["next_batch"].as_str().unwrap();
    let (changed, _) = key_changes(&server, &alice, &since, next).await;
    assert!(changed.contains(&bob.id), "{changed:?}");
}

async fn renaming_a_device_is_a_device_list_change(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = register(&server, "alice").await;
    let bob = register(&server, "bob").await;
    shared_room(&server, &alice, &bob).await;
    let since = sync(&server, &alice, None, 0).await["next_batch"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, v) = server
        .call(
            Some(&bob.token),
            "PUT",
            &format!("/_matrix/client/v3/devices/{}", bob.device),
            json!({ "display_name": "bob's phone" }),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let answer = sync(&server, &alice, Some(&since), 0).await;
    assert!(
        ids(&answer["device_lists"]["changed"]).contains(&bob.id),
        "bob's renamed device in alice's sync: {answer}"
    );
    let next = answer["next_batch"].as_str().unwrap();
    let (changed, _) = key_changes(&server, &alice, &since, next).await;
    assert!(changed.contains(&bob.id), "{changed:?}");
}

async fn leaving_the_last_shared_room_is_left(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = register(&server, "alice").await;
    let bob = register(&server, "bob").await;
    let room = shared_room(&server, &alice, &bob).await;
    let since = sync(&server, &alice, None, 0).await["next_batch"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, v) = server
        .call(
            Some(&bob.token),
            "POST",
            &format!("/_matrix/client/v3/rooms/{room}/leave"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let answer = sync(&server, &alice, Some(&since), 0).await;
    assert!(
        ids(&answer["device_lists"]["left"]).contains(&bob.id),
        "bob left alice's last shared room: {answer}"
    );
    let next = answer["next_batch"].as_str().unwrap();
    let (changed, left) = key_changes(&server, &alice, &since, next).await;
    assert!(left.contains(&bob.id), "left: {left:?}");
    assert!(!changed.contains(&bob.id), "changed: {changed:?}");
}

async fn keys_query_names_devices(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = register(&server, "alice").await;
    let bob = register(&server, "bob").await;
    shared_room(&server, &alice, &bob).await;
    let keys = json!({
        "user_id": bob.id,
        "device_id": bob.device,
        "algorithms": ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
        "keys": {
            format!("curve25519:{}", bob.device): "dGVzdGtleTE",
            format!("ed25519:{}", bob.device): "dGVzdGtleTI",
        },
        "signatures": {},
    });
    let (status, v) = server
        .call(
            Some(&bob.token),
            "POST",
            "/_matrix/client/v3/keys/upload",
            json!({ "device_keys": keys }),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let (status, v) = server
        .call(
            Some(&bob.token),
            "PUT",
            &format!("/_matrix/client/v3/devices/{}", bob.device),
            json!({ "display_name": "bob's phone" }),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    for (who, token) in [("bob", &bob.token), ("alice", &alice.token)] {
        let (status, v) = server
            .call(
                Some(token),
                "POST",
                "/_matrix/client/v3/keys/query",
                json!({ "device_keys": { bob.id.clone(): [] } }),
            )
            .await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(
            v["device_keys"][&bob.id][&bob.device]["unsigned"]["device_display_name"],
            json!("bob's phone"),
            "{who} sees bob's device name: {v}"
        );
    }
}

/// A matrix-sdk client learns of another user's new device after a sync.
async fn sdk_sees_a_new_device(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    // matrix-sdk tracks the devices of the members of encrypted rooms.
    let mut request = matrix_sdk::ruma::api::client::room::create_room::v3::Request::new();
    request.initial_state = vec![
        matrix_sdk::ruma::events::InitialStateEvent::with_empty_state_key(
            matrix_sdk::ruma::events::room::encryption::RoomEncryptionEventContent::with_recommended_defaults(),
        )
        .to_raw_any(),
    ];
    let room = alice.create_room(request).await.unwrap();
    room.invite_user_by_id(bob.user_id().unwrap())
        .await
        .unwrap();
    sync_once(&bob).await;
    bob.join_room_by_id(room.room_id()).await.unwrap();
    sync_once(&alice).await;
    sync_once(&bob).await;
    let bob_id = bob.user_id().unwrap().to_owned();
    sync_until(&[&alice], 20, "alice knows bob's first device", || async {
        alice
            .encryption()
            .get_user_devices(&bob_id)
            .await
            .is_ok_and(|d| d.devices().count() == 1)
    })
    .await;

    let bob2 = server.login("bob").await;
    sync_once(&bob2).await;
    sync_until(&[&alice], 20, "alice sees bob's second device", || async {
        alice
            .encryption()
            .get_user_devices(&bob_id)
            .await
            .is_ok_and(|d| d.devices().count() == 2)
    })
    .await;
}

both_backends! {
    new_login_is_a_device_list_change => new_login_is_a_device_list_change,
    renaming_a_device_is_a_device_list_change => renaming_a_device_is_a_device_list_change,
    leaving_the_last_shared_room_is_left => leaving_the_last_shared_room_is_left,
    keys_query_names_devices => keys_query_names_devices,
    sdk_sees_a_new_device => sdk_sees_a_new_device,
}
