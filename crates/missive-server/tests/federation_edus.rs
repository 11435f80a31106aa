//! The EDUs a server sends of its own users, across two real servers on
//! loopback: Alice (of A) and Bob (of B) share Alice's room; what Alice's
//! client does reaches Bob's through A's outbound queue and B's inbound
//! transaction: typing (started and stopped), a public read receipt (a
//! private one stays on A), a presence change with a status message, and
//! the deletion of one of her devices (B's copy of her device list loses
//! it), a rename and a new master key (`m.signing_key_update`); with
//! presence off on A, no presence. Bob's client also reads Alice's
//! profile through B.

// Test code throughout: allow-unwrap-in-tests (clippy.toml) covers only
// #[test] functions, not the helpers an integration test crate shares.
#![allow(clippy::unwrap_used)]

mod support;

use matrix_sdk::{
    Client,
    ruma::{OwnedDeviceId, OwnedRoomId, OwnedUserId, api::client::keys::get_keys},
};
use serde_json::{Value, json};
use support::{Backend, PASSWORD, TestServer, sync_until};

/// Two federating servers; Alice (A) has a public room Bob (B) joined.
/// A logs every request it answers.
async fn shared_room(backend: Backend) -> (TestServer, TestServer, Client, Client, OwnedRoomId) {
    shared_room_with(backend, &[]).await
}

/// [`shared_room`] with A's settings `env`.
async fn shared_room_with(
    backend: Backend,
    env: &[(&str, &str)],
) -> (TestServer, TestServer, Client, Client, OwnedRoomId) {
    let mut a_env = vec![("MISSIVE_LOG", "info,sqlx=warn,tower_http::trace=debug")];
    a_env.extend_from_slice(env);
    support::federation::shared_public_room(backend, &a_env).await
}

fn user_of(client: &Client) -> OwnedUserId {
    client.user_id().unwrap().to_owned()
}

fn token(client: &Client) -> String {
    client.access_token().unwrap()
}

/// Bob's syncs on B, from now on: each answer (long-polled, raw JSON) is
/// given to `check` until it returns true; panics with `what` after
/// `rounds` answers. Incremental, so a change shows even when a later one
/// undid it before the test looked.
struct Watcher<'a> {
    server: &'a TestServer,
    token: String,
    since: String,
}

impl<'a> Watcher<'a> {
    async fn new(server: &'a TestServer, client: &Client) -> Self {
        let token = token(client);
        let (status, answer) = server
            .call(
                Some(&token),
                "GET",
                "/_matrix/client/v3/sync?timeout=0",
                Value::Null,
            )
            .await;
        assert_eq!(status, 200, "{answer}");
        let since = answer["next_batch"].as_str().unwrap().to_owned();
        Self {
            server,
            token,
            since,
        }
    }

    async fn until(&mut self, rounds: usize, what: &str, mut check: impl FnMut(&Value) -> bool) {
        for _ in 0..rounds {
            let path = format!("/_matrix/client/v3/sync?timeout=1000&since={}", self.since);
            let (status, answer) = self
                .server
                .call(Some(&self.token), "GET", &path, Value::Null)
                .await;
            assert_eq!(status, 200, "{answer}");
            self.since = answer["next_batch"].as_str().unwrap().to_owned();
            if check(&answer) {
                return;
            }
        }
        panic!("gave up waiting for: {what}");
    }
}

/// The room's ephemeral events of `ty` in a sync answer.
fn ephemeral<'v>(sync: &'v Value, room: &OwnedRoomId, ty: &str) -> Vec<&'v Value> {
    sync["rooms"]["join"][room.as_str()]["ephemeral"]["events"]
        .as_array()
        .map(|events| events.iter().filter(|e| e["type"] == ty).collect())
        .unwrap_or_default()
}

/// The users typing in the room according to a sync answer, if it says.
fn typing(sync: &Value, room: &OwnedRoomId) -> Option<Value> {
    ephemeral(sync, room, "m.typing")
        .last()
        .map(|e| e["content"]["user_ids"].clone())
}

/// The event `user`'s public read receipt is on, per a sync answer.
fn read_receipt_of(sync: &Value, room: &OwnedRoomId, user: &OwnedUserId) -> Option<String> {
    ephemeral(sync, room, "m.receipt").iter().find_map(|e| {
        e["content"]
            .as_object()?
            .iter()
            .find_map(|(event, types)| types["m.read"].get(user.as_str()).map(|_| event.clone()))
    })
}

/// Sends a text message as `token` on `server`; returns the event ID.
async fn say(server: &TestServer, token: &str, room: &OwnedRoomId, txn: &str) -> String {
    server.say(token, room.as_str(), txn, txn).await
}

/// Alice's typing (and stopping), her public read receipt and her
/// presence reach Bob's client on the other server; her private receipt
/// does not leave A.
async fn typing_receipts_and_presence_go_out(backend: Backend) {
    let (a, b, alice, bob, room_id) = shared_room(backend).await;
    let alice_id = user_of(&alice);
    let alice_token = token(&alice);
    let mut watch = Watcher::new(&b, &bob).await;

    // Typing, then stopping.
    let typing_path = format!(
        "/_matrix/client/v3/rooms/{room_id}/typing/{alice_id}",
        room_id = support::federation::encode(room_id.as_str()),
        alice_id = support::federation::encode(alice_id.as_str()),
    );
    let (status, answer) = a
        .call(
            Some(&alice_token),
            "PUT",
            &typing_path,
            json!({ "typing": true, "timeout": 30000 }),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    watch
        .until(30, "bob sees alice typing", |sync| {
            typing(sync, &room_id) == Some(json!([alice_id]))
        })
        .await;
    let (status, answer) = a
        .call(
            Some(&alice_token),
            "PUT",
            &typing_path,
            json!({ "typing": false }),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    watch
        .until(30, "bob sees alice stop typing", |sync| {
            typing(sync, &room_id) == Some(json!([]))
        })
        .await;

    // A public receipt on one message; a private one on a later message.
    let first = say(&a, &alice_token, &room_id, "first").await;
    let second = say(&a, &alice_token, &room_id, "second").await;
    watch
        .until(30, "bob has both messages", |sync| {
            sync["rooms"]["join"][room_id.as_str()]["timeline"]["events"]
                .as_array()
                .is_some_and(|events| events.iter().any(|e| e["event_id"] == second.as_str()))
        })
        .await;
    let receipt = |ty: &str, event: &str| {
        format!(
            "/_matrix/client/v3/rooms/{}/receipt/{ty}/{}",
            support::federation::encode(room_id.as_str()),
            support::federation::encode(event),
        )
    };
    let (status, answer) = a
        .call(
            Some(&alice_token),
            "POST",
            &receipt("m.read", &first),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    watch
        .until(30, "bob sees alice's read receipt", |sync| {
            read_receipt_of(sync, &room_id, &alice_id).as_deref() == Some(first.as_str())
        })
        .await;
    let (status, answer) = a
        .call(
            Some(&alice_token),
            "POST",
            &receipt("m.read.private", &second),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    // Presence, queued after the private receipt: once Bob sees it, the
    // receipt would have arrived before it (one ordered queue per server).
    let presence_path = format!(
        "/_matrix/client/v3/presence/{}/status",
        support::federation::encode(alice_id.as_str())
    );
    let (status, answer) = a
        .call(
            Some(&alice_token),
            "PUT",
            &presence_path,
            json!({ "presence": "unavailable", "status_msg": "at lunch" }),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let mut seen_private = false;
    watch
        .until(30, "bob sees alice's presence", |sync| {
            seen_private |=
                read_receipt_of(sync, &room_id, &alice_id).as_deref() == Some(second.as_str());
            sync["presence"]["events"].as_array().is_some_and(|events| {
                events.iter().any(|e| {
                    e["sender"] == alice_id.as_str()
                        && e["content"]["presence"] == "unavailable"
                        && e["content"]["status_msg"] == "at lunch"
                })
            })
        })
        .await;
    assert!(!seen_private, "alice's private receipt reached B");
    let (status, answer) = b
        .call(Some(&token(&bob)), "GET", &presence_path, Value::Null)
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["presence"], "unavailable", "{answer}");
    assert_eq!(answer["status_msg"], "at lunch", "{answer}");
    // B's state of the receipt too: still the public one.
    let (status, initial) = b
        .call(
            Some(&token(&bob)),
            "GET",
            "/_matrix/client/v3/sync?timeout=0",
            Value::Null,
        )
        .await;
    assert_eq!(status, 200, "{initial}");
    assert_eq!(
        read_receipt_of(&initial, &room_id, &alice_id).as_deref(),
        Some(first.as_str()),
        "{initial}"
    );
}

/// With presence off on A, Alice's presence stays there: Bob's server
/// has none for her once her later typing notice has come through.
async fn no_presence_goes_out_when_disabled(backend: Backend) {
    let (a, b, alice, bob, room_id) =
        shared_room_with(backend, &[("MISSIVE_PRESENCE", "off")]).await;
    let alice_id = user_of(&alice);
    let alice_token = token(&alice);
    let mut watch = Watcher::new(&b, &bob).await;
    let presence_path = format!(
        "/_matrix/client/v3/presence/{}/status",
        support::federation::encode(alice_id.as_str())
    );
    let (status, answer) = a
        .call(
            Some(&alice_token),
            "PUT",
            &presence_path,
            json!({ "presence": "online", "status_msg": "here" }),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let typing_path = format!(
        "/_matrix/client/v3/rooms/{}/typing/{}",
        support::federation::encode(room_id.as_str()),
        support::federation::encode(alice_id.as_str()),
    );
    let (status, answer) = a
        .call(
            Some(&alice_token),
            "PUT",
            &typing_path,
            json!({ "typing": true, "timeout": 30000 }),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let mut presence_seen = false;
    watch
        .until(30, "bob sees alice typing", |sync| {
            presence_seen |= sync["presence"]["events"]
                .as_array()
                .is_some_and(|events| events.iter().any(|e| e["sender"] == alice_id.as_str()));
            typing(sync, &room_id) == Some(json!([alice_id]))
        })
        .await;
    assert!(!presence_seen, "alice's presence reached B");
    let (status, answer) = b
        .call(Some(&token(&bob)), "GET", &presence_path, Value::Null)
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["presence"], "offline", "{answer}");
    assert!(answer.get("status_msg").is_none(), "{answer}");
}

/// Bob's client reads Alice's profile through B (`query/profile`).
async fn remote_profile_is_read_through_the_other_server(backend: Backend) {
    let (a, b, alice, bob, _room_id) = shared_room(backend).await;
    let alice_id = user_of(&alice);
    let path = format!(
        "/_matrix/client/v3/profile/{}",
        support::federation::encode(alice_id.as_str())
    );
    let (status, answer) = a
        .call(
            Some(&token(&alice)),
            "PUT",
            &format!("{path}/displayname"),
            json!({ "displayname": "Alice of A" }),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = b.call(Some(&token(&bob)), "GET", &path, Value::Null).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["displayname"], "Alice of A", "{answer}");
    let profile = bob
        .account()
        .fetch_user_profile_of(&alice_id)
        .await
        .unwrap();
    assert_eq!(profile.get("displayname"), Some(&json!("Alice of A")));
    // Nobody by that name on A: a 404 from A is a 404 here.
    let nobody = format!(
        "/_matrix/client/v3/profile/{}",
        support::federation::encode(&format!("@nobody:{}", a.server_name))
    );
    let (status, answer) = b
        .call(Some(&token(&bob)), "GET", &nobody, Value::Null)
        .await;
    assert_eq!(status, 404, "{answer}");
}

/// Bob's key query for Alice, through B.
async fn alice_devices_seen_by_bob(bob: &Client, alice_id: &OwnedUserId) -> Vec<OwnedDeviceId> {
    let mut request = get_keys::v3::Request::new();
    request.device_keys.insert(alice_id.clone(), Vec::new());
    let answer = bob.send(request).await.unwrap();
    answer
        .device_keys
        .get(alice_id)
        .map(|devices| devices.keys().cloned().collect())
        .unwrap_or_default()
}

/// How many times `server` answered `GET /user/devices` (its log has
/// every request: see [`shared_room`]).
fn lists_served(server: &TestServer) -> usize {
    server
        .log()
        .lines()
        .filter(|l| l.contains("/user/devices/") && l.contains("finished processing request"))
        .count()
}

/// Alice signs in on a second device, which B learns of; she deletes it:
/// B's copy of her list loses it; she renames the other one and uploads a
/// master key: B hears of both (it answers Bob from its copy even with A
/// gone).
async fn a_deleted_device_reaches_the_other_server(backend: Backend) {
    let (mut a, b, alice, bob, _room_id) = shared_room(backend).await;
    let alice_id = user_of(&alice);
    let second = a.login("alice").await;
    let second_device = second.device_id().unwrap().to_owned();
    let first_device = alice.device_id().unwrap().to_owned();
    sync_until(
        &[&alice, &second, &bob],
        30,
        "bob sees alice's second device",
        || async {
            alice_devices_seen_by_bob(&bob, &alice_id)
                .await
                .contains(&second_device)
        },
    )
    .await;

    let mut watch = Watcher::new(&b, &bob).await;
    let served_before = lists_served(&a);
    let path = format!("/_matrix/client/v3/devices/{second_device}");
    let (status, challenge) = a
        .call(Some(&token(&alice)), "DELETE", &path, json!({}))
        .await;
    assert_eq!(status, 401, "{challenge}");
    let auth = json!({
        "auth": {
            "type": "m.login.password",
            "identifier": { "type": "m.id.user", "user": "alice" },
            "password": PASSWORD,
            "session": challenge["session"],
        }
    });
    let (status, answer) = a.call(Some(&token(&alice)), "DELETE", &path, auth).await;
    assert_eq!(status, 200, "{answer}");
    // B tells Bob's client that Alice's devices changed: only A's
    // `m.device_list_update` can have told it.
    watch
        .until(30, "bob told alice's devices changed", |sync| {
            sync["device_lists"]["changed"]
                .as_array()
                .is_some_and(|c| c.iter().any(|u| u == alice_id.as_str()))
        })
        .await;
    let devices = alice_devices_seen_by_bob(&bob, &alice_id).await;
    assert!(!devices.contains(&second_device), "{devices:?}");
    assert!(devices.contains(&first_device), "{devices:?}");

    // A rename: no name goes out, but B hears of a change.
    let path = format!("/_matrix/client/v3/devices/{first_device}");
    let (status, answer) = a
        .call(
            Some(&token(&alice)),
            "PUT",
            &path,
            json!({ "display_name": "laptop" }),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    watch
        .until(30, "bob told of alice's rename", |sync| {
            sync["device_lists"]["changed"]
                .as_array()
                .is_some_and(|c| c.iter().any(|u| u == alice_id.as_str()))
        })
        .await;

    // A master key alone (no device signed with it): only A's
    // `m.signing_key_update` can bring it to B's copy.
    let master_public = "bWFzdGVyIGtleSBvZiBhbGljZSwgZm9yIHRoZSB0ZXN0";
    let master = json!({
        "user_id": alice_id,
        "usage": ["master"],
        "keys": { format!("ed25519:{master_public}"): master_public },
    });
    let (status, answer) = a
        .call(
            Some(&token(&alice)),
            "POST",
            "/_matrix/client/v3/keys/device_signing/upload",
            json!({ "master_key": master }),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    watch
        .until(30, "bob told of alice's master key", |sync| {
            sync["device_lists"]["changed"]
                .as_array()
                .is_some_and(|c| c.iter().any(|u| u == alice_id.as_str()))
        })
        .await;

    // Each update carried its predecessor's stream ID: B applied them as
    // they came, never fetching the whole list again.
    assert_eq!(
        lists_served(&a),
        served_before,
        "B fetched alice's device list again"
    );
    // B kept the list whole: with A gone it still answers, the same.
    a.kill();
    let devices = alice_devices_seen_by_bob(&bob, &alice_id).await;
    assert_eq!(devices, [first_device], "B's copy of alice's devices");
    let (status, answer) = b
        .call(
            Some(&token(&bob)),
            "POST",
            "/_matrix/client/v3/keys/query",
            json!({ "device_keys": { alice_id.as_str(): [] } }),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["master_keys"][alice_id.as_str()]["keys"],
        master["keys"],
        "{answer}"
    );
}

both_backends!(
    typing_receipts_and_presence_go_out => typing_receipts_and_presence_go_out,
    no_presence_goes_out_when_disabled => no_presence_goes_out_when_disabled,
    remote_profile_is_read_through_the_other_server => remote_profile_is_read_through_the_other_server,
    a_deleted_device_reaches_the_other_server => a_deleted_device_reaches_the_other_server,
);
