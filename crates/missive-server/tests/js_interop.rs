//! A second, independent client stack: matrix-js-sdk with its Rust crypto
//! (compiled to wasm) in Node exchanges encrypted messages both ways with a
//! matrix-sdk client through missive-server.

// Test code throughout: allow-unwrap-in-tests (clippy.toml) covers only
// #[test] functions, not the helpers an integration test crate shares.
#![allow(clippy::unwrap_used)]

mod support;

use std::{path::Path, process::Stdio, time::Duration};

use matrix_sdk::{
    deserialized_responses::TimelineEventKind,
    room::MessagesOptions,
    ruma::{
        api::client::room::create_room,
        events::{
            InitialStateEvent, room::encryption::RoomEncryptionEventContent,
            room::message::RoomMessageEventContent,
        },
        user_id,
    },
};
use support::{Backend, PASSWORD, TestServer, sync_once, sync_until};

fn peer_script() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop/js/peer.mjs")
}

async fn js_and_rust_talk(backend: Backend) {
    let script = peer_script();
    assert!(
        script.with_file_name("node_modules").exists(),
        "run `npm ci --prefix interop/js` first (make test does)"
    );
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let _bob_account = server.register("bob").await;
    sync_once(&alice).await;

    let mut request = create_room::v3::Request::new();
    request.invite = vec![user_id!("@bob:localhost").to_owned()];
    request.initial_state = vec![
        InitialStateEvent::with_empty_state_key(
            RoomEncryptionEventContent::with_recommended_defaults(),
        )
        .to_raw_any(),
    ];
    let room = alice.create_room(request).await.expect("create room");
    let room_id = room.room_id().to_owned();

    let log_path = server.data_dir.path().join("js-peer.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut peer = tokio::process::Command::new("node")
        .arg(&script)
        .args([
            &server.base_url,
            "bob",
            PASSWORD,
            room_id.as_str(),
            "hello from rust",
            "hello from js",
        ])
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .kill_on_drop(true)
        .spawn()
        .expect("node must be installed");
    let peer_log = || std::fs::read_to_string(&log_path).unwrap_or_default();

    // Wait until the js peer has joined and published its device keys.
    let bob = user_id!("@bob:localhost");
    for _ in 0..300 {
        sync_once(&alice).await;
        let joined = alice
            .get_room(&room_id)
            .is_some_and(|r| r.joined_members_count() == 2);
        let devices = alice
            .encryption()
            .get_user_devices(bob)
            .await
            .map(|d| d.devices().count())
            .unwrap_or(0);
        if joined && devices > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        alice
            .get_room(&room_id)
            .is_some_and(|r| r.joined_members_count() == 2),
        "the js peer never joined; its log:\n{}",
        peer_log()
    );

    room.send(RoomMessageEventContent::text_plain("hello from rust"))
        .await
        .expect("send");

    // The peer only answers once it has decrypted alice's message.
    sync_until(&[&alice], 100, "alice decrypts the js peer's reply", || {
        let room = alice.get_room(&room_id).unwrap();
        async move {
            let Ok(page) = room.messages(MessagesOptions::backward()).await else {
                return false;
            };
            page.chunk.iter().any(|e| {
                let body = e
                    .raw()
                    .get_field::<serde_json::Value>("content")
                    .ok()
                    .flatten();
                matches!(e.kind, TimelineEventKind::Decrypted(_))
                    && body.is_some_and(|c| c["body"] == "hello from js")
            })
        }
    })
    .await;
    let status = tokio::time::timeout(Duration::from_secs(60), peer.wait()).await;
    assert!(
        matches!(status, Ok(Ok(s)) if s.success()),
        "the js peer must decrypt and answer; its log:\n{}",
        peer_log()
    );
}

both_backends! {
    matrix_js_sdk_and_matrix_sdk_exchange_encrypted_messages => js_and_rust_talk,
}
