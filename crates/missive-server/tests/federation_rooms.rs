//! Rooms shared by two real servers on loopback (IP-literal server names,
//! TLS federation listeners), driven by matrix-sdk clients: a user of one
//! server joins a room of the other by its ID, and both sides see the
//! room's state and each other's membership.

// Test code throughout: allow-unwrap-in-tests (clippy.toml) covers only
// #[test] functions, not the helpers an integration test crate shares.
#![allow(clippy::unwrap_used)]

mod support;

use matrix_sdk::{
    Client, RoomMemberships,
    ruma::{
        OwnedRoomId, OwnedServerName, RoomVersionId,
        api::client::room::{Visibility, create_room::v3::Request as CreateRoomRequest},
        events::room::{member::MembershipState, message::RoomMessageEventContent},
    },
};
use support::{Backend, TestServer, federation::encode, sync_until};

/// A public room named "Ministries" created by `alice`, of `version`.
async fn public_room(alice: &Client, version: RoomVersionId) -> OwnedRoomId {
    let mut request = CreateRoomRequest::new();
    request.name = Some("Ministries".into());
    request.visibility = Visibility::Public;
    request.preset =
        Some(matrix_sdk::ruma::api::client::room::create_room::v3::RoomPreset::PublicChat);
    request.room_version = Some(version);
    alice
        .create_room(request)
        .await
        .unwrap()
        .room_id()
        .to_owned()
}

async fn membership_of(client: &Client, room: &OwnedRoomId, user: &str) -> Option<MembershipState> {
    let room = client.get_room(room)?;
    let members = room.members_no_sync(RoomMemberships::all()).await.ok()?;
    members
        .iter()
        .find(|m| m.user_id().as_str() == user)
        .map(|m| m.membership().clone())
}

/// Bob, on server B, joins Alice's public room on server A by its ID
/// (through A, named as the client's `via`); both servers then hold the
/// room with both members, and Bob sees its name.
async fn a_user_joins_a_room_of_another_server(backend: Backend, version: RoomVersionId) {
    let a = TestServer::start_federating(backend, &[]).await;
    let b = TestServer::start_federating(backend, &[]).await;
    let alice = a.register("alice").await;
    let bob = b.register("bob").await;
    let room_id = public_room(&alice, version).await;

    let via: OwnedServerName = a.server_name.as_str().try_into().unwrap();
    let target: &matrix_sdk::ruma::RoomOrAliasId = room_id.as_str().try_into().unwrap();
    bob.join_room_by_id_or_alias(target, &[via]).await.unwrap();

    let bob_id = b.user_id("bob");
    let alice_id = a.user_id("alice");
    sync_until(
        &[&bob],
        20,
        "bob's server holds the joined room",
        || async {
            let Some(room) = bob.get_room(&room_id) else {
                return false;
            };
            room.state() == matrix_sdk::RoomState::Joined
                && room.name().as_deref() == Some("Ministries")
                && membership_of(&bob, &room_id, &alice_id).await == Some(MembershipState::Join)
        },
    )
    .await;
    sync_until(&[&alice], 60, "alice's server sees bob joined", || async {
        membership_of(&alice, &room_id, &bob_id).await == Some(MembershipState::Join)
    })
    .await;

    // Messages and state changes both ways.
    let from_alice = RoomMessageEventContent::text_plain("hello from A");
    alice
        .get_room(&room_id)
        .unwrap()
        .send(from_alice)
        .await
        .unwrap();
    sync_until(&[&bob], 30, "bob receives alice's message", || async {
        last_text(&bob, &room_id).await.as_deref() == Some("hello from A")
    })
    .await;
    let from_bob = RoomMessageEventContent::text_plain("hello from B");
    bob.get_room(&room_id)
        .unwrap()
        .send(from_bob)
        .await
        .unwrap();
    sync_until(&[&alice], 30, "alice receives bob's message", || async {
        last_text(&alice, &room_id).await.as_deref() == Some("hello from B")
    })
    .await;
    alice
        .get_room(&room_id)
        .unwrap()
        .set_room_topic("Cross-ministry")
        .await
        .unwrap();
    sync_until(&[&bob], 30, "bob sees alice's topic", || async {
        bob.get_room(&room_id).and_then(|r| r.topic()).as_deref() == Some("Cross-ministry")
    })
    .await;
}

/// The body of the room's latest text message, as the client's server
/// serves it.
async fn last_text(client: &Client, room_id: &OwnedRoomId) -> Option<String> {
    let room = client.get_room(room_id)?;
    let page = room
        .messages(matrix_sdk::room::MessagesOptions::backward())
        .await
        .ok()?;
    page.chunk.iter().find_map(|event| {
        let value: serde_json::Value = serde_json::from_str(event.raw().json().get()).ok()?;
        (value["type"] == "m.room.message")
            .then(|| value["content"]["body"].as_str().map(str::to_owned))
            .flatten()
    })
}

async fn joins_v11(backend: Backend) {
    a_user_joins_a_room_of_another_server(backend, RoomVersionId::V11).await;
}

async fn joins_v12(backend: Backend) {
    a_user_joins_a_room_of_another_server(backend, RoomVersionId::V12).await;
}

/// Alice invites Bob of the other server to her private room: Bob's sync
/// shows the invite with the room's name, and he joins through Alice's
/// server without naming it.
async fn a_user_of_another_server_is_invited_and_joins(backend: Backend) {
    let a = TestServer::start_federating(backend, &[]).await;
    let b = TestServer::start_federating(backend, &[]).await;
    let alice = a.register("alice").await;
    let bob = b.register("bob").await;
    let bob_id = b.user_id("bob");
    let mut request = CreateRoomRequest::new();
    request.name = Some("Cabinet".into());
    request.room_version = Some(RoomVersionId::V12);
    let room = alice.create_room(request).await.unwrap();
    let room_id = room.room_id().to_owned();
    room.invite_user_by_id(<&matrix_sdk::ruma::UserId>::try_from(bob_id.as_str()).unwrap())
        .await
        .unwrap();

    sync_until(&[&bob], 20, "bob is shown the invite", || async {
        bob.get_room(&room_id).is_some_and(|r| {
            r.state() == matrix_sdk::RoomState::Invited && r.name().as_deref() == Some("Cabinet")
        })
    })
    .await;
    bob.get_room(&room_id).unwrap().join().await.unwrap();
    sync_until(&[&bob], 20, "bob's server holds the room", || async {
        bob.get_room(&room_id)
            .is_some_and(|r| r.state() == matrix_sdk::RoomState::Joined)
    })
    .await;
    // Bob's client, which synced before the join, is sent the room's
    // state before the join (incremental sync of a newly joined room).
    let alice_id = a.user_id("alice");
    sync_until(&[&bob], 60, "bob's client has the room's state", || async {
        membership_of(&bob, &room_id, &alice_id).await == Some(MembershipState::Join)
            && bob.get_room(&room_id).and_then(|r| r.name()).as_deref() == Some("Cabinet")
    })
    .await;
    // The join carries Bob's profile, as a local join does.
    sync_until(&[&alice], 60, "alice's server sees bob joined", || async {
        let Some(room) = alice.get_room(&room_id) else {
            return false;
        };
        let bob_user = <&matrix_sdk::ruma::UserId>::try_from(bob_id.as_str()).unwrap();
        room.get_member_no_sync(bob_user)
            .await
            .ok()
            .flatten()
            .is_some_and(|m| {
                *m.membership() == MembershipState::Join && m.display_name() == Some("bob")
            })
    })
    .await;
}

/// Once Bob's server is in Alice's room, it may fetch the room's events,
/// the state at an event with its auth chain, and history from Alice's
/// server; a server with nobody in the room may not.
async fn servers_in_a_room_fetch_its_events_and_others_may_not(backend: Backend) {
    let a = TestServer::start_federating(backend, &[]).await;
    let b = TestServer::start_federating(backend, &[]).await;
    let c = TestServer::start_federating(backend, &[]).await;
    let alice = a.register("alice").await;
    let bob = b.register("bob").await;
    let room_id = public_room(&alice, RoomVersionId::V12).await;
    let via: OwnedServerName = a.server_name.as_str().try_into().unwrap();
    let target: &matrix_sdk::ruma::RoomOrAliasId = room_id.as_str().try_into().unwrap();
    bob.join_room_by_id_or_alias(target, &[via]).await.unwrap();

    let token = alice.access_token().unwrap();
    let (status, messages) = a
        .call(
            Some(&token),
            "GET",
            &format!("/_matrix/client/v3/rooms/{room_id}/messages?dir=b&limit=50"),
            serde_json::Value::Null,
        )
        .await;
    assert_eq!(status, 200, "{messages}");
    let events = messages["chunk"].as_array().unwrap();
    let id_of = |ty: &str, key: &str| {
        events
            .iter()
            .find(|e| e["type"] == ty && e["state_key"] == key)
            .and_then(|e| e["event_id"].as_str())
            .unwrap()
            .to_owned()
    };
    let join = id_of("m.room.member", &b.user_id("bob"));
    let create = id_of("m.room.create", "");
    let room = encode(room_id.as_str());

    let (status, state) = support::federation::get_as(
        &b,
        &a,
        &format!(
            "/_matrix/federation/v1/state_ids/{room}?event_id={}",
            encode(&join)
        ),
    )
    .await;
    assert_eq!(status, 200, "{state}");
    let ids = |v: &serde_json::Value, field: &str| -> Vec<String> {
        v[field]
            .as_array()
            .unwrap()
            .iter()
            .map(|id| id.as_str().unwrap().to_owned())
            .collect()
    };
    let pdu_ids = ids(&state, "pdu_ids");
    assert!(pdu_ids.contains(&create), "{state}");
    assert!(
        !pdu_ids.contains(&join),
        "the state before the join: {state}"
    );

    let (status, event) = support::federation::get_as(
        &b,
        &a,
        &format!("/_matrix/federation/v1/event/{}", encode(&create)),
    )
    .await;
    assert_eq!(status, 200, "{event}");
    assert_eq!(event["pdus"][0]["type"], "m.room.create");

    let (status, auth) = support::federation::get_as(
        &b,
        &a,
        &format!("/_matrix/federation/v1/event_auth/{room}/{}", encode(&join)),
    )
    .await;
    assert_eq!(status, 200, "{auth}");
    assert!(!auth["auth_chain"].as_array().unwrap().is_empty(), "{auth}");

    let (status, history) = support::federation::get_as(
        &b,
        &a,
        &format!(
            "/_matrix/federation/v1/backfill/{room}?v={}&limit=100",
            encode(&join)
        ),
    )
    .await;
    assert_eq!(status, 200, "{history}");
    let types: Vec<&str> = history["pdus"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["type"].as_str())
        .collect();
    assert!(types.contains(&"m.room.create"), "{history}");

    // A server with nobody in the room is refused.
    let (status, refused) = support::federation::get_as(
        &c,
        &a,
        &format!("/_matrix/federation/v1/event/{}", encode(&create)),
    )
    .await;
    assert_eq!(status, 403, "{refused}");
}

/// Bob joins Alice's room by its alias on her server, naming no server:
/// his server asks hers what the alias points at.
async fn a_user_joins_a_room_of_another_server_by_alias(backend: Backend) {
    let a = TestServer::start_federating(backend, &[]).await;
    let b = TestServer::start_federating(backend, &[]).await;
    let alice = a.register("alice").await;
    let bob = b.register("bob").await;
    let mut request = CreateRoomRequest::new();
    request.name = Some("Ministries".into());
    request.room_alias_name = Some("ministries".into());
    request.preset =
        Some(matrix_sdk::ruma::api::client::room::create_room::v3::RoomPreset::PublicChat);
    let room_id = alice
        .create_room(request)
        .await
        .unwrap()
        .room_id()
        .to_owned();
    let alias = format!("#ministries:{}", a.server_name);
    let alias_id: &matrix_sdk::ruma::RoomAliasId = alias.as_str().try_into().unwrap();

    let resolved = bob.resolve_room_alias(alias_id).await.unwrap();
    assert_eq!(resolved.room_id, room_id);
    assert!(resolved.servers.iter().any(|s| s.as_str() == a.server_name));

    bob.join_room_by_id_or_alias(alias_id.into(), &[])
        .await
        .unwrap();
    sync_until(
        &[&bob],
        20,
        "bob's server holds the room joined by alias",
        || async {
            bob.get_room(&room_id).is_some_and(|r| {
                r.state() == matrix_sdk::RoomState::Joined
                    && r.name().as_deref() == Some("Ministries")
            })
        },
    )
    .await;
}

/// A room whose server ACL denies IP-literal servers keeps Bob's server
/// (named 127.0.0.1:port) out: the join is refused by Alice's server.
async fn a_server_denied_by_the_room_acl_cannot_join(backend: Backend) {
    let a = TestServer::start_federating(backend, &[]).await;
    let b = TestServer::start_federating(backend, &[]).await;
    let alice = a.register("alice").await;
    let bob = b.register("bob").await;
    let room_id = public_room(&alice, RoomVersionId::V11).await;
    let room = alice.get_room(&room_id).unwrap();
    room.send_state_event_raw(
        "m.room.server_acl",
        "",
        serde_json::json!({"allow": ["*"], "deny": [], "allow_ip_literals": false}),
    )
    .await
    .unwrap();

    let via: OwnedServerName = a.server_name.as_str().try_into().unwrap();
    let target: &matrix_sdk::ruma::RoomOrAliasId = room_id.as_str().try_into().unwrap();
    let refused = bob.join_room_by_id_or_alias(target, &[via]).await;
    let message = format!("{refused:?}");
    assert!(refused.is_err(), "{message}");
    assert!(
        message.contains("ACL") && message.contains("403"),
        "{message}"
    );
    assert!(
        alice
            .get_room(&room_id)
            .unwrap()
            .get_member_no_sync(
                <&matrix_sdk::ruma::UserId>::try_from(b.user_id("bob").as_str()).unwrap()
            )
            .await
            .unwrap()
            .is_none()
    );
}

/// Bob lists the public rooms of Alice's server through his own (GET and
/// the filtered POST), and finds her published room there.
async fn another_servers_public_rooms_are_listed(backend: Backend) {
    let a = TestServer::start_federating(backend, &[]).await;
    let b = TestServer::start_federating(backend, &[]).await;
    let alice = a.register("alice").await;
    let bob = b.register_token("bob").await;
    let room_id = public_room(&alice, RoomVersionId::V11).await;
    let (status, listed) = b
        .call(
            Some(&bob),
            "GET",
            &format!(
                "/_matrix/client/v3/publicRooms?server={}",
                encode(&a.server_name)
            ),
            serde_json::Value::Null,
        )
        .await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["chunk"][0]["room_id"], room_id.as_str(), "{listed}");
    assert_eq!(listed["chunk"][0]["name"], "Ministries");
    let (status, filtered) = b
        .call(
            Some(&bob),
            "POST",
            &format!(
                "/_matrix/client/v3/publicRooms?server={}",
                encode(&a.server_name)
            ),
            serde_json::json!({ "filter": { "generic_search_term": "nothing like it" } }),
        )
        .await;
    assert_eq!(status, 200, "{filtered}");
    assert_eq!(filtered["chunk"], serde_json::json!([]), "{filtered}");
}

both_backends!(
    another_servers_public_rooms_are_listed => another_servers_public_rooms_are_listed,
    a_server_denied_by_the_room_acl_cannot_join => a_server_denied_by_the_room_acl_cannot_join,
    a_user_joins_a_room_of_another_server_by_alias => a_user_joins_a_room_of_another_server_by_alias,
    servers_in_a_room_fetch_its_events_and_others_may_not => servers_in_a_room_fetch_its_events_and_others_may_not,
    a_user_joins_a_room_of_another_server_v11 => joins_v11,
    a_user_joins_a_room_of_another_server_v12 => joins_v12,
    a_user_of_another_server_is_invited_and_joins => a_user_of_another_server_is_invited_and_joins,
);
