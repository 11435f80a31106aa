//! Several server processes on one PostgreSQL database: a long-poll held by
//! one process wakes when another process takes the write.

// Test code throughout: allow-unwrap-in-tests (clippy.toml) covers only
// #[test] functions, not the helpers an integration test crate shares.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{Backend, TestServer};

async fn post(base: &str, path: &str, token: Option<&str>, body: Value) -> Value {
    let mut req = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.expect("request");
    assert!(res.status().is_success(), "{path}: {}", res.status());
    res.json().await.unwrap()
}

async fn get(base: &str, path: &str, token: &str) -> Value {
    let res = reqwest::Client::new()
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{path}: {}", res.status());
    res.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_on_one_process_wakes_for_a_write_on_another() {
    let a = TestServer::start(Backend::Postgres).await;
    let b = a.second_process().await;
    let register = |name: &str| json!({ "username": name, "password": "pw-pw-pw", "auth": { "type": "m.login.dummy" } });
    // Alice uses process A, bob process B: accounts and tokens are shared.
    let alice = post(
        &a.base_url,
        "/_matrix/client/v3/register",
        None,
        register("alice"),
    )
    .await;
    let alice = alice["access_token"].as_str().unwrap().to_owned();
    let bob = post(
        &b.base_url,
        "/_matrix/client/v3/register",
        None,
        register("bob"),
    )
    .await;
    let bob = bob["access_token"].as_str().unwrap().to_owned();
    let room = post(
        &a.base_url,
        "/_matrix/client/v3/createRoom",
        Some(&alice),
        json!({ "invite": ["@bob:localhost"] }),
    )
    .await;
    let room = room["room_id"].as_str().unwrap().to_owned();
    post(
        &b.base_url,
        &format!("/_matrix/client/v3/join/{room}"),
        Some(&bob),
        json!({}),
    )
    .await;

    let since = get(&a.base_url, "/_matrix/client/v3/sync?timeout=0", &alice).await["next_batch"]
        .as_str()
        .unwrap()
        .to_owned();
    // The long-poll asks for the server's longest wait (60 s). Without the
    // cross-process wake-up it would sit until then; we stop waiting well
    // before, so the test fails instead of passing late.
    let poll = {
        let (base, alice) = (a.base_url.clone(), alice.clone());
        tokio::spawn(async move {
            get(
                &base,
                &format!("/_matrix/client/v3/sync?timeout=60000&since={since}"),
                &alice,
            )
            .await
        })
    };
    // Let the long-poll reach the server before the write.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sent = reqwest::Client::new()
        .put(format!(
            "{}/_matrix/client/v3/rooms/{room}/send/m.room.message/x1",
            b.base_url
        ))
        .bearer_auth(&bob)
        .json(&json!({ "msgtype": "m.text", "body": "from process B" }))
        .send()
        .await
        .unwrap();
    assert!(sent.status().is_success());
    let sync = tokio::time::timeout(Duration::from_secs(40), poll)
        .await
        .expect("process A's long-poll was not woken by process B's write (LISTEN/NOTIFY)")
        .unwrap();
    let events = sync["rooms"]["join"][&room]["timeline"]["events"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        events
            .iter()
            .any(|e| e["content"]["body"] == "from process B"),
        "process A's long-poll returned with process B's message: {sync}"
    );
}
