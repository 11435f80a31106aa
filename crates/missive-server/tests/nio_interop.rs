//! A third, independent client stack: matrix-nio (Python, without
//! end-to-end encryption) registers, logs in, creates a room, joins one by
//! ID and one by an alias another user made, talks both ways with a
//! matrix-sdk client, and uploads a file that both download back. nio has
//! habits of its own that this keeps covered: the token in the
//! `access_token` query parameter and `POST /join/{id}` with no body.

// Test code throughout: allow-unwrap-in-tests (clippy.toml) covers only
// #[test] functions, not the helpers an integration test crate shares.
#![allow(clippy::unwrap_used)]

mod support;

use std::{collections::HashMap, path::PathBuf, process::Stdio};

use matrix_sdk::{
    media::{MediaFormat, MediaRequestParameters},
    room::MessagesOptions,
    ruma::{
        OwnedMxcUri, RoomId,
        api::client::room::create_room::{self, v3::RoomPreset},
        events::room::{MediaSource, message::RoomMessageEventContent},
    },
};
use serde_json::Value;
use support::{Backend, TestServer, sync_once, sync_until};
use tokio::io::{AsyncBufReadExt, BufReader};

fn peer_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../interop/nio/peer.py")
}

/// The venv's python that scripts/nio-venv.sh fills (`make test` runs it).
fn nio_python() -> PathBuf {
    let venv = std::env::var_os("NIO_VENV").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/missive-nio-venv"),
        PathBuf::from,
    );
    venv.join("bin/python")
}

async fn public_room(client: &matrix_sdk::Client, alias: Option<&str>) -> matrix_sdk::Room {
    let mut request = create_room::v3::Request::new();
    request.preset = Some(RoomPreset::PublicChat);
    request.room_alias_name = alias.map(str::to_owned);
    client.create_room(request).await.expect("create room")
}

/// The content of every event in the room's recent history.
async fn contents(room: &matrix_sdk::Room) -> Vec<(String, Value)> {
    let Ok(page) = room.messages(MessagesOptions::backward()).await else {
        return Vec::new();
    };
    page.chunk
        .iter()
        .filter_map(|e| {
            let sender = e.raw().get_field::<String>("sender").ok().flatten()?;
            let content = e.raw().get_field::<Value>("content").ok().flatten()?;
            Some((sender, content))
        })
        .collect()
}

/// The `mxc://` URI of nio's `m.file` message, if it is there.
fn nio_file(seen: &[(String, Value)]) -> Option<OwnedMxcUri> {
    seen.iter()
        .find(|(s, c)| s == "@nio:localhost" && c["msgtype"] == "m.file")
        .and_then(|(_, c)| c["url"].as_str().map(OwnedMxcUri::from))
}

async fn nio_and_rust_talk(backend: Backend) {
    let python = nio_python();
    assert!(
        python.exists(),
        "{} is missing: run scripts/nio-venv.sh first (make test does)",
        python.display()
    );
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let by_id = public_room(&alice, None).await;
    let by_alias = public_room(&alice, Some("nio-by-alias")).await;
    // Every byte value, so that no encoding step can go unnoticed.
    let data: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    let file = server.data_dir.path().join("nio-upload.bin");
    std::fs::write(&file, &data).expect("write the upload");

    let log_path = server.data_dir.path().join("nio-peer.log");
    let log = std::fs::File::create(&log_path).expect("peer log");
    let mut peer = tokio::process::Command::new(&python)
        .arg(peer_script())
        .arg(&server.base_url)
        .arg(by_id.room_id().as_str())
        .arg("#nio-by-alias:localhost")
        .arg(&file)
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .kill_on_drop(true)
        .spawn()
        .expect("start the nio peer");
    let peer_log = || std::fs::read_to_string(&log_path).unwrap_or_default();

    // The peer reports each step on a line; once it has joined, alice
    // talks to it. It stops by itself on failure or at its time limit.
    let mut lines = BufReader::new(peer.stdout.take().expect("stdout")).lines();
    let mut steps = HashMap::new();
    while let Some(line) = lines.next_line().await.expect("peer output") {
        let (step, value) = line.split_once(' ').unwrap_or((&line, ""));
        if step == "JOINED_ID" {
            by_id
                .send(RoomMessageEventContent::text_plain("hello from rust"))
                .await
                .expect("send");
        }
        steps.insert(step.to_owned(), value.to_owned());
    }
    let status = peer.wait().await.expect("peer exit");
    assert!(
        status.success(),
        "the nio peer failed: {steps:?}; its log:\n{}",
        peer_log()
    );
    assert_eq!(steps["REGISTERED"], "@nio:localhost");
    assert_eq!(steps["JOINED_ID"], by_id.room_id().as_str());
    assert_eq!(steps["JOINED_ALIAS"], by_alias.room_id().as_str());
    assert_eq!(steps["RECEIVED"], "hello from rust");

    // The room nio made is an ordinary public room.
    let made = <&RoomId>::try_from(steps["CREATED"].as_str()).expect("a room ID");
    alice.join_room_by_id(made).await.expect("join nio's room");

    // nio's text and its file arrive, and the file downloads intact.
    sync_once(&alice).await;
    sync_until(
        &[&alice],
        100,
        "alice receives nio's message and file",
        || {
            let room = by_id.clone();
            async move {
                let seen = contents(&room).await;
                let text = seen
                    .iter()
                    .any(|(s, c)| s == "@nio:localhost" && c["body"] == "hello from nio");
                text && nio_file(&seen).is_some()
            }
        },
    )
    .await;
    let mxc = nio_file(&contents(&by_id).await).expect("the file event");
    assert_eq!(mxc.as_str(), steps["UPLOADED"]);
    let bytes = alice
        .media()
        .get_media_content(
            &MediaRequestParameters {
                source: MediaSource::Plain(mxc),
                format: MediaFormat::File,
            },
            false,
        )
        .await
        .expect("download nio's upload");
    assert_eq!(bytes, data, "byte-identical");
}

both_backends! {
    matrix_nio_talks_with_matrix_sdk => nio_and_rust_talk,
}
