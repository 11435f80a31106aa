//! The outbound queue between two real servers: an event for another
//! server is queued with the event and sent by A's sender to B's
//! `PUT /send/{txnId}`; while B is down the queue waits, backing off, also
//! across a crash of A, and is delivered once B is back.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use missive_store::{FederationOutboxStore, PendingDestination, SqlStore, StoreOptions};
use serde_json::json;
use support::{TestServer, federation::encode};

/// Polls A's queue until `done` holds (up to `secs` seconds).
async fn wait_for(
    store: &SqlStore,
    secs: u64,
    what: &str,
    done: impl Fn(&[PendingDestination]) -> bool,
) {
    for _ in 0..secs * 10 {
        if done(&store.pending_destinations().await.unwrap()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what}: {:?}", store.pending_destinations().await.unwrap());
}

/// Bob of B is in Alice's room on A when B goes down. Alice keeps
/// writing: the events wait in A's queue for B, with failures counted; A
/// crashes and restarts; once B is back, the queue is delivered and Bob's
/// server has every message, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_waits_for_its_destination_and_survives_a_crash() {
    let mut b = TestServer::start_federating(support::Backend::Sqlite, &[]).await;
    let mut a = TestServer::start_federating(support::Backend::Sqlite, &[]).await;
    let alice = a.register_token("alice").await;
    let bob = b.register_token("bob").await;
    let (status, v) = a
        .call(
            Some(&alice),
            "POST",
            "/_matrix/client/v3/createRoom",
            json!({ "preset": "public_chat" }),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let room_id = v["room_id"].as_str().unwrap().to_owned();
    let (status, v) = b
        .call(
            Some(&bob),
            "POST",
            &format!(
                "/_matrix/client/v3/join/{}?via={}",
                encode(&room_id),
                encode(&a.server_name)
            ),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{v}");

    b.kill();
    for i in 0..5 {
        let (status, v) = a
            .call(
                Some(&alice),
                "PUT",
                &format!(
                    "/_matrix/client/v3/rooms/{}/send/m.room.message/t{i}",
                    encode(&room_id)
                ),
                json!({ "msgtype": "m.text", "body": format!("while B was down {i}") }),
            )
            .await;
        assert_eq!(status, 200, "{v}");
    }

    // A's database, read beside the server (SQLite in WAL mode).
    let store = SqlStore::open(&StoreOptions {
        database_url: None,
        data_dir: a.data_dir.path().to_owned(),
        max_connections: 1,
    })
    .await
    .unwrap();
    wait_for(
        &store,
        30,
        "B down: the messages should wait, failed",
        |p| matches!(p, [d] if d.destination == b.server_name && d.failures >= 1),
    )
    .await;

    a.crash_and_restart().await;
    b.start_again().await;
    // The first retry comes 5 s after the failure (10 s after a second).
    wait_for(&store, 40, "B back: the queue should be delivered", |p| {
        p.is_empty()
    })
    .await;
    let (status, v) = b
        .call(
            Some(&bob),
            "GET",
            &format!(
                "/_matrix/client/v3/rooms/{}/messages?dir=b&limit=20",
                encode(&room_id)
            ),
            serde_json::Value::Null,
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let mut bodies: Vec<&str> = v["chunk"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["content"]["body"].as_str())
        .collect();
    bodies.reverse();
    let expected: Vec<String> = (0..5).map(|i| format!("while B was down {i}")).collect();
    assert_eq!(bodies, expected);
}
