//! A former member reads a room up to their leave, and nothing after it:
//! not the events, and not the state served alongside them.

// Test code throughout: allow-unwrap-in-tests (clippy.toml) covers only
// #[test] functions, not the helpers an integration test crate shares.
#![allow(clippy::unwrap_used)]

mod support;

use serde_json::{Value, json};
use support::{Backend, TestServer};

async fn lazy_members_are_as_of_the_events(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register_token("alice").await;
    let bob = server.register_token("bob").await;
    let room = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    server.join(&bob, &room).await;
    let (status, _) = server
        .send_event(
            &alice,
            &room,
            "m.room.message",
            "m1",
            json!({"msgtype": "m.text", "body": "before"}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = server
        .call(
            Some(&bob),
            "POST",
            &format!("/_matrix/client/v3/rooms/{room}/leave"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200);

    // After bob left: alice renames herself and says something.
    let (status, _) = server
        .send_state(
            &alice,
            &room,
            "m.room.member",
            "@alice:localhost",
            json!({"membership": "join", "displayname": "Secret name"}),
        )
        .await;
    assert_eq!(status, 200);
    server
        .send_event(
            &alice,
            &room,
            "m.room.message",
            "m2",
            json!({"msgtype": "m.text", "body": "after"}),
        )
        .await;

    let filter = json!({ "lazy_load_members": true }).to_string();
    let (status, page) = server
        .call(
            Some(&bob),
            "GET",
            &format!(
                "/_matrix/client/v3/rooms/{room}/messages?dir=b&limit=50&filter={}",
                form_urlencoded::byte_serialize(filter.as_bytes()).collect::<String>()
            ),
            Value::Null,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    let bodies: Vec<&Value> = page["chunk"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["content"].get("body"))
        .collect();
    assert_eq!(bodies, [&json!("before")], "only what bob could see");
    let members: Vec<&Value> = page["state"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "m.room.member" && e["state_key"] == "@alice:localhost")
        .collect();
    assert_eq!(members.len(), 1, "alice's member event is served: {page}");
    assert_ne!(
        members[0]["content"]["displayname"], "Secret name",
        "state after bob left leaked: {}",
        members[0]
    );
}

both_backends!(
    lazy_loaded_members_are_as_of_the_events => lazy_members_are_as_of_the_events,
);
