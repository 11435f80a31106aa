//! Federation's foundation between two real servers on loopback, each with
//! an IP-literal server name and a TLS federation listener: server keys
//! (self-signed, and countersigned by a notary), requests authenticated by
//! `X-Matrix` signatures (forged ones, wrong destinations and origins
//! outside the allowlist refused), and the first query over federation: a
//! client on one server reading the profile of a user on the other.

// Test code throughout: allow-unwrap-in-tests (clippy.toml) covers only
// #[test] functions, not the helpers an integration test crate shares.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;

use ruma::{
    CanonicalJsonObject,
    serde::Base64,
    signatures::{Ed25519KeyPair, PublicKeyMap},
};
use serde_json::{Value, json};
use support::{
    Backend, TestServer,
    federation::{https, signed_get, signing_key},
};

async fn get_json(url: &str) -> (u16, Value) {
    let res = https().get(url).send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// A fresh key that no server knows, under `version`.
fn stranger_key(version: &str) -> Ed25519KeyPair {
    Ed25519KeyPair::from_der(&Ed25519KeyPair::generate(), version.to_owned()).unwrap()
}

/// Checks that `answer` (a key answer) is signed by `entity` with one of
/// `keys` (key ID → unpadded base64).
fn assert_signed_by(answer: &Value, entity: &str, keys: &Value) {
    let object: CanonicalJsonObject = serde_json::from_value(answer.clone()).unwrap();
    let mut own = object.clone();
    if let Some(ruma::CanonicalJsonValue::Object(sigs)) = own.get_mut("signatures") {
        sigs.retain(|e, _| e == entity);
    }
    let set: BTreeMap<String, Base64> = keys
        .as_object()
        .unwrap()
        .iter()
        .map(|(id, k)| {
            (
                id.clone(),
                Base64::parse(k["key"].as_str().unwrap()).unwrap(),
            )
        })
        .collect();
    let map: PublicKeyMap = [(entity.to_owned(), set)].into();
    ruma::signatures::verify_json(&map, &own)
        .unwrap_or_else(|e| panic!("not signed by {entity}: {e}; {answer}"));
}

/// A client on A reads the profile of a user on B: A discovers B from its
/// IP-literal name, signs the query, B fetches A's key to check it, and
/// answers; errors come back as Synapse gives them.
async fn profiles_are_read_over_federation(backend: Backend) {
    let b = TestServer::start_federating(backend, &[]).await;
    let a = TestServer::start_federating(backend, &[]).await;
    let bob = b.register_token("bob").await;
    let bob_id = b.user_id("bob");
    let (status, v) = b
        .call(
            Some(&bob),
            "PUT",
            &format!("/_matrix/client/v3/profile/{bob_id}/displayname"),
            json!({ "displayname": "Bob of B" }),
        )
        .await;
    assert_eq!(status, 200, "{v}");

    // Through matrix-sdk, as a client of A would.
    let alice = a.register("alice").await;
    let profile = alice
        .account()
        .fetch_user_profile_of(<&matrix_sdk::ruma::UserId>::try_from(bob_id.as_str()).unwrap())
        .await
        .expect("bob's profile over federation");
    assert_eq!(
        profile.get("displayname"),
        Some(&json!("Bob of B")),
        "{profile:?}"
    );

    let token = a.register_token("alan").await;
    let (status, v) = a
        .call(
            Some(&token),
            "GET",
            &format!("/_matrix/client/v3/profile/{bob_id}/displayname"),
            Value::Null,
        )
        .await;
    assert_eq!((status, &v), (200, &json!({ "displayname": "Bob of B" })));

    // Nobody of that name on B: B's 404 is passed on.
    let (status, v) = a
        .call(
            Some(&token),
            "GET",
            &format!("/_matrix/client/v3/profile/{}", b.user_id("nobody")),
            Value::Null,
        )
        .await;
    assert_eq!(
        (status, v["errcode"].as_str()),
        (404, Some("M_NOT_FOUND")),
        "{v}"
    );

    // A server that does not answer: 502, as Synapse.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let gone = format!("@x:127.0.0.1:{}", closed.local_addr().unwrap().port());
    drop(closed);
    let (status, v) = a
        .call(
            Some(&token),
            "GET",
            &format!("/_matrix/client/v3/profile/{gone}"),
            Value::Null,
        )
        .await;
    assert_eq!(status, 502, "{v}");

    // B fetched and cached A's key to check A's signature: B's notary now
    // serves it, countersigned.
    let (status, v) = get_json(&format!(
        "{}/_matrix/key/v2/query/{}",
        b.federation_url(),
        a.server_name
    ))
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["server_keys"][0]["server_name"], json!(a.server_name));
}

/// B's key answer is served on both listeners, self-signed; A, as a
/// notary, serves it countersigned (one server and a batch).
async fn keys_are_self_signed_and_notarised(backend: Backend) {
    let b = TestServer::start_federating(backend, &[]).await;
    let a = TestServer::start_federating(backend, &[]).await;

    let (status, b_keys) = get_json(&format!("{}/_matrix/key/v2/server", b.federation_url())).await;
    assert_eq!(status, 200, "{b_keys}");
    assert_eq!(b_keys["server_name"], json!(b.server_name));
    let key_id = format!("ed25519:{}", signing_key(&b).version());
    assert!(
        b_keys["verify_keys"][&key_id]["key"].is_string(),
        "{b_keys}"
    );
    assert!(b_keys["old_verify_keys"].is_object(), "{b_keys}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert!(b_keys["valid_until_ts"].as_u64().unwrap() > now);
    assert_signed_by(&b_keys, &b.server_name, &b_keys["verify_keys"]);
    // The same key on the client listener.
    let (status, plain) = b
        .call(None, "GET", "/_matrix/key/v2/server", Value::Null)
        .await;
    assert_eq!(status, 200);
    assert_eq!(plain["verify_keys"], b_keys["verify_keys"]);

    // The client listener delegates to the federation port, and the
    // generated certificate was announced.
    let (status, v) = b
        .call(None, "GET", "/.well-known/matrix/server", Value::Null)
        .await;
    assert_eq!((status, v), (200, json!({ "m.server": b.server_name })));
    assert!(b.log().contains("self-signed certificate"), "{}", b.log());

    // The federation listener says what it is.
    let (status, v) = get_json(&format!(
        "{}/_matrix/federation/v1/version",
        b.federation_url()
    ))
    .await;
    assert_eq!(
        (status, &v["server"]["name"]),
        (200, &json!("Missive")),
        "{v}"
    );

    let (_, a_keys) = get_json(&format!("{}/_matrix/key/v2/server", a.federation_url())).await;
    let (status, v) = get_json(&format!(
        "{}/_matrix/key/v2/query/{}",
        a.federation_url(),
        b.server_name
    ))
    .await;
    assert_eq!(status, 200, "{v}");
    let notarised = &v["server_keys"][0];
    assert_eq!(notarised["verify_keys"], b_keys["verify_keys"]);
    assert_signed_by(notarised, &b.server_name, &b_keys["verify_keys"]);
    assert_signed_by(notarised, &a.server_name, &a_keys["verify_keys"]);

    let res = https()
        .post(format!("{}/_matrix/key/v2/query", a.federation_url()))
        .json(&json!({ "server_keys": { b.server_name.clone(): {}, a.server_name.clone(): {} } }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    let names: Vec<&str> = v["server_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["server_name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{v}");
    assert!(names.contains(&b.server_name.as_str()) && names.contains(&a.server_name.as_str()));
}

/// A (closed to all but B) checks every request: B's signed request is
/// answered; a forged signature, an unknown key, a missing header and a
/// wrong destination are 401 M_UNAUTHORIZED; an origin outside the
/// allowlist is 403 M_FORBIDDEN; and A refuses to look up a profile on a
/// server outside its allowlist without connecting to it.
async fn requests_are_authenticated_and_allowlisted(backend: Backend) {
    let b = TestServer::start_federating(backend, &[]).await;
    let a = TestServer::start_federating(
        backend,
        &[("MISSIVE_FEDERATION_DOMAIN_ALLOWLIST", &b.server_name)],
    )
    .await;
    let alice = a.register_token("alice").await;
    let path = format!(
        "/_matrix/federation/v1/query/profile?user_id={}",
        a.user_id("alice").replace(':', "%3A").replace('@', "%40")
    );
    let b_key = signing_key(&b);
    let (status, v) = signed_get(&a, &path, &b.server_name, &a.server_name, &b_key).await;
    assert_eq!((status, &v), (200, &json!({ "displayname": "alice" })));

    let unauthorized = |(status, v): (u16, Value)| {
        assert_eq!(
            (status, v["errcode"].as_str()),
            (401, Some("M_UNAUTHORIZED")),
            "{v}"
        );
    };
    // Forged: B's key ID, another key.
    let forger = stranger_key(b_key.version());
    unauthorized(signed_get(&a, &path, &b.server_name, &a.server_name, &forger).await);
    // A key B never published.
    unauthorized(
        signed_get(
            &a,
            &path,
            &b.server_name,
            &a.server_name,
            &stranger_key("other"),
        )
        .await,
    );
    // For another server.
    unauthorized(signed_get(&a, &path, &b.server_name, "127.0.0.1:1", &b_key).await);
    // No signature at all.
    let res = https()
        .get(format!("{}{path}", a.federation_url()))
        .send()
        .await
        .unwrap();
    unauthorized((res.status().as_u16(), res.json().await.unwrap()));

    // From a server A does not federate with.
    let (status, v) =
        signed_get(&a, &path, "127.0.0.1:2", &a.server_name, &stranger_key("c")).await;
    assert_eq!(
        (status, v["errcode"].as_str()),
        (403, Some("M_FORBIDDEN")),
        "{v}"
    );

    // To a server A does not federate with: refused, nothing connects.
    let carol_server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    carol_server.set_nonblocking(true).unwrap();
    let carol = format!(
        "@carol:127.0.0.1:{}",
        carol_server.local_addr().unwrap().port()
    );
    let (status, v) = a
        .call(
            Some(&alice),
            "GET",
            &format!("/_matrix/client/v3/profile/{carol}"),
            Value::Null,
        )
        .await;
    assert_eq!(
        (status, v["errcode"].as_str()),
        (403, Some("M_FORBIDDEN")),
        "{v}"
    );
    assert_eq!(
        carol_server.accept().map(|_| ()).unwrap_err().kind(),
        std::io::ErrorKind::WouldBlock,
        "A connected to a server outside its allowlist"
    );
}

/// A key rotation (the admin command, server stopped): A then signs with
/// a new key and serves the old one in `old_verify_keys` with its end; B,
/// which knew only the old key, fetches the new one when A's next event
/// arrives, and keeps the room's history it verified before.
async fn a_rotated_key_is_served_as_old_and_the_new_one_is_fetched(backend: Backend) {
    let mut a = TestServer::start_federating(backend, &[]).await;
    let b = TestServer::start_federating(backend, &[]).await;
    let alice = a.register_token("alice").await;
    let bob = b.register_token("bob").await;
    let room = a
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    let room_path = support::federation::encode(&room);
    let (status, v) = b
        .call(
            Some(&bob),
            "POST",
            &format!(
                "/_matrix/client/v3/join/{room_path}?server_name={}",
                support::federation::encode(&a.server_name)
            ),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let before = signing_key(&a).version().to_owned();

    a.kill();
    let (ok, out) = a.admin(&["rotate-signing-key"]);
    assert!(ok, "{out}");
    a.start_again().await;
    let after = signing_key(&a).version().to_owned();
    assert_ne!(before, after);
    let (status, keys) = get_json(&format!("{}/_matrix/key/v2/server", a.federation_url())).await;
    assert_eq!(status, 200, "{keys}");
    assert!(
        keys["verify_keys"][format!("ed25519:{after}")]["key"].is_string(),
        "{keys}"
    );
    assert!(
        keys["verify_keys"]
            .get(format!("ed25519:{before}"))
            .is_none(),
        "{keys}"
    );
    let old = &keys["old_verify_keys"][format!("ed25519:{before}")];
    assert!(
        old["key"].is_string() && old["expired_ts"].is_u64(),
        "{keys}"
    );
    assert_signed_by(&keys, &a.server_name, &keys["verify_keys"]);

    // Signed with the new key: B fetches it and takes the message.
    let sent = a.say(&alice, &room_path, "after", "signed anew").await;
    let path = format!(
        "/_matrix/client/v3/rooms/{room_path}/event/{}",
        support::federation::encode(&sent)
    );
    let mut seen = Value::Null;
    for _ in 0..100 {
        let (status, event) = b.call(Some(&bob), "GET", &path, Value::Null).await;
        if status == 200 {
            seen = event;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(seen["content"]["body"], "signed anew", "{seen}");
}

both_backends!(
    profiles_are_read_over_federation => profiles_are_read_over_federation,
    keys_are_self_signed_and_notarised => keys_are_self_signed_and_notarised,
    requests_are_authenticated_and_allowlisted => requests_are_authenticated_and_allowlisted,
    a_rotated_key_is_served_as_old_and_the_new_one_is_fetched =>
        a_rotated_key_is_served_as_old_and_the_new_one_is_fetched,
);
