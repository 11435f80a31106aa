//! The outbound queue between two real servers: an event for another
//! server is queued with the event and sent by A's sender to B's
//! `PUT /send/{txnId}`; while B is down the queue waits, backing off, also
//! across a crash of A, and is delivered once B is back.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use missive_store::{FederationOutboxStore, PendingDestination, SqlStore, StoreOptions};
use serde_json::json;
use support::TestServer;

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

/// A room created on A with an invitee of B, which is down: the invite
/// stays queued for B with its failures counted; A crashes and restarts;
/// once B is back the queue is delivered (B answered 2xx) and emptied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_waits_for_its_destination_and_survives_a_crash() {
    let mut b = TestServer::start_federating(support::Backend::Sqlite, &[]).await;
    let mut a = TestServer::start_federating(support::Backend::Sqlite, &[]).await;
    let alice = a.register_token("alice").await;
    let bob = b.user_id("bob");
    b.kill();
    let (status, v) = a
        .call(
            Some(&alice),
            "POST",
            "/_matrix/client/v3/createRoom",
            json!({ "invite": [bob] }),
        )
        .await;
    assert_eq!(status, 200, "{v}");

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
        "B down: the invite should wait, failed",
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
}
