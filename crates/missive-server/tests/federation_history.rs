//! History from before a server joined a room: Bob's server B joins
//! Alice's room on A after 30 messages were sent in it; Bob paging back
//! through `/messages` on B gets them all, fetched from A with
//! `/backfill`, down to the room's creation; in a room whose history is
//! for joined members only, he gets none of them.

#![allow(clippy::unwrap_used)]

mod support;

use serde_json::{Value, json};
use support::{Backend, TestServer, federation::encode};

/// Pages back through the room on `server` as `token`, 10 events at a
/// time, until the answer has no `end`; returns the events, newest first.
async fn page_back(server: &TestServer, token: &str, room: &str) -> Vec<Value> {
    let mut events = Vec::new();
    let mut from: Option<String> = None;
    for _ in 0..50 {
        let mut path = format!(
            "/_matrix/client/v3/rooms/{}/messages?dir=b&limit=10",
            encode(room)
        );
        if let Some(from) = &from {
            path.push_str(&format!("&from={}", encode(from)));
        }
        let (status, page) = server.call(Some(token), "GET", &path, Value::Null).await;
        assert_eq!(status, 200, "{page}");
        events.extend(page["chunk"].as_array().unwrap().iter().cloned());
        match page["end"].as_str() {
            Some(end) => from = Some(end.to_owned()),
            None => return events,
        }
    }
    panic!("the history never ended: {} events", events.len());
}

fn bodies(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| e["content"]["body"].as_str().map(str::to_owned))
        .collect()
}

/// Alice's room with `visibility` and 30 messages, joined by Bob of B.
async fn joined_late(
    backend: Backend,
    visibility: &str,
) -> (TestServer, TestServer, String, String) {
    let a = TestServer::start_federating(backend, &[]).await;
    let b = TestServer::start_federating(backend, &[]).await;
    let alice = a.register_token("alice").await;
    let bob = b.register_token("bob").await;
    let room = a
        .create_room(
            &alice,
            json!({ "preset": "public_chat", "initial_state": [{
                "type": "m.room.history_visibility", "state_key": "",
                "content": { "history_visibility": visibility } }] }),
        )
        .await;
    for i in 0..30 {
        a.say(
            &alice,
            &encode(&room),
            &format!("t{i}"),
            &format!("avant {i}"),
        )
        .await;
    }
    let (status, v) = b
        .call(
            Some(&bob),
            "POST",
            &format!(
                "/_matrix/client/v3/join/{}?server_name={}",
                encode(&room),
                encode(&a.server_name)
            ),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    (a, b, bob, room)
}

async fn shared_history_is_backfilled(backend: Backend) {
    let (_a, b, bob, room) = joined_late(backend, "shared").await;
    let events = page_back(&b, &bob, &room).await;
    let expected: Vec<String> = (0..30).rev().map(|i| format!("avant {i}")).collect();
    assert_eq!(bodies(&events), expected);
    assert_eq!(
        events.last().unwrap()["type"],
        "m.room.create",
        "down to the room's creation"
    );
    // Each event once.
    let mut ids: Vec<&str> = events
        .iter()
        .map(|e| e["event_id"].as_str().unwrap())
        .collect();
    let total = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), total);
    // Paging again reads what is now kept on B, the same events.
    let again = page_back(&b, &bob, &room).await;
    let ids_of = |events: &[Value]| -> Vec<String> {
        events
            .iter()
            .map(|e| e["event_id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids_of(&again), ids_of(&events));
}

async fn joined_only_history_stays_hidden(backend: Backend) {
    let (_a, b, bob, room) = joined_late(backend, "joined").await;
    let events = page_back(&b, &bob, &room).await;
    assert!(bodies(&events).is_empty(), "{events:?}");
}

both_backends!(
    shared_history_is_backfilled => shared_history_is_backfilled,
    joined_only_history_stays_hidden => joined_only_history_stays_hidden,
);
