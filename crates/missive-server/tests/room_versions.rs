//! Room versions 1 to 12 over raw HTTP: each creates, sends, sets state,
//! redacts (by its own redaction algorithm), admits a second member, syncs
//! (client and federation formats) and pages; version 12's room IDs and
//! privileged creators; capabilities and unknown versions.

// Test code throughout: allow-unwrap-in-tests (clippy.toml) covers only
// #[test] functions, not the helpers an integration test crate shares.
#![allow(clippy::unwrap_used)]

mod support;

use serde_json::{Value, json};
use support::{Backend, TestServer};

/// An ID as a URL path segment (version 3 event IDs hold `/` and `+`).
fn seg(id: &str) -> String {
    let mut out = String::new();
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~!$:".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

async fn get(server: &TestServer, token: &str, path: &str) -> Value {
    let (status, v) = server.call(Some(token), "GET", path, Value::Null).await;
    assert_eq!(status, 200, "GET {path}: {v}");
    v
}

async fn state_event(server: &TestServer, token: &str, room: &str, ty: &str) -> Value {
    let state = get(
        server,
        token,
        &format!("/_matrix/client/v3/rooms/{}/state", seg(room)),
    )
    .await;
    state
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == ty && e["state_key"] == "")
        .unwrap_or_else(|| panic!("no {ty} in {state}"))
        .clone()
}

async fn event(server: &TestServer, token: &str, room: &str, id: &str) -> Value {
    get(
        server,
        token,
        &format!("/_matrix/client/v3/rooms/{}/event/{}", seg(room), seg(id)),
    )
    .await
}

async fn redact(server: &TestServer, token: &str, room: &str, id: &str, txn: &str) -> String {
    let (status, v) = server
        .call(
            Some(token),
            "PUT",
            &format!(
                "/_matrix/client/v3/rooms/{}/redact/{}/{txn}",
                seg(room),
                seg(id)
            ),
            json!({ "reason": "test" }),
        )
        .await;
    assert_eq!(status, 200, "redact: {v}");
    v["event_id"].as_str().unwrap().to_owned()
}

/// Everything a client does in a room, in a room of `version`.
async fn one_version(server: &TestServer, alice: &str, bob: &str, version: &str) {
    let room = server
        .create_room(
            alice,
            json!({ "room_version": version, "preset": "public_chat", "name": format!("v{version}") }),
        )
        .await;
    let create = state_event(server, alice, &room, "m.room.create").await;
    assert_eq!(create["content"]["room_version"], version);
    let create_id = create["event_id"].as_str().unwrap();
    let n: u32 = version.parse().unwrap();
    match n {
        12 => {
            // Named after its create event, which the client sees in it.
            assert_eq!(room, format!("!{}", &create_id[1..]));
            assert!(!room.contains(':'));
            assert_eq!(create["room_id"], room.as_str());
            assert!(create["content"].get("creator").is_none());
        }
        11 => assert!(create["content"].get("creator").is_none()),
        _ => {
            assert!(room.ends_with(":localhost"), "{room}");
            assert_eq!(create["content"]["creator"], "@alice:localhost");
        }
    }

    let said = server.say(alice, &room, &format!("a{n}"), "hello").await;
    match n {
        1 | 2 => assert!(said.ends_with(":localhost"), "v{n}: {said}"),
        _ => assert!(!said.contains(':'), "v{n}: {said}"),
    }
    let (status, v) = server
        .send_state(
            alice,
            &room,
            "m.room.topic",
            "",
            json!({ "topic": "versions" }),
        )
        .await;
    assert_eq!(status, 200, "v{n} topic: {v}");
    // Join rules with `allow`, which redaction keeps from version 8.
    let (status, v) = server
        .send_state(
            alice,
            &room,
            "m.room.join_rules",
            "",
            json!({ "join_rule": "public", "allow": [{ "type": "m.room_membership", "room_id": "!x:localhost" }] }),
        )
        .await;
    assert_eq!(status, 200, "v{n} join rules: {v}");
    let rules_id = v["event_id"].as_str().unwrap().to_owned();

    server.join(bob, &room).await;
    let bobs = server.say(bob, &room, &format!("b{n}"), "oops").await;
    let redaction = redact(server, bob, &room, &bobs, &format!("r{n}")).await;
    let redacted = event(server, alice, &room, &bobs).await;
    assert_eq!(redacted["content"], json!({}), "v{n}: {redacted}");
    assert_eq!(
        redacted["unsigned"]["redacted_because"]["event_id"],
        redaction.as_str()
    );

    // Redacting the redaction: version 11 keeps `content.redacts`.
    redact(server, alice, &room, &redaction, &format!("rr{n}")).await;
    let gone = event(server, alice, &room, &redaction).await;
    assert_eq!(
        gone["content"].get("redacts").is_some(),
        n >= 11,
        "v{n}: {gone}"
    );
    redact(server, alice, &room, &rules_id, &format!("rj{n}")).await;
    let rules = event(server, alice, &room, &rules_id).await;
    assert_eq!(rules["content"]["join_rule"], "public", "v{n}: {rules}");
    assert_eq!(
        rules["content"].get("allow").is_some(),
        n >= 8,
        "v{n}: {rules}"
    );

    // Bob's sync and history show the room in this version.
    let sync = get(server, bob, "/_matrix/client/v3/sync").await;
    let joined = &sync["rooms"]["join"][&room];
    let timeline = joined["timeline"]["events"].as_array().unwrap();
    assert!(
        timeline.iter().any(|e| e["event_id"] == said.as_str()),
        "v{n}: {joined}"
    );
    let messages = get(
        server,
        bob,
        &format!(
            "/_matrix/client/v3/rooms/{}/messages?dir=b&limit=50",
            seg(&room)
        ),
    )
    .await;
    let chunk = messages["chunk"].as_array().unwrap();
    for id in [&said, &bobs] {
        assert!(
            chunk.iter().any(|e| e["event_id"] == id.as_str()),
            "v{n}: {id}"
        );
    }
    assert!(chunk.iter().all(|e| e["room_id"] == room.as_str()), "v{n}");
    let context = get(
        server,
        bob,
        &format!(
            "/_matrix/client/v3/rooms/{}/context/{}",
            seg(&room),
            seg(&said)
        ),
    )
    .await;
    assert_eq!(context["event"]["event_id"], said.as_str());

    // The federation format shows the version's references.
    let filter = seg(r#"{"event_format":"federation","room":{"timeline":{"limit":50}}}"#);
    let sync = get(
        server,
        alice,
        &format!("/_matrix/client/v3/sync?filter={filter}"),
    )
    .await;
    let timeline = sync["rooms"]["join"][&room]["timeline"]["events"]
        .as_array()
        .unwrap()
        .clone();
    let message = timeline
        .iter()
        .find(|e| e["event_id"] == said.as_str())
        .unwrap_or_else(|| panic!("v{n}: {timeline:?}"));
    let first_prev = &message["prev_events"][0];
    assert_eq!(first_prev.is_array(), n <= 2, "v{n}: {message}");
    assert!(message["hashes"]["sha256"].is_string(), "v{n}");
}

async fn every_version_works(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register_token("alice").await;
    let bob = server.register_token("bob").await;
    for version in 1..=12 {
        one_version(&server, &alice, &bob, &version.to_string()).await;
    }
}

async fn capabilities_and_unknown_versions(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register_token("alice").await;
    let caps = get(&server, &alice, "/_matrix/client/v3/capabilities").await;
    let versions = &caps["capabilities"]["m.room_versions"];
    assert_eq!(versions["default"], "12");
    for v in 1..=12 {
        assert_eq!(versions["available"][v.to_string()], "stable", "{versions}");
    }
    for bad in ["13", "org.matrix.msc2870", "0"] {
        let (status, v) = server
            .call(
                Some(&alice),
                "POST",
                "/_matrix/client/v3/createRoom",
                json!({ "room_version": bad }),
            )
            .await;
        assert_eq!(status, 400, "{bad}: {v}");
        assert_eq!(v["errcode"], "M_UNSUPPORTED_ROOM_VERSION");
    }
    // The default is version 12.
    let room = server.create_room(&alice, json!({})).await;
    let create = state_event(&server, &alice, &room, "m.room.create").await;
    assert_eq!(create["content"]["room_version"], "12");
}

async fn version_12_creators(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register_token("alice").await;
    let bob = server.register_token("bob").await;
    let carol = server.register_token("carol").await;
    let room = server
        .create_room(
            &alice,
            json!({
                "room_version": "12",
                "preset": "public_chat",
                "creation_content": { "additional_creators": ["@bob:localhost"] },
            }),
        )
        .await;
    let create = state_event(&server, &alice, &room, "m.room.create").await;
    assert_eq!(
        create["content"]["additional_creators"],
        json!(["@bob:localhost"])
    );
    let levels = state_event(&server, &alice, &room, "m.room.power_levels").await;
    // Creators are not listed; the tombstone needs more than an admin.
    assert_eq!(levels["content"]["users"], json!({}), "{levels}");
    assert_eq!(levels["content"]["events"]["m.room.tombstone"], 150);

    server.join(&bob, &room).await;
    server.join(&carol, &room).await;
    // Bob, an additional creator, may do what the room's creator may.
    let (status, v) = server
        .send_state(&bob, &room, "m.room.name", "", json!({ "name": "bob's" }))
        .await;
    assert_eq!(status, 200, "{v}");
    let (status, v) = server
        .send_state(
            &bob,
            &room,
            "m.room.power_levels",
            "",
            json!({ "users": { "@carol:localhost": 100 } }),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    // Carol at 100 can neither demote nor kick a creator.
    for (who, level) in [("@alice:localhost", 0), ("@bob:localhost", 50)] {
        let (status, v) = server
            .send_state(
                &carol,
                &room,
                "m.room.power_levels",
                "",
                json!({ "users": { "@carol:localhost": 100, who: level } }),
            )
            .await;
        assert_eq!(status, 403, "{who}: {v}");
        assert_eq!(v["errcode"], "M_FORBIDDEN");
    }
    let (status, v) = server
        .call(
            Some(&carol),
            "POST",
            &format!("/_matrix/client/v3/rooms/{}/kick", seg(&room)),
            json!({ "user_id": "@alice:localhost" }),
        )
        .await;
    assert_eq!(status, 403, "{v}");
    // Not even the creator may list themselves.
    let (status, _) = server
        .send_state(
            &alice,
            &room,
            "m.room.power_levels",
            "",
            json!({ "users": { "@alice:localhost": 100 } }),
        )
        .await;
    assert_eq!(status, 403);
    // Malformed creators are refused before anything is created.
    let (status, v) = server
        .call(
            Some(&alice),
            "POST",
            "/_matrix/client/v3/createRoom",
            json!({ "creation_content": { "additional_creators": ["not a user"] } }),
        )
        .await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["errcode"], "M_BAD_JSON");
    // A trusted private chat makes its invitee a creator.
    let dm = server
        .create_room(
            &alice,
            json!({ "preset": "trusted_private_chat", "invite": ["@carol:localhost"], "is_direct": true }),
        )
        .await;
    let create = state_event(&server, &alice, &dm, "m.room.create").await;
    assert_eq!(
        create["content"]["additional_creators"],
        json!(["@carol:localhost"])
    );
}

both_backends!(
    every_version_works => every_version_works,
    capabilities_and_unknown_versions => capabilities_and_unknown_versions,
    version_12_creators => version_12_creators,
);
