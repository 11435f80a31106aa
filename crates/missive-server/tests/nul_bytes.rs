//! NUL characters: identifiers that contain one are refused with a clear
//! error on both backends (PostgreSQL cannot store NUL in text), and event
//! content keeps them faithfully (stored as JSON, `\u0000` escaped).

// Test code throughout: allow-unwrap-in-tests (clippy.toml) covers only
// #[test] functions, not the helpers an integration test crate shares.
#![allow(clippy::unwrap_used)]

mod support;

use serde_json::{Value, json};
use support::{Backend, TestServer};

async fn identifiers_with_nul_are_refused(backend: Backend) {
    let server = TestServer::start(backend).await;
    let login = server.register_raw("alice").await;
    let alice = login["access_token"].as_str().unwrap().to_owned();
    let device = login["device_id"].as_str().unwrap().to_owned();
    let room = server.create_room(&alice, json!({})).await;
    let me = "@alice:localhost";

    // (method, path, body): each carries a NUL in one identifier.
    let cases: Vec<(&str, String, Value)> = vec![
        // transaction ID
        (
            "PUT",
            format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/t%00x"),
            json!({"body": "x", "msgtype": "m.text"}),
        ),
        // event type
        (
            "PUT",
            format!("/_matrix/client/v3/rooms/{room}/send/m.ro%00om/t1"),
            json!({"body": "x"}),
        ),
        (
            "PUT",
            format!("/_matrix/client/v3/rooms/{room}/state/m.ro%00om/"),
            json!({}),
        ),
        // state key
        (
            "PUT",
            format!("/_matrix/client/v3/rooms/{room}/state/m.custom/k%00ey"),
            json!({}),
        ),
        // account-data type, global and per room
        (
            "PUT",
            format!("/_matrix/client/v3/user/{me}/account_data/m.x%00y"),
            json!({}),
        ),
        (
            "PUT",
            format!("/_matrix/client/v3/user/{me}/rooms/{room}/account_data/m.x%00y"),
            json!({}),
        ),
        // device ID, in a path and in a body
        (
            "PUT",
            format!("/_matrix/client/v3/devices/{device}%00"),
            json!({"display_name": "x"}),
        ),
        (
            "POST",
            "/_matrix/client/v3/login".to_owned(),
            json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "alice"}, "password": support::PASSWORD, "device_id": "DEV\u{0}ICE"}),
        ),
        // media ID
        (
            "GET",
            "/_matrix/client/v1/media/download/localhost/ab%00cd".to_owned(),
            Value::Null,
        ),
        (
            "GET",
            "/_matrix/media/v3/download/localhost/ab%00cd".to_owned(),
            Value::Null,
        ),
        // display name and avatar URL
        (
            "PUT",
            format!("/_matrix/client/v3/profile/{me}/displayname"),
            json!({"displayname": "Al\u{0}ice"}),
        ),
        (
            "PUT",
            format!("/_matrix/client/v3/profile/{me}/avatar_url"),
            json!({"avatar_url": "mxc://localhost/a\u{0}b"}),
        ),
        // a device's display name, a room alias, a filter's query parameter
        (
            "PUT",
            format!("/_matrix/client/v3/devices/{device}"),
            json!({"display_name": "ph\u{0}one"}),
        ),
        (
            "PUT",
            "/_matrix/client/v3/directory/room/%23al%00ias:localhost".to_owned(),
            json!({"room_id": room}),
        ),
        (
            "GET",
            "/_matrix/client/v3/sync?filter=a%00b&timeout=0".to_owned(),
            Value::Null,
        ),
        // receipts and typing
        (
            "POST",
            format!("/_matrix/client/v3/rooms/{room}/receipt/m.read/$e%00v"),
            json!({}),
        ),
        (
            "POST",
            "/_matrix/client/v3/createRoom".to_owned(),
            json!({"initial_state": [{"type": "m.cu\u{0}stom", "state_key": "", "content": {}}]}),
        ),
    ];
    for (method, path, body) in cases {
        let (status, answer) = server.call(Some(&alice), method, &path, body).await;
        assert_eq!(status, 400, "{method} {path}: {answer}");
        let code = answer["errcode"].as_str().unwrap_or_default();
        assert!(
            matches!(code, "M_INVALID_PARAM" | "M_BAD_JSON"),
            "{method} {path}: {answer}"
        );
    }
    // The server is fine and nothing half-written shows.
    let (status, _) = server
        .send_event(
            &alice,
            &room,
            "m.room.message",
            "after",
            json!({"msgtype": "m.text", "body": "still here"}),
        )
        .await;
    assert_eq!(status, 200);
}

async fn content_keeps_nul_faithfully(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register_token("alice").await;
    let room = server.create_room(&alice, json!({})).await;
    let me = "@alice:localhost";
    let body = "a\u{0}b";
    let (status, sent) = server
        .send_event(
            &alice,
            &room,
            "m.room.message",
            "t1",
            json!({"msgtype": "m.text", "body": body, "k\u{0}ey": "v"}),
        )
        .await;
    assert_eq!(status, 200, "{sent}");
    let id = sent["event_id"].as_str().unwrap();
    let (_, event) = server
        .call(
            Some(&alice),
            "GET",
            &format!("/_matrix/client/v3/rooms/{room}/event/{id}"),
            Value::Null,
        )
        .await;
    assert_eq!(event["content"]["body"], body);
    assert_eq!(event["content"]["k\u{0}ey"], "v");

    // State content, including a custom join rule (a column the store
    // derives from content) and a display name in a member event.
    let (status, answer) = server
        .send_state(&alice, &room, "m.room.topic", "", json!({"topic": body}))
        .await;
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = server
        .send_state(
            &alice,
            &room,
            "m.room.member",
            me,
            json!({"membership": "join", "displayname": body}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    // Last, as a join rule nobody knows closes the room even to members
    // changing their profile.
    let (status, answer) = server
        .send_state(
            &alice,
            &room,
            "m.room.join_rules",
            "",
            json!({"join_rule": "inv\u{0}ite"}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let (_, topic) = server
        .call(
            Some(&alice),
            "GET",
            &format!("/_matrix/client/v3/rooms/{room}/state/m.room.topic/"),
            Value::Null,
        )
        .await;
    assert_eq!(topic["topic"], body);

    // Account data is the client's own JSON.
    let (status, answer) = server
        .call(
            Some(&alice),
            "PUT",
            &format!("/_matrix/client/v3/user/{me}/account_data/org.example"),
            json!({"v": body}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let (_, data) = server
        .call(
            Some(&alice),
            "GET",
            &format!("/_matrix/client/v3/user/{me}/account_data/org.example"),
            Value::Null,
        )
        .await;
    assert_eq!(data["v"], body);
}

both_backends!(
    identifiers_with_nul_are_refused => identifiers_with_nul_are_refused,
    content_keeps_nul_faithfully => content_keeps_nul_faithfully,
);
