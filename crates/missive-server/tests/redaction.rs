//! Redactions: whichever endpoint creates a redaction event, the same
//! checks apply (redaction power, protected event types, same room).

// Test code throughout: allow-unwrap-in-tests (clippy.toml) covers only
// #[test] functions, not the helpers an integration test crate shares.
#![allow(clippy::unwrap_used)]

mod support;

use serde_json::{Value, json};
use support::{Backend, TestServer};

/// A room of alice's (power 100) with bob (power 0) joined, encrypted and
/// named; returns the server, both tokens and the room ID.
async fn room_with_member(backend: Backend) -> (TestServer, String, String, String) {
    let server = TestServer::start(backend).await;
    let alice = server.register_token("alice").await;
    let bob = server.register_token("bob").await;
    let room = server
        .create_room(
            &alice,
            json!({
                "preset": "public_chat",
                "name": "Cabinet",
                "topic": "budget",
                "initial_state": [{
                    "type": "m.room.encryption", "state_key": "",
                    "content": { "algorithm": "m.megolm.v1.aes-sha2" }
                }]
            }),
        )
        .await;
    server.join(&bob, &room).await;
    (server, alice, bob, room)
}

async fn state_event_id(server: &TestServer, token: &str, room: &str, ty: &str) -> String {
    let (status, state) = server
        .call(
            Some(token),
            "GET",
            &format!("/_matrix/client/v3/rooms/{room}/state"),
            Value::Null,
        )
        .await;
    assert_eq!(status, 200);
    state
        .as_array()
        .expect("state array")
        .iter()
        .find(|e| e["type"] == ty)
        .and_then(|e| e["event_id"].as_str())
        .unwrap_or_else(|| panic!("no {ty} in state"))
        .to_owned()
}

async fn state_content(server: &TestServer, token: &str, room: &str, ty: &str) -> (u16, Value) {
    server
        .call(
            Some(token),
            "GET",
            &format!("/_matrix/client/v3/rooms/{room}/state/{ty}/"),
            Value::Null,
        )
        .await
}

async fn sent_by_send_endpoint_is_authorised(backend: Backend) {
    let (server, alice, bob, room) = room_with_member(backend).await;
    let (_, msg) = server
        .send_event(
            &alice,
            &room,
            "m.room.message",
            "m1",
            json!({"msgtype": "m.text", "body": "hi"}),
        )
        .await;
    let alice_msg = msg["event_id"].as_str().unwrap().to_owned();

    // A member at power 0 cannot redact others' events, state or not, by
    // sending the redaction event directly.
    for target_type in [
        "m.room.name",
        "m.room.topic",
        "m.room.power_levels",
        "m.room.encryption",
    ] {
        let target = state_event_id(&server, &bob, &room, target_type).await;
        let (status, body) = server
            .send_event(
                &bob,
                &room,
                "m.room.redaction",
                &format!("r-{target_type}"),
                json!({"redacts": target}),
            )
            .await;
        assert_eq!(status, 403, "{target_type}: {body}");
        assert_eq!(body["errcode"], "M_FORBIDDEN");
    }
    let (status, body) = server
        .send_event(
            &bob,
            &room,
            "m.room.redaction",
            "r-msg",
            json!({"redacts": alice_msg}),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    // Nor as a state event.
    let (status, body) = server
        .send_state(
            &bob,
            &room,
            "m.room.redaction",
            "",
            json!({"redacts": alice_msg}),
        )
        .await;
    assert_eq!(status, 403, "{body}");

    // Everything is still there.
    let (status, name) = state_content(&server, &bob, &room, "m.room.name").await;
    assert_eq!((status, &name["name"]), (200, &json!("Cabinet")));
    let (_, enc) = state_content(&server, &bob, &room, "m.room.encryption").await;
    assert_eq!(enc["algorithm"], "m.megolm.v1.aes-sha2");
    let (_, event) = server
        .call(
            Some(&bob),
            "GET",
            &format!("/_matrix/client/v3/rooms/{room}/event/{alice_msg}"),
            Value::Null,
        )
        .await;
    assert_eq!(event["content"]["body"], "hi", "not redacted: {event}");

    // The room's creator cannot redact the encryption event either way.
    let enc_id = state_event_id(&server, &alice, &room, "m.room.encryption").await;
    let (status, _) = server
        .send_event(
            &alice,
            &room,
            "m.room.redaction",
            "r-enc",
            json!({"redacts": enc_id}),
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = server
        .call(
            Some(&alice),
            "PUT",
            &format!("/_matrix/client/v3/rooms/{room}/redact/{enc_id}/r-enc2"),
            json!({}),
        )
        .await;
    assert_eq!(status, 403);
    let (_, enc) = state_content(&server, &bob, &room, "m.room.encryption").await;
    assert_eq!(enc["algorithm"], "m.megolm.v1.aes-sha2");

    // Allowed redactions still work through both endpoints.
    let (_, own) = server
        .send_event(
            &bob,
            &room,
            "m.room.message",
            "m2",
            json!({"msgtype": "m.text", "body": "oops"}),
        )
        .await;
    let own = own["event_id"].as_str().unwrap().to_owned();
    let (status, body) = server
        .send_event(
            &bob,
            &room,
            "m.room.redaction",
            "r-own",
            json!({"redacts": own}),
        )
        .await;
    assert_eq!(status, 200, "own event: {body}");
    let (_, event) = server
        .call(
            Some(&bob),
            "GET",
            &format!("/_matrix/client/v3/rooms/{room}/event/{own}"),
            Value::Null,
        )
        .await;
    assert!(event["content"].get("body").is_none(), "redacted: {event}");
    let (status, body) = server
        .call(
            Some(&alice),
            "PUT",
            &format!("/_matrix/client/v3/rooms/{room}/redact/{alice_msg}/r-3"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

async fn malformed_redactions_are_refused(backend: Backend) {
    let (server, alice, _bob, room) = room_with_member(backend).await;
    let other = server.create_room(&alice, json!({})).await;
    let (_, msg) = server
        .send_event(
            &alice,
            &other,
            "m.room.message",
            "m1",
            json!({"msgtype": "m.text", "body": "elsewhere"}),
        )
        .await;
    let elsewhere = msg["event_id"].as_str().unwrap().to_owned();

    // A target in another room is a bad request (as Synapse answers).
    let (status, body) = server
        .send_event(
            &alice,
            &room,
            "m.room.redaction",
            "x1",
            json!({"redacts": elsewhere}),
        )
        .await;
    assert_eq!(
        (status, &body["errcode"]),
        (400, &json!("M_INVALID_PARAM")),
        "{body}"
    );
    let (_, event) = server
        .call(
            Some(&alice),
            "GET",
            &format!("/_matrix/client/v3/rooms/{other}/event/{elsewhere}"),
            Value::Null,
        )
        .await;
    assert_eq!(event["content"]["body"], "elsewhere");

    // A redaction without a target, or with one that is not an event ID.
    let (status, body) = server
        .send_event(&alice, &room, "m.room.redaction", "x2", json!({}))
        .await;
    assert_eq!(
        (status, &body["errcode"]),
        (400, &json!("M_BAD_JSON")),
        "{body}"
    );
    let (status, body) = server
        .send_event(
            &alice,
            &room,
            "m.room.redaction",
            "x3",
            json!({"redacts": "not an id"}),
        )
        .await;
    assert_eq!(
        (status, &body["errcode"]),
        (400, &json!("M_BAD_JSON")),
        "{body}"
    );
}

both_backends!(
    redaction_events_sent_directly_are_authorised => sent_by_send_endpoint_is_authorised,
    malformed_redactions_are_refused => malformed_redactions_are_refused,
);
