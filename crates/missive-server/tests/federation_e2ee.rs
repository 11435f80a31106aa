//! End-to-end encryption across two real servers on loopback: once Bob
//! (of B) has joined Alice's (of A) public room, each one's client queries
//! the other's device keys and claims a one-time key through their own
//! server, which asks the other; EDUs another server sends (here signed
//! by the test with A's key, as A would send them) reach local clients:
//! to-device messages (once per message ID, only from the origin's users)
//! and typing notices; and a device-list update makes B keep Alice's
//! device list, fetched whole from A and kept current by later updates.

// Test code throughout: allow-unwrap-in-tests (clippy.toml) covers only
// #[test] functions, not the helpers an integration test crate shares.
#![allow(clippy::unwrap_used)]

mod support;

use std::{collections::BTreeMap, time::Duration};

use matrix_sdk::{
    Client,
    config::SyncSettings,
    ruma::{
        OneTimeKeyAlgorithm, OwnedDeviceId, OwnedRoomId, OwnedUserId,
        api::client::keys::{claim_keys, get_keys},
    },
};
use serde_json::{Value, json};
use support::{Backend, TestServer, federation::signed};

/// A transaction of `edus` from `from` to `to`, as `txn`.
async fn send_edus(from: &TestServer, to: &TestServer, txn: &str, edus: Value) {
    let body = json!({
        "origin": from.server_name,
        "origin_server_ts": 1,
        "pdus": [],
        "edus": edus,
    });
    let path = format!("/_matrix/federation/v1/send/{txn}");
    let (status, answer) = signed(from, to, http::Method::PUT, &path, Some(&body)).await;
    assert_eq!(status, 200, "{answer}");
}

/// Two federating servers; Alice (A) has a public room Bob (B) joined;
/// both clients have uploaded their keys.
async fn shared_room(backend: Backend) -> (TestServer, TestServer, Client, Client, OwnedRoomId) {
    support::federation::shared_public_room(backend, &[]).await
}

fn device_of(client: &Client) -> OwnedDeviceId {
    client.device_id().unwrap().to_owned()
}

fn user_of(client: &Client) -> OwnedUserId {
    client.user_id().unwrap().to_owned()
}

/// `who` queries `whose` keys through their own server.
async fn query(who: &Client, whose: &Client) -> get_keys::v3::Response {
    let mut request = get_keys::v3::Request::new();
    request.device_keys = BTreeMap::from([(user_of(whose), Vec::new())]);
    who.send(request).await.unwrap()
}

/// `who` queries `whose` keys and claims a one-time key of their device.
async fn query_and_claim(who: &Client, whose: &Client) {
    let user = user_of(whose);
    let device = device_of(whose);
    let answer = query(who, whose).await;
    assert!(answer.failures.is_empty(), "{:?}", answer.failures);
    let keys = answer.device_keys[&user][&device].json().get().to_owned();
    let keys: Value = serde_json::from_str(&keys).unwrap();
    assert_eq!(keys["user_id"], user.as_str());
    assert_eq!(keys["device_id"], device.as_str());
    assert!(
        keys["keys"][format!("ed25519:{device}")].is_string(),
        "{keys}"
    );

    let request = claim_keys::v3::Request::new(BTreeMap::from([(
        user.clone(),
        BTreeMap::from([(device.clone(), OneTimeKeyAlgorithm::SignedCurve25519)]),
    )]));
    let claimed = who.send(request).await.unwrap();
    assert!(claimed.failures.is_empty(), "{:?}", claimed.failures);
    let keys = &claimed.one_time_keys[&user][&device];
    assert_eq!(keys.len(), 1);
    let (id, key) = keys.iter().next().unwrap();
    assert!(id.as_str().starts_with("signed_curve25519:"), "{id}");
    let key: Value = serde_json::from_str(key.json().get()).unwrap();
    assert!(key["signatures"][user.as_str()].is_object(), "{key}");
}

async fn keys_are_queried_and_claimed_across_servers(backend: Backend) {
    let (a, b, alice, bob, _room) = shared_room(backend).await;
    query_and_claim(&alice, &bob).await;
    query_and_claim(&bob, &alice).await;

    // A server that cannot be reached is listed in `failures`.
    let mut request = get_keys::v3::Request::new();
    request.device_keys = BTreeMap::from([(
        OwnedUserId::try_from("@nobody:127.0.0.1:1").unwrap(),
        Vec::new(),
    )]);
    request.timeout = Some(Duration::from_secs(3));
    let answer = alice.send(request).await.unwrap();
    assert!(answer.failures.contains_key("127.0.0.1:1"), "{answer:?}");

    // B answers only for its own users.
    let body = json!({ "device_keys": { user_of(&alice).as_str(): [] } });
    let (status, answer) = signed(
        &a,
        &b,
        http::Method::POST,
        "/_matrix/federation/v1/user/keys/query",
        Some(&body),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["device_keys"], json!({}), "{answer}");
}

/// An initial sync of `client`'s user on `server`, over plain HTTP.
async fn raw_sync(server: &TestServer, client: &Client) -> Value {
    reqwest::Client::new()
        .get(format!(
            "{}/_matrix/client/v3/sync?timeout=0",
            server.base_url
        ))
        .bearer_auth(client.access_token().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The `content` of the to-device events of `type` Bob's syncs bring.
async fn to_device_contents(bob: &Client, ty: &str, until: Value) -> Vec<Value> {
    let mut seen = Vec::new();
    for _ in 0..20 {
        let response = bob
            .sync_once(SyncSettings::default().timeout(Duration::from_millis(300)))
            .await
            .unwrap();
        for event in &response.to_device {
            let event: Value = serde_json::from_str(event.as_raw().json().get()).unwrap();
            if event["type"] == ty {
                seen.push(event["content"].clone());
            }
        }
        if seen.contains(&until) {
            return seen;
        }
    }
    panic!("gave up waiting for {until}; saw {seen:?}");
}

async fn edus_reach_local_clients(backend: Backend) {
    let (a, b, alice, bob, room_id) = shared_room(backend).await;
    let alice_id = user_of(&alice);
    let bob_id = user_of(&bob);
    let bob_device = device_of(&bob);
    let ty = "org.missive.test";
    let to_device = |sender: &str, message_id: &str, n: Value| {
        json!({
            "edu_type": "m.direct_to_device",
            "content": {
                "sender": sender,
                "type": ty,
                "message_id": message_id,
                "messages": { bob_id.as_str(): { bob_device.as_str(): { "n": n } } },
            },
        })
    };
    let mallory = format!("@mallory:{}", b.server_name);
    send_edus(
        &a,
        &b,
        "t1",
        json!([
            to_device(alice_id.as_str(), "m1", json!(1)),
            // Not a user of the origin: ignored.
            to_device(&mallory, "m9", json!("forged")),
            {
                "edu_type": "m.typing",
                "content": { "room_id": room_id, "user_id": alice_id, "typing": true },
            },
            // Bob is not of the origin: ignored.
            {
                "edu_type": "m.typing",
                "content": { "room_id": room_id, "user_id": bob_id, "typing": true },
            },
        ]),
    )
    .await;
    // The same message ID again (another transaction): not delivered.
    send_edus(
        &a,
        &b,
        "t2",
        json!([to_device(alice_id.as_str(), "m1", json!(2))]),
    )
    .await;
    send_edus(
        &a,
        &b,
        "t3",
        json!([to_device(alice_id.as_str(), "m2", json!(3))]),
    )
    .await;
    let seen = to_device_contents(&bob, ty, json!({ "n": 3 })).await;
    assert_eq!(seen, [json!({ "n": 1 }), json!({ "n": 3 })]);

    // Bob's sync shows Alice (and only Alice) typing.
    let sync = raw_sync(&b, &bob).await;
    let ephemeral = &sync["rooms"]["join"][room_id.as_str()]["ephemeral"]["events"];
    let typing = ephemeral
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "m.typing")
        .unwrap_or_else(|| panic!("no typing in {ephemeral}"));
    assert_eq!(typing["content"]["user_ids"], json!([alice_id]), "{typing}");

    // Alice's read receipt (on an event B holds) and presence reach Bob.
    let timeline = &sync["rooms"]["join"][room_id.as_str()]["timeline"]["events"];
    let event_id = timeline.as_array().unwrap().last().unwrap()["event_id"].clone();
    send_edus(
        &a,
        &b,
        "t4",
        json!([
            {
                "edu_type": "m.receipt",
                "content": { room_id.as_str(): { "m.read": {
                    alice_id.as_str(): { "event_ids": [event_id], "data": { "ts": 1 } },
                    // Not of the origin: ignored.
                    bob_id.as_str(): { "event_ids": [event_id], "data": { "ts": 1 } },
                } } },
            },
            {
                "edu_type": "m.presence",
                "content": { "push": [
                    { "user_id": alice_id, "presence": "online", "last_active_ago": 1000 },
                    { "user_id": bob_id, "presence": "unavailable", "last_active_ago": 1 },
                ] },
            },
        ]),
    )
    .await;
    let sync = raw_sync(&b, &bob).await;
    let ephemeral = &sync["rooms"]["join"][room_id.as_str()]["ephemeral"]["events"];
    let receipt = ephemeral
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "m.receipt")
        .unwrap_or_else(|| panic!("no receipt in {ephemeral}"));
    let readers = &receipt["content"][event_id.as_str().unwrap()]["m.read"];
    assert!(readers[alice_id.as_str()].is_object(), "{receipt}");
    assert!(readers[bob_id.as_str()].is_null(), "{receipt}");
    let presence = sync["presence"]["events"].as_array().unwrap();
    let of = |user: &OwnedUserId| {
        presence
            .iter()
            .find(|e| e["sender"] == user.as_str())
            .map(|e| e["content"]["presence"].clone())
    };
    assert_eq!(of(&alice_id), Some(json!("online")), "{presence:?}");
    assert_ne!(of(&bob_id), Some(json!("unavailable")), "{presence:?}");
}

/// A device-list update makes B fetch Alice's list from A and keep it;
/// the next update (no gap) is applied to the kept list, which B then
/// answers from: a device only the update named shows in Bob's query.
async fn device_lists_are_kept_current_by_updates(backend: Backend) {
    let (a, b, alice, bob, _room) = shared_room(backend).await;
    let alice_id = user_of(&alice);
    let path = format!("/_matrix/federation/v1/user/devices/{alice_id}");
    let (status, list) = signed(&b, &a, http::Method::GET, &path, None).await;
    assert_eq!(status, 200, "{list}");
    let stream_id = list["stream_id"].as_u64().unwrap();
    assert!(stream_id > 0, "{list}");
    let devices = list["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 1, "{list}");
    assert_eq!(devices[0]["device_id"], device_of(&alice).as_str());
    assert!(devices[0]["keys"]["keys"].is_object(), "{list}");

    // A user of another server is not answered for.
    let bob_path = format!("/_matrix/federation/v1/user/devices/{}", user_of(&bob));
    let (status, _) = signed(&b, &a, http::Method::GET, &bob_path, None).await;
    assert_eq!(status, 400);

    let new_device = json!({
        "user_id": alice_id,
        "device_id": "NEWDEV",
        "algorithms": ["m.olm.v1.curve25519-aes-sha2"],
        "keys": { "ed25519:NEWDEV": "aGVsbG8", "curve25519:NEWDEV": "d29ybGQ" },
        "signatures": {},
    });
    let update = |stream: u64, prev: u64, deleted: bool| {
        json!([{
            "edu_type": "m.device_list_update",
            "content": {
                "user_id": alice_id,
                "device_id": "NEWDEV",
                "device_display_name": "New",
                "stream_id": stream,
                "prev_id": [prev],
                "deleted": deleted,
                "keys": new_device,
            },
        }])
    };
    // The first update finds no kept list (a resync starts); it is sent
    // again until the kept list takes it.
    let from = raw_sync(&b, &bob).await["next_batch"].clone();
    let mut shown = false;
    for round in 0..40 {
        send_edus(
            &a,
            &b,
            &format!("u{round}"),
            update(stream_id + 1, stream_id, false),
        )
        .await;
        let answer = query(&bob, &alice).await;
        if answer
            .device_keys
            .get(&alice_id)
            .is_some_and(|d| d.keys().any(|d| d.as_str() == "NEWDEV"))
        {
            assert!(answer.device_keys[&alice_id].contains_key(&device_of(&alice)));
            shown = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(shown, "B never kept Alice's list with the update");
    // Bob's client is told Alice's devices changed.
    let to = raw_sync(&b, &bob).await["next_batch"].clone();
    let changes: Value = reqwest::Client::new()
        .get(format!(
            "{}/_matrix/client/v3/keys/changes?from={}&to={}",
            b.base_url,
            from.as_str().unwrap(),
            to.as_str().unwrap()
        ))
        .bearer_auth(bob.access_token().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        changes["changed"]
            .as_array()
            .unwrap()
            .contains(&json!(alice_id)),
        "{changes}"
    );

    // The device is deleted by the next update.
    send_edus(&a, &b, "del", update(stream_id + 2, stream_id + 1, true)).await;
    let answer = query(&bob, &alice).await;
    assert!(
        !answer.device_keys[&alice_id]
            .keys()
            .any(|d| d.as_str() == "NEWDEV")
    );
    assert!(answer.device_keys[&alice_id].contains_key(&device_of(&alice)));
}

/// Alice's client sends a to-device message to Bob's device through her
/// own server's `/sendToDevice`: it travels as an `m.direct_to_device`
/// EDU and reaches Bob's sync once, even when her client retries it.
async fn to_device_messages_cross_servers(backend: Backend) {
    let (a, _b, alice, bob, _room_id) = shared_room(backend).await;
    let token = alice.access_token().unwrap();
    let body = json!({
        "messages": { user_of(&bob).as_str(): { device_of(&bob).as_str(): { "n": 7 } } }
    });
    for _ in 0..2 {
        let (status, v) = a
            .call(
                Some(&token),
                "PUT",
                "/_matrix/client/v3/sendToDevice/m.test.cross/txn1",
                body.clone(),
            )
            .await;
        assert_eq!(status, 200, "{v}");
    }
    let seen = to_device_contents(&bob, "m.test.cross", json!({ "n": 7 })).await;
    assert_eq!(seen, [json!({ "n": 7 })]);
}

/// Bob logs in on a new device after sharing a room with Alice: his
/// server tells hers (`m.device_list_update`), Alice's sync lists him in
/// `device_lists.changed`, and her key query shows the new device.
async fn a_new_device_reaches_the_other_server(backend: Backend) {
    let (a, b, alice, bob, _room_id) = shared_room(backend).await;
    let since = raw_sync(&a, &alice).await["next_batch"]
        .as_str()
        .unwrap()
        .to_owned();
    let second = b.login("bob").await;
    second
        .sync_once(SyncSettings::default().timeout(Duration::ZERO))
        .await
        .unwrap();
    let bob_id = user_of(&bob);
    let mut changed = Value::Null;
    for _ in 0..30 {
        let response: Value = reqwest::Client::new()
            .get(format!(
                "{}/_matrix/client/v3/sync?timeout=300&since={since}",
                a.base_url
            ))
            .bearer_auth(alice.access_token().unwrap())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        changed = response["device_lists"]["changed"].clone();
        if changed
            .as_array()
            .is_some_and(|c| c.iter().any(|u| u == bob_id.as_str()))
        {
            break;
        }
    }
    assert!(
        changed
            .as_array()
            .is_some_and(|c| c.iter().any(|u| u == bob_id.as_str())),
        "alice was never told bob's devices changed: {changed}"
    );
    let answer = query(&alice, &bob).await;
    assert!(
        answer.device_keys[&bob_id].contains_key(&device_of(&second)),
        "{:?}",
        answer.device_keys
    );
}

/// Alice's room's typing users, as her server shows them.
async fn typing_in(a: &TestServer, alice: &Client, room_id: &OwnedRoomId) -> Value {
    let sync = raw_sync(a, alice).await;
    sync["rooms"]["join"][room_id.as_str()]["ephemeral"]["events"]
        .as_array()
        .and_then(|events| events.iter().find(|e| e["type"] == "m.typing"))
        .map_or(json!([]), |e| e["content"]["user_ids"].clone())
}

/// Once the room's server ACL denies B, B's typing notices for the room
/// are dropped like its events.
async fn edus_of_a_denied_server_are_dropped(backend: Backend) {
    let (a, b, alice, bob, room_id) = shared_room(backend).await;
    let bob_id = user_of(&bob);
    let typing = |on: bool| {
        json!([{
            "edu_type": "m.typing",
            "content": { "room_id": room_id, "user_id": bob_id, "typing": on },
        }])
    };
    send_edus(&b, &a, "acl1", typing(true)).await;
    assert_eq!(
        typing_in(&a, &alice, &room_id).await,
        json!([bob_id.as_str()])
    );
    send_edus(&b, &a, "acl2", typing(false)).await;
    assert_eq!(typing_in(&a, &alice, &room_id).await, json!([]));

    // Server ACLs match host names, ports left out: both test servers are
    // 127.0.0.1, and the ACL is about requests from other servers.
    alice
        .get_room(&room_id)
        .unwrap()
        .send_state_event_raw(
            "m.room.server_acl",
            "",
            json!({ "allow": ["*"], "deny": ["127.0.0.1"], "allow_ip_literals": true }),
        )
        .await
        .unwrap();
    send_edus(&b, &a, "acl3", typing(true)).await;
    assert_eq!(typing_in(&a, &alice, &room_id).await, json!([]));
}

both_backends!(
    a_new_device_reaches_the_other_server => a_new_device_reaches_the_other_server,
    to_device_messages_cross_servers => to_device_messages_cross_servers,
    keys_are_queried_and_claimed_across_servers => keys_are_queried_and_claimed_across_servers,
    edus_reach_local_clients => edus_reach_local_clients,
    edus_of_a_denied_server_are_dropped => edus_of_a_denied_server_are_dropped,
    device_lists_are_kept_current_by_updates => device_lists_are_kept_current_by_updates,
);
