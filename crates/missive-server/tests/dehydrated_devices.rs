//! Dehydrated devices (MSC3814) over raw HTTP: stored, found, sent
//! to-device messages while "offline", and replaced or deleted.

// Test code throughout: allow-unwrap-in-tests (clippy.toml) covers only
// #[test] functions, not the helpers an integration test crate shares.
#![allow(clippy::unwrap_used)]

mod support;

use serde_json::{Value, json};
use support::{Backend, TestServer};

struct User<'a> {
    server: &'a TestServer,
    token: String,
}

impl User<'_> {
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = reqwest::Client::new()
            .request(
                method.parse().unwrap(),
                format!("{}{path}", self.server.base_url),
            )
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        (
            res.status().as_u16(),
            res.json().await.unwrap_or(Value::Null),
        )
    }
}

async fn register<'a>(server: &'a TestServer, name: &str) -> User<'a> {
    User {
        server,
        token: server.register_token(name).await,
    }
}

const PATH: &str = "/_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device";

fn device(id: &str) -> Value {
    json!({
        "device_id": id,
        "initial_device_display_name": "Dehydrated device",
        "device_data": { "algorithm": "org.matrix.msc3814.v1.olm", "device_pickle": "opaque", "nonce": "n" },
        "device_keys": {
            "user_id": "@alice:localhost", "device_id": id,
            "algorithms": ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
            "keys": { format!("curve25519:{id}"): "c", format!("ed25519:{id}"): "e" },
            "signatures": {}, "dehydrated": true
        },
        "one_time_keys": { "signed_curve25519:AAAAAQ": { "key": "k1", "signatures": {} } },
        "fallback_keys": {}
    })
}

#[tokio::test]
async fn a_dehydrated_device_receives_messages_while_offline() {
    let server = TestServer::start(Backend::Sqlite).await;
    let alice = register(&server, "alice").await;
    let bob = register(&server, "bob").await;

    let (status, _) = alice.call("GET", PATH, None).await;
    assert_eq!(status, 404, "no dehydrated device yet");
    let (status, json) = alice.call("PUT", PATH, Some(device("DEHYD1"))).await;
    assert_eq!((status, json["device_id"].as_str()), (200, Some("DEHYD1")));
    let (status, json) = alice.call("GET", PATH, None).await;
    assert_eq!((status, json["device_id"].as_str()), (200, Some("DEHYD1")));
    assert_eq!(json["device_data"]["device_pickle"], "opaque");

    // Others see it and can claim its one-time key and message it.
    let (_, keys) = bob
        .call(
            "POST",
            "/_matrix/client/v3/keys/query",
            Some(json!({ "device_keys": { "@alice:localhost": [] } })),
        )
        .await;
    assert!(
        keys["device_keys"]["@alice:localhost"]["DEHYD1"]["dehydrated"]
            .as_bool()
            .unwrap_or(false)
    );
    let claim =
        json!({ "one_time_keys": { "@alice:localhost": { "DEHYD1": "signed_curve25519" } } });
    let (_, claimed) = bob
        .call("POST", "/_matrix/client/v3/keys/claim", Some(claim))
        .await;
    assert!(claimed["one_time_keys"]["@alice:localhost"]["DEHYD1"].is_object());
    let msg = json!({ "messages": { "@alice:localhost": { "DEHYD1": { "room_key": "sealed" } } } });
    let (status, _) = bob
        .call(
            "PUT",
            "/_matrix/client/v3/sendToDevice/m.room.encrypted/t1",
            Some(msg),
        )
        .await;
    assert_eq!(status, 200);

    // The rehydrating client pages through the device's messages.
    let events_path = format!("{PATH}/DEHYD1/events");
    let (status, page) = alice.call("POST", &events_path, Some(json!({}))).await;
    assert_eq!(status, 200);
    let events = page["events"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["sender"], "@bob:localhost");
    assert_eq!(events[0]["content"]["room_key"], "sealed");
    let next = page["next_batch"].as_str().unwrap();
    let (_, page) = alice
        .call("POST", &events_path, Some(json!({ "next_batch": next })))
        .await;
    assert!(
        page["events"].as_array().unwrap().is_empty(),
        "acknowledged messages are gone"
    );

    // A new dehydrated device replaces the old one, which disappears.
    alice.call("PUT", PATH, Some(device("DEHYD2"))).await;
    let (_, devices) = alice.call("GET", "/_matrix/client/v3/devices", None).await;
    let ids: Vec<&str> = devices["devices"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["device_id"].as_str())
        .collect();
    assert!(
        ids.contains(&"DEHYD2") && !ids.contains(&"DEHYD1"),
        "{ids:?}"
    );
    let (status, json) = alice.call("DELETE", PATH, None).await;
    assert_eq!((status, json["device_id"].as_str()), (200, Some("DEHYD2")));
    let (status, _) = alice.call("GET", PATH, None).await;
    assert_eq!(status, 404);
    let (status, _) = bob
        .call("POST", &format!("{PATH}/DEHYD2/events"), Some(json!({})))
        .await;
    assert_eq!(status, 404, "bob has no dehydrated device");
}
