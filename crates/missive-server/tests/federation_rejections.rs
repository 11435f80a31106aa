//! What a server does with bad PDUs another server sends it in
//! `PUT /send`: Bob's server B, in Alice's room on A, sends A events it
//! built and signed itself (as a misbehaving server would): a valid one is
//! accepted; a forged signature, a sender of another server, and an event
//! failing the authorization rules are refused; an event whose content was
//! changed after signing is kept redacted, as the spec says.

#![allow(clippy::unwrap_used)]

mod support;

use ruma::{
    CanonicalJsonObject, CanonicalJsonValue, EventId, room_version_rules::RoomVersionRules,
};
use serde_json::{Value, json};
use support::{
    Backend, TestServer,
    federation::{encode, get_as, signed, signing_key},
};

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// The room's facts B needs to build an event on Bob's join.
struct Room {
    id: String,
    create: String,
    power_levels: String,
    bob_join: String,
    depth: u64,
}

/// Builds an event from B (sender `sender`), hashed and signed with B's
/// key; `tamper` changes it after signing. Returns its ID and JSON.
fn build(
    b: &TestServer,
    room: &Room,
    sender: &str,
    ty: &str,
    state_key: Option<&str>,
    content: Value,
    tamper: impl FnOnce(&mut CanonicalJsonObject),
) -> (String, Value) {
    let mut event = json!({
        "room_id": room.id,
        "sender": sender,
        "type": ty,
        "content": content,
        "origin_server_ts": now_ms(),
        "prev_events": [room.bob_join],
        "auth_events": [room.create, room.power_levels, room.bob_join],
        "depth": room.depth + 1,
    });
    if let Some(key) = state_key {
        event["state_key"] = json!(key);
    }
    let mut object: CanonicalJsonObject = serde_json::from_value(event).unwrap();
    let rules = RoomVersionRules::V11;
    ruma::signatures::hash_and_sign_event(
        &b.server_name,
        &signing_key(b),
        &mut object,
        &rules.redaction,
    )
    .unwrap();
    let hash = ruma::signatures::reference_hash(&object, &rules).unwrap();
    let id = EventId::new_v2_or_v3(&hash).unwrap().to_string();
    tamper(&mut object);
    (id, serde_json::to_value(&object).unwrap())
}

/// Sends `pdu` to A in a transaction from B; returns A's verdict on it
/// (`Ok` or the error it gave).
async fn send(
    a: &TestServer,
    b: &TestServer,
    txn: &str,
    id: &str,
    pdu: Value,
) -> Result<(), String> {
    let body = json!({ "origin": b.server_name, "origin_server_ts": now_ms(), "pdus": [pdu] });
    let (status, answer) = signed(
        b,
        a,
        http::Method::PUT,
        &format!("/_matrix/federation/v1/send/{txn}"),
        Some(&body),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    match answer["pdus"][id]["error"].as_str() {
        None if answer["pdus"].get(id).is_some() => Ok(()),
        None => Err(format!("no verdict: {answer}")),
        Some(error) => Err(error.to_owned()),
    }
}

async fn bad_pdus_are_refused(backend: Backend) {
    let a = TestServer::start_federating(backend, &[]).await;
    let b = TestServer::start_federating(backend, &[]).await;
    let alice = a.register_token("alice").await;
    let bob = b.register_token("bob").await;
    let room_id = a
        .create_room(
            &alice,
            json!({ "preset": "public_chat", "room_version": "11" }),
        )
        .await;
    let (status, v) = b
        .call(
            Some(&bob),
            "POST",
            &format!(
                "/_matrix/client/v3/join/{}?server_name={}",
                encode(&room_id),
                encode(&a.server_name)
            ),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let bob_id = b.user_id("bob");
    let (_, state) = a
        .call(
            Some(&alice),
            "GET",
            &format!("/_matrix/client/v3/rooms/{}/state", encode(&room_id)),
            Value::Null,
        )
        .await;
    let id_of = |ty: &str, key: &str| {
        state
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["type"] == ty && e["state_key"] == key)
            .and_then(|e| e["event_id"].as_str())
            .unwrap_or_else(|| panic!("no {ty} {key} in {state}"))
            .to_owned()
    };
    let bob_join = id_of("m.room.member", &bob_id);
    let (_, join) = get_as(
        &b,
        &a,
        &format!("/_matrix/federation/v1/event/{}", encode(&bob_join)),
    )
    .await;
    let room = Room {
        id: room_id.clone(),
        create: id_of("m.room.create", ""),
        power_levels: id_of("m.room.power_levels", ""),
        bob_join,
        depth: join["pdus"][0]["depth"].as_u64().unwrap(),
    };
    let message = |body: &str| json!({ "msgtype": "m.text", "body": body });
    let event = |id: &str| {
        let a = &a;
        let alice = alice.clone();
        let path = format!(
            "/_matrix/client/v3/rooms/{}/event/{}",
            encode(&room_id),
            encode(id)
        );
        async move { a.call(Some(&alice), "GET", &path, Value::Null).await }
    };

    // A valid event is accepted.
    let (id, pdu) = build(
        &b,
        &room,
        &bob_id,
        "m.room.message",
        None,
        message("valid"),
        |_| {},
    );
    assert_eq!(send(&a, &b, "t1", &id, pdu).await, Ok(()));
    assert_eq!(event(&id).await.1["content"]["body"], "valid");

    // A forged signature: refused, not stored.
    let (id, pdu) = build(
        &b,
        &room,
        &bob_id,
        "m.room.message",
        None,
        message("forged"),
        |o| {
            let Some(CanonicalJsonValue::Object(sigs)) = o.get_mut("signatures") else {
                panic!("signed");
            };
            for (_, by_server) in sigs.iter_mut() {
                if let CanonicalJsonValue::Object(keys) = by_server {
                    for (_, sig) in keys.iter_mut() {
                        *sig = CanonicalJsonValue::String("A".repeat(86));
                    }
                }
            }
        },
    );
    assert!(send(&a, &b, "t2", &id, pdu).await.is_err());
    assert_eq!(event(&id).await.0, 404);

    // A sender of another server, signed by B only: refused.
    let mallory = "@mallory:127.0.0.1:9";
    let (id, pdu) = build(
        &b,
        &room,
        mallory,
        "m.room.message",
        None,
        message("spoofed"),
        |_| {},
    );
    assert!(send(&a, &b, "t3", &id, pdu).await.is_err());
    assert_eq!(event(&id).await.0, 404);

    // The content changed after signing: kept, but redacted.
    let (id, pdu) = build(
        &b,
        &room,
        &bob_id,
        "m.room.message",
        None,
        message("original"),
        |o| {
            o.insert(
                "content".into(),
                serde_json::from_value(message("changed in transit")).unwrap(),
            );
        },
    );
    assert_eq!(send(&a, &b, "t4", &id, pdu).await, Ok(()));
    let (status, stored) = event(&id).await;
    assert_eq!(status, 200, "{stored}");
    assert_eq!(stored["content"], json!({}), "kept redacted: {stored}");

    // Bob (power 0) raising himself to 100 fails the authorization rules.
    let power = json!({ "users": { bob_id.clone(): 100 } });
    let (id, pdu) = build(
        &b,
        &room,
        &bob_id,
        "m.room.power_levels",
        Some(""),
        power,
        |_| {},
    );
    assert!(send(&a, &b, "t5", &id, pdu).await.is_err());
    assert_eq!(event(&id).await.0, 404);
    let (_, levels) = a
        .call(
            Some(&alice),
            "GET",
            &format!(
                "/_matrix/client/v3/rooms/{}/state/m.room.power_levels/",
                encode(&room_id)
            ),
            Value::Null,
        )
        .await;
    assert!(levels["users"].get(&bob_id).is_none(), "{levels}");
}

both_backends!(bad_pdus_are_refused => bad_pdus_are_refused);
