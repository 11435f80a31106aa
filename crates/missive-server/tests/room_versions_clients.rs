//! Room versions and upgrades through real clients: matrix-sdk talks in a
//! version 1 room and in an encrypted version 12 room; matrix-js-sdk
//! upgrades a room (`upgradeRoom`) and links the old and new rooms.

// Test code throughout: allow-unwrap-in-tests (clippy.toml) covers only
// #[test] functions, not the helpers an integration test crate shares.
#![allow(clippy::unwrap_used)]

mod support;

use std::{path::Path, process::Stdio};

use matrix_sdk::{
    Client,
    deserialized_responses::TimelineEventKind,
    room::MessagesOptions,
    ruma::{
        OwnedRoomId, RoomVersionId,
        api::client::room::create_room,
        events::{
            InitialStateEvent, room::encryption::RoomEncryptionEventContent,
            room::message::RoomMessageEventContent,
        },
    },
};
use serde_json::{Value, json};
use support::{Backend, PASSWORD, TestServer, sync_once, sync_until};

/// Alice creates a room of `version` (encrypted if asked) with bob invited;
/// bob joins; both see it joined (and encrypted).
async fn shared_room(
    alice: &Client,
    bob: &Client,
    version: RoomVersionId,
    encrypted: bool,
) -> OwnedRoomId {
    let mut request = create_room::v3::Request::new();
    request.room_version = Some(version);
    request.invite = vec![bob.user_id().unwrap().to_owned()];
    if encrypted {
        request.initial_state = vec![
            InitialStateEvent::with_empty_state_key(
                RoomEncryptionEventContent::with_recommended_defaults(),
            )
            .to_raw_any(),
        ];
    }
    let room = alice.create_room(request).await.expect("create room");
    let room_id = room.room_id().to_owned();
    sync_until(&[bob], 20, "bob sees the invite", || async {
        support::invited_to(bob, &room_id)
    })
    .await;
    bob.join_room_by_id(&room_id).await.expect("bob joins");
    sync_until(&[alice, bob], 20, "both see the joined room", || async {
        let (Some(a), Some(b)) = (alice.get_room(&room_id), bob.get_room(&room_id)) else {
            return false;
        };
        a.joined_members_count() == 2
            && (!encrypted
                || (a
                    .latest_encryption_state()
                    .await
                    .is_ok_and(|s| s.is_encrypted())
                    && b.latest_encryption_state()
                        .await
                        .is_ok_and(|s| s.is_encrypted())))
    })
    .await;
    room_id
}

/// The bodies bob reads in the room's history (decrypted where encrypted).
async fn bodies(client: &Client, room_id: &OwnedRoomId) -> Vec<String> {
    let room = client.get_room(room_id).unwrap();
    let messages = room.messages(MessagesOptions::backward()).await.unwrap();
    messages
        .chunk
        .iter()
        .filter(|e| !matches!(e.kind, TimelineEventKind::UnableToDecrypt { .. }))
        .filter_map(|e| e.raw().get_field::<Value>("content").ok().flatten())
        .filter_map(|c| c.get("body").and_then(Value::as_str).map(str::to_owned))
        .collect()
}

async fn talk_in(server: &TestServer, version: RoomVersionId, encrypted: bool) {
    let alice = server.login("alice").await;
    let bob = server.login("bob").await;
    sync_once(&alice).await;
    sync_once(&bob).await;
    let room_id = shared_room(&alice, &bob, version.clone(), encrypted).await;
    assert_eq!(
        alice.get_room(&room_id).unwrap().version(),
        Some(version.clone())
    );
    let body = format!("hello in version {version}");
    let sent = alice
        .get_room(&room_id)
        .unwrap()
        .send(RoomMessageEventContent::text_plain(&body))
        .await
        .expect("send");
    assert_eq!(sent.encryption_info.is_some(), encrypted);
    sync_until(&[&bob], 30, "bob reads alice's message", || async {
        bodies(&bob, &room_id).await.contains(&body)
    })
    .await;
    // And back, read through alice's history.
    let reply = format!("reply in version {version}");
    bob.get_room(&room_id)
        .unwrap()
        .send(RoomMessageEventContent::text_plain(&reply))
        .await
        .expect("reply");
    sync_until(&[&alice], 30, "alice reads bob's reply", || async {
        bodies(&alice, &room_id).await.contains(&reply)
    })
    .await;
}

async fn matrix_sdk_in_versions_1_and_12(backend: Backend) {
    let server = TestServer::start(backend).await;
    server.register("alice").await;
    server.register("bob").await;
    talk_in(&server, RoomVersionId::V1, false).await;
    talk_in(&server, RoomVersionId::V12, true).await;
}

async fn js_sdk_upgrades_a_room(backend: Backend) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop/js/upgrade.mjs");
    assert!(
        script.with_file_name("node_modules").exists(),
        "run `npm ci --prefix interop/js` first (make test does)"
    );
    let server = TestServer::start(backend).await;
    let alice = server.register_token("alice").await;
    let bob = server.register_token("bob").await;
    let old = server
        .create_room(
            &alice,
            json!({ "room_version": "10", "preset": "public_chat", "name": "old" }),
        )
        .await;
    server.join(&bob, &old).await;
    let out = tokio::process::Command::new("node")
        .arg(&script)
        .args([&server.base_url, "alice", PASSWORD, &old, "12"])
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .expect("node must be installed");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "js client failed: {stderr}");
    let result: Value = serde_json::from_slice(&out.stdout).expect("one JSON line");
    let new = result["replacement"].as_str().unwrap();
    assert_eq!(result["successor"], new, "{result}");
    assert_eq!(result["predecessor"], old.as_str(), "{result}");
    assert_eq!(result["version"], "12", "{result}");
    // Bob, a member of the old room, follows into the new one.
    server.join(&bob, new).await;
    server.say(&bob, new, "b1", "followed").await;
}

both_backends!(
    matrix_sdk_in_versions_1_and_12 => matrix_sdk_in_versions_1_and_12,
    js_sdk_upgrades_a_room => js_sdk_upgrades_a_room,
);
