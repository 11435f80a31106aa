//! An acknowledged write survives `kill -9`, and device changes reach
//! contacts through sync.

// Test code throughout: allow-unwrap-in-tests (clippy.toml) covers only
// #[test] functions, not the helpers an integration test crate shares.
#![allow(clippy::unwrap_used)]

mod support;

use serde_json::{Value, json};
use support::{Backend, TestServer};

async fn call(server: &TestServer, method: &str, path: &str, token: &str, body: Value) -> Value {
    let http = reqwest::Client::new();
    let mut req = http
        .request(
            method.parse().unwrap(),
            format!("{}{path}", server.base_url),
        )
        .bearer_auth(token);
    if method != "GET" {
        req = req.json(&body);
    }
    let res = req.send().await.expect("request");
    assert!(
        res.status().is_success(),
        "{method} {path}: {}",
        res.status()
    );
    res.json().await.unwrap_or(Value::Null)
}

async fn acknowledged_messages_survive_kill_9(backend: Backend) {
    let mut server = TestServer::start(backend).await;
    let token = server.register_token("alice").await;
    let room = call(
        &server,
        "POST",
        "/_matrix/client/v3/createRoom",
        &token,
        json!({}),
    )
    .await["room_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut sent = Vec::new();
    for i in 0..20 {
        let path = format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/t{i}");
        let res = call(
            &server,
            "PUT",
            &path,
            &token,
            json!({ "msgtype": "m.text", "body": format!("m{i}") }),
        )
        .await;
        sent.push(res["event_id"].as_str().unwrap().to_owned());
    }
    server.crash_and_restart().await;
    let page = call(
        &server,
        "GET",
        &format!("/_matrix/client/v3/rooms/{room}/messages?dir=b&limit=100"),
        &token,
        json!(null),
    )
    .await;
    let stored: Vec<&str> = page["chunk"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["event_id"].as_str())
        .collect();
    for id in &sent {
        assert!(
            stored.contains(&id.as_str()),
            "acknowledged event {id} lost in the crash"
        );
    }
    // The room still accepts events on top of what survived.
    let path = format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/after");
    call(
        &server,
        "PUT",
        &path,
        &token,
        json!({ "msgtype": "m.text", "body": "after" }),
    )
    .await;
}

async fn logging_out_tells_contacts(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register_token("alice").await;
    let bob = server.register_token("bob").await;
    let room = call(
        &server,
        "POST",
        "/_matrix/client/v3/createRoom",
        &alice,
        json!({ "invite": ["@bob:localhost"] }),
    )
    .await["room_id"]
        .as_str()
        .unwrap()
        .to_owned();
    call(
        &server,
        "POST",
        &format!("/_matrix/client/v3/join/{room}"),
        &bob,
        json!({}),
    )
    .await;
    let keys = json!({ "device_keys": {
        "user_id": "@bob:localhost", "device_id": "BOBPHONE",
        "algorithms": ["m.olm.v1.curve25519-aes-sha2"], "keys": { "ed25519:BOBPHONE": "x" }, "signatures": {}
    }});
    // Bob's second device publishes keys, then logs out.
    let login: Value = reqwest::Client::new()
        .post(format!("{}/_matrix/client/v3/login", server.base_url))
        .json(&json!({ "type": "m.login.password", "identifier": { "type": "m.id.user", "user": "bob" },
                        "password": support::PASSWORD, "device_id": "BOBPHONE" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let phone = login["access_token"].as_str().unwrap().to_owned();
    call(
        &server,
        "POST",
        "/_matrix/client/v3/keys/upload",
        &phone,
        keys,
    )
    .await;
    let since = call(
        &server,
        "GET",
        "/_matrix/client/v3/sync?timeout=0",
        &alice,
        json!(null),
    )
    .await["next_batch"]
        .as_str()
        .unwrap()
        .to_owned();
    call(
        &server,
        "POST",
        "/_matrix/client/v3/logout",
        &phone,
        json!({}),
    )
    .await;
    let sync = call(
        &server,
        "GET",
        &format!("/_matrix/client/v3/sync?timeout=10000&since={since}"),
        &alice,
        json!(null),
    )
    .await;
    let changed = sync["device_lists"]["changed"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        changed.iter().any(|u| u == "@bob:localhost"),
        "alice learns bob's devices changed: {sync}"
    );
    let query = call(
        &server,
        "POST",
        "/_matrix/client/v3/keys/query",
        &alice,
        json!({ "device_keys": { "@bob:localhost": [] } }),
    )
    .await;
    assert!(
        query["device_keys"]["@bob:localhost"]
            .get("BOBPHONE")
            .is_none(),
        "the logged-out device's keys are gone"
    );
}

both_backends! {
    acknowledged_messages_survive_kill_9 => acknowledged_messages_survive_kill_9,
    logging_out_removes_keys_and_tells_contacts => logging_out_tells_contacts,
}
