//! `GET /rooms/{roomId}/timestamp_to_event` (a client's "jump to date"):
//! the nearest event either way that the user may see.

// Test code throughout: allow-unwrap-in-tests (clippy.toml) covers only
// #[test] functions, not the helpers an integration test crate shares.
#![allow(clippy::unwrap_used)]

mod support;

use serde_json::{Value, json};
use support::{Backend, TestServer};

both_backends! {
    nearest_visible_event_either_way => nearest_visible_event_either_way,
}

/// Far beyond any event's time.
const FUTURE: u64 = 4_000_000_000_000;

async fn nearest_visible_event_either_way(backend: Backend) {
    use matrix_sdk::ruma::{
        MilliSecondsSinceUnixEpoch, OwnedRoomId, UInt, api::client::room::get_event_by_timestamp,
    };

    let server = TestServer::start(backend).await;
    let alice = server.register_token("alice").await;
    let bob = server.register_token("bob").await;
    let carol = server.register_token("carol").await;
    let room = server
        .create_room(
            &alice,
            json!({ "preset": "public_chat", "initial_state": [{
                "type": "m.room.history_visibility", "state_key": "",
                "content": { "history_visibility": "joined" } }] }),
        )
        .await;
    let before = server.say(&alice, &room, "t1", "before bob").await;
    server.join(&bob, &room).await;
    let last = server.say(&alice, &room, "t2", "after bob").await;
    let jump = |token: String, ts: u64, dir: &'static str| {
        let path = format!("/_matrix/client/v1/rooms/{room}/timestamp_to_event?ts={ts}&dir={dir}");
        let server = &server;
        async move { server.call(Some(&token), "GET", &path, Value::Null).await }
    };
    let state_event = |ty: &str, key: &str| {
        let path = format!("/_matrix/client/v3/rooms/{room}/state/{ty}/{key}?format=event");
        let (server, alice) = (&server, alice.clone());
        async move {
            let (status, v) = server.call(Some(&alice), "GET", &path, Value::Null).await;
            assert_eq!(status, 200, "{v}");
            v["event_id"].as_str().unwrap().to_owned()
        }
    };

    // From the start: the room's first event; from the end: its last.
    let (status, first) = jump(alice.clone(), 0, "f").await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["event_id"], state_event("m.room.create", "").await);
    assert!(first["origin_server_ts"].is_u64());
    let (_, newest) = jump(alice.clone(), FUTURE, "b").await;
    assert_eq!(newest["event_id"], last);

    // Bob sees history from his join only: looking back from the message
    // sent before he joined finds an earlier event he may see (the room's
    // setup, from before its history became members-only), never it.
    let (_, hidden) = server
        .call(
            Some(&alice),
            "GET",
            &format!("/_matrix/client/v3/rooms/{room}/event/{before}"),
            Value::Null,
        )
        .await;
    let hidden_ts = hidden["origin_server_ts"].as_u64().unwrap();
    let (status, bobs) = jump(bob.clone(), hidden_ts, "b").await;
    assert_eq!(status, 200, "{bobs}");
    assert_ne!(bobs["event_id"], before);
    let seen = bobs["event_id"].as_str().unwrap();
    let (status, v) = server
        .call(
            Some(&bob),
            "GET",
            &format!("/_matrix/client/v3/rooms/{room}/event/{seen}"),
            Value::Null,
        )
        .await;
    assert_eq!(status, 200, "{v}");

    // Nothing that late; a non-member of a room that is not world-readable.
    let (status, v) = jump(alice.clone(), FUTURE, "f").await;
    assert_eq!(
        (status, v["errcode"].as_str()),
        (404, Some("M_NOT_FOUND")),
        "{v}"
    );
    let (status, v) = jump(carol.clone(), FUTURE, "b").await;
    assert_eq!(
        (status, v["errcode"].as_str()),
        (403, Some("M_FORBIDDEN")),
        "{v}"
    );
    let (status, v) = jump(alice.clone(), 0, "sideways").await;
    assert_eq!(status, 400, "{v}");

    // matrix-sdk asks with ruma's request type.
    let client = server.login("alice").await;
    let room_id: OwnedRoomId = room.parse().unwrap();
    let ts = MilliSecondsSinceUnixEpoch(UInt::new(FUTURE).unwrap());
    let answer = client
        .send(get_event_by_timestamp::v1::Request::until(room_id, ts))
        .await
        .unwrap();
    assert_eq!(answer.event_id.as_str(), last);
}
