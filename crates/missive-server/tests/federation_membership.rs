//! Membership changes across two real servers (IP-literal server names,
//! TLS federation listeners), driven by matrix-sdk clients: a user of
//! server B leaves Alice's room on server A, is kicked, banned and
//! unbanned; rejects an invite to a room B is not in (through A's
//! `make_leave`/`send_leave`, or locally when A is unreachable); knocks on
//! a room of A (`make_knock`/`send_knock`) and is let in.

// Test code throughout: allow-unwrap-in-tests (clippy.toml) covers only
// #[test] functions, not the helpers an integration test crate shares.
#![allow(clippy::unwrap_used)]

mod support;

use matrix_sdk::{
    Client, RoomMemberships, RoomState,
    ruma::{
        OwnedRoomId, OwnedRoomOrAliasId, OwnedServerName, RoomVersionId, UserId,
        api::{
            client::room::{Visibility, create_room::v3::Request as CreateRoomRequest},
            error::ErrorKind,
        },
        events::room::{member::MembershipState, message::RoomMessageEventContent},
    },
};
use support::{
    Backend, TestServer,
    federation::{encode, member_event},
    sync_until,
};

/// A public room named "Ministries" created by `alice`.
async fn public_room(alice: &Client) -> OwnedRoomId {
    let mut request = CreateRoomRequest::new();
    request.name = Some("Ministries".into());
    request.visibility = Visibility::Public;
    request.preset =
        Some(matrix_sdk::ruma::api::client::room::create_room::v3::RoomPreset::PublicChat);
    request.room_version = Some(RoomVersionId::V12);
    alice
        .create_room(request)
        .await
        .unwrap()
        .room_id()
        .to_owned()
}

fn user(id: &str) -> &UserId {
    <&UserId>::try_from(id).unwrap()
}

async fn membership_of(client: &Client, room: &OwnedRoomId, user: &str) -> Option<MembershipState> {
    let room = client.get_room(room)?;
    let members = room.members_no_sync(RoomMemberships::all()).await.ok()?;
    members
        .iter()
        .find(|m| m.user_id().as_str() == user)
        .map(|m| m.membership().clone())
}

/// Bob (of `b`) joins `room_id` on `a` through `a`, and both sides see it.
async fn bob_joins(a: &TestServer, alice: &Client, bob: &Client, bob_id: &str, room: &OwnedRoomId) {
    let via: OwnedServerName = a.server_name.as_str().try_into().unwrap();
    let target: &matrix_sdk::ruma::RoomOrAliasId = room.as_str().try_into().unwrap();
    bob.join_room_by_id_or_alias(target, &[via]).await.unwrap();
    sync_until(&[bob], 20, "bob's server holds the room", || async {
        bob.get_room(room)
            .is_some_and(|r| r.state() == RoomState::Joined)
    })
    .await;
    sync_until(&[alice], 20, "alice sees bob joined", || async {
        membership_of(alice, room, bob_id).await == Some(MembershipState::Join)
    })
    .await;
}

/// Whether the latest text message `client` is served in the room is `body`.
async fn last_text_is(client: &Client, room_id: &OwnedRoomId, body: &str) -> bool {
    let Some(room) = client.get_room(room_id) else {
        return false;
    };
    let Ok(page) = room
        .messages(matrix_sdk::room::MessagesOptions::backward())
        .await
    else {
        return false;
    };
    page.chunk
        .iter()
        .find_map(|event| {
            let value: serde_json::Value = serde_json::from_str(event.raw().json().get()).ok()?;
            (value["type"] == "m.room.message")
                .then(|| value["content"]["body"].as_str().map(str::to_owned))
                .flatten()
        })
        .as_deref()
        == Some(body)
}

/// Bob leaves Alice's room: Alice sees him leave, and Alice's server no
/// longer sends the room's messages to Bob's (a message sent after the
/// leave is unknown there once a later message of another shared room,
/// queued after it for the same server, has arrived).
async fn a_remote_member_leaves_and_stops_receiving(backend: Backend) {
    let a = TestServer::start_federating(backend, &[]).await;
    let b = TestServer::start_federating(backend, &[]).await;
    let alice = a.register("alice").await;
    let bob = b.register("bob").await;
    let bob_id = b.user_id("bob");
    let room_id = public_room(&alice).await;
    let other_room = public_room(&alice).await;
    bob_joins(&a, &alice, &bob, &bob_id, &room_id).await;
    bob_joins(&a, &alice, &bob, &bob_id, &other_room).await;

    bob.get_room(&room_id).unwrap().leave().await.unwrap();
    sync_until(&[&alice], 20, "alice sees bob leave", || async {
        membership_of(&alice, &room_id, &bob_id).await == Some(MembershipState::Leave)
    })
    .await;
    sync_until(&[&bob], 20, "bob's client shows the room left", || async {
        bob.get_room(&room_id)
            .is_some_and(|r| r.state() == RoomState::Left)
    })
    .await;

    let after = alice
        .get_room(&room_id)
        .unwrap()
        .send(RoomMessageEventContent::text_plain("after bob left"))
        .await
        .unwrap()
        .response
        .event_id;
    alice
        .get_room(&other_room)
        .unwrap()
        .send(RoomMessageEventContent::text_plain("marker"))
        .await
        .unwrap();
    sync_until(&[&bob], 30, "bob receives the marker", || async {
        last_text_is(&bob, &other_room, "marker").await
    })
    .await;
    let (status, answer) = support::federation::get_as(
        &a,
        &b,
        &format!("/_matrix/federation/v1/event/{}", encode(after.as_str())),
    )
    .await;
    assert_eq!(status, 404, "B must not have the later message: {answer}");
}

/// Alice kicks Bob with a reason: Bob's client sees the kick, by Alice,
/// with the reason.
async fn a_remote_member_is_kicked_with_a_reason(backend: Backend) {
    let a = TestServer::start_federating(backend, &[]).await;
    let b = TestServer::start_federating(backend, &[]).await;
    let alice = a.register("alice").await;
    let bob = b.register("bob").await;
    let bob_id = b.user_id("bob");
    let room_id = public_room(&alice).await;
    bob_joins(&a, &alice, &bob, &bob_id, &room_id).await;

    alice
        .get_room(&room_id)
        .unwrap()
        .kick_user(user(&bob_id), Some("off topic"))
        .await
        .unwrap();
    sync_until(&[&bob], 30, "bob sees the kick", || async {
        bob.get_room(&room_id)
            .is_some_and(|r| r.state() == RoomState::Left)
    })
    .await;
    let kick = member_event(&bob, &room_id, &bob_id).await.unwrap();
    assert_eq!(kick["content"]["membership"], "leave", "{kick}");
    assert_eq!(kick["content"]["reason"], "off topic", "{kick}");
    assert_eq!(kick["sender"], a.user_id("alice"), "{kick}");
}

/// Alice bans Bob: he cannot rejoin (403 `M_FORBIDDEN` passed on to his
/// client, not a server error); once unbanned he rejoins and gets the
/// room's messages again.
async fn a_banned_remote_user_rejoins_only_once_unbanned(backend: Backend) {
    let a = TestServer::start_federating(backend, &[]).await;
    let b = TestServer::start_federating(backend, &[]).await;
    let alice = a.register("alice").await;
    let bob = b.register("bob").await;
    let bob_id = b.user_id("bob");
    let room_id = public_room(&alice).await;
    bob_joins(&a, &alice, &bob, &bob_id, &room_id).await;

    let alices_room = alice.get_room(&room_id).unwrap();
    alices_room
        .ban_user(user(&bob_id), Some("spam"))
        .await
        .unwrap();
    sync_until(&[&bob], 30, "bob sees the ban", || async {
        bob.get_room(&room_id)
            .is_some_and(|r| r.state() == RoomState::Banned || r.state() == RoomState::Left)
            && membership_of(&bob, &room_id, &bob_id).await == Some(MembershipState::Ban)
    })
    .await;

    let via: OwnedServerName = a.server_name.as_str().try_into().unwrap();
    let target: &matrix_sdk::ruma::RoomOrAliasId = room_id.as_str().try_into().unwrap();
    let refused = bob
        .join_room_by_id_or_alias(target, std::slice::from_ref(&via))
        .await
        .unwrap_err();
    let api = refused
        .as_client_api_error()
        .unwrap_or_else(|| panic!("{refused:?}"));
    assert_eq!(api.status_code.as_u16(), 403, "{refused:?}");
    assert_eq!(
        refused.client_api_error_kind(),
        Some(&ErrorKind::Forbidden),
        "{refused:?}"
    );

    alices_room.unban_user(user(&bob_id), None).await.unwrap();
    sync_until(&[&alice], 20, "alice sees bob unbanned", || async {
        membership_of(&alice, &room_id, &bob_id).await == Some(MembershipState::Leave)
    })
    .await;
    bob.join_room_by_id_or_alias(target, &[via]).await.unwrap();
    sync_until(&[&alice], 20, "alice sees bob rejoin", || async {
        membership_of(&alice, &room_id, &bob_id).await == Some(MembershipState::Join)
    })
    .await;
    alices_room
        .send(RoomMessageEventContent::text_plain("welcome back"))
        .await
        .unwrap();
    sync_until(&[&bob], 30, "bob receives messages again", || async {
        bob.get_room(&room_id)
            .is_some_and(|r| r.state() == RoomState::Joined)
            && last_text_is(&bob, &room_id, "welcome back").await
    })
    .await;
}

/// Alice's private room, with Bob (of `b`) invited; Bob's client shows the
/// invite.
async fn bob_invited(b: &TestServer, alice: &Client, bob: &Client) -> OwnedRoomId {
    let mut request = CreateRoomRequest::new();
    request.name = Some("Cabinet".into());
    request.room_version = Some(RoomVersionId::V12);
    let room = alice.create_room(request).await.unwrap();
    let room_id = room.room_id().to_owned();
    room.invite_user_by_id(user(&b.user_id("bob")))
        .await
        .unwrap();
    sync_until(&[bob], 20, "bob is shown the invite", || async {
        bob.get_room(&room_id)
            .is_some_and(|r| r.state() == RoomState::Invited)
    })
    .await;
    room_id
}

/// Bob rejects his invite with `/leave` (not matrix-sdk's `Room::leave`,
/// which forgets the room too, so its sync never shows it left).
async fn reject(b: &TestServer, bob: &Client, room_id: &OwnedRoomId) {
    let token = bob.access_token().unwrap();
    let (status, answer) = b
        .call(
            Some(&token),
            "POST",
            &format!(
                "/_matrix/client/v3/rooms/{}/leave",
                encode(room_id.as_str())
            ),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
}

/// Bob rejects an invite to a room his server is not in: his server asks
/// Alice's for the leave (`make_leave`, `send_leave`), Alice sees it, and
/// Bob's sync shows the room left.
async fn a_remote_invite_is_rejected(backend: Backend) {
    let a = TestServer::start_federating(backend, &[]).await;
    let b = TestServer::start_federating(backend, &[]).await;
    let alice = a.register("alice").await;
    let bob = b.register("bob").await;
    let bob_id = b.user_id("bob");
    let room_id = bob_invited(&b, &alice, &bob).await;

    reject(&b, &bob, &room_id).await;
    sync_until(&[&alice], 20, "alice sees the invite rejected", || async {
        membership_of(&alice, &room_id, &bob_id).await == Some(MembershipState::Leave)
    })
    .await;
    let rejection = member_event(&alice, &room_id, &bob_id).await.unwrap();
    assert_eq!(rejection["sender"], bob_id, "{rejection}");
    sync_until(&[&bob], 20, "bob's sync shows the room left", || async {
        bob.get_room(&room_id)
            .is_some_and(|r| r.state() == RoomState::Left)
    })
    .await;
    // Nothing is left to dismiss: a fresh sync shows no invite.
    let fresh = b.login("bob").await;
    support::sync_once(&fresh).await;
    assert!(!support::invited_to(&fresh, &room_id));
}

/// Alice's server is gone when Bob rejects her invite: the rejection is
/// kept locally so the invite does not stay undismissable.
async fn an_invite_of_an_unreachable_server_is_rejected_locally(backend: Backend) {
    let mut a = TestServer::start_federating(backend, &[]).await;
    let b = TestServer::start_federating(backend, &[]).await;
    let alice = a.register("alice").await;
    let bob = b.register("bob").await;
    let room_id = bob_invited(&b, &alice, &bob).await;
    a.kill();
    reject(&b, &bob, &room_id).await;
    sync_until(&[&bob], 20, "bob's sync shows the room left", || async {
        bob.get_room(&room_id)
            .is_some_and(|r| r.state() == RoomState::Left)
    })
    .await;
    let fresh = b.login("bob").await;
    support::sync_once(&fresh).await;
    assert!(!support::invited_to(&fresh, &room_id));
}

/// Bob deactivates his account while invited to a room his server is not
/// in: the invite is rejected through Alice's server, as a leave would be.
async fn deactivation_rejects_a_remote_invite(backend: Backend) {
    let a = TestServer::start_federating(backend, &[]).await;
    let b = TestServer::start_federating(backend, &[]).await;
    let alice = a.register("alice").await;
    let bob = b.register("bob").await;
    let bob_id = b.user_id("bob");
    let room_id = bob_invited(&b, &alice, &bob).await;
    let token = bob.access_token().unwrap();
    let (status, answer) = b
        .call(
            Some(&token),
            "POST",
            "/_matrix/client/v3/account/deactivate",
            serde_json::json!({ "auth": {
                "type": "m.login.password",
                "identifier": { "type": "m.id.user", "user": "bob" },
                "password": support::PASSWORD,
            }}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    sync_until(&[&alice], 20, "alice sees the invite rejected", || async {
        membership_of(&alice, &room_id, &bob_id).await == Some(MembershipState::Leave)
    })
    .await;
}

/// A server other than the user's may not ask for the user's leave.
async fn make_leave_is_refused_to_another_server(backend: Backend) {
    let a = TestServer::start_federating(backend, &[]).await;
    let b = TestServer::start_federating(backend, &[]).await;
    let c = TestServer::start_federating(backend, &[]).await;
    let alice = a.register("alice").await;
    let bob = b.register("bob").await;
    let bob_id = b.user_id("bob");
    let room_id = bob_invited(&b, &alice, &bob).await;
    let path = format!(
        "/_matrix/federation/v1/make_leave/{}/{}",
        encode(room_id.as_str()),
        encode(&bob_id)
    );
    let (status, answer) = support::federation::get_as(&c, &a, &path).await;
    assert_eq!(status, 403, "{answer}");
    assert_eq!(answer["errcode"], "M_FORBIDDEN", "{answer}");
    let (status, answer) = support::federation::get_as(&b, &a, &path).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["event"]["content"]["membership"], "leave",
        "{answer}"
    );
}

/// Alice's room named "Council" that users may knock on.
async fn knock_room(alice: &Client) -> OwnedRoomId {
    let mut request = CreateRoomRequest::new();
    request.name = Some("Council".into());
    request.room_version = Some(RoomVersionId::V12);
    request.initial_state = vec![
        matrix_sdk::ruma::serde::Raw::new(&serde_json::json!({
            "type": "m.room.join_rules",
            "state_key": "",
            "content": {"join_rule": "knock"},
        }))
        .unwrap()
        .cast_unchecked(),
    ];
    alice
        .create_room(request)
        .await
        .unwrap()
        .room_id()
        .to_owned()
}

/// Bob knocks on Alice's knock room from his server: Alice sees the
/// knock, Bob's client shows the room knocked; Alice invites him and he
/// joins.
async fn a_remote_user_knocks_and_is_let_in(backend: Backend) {
    let a = TestServer::start_federating(backend, &[]).await;
    let b = TestServer::start_federating(backend, &[]).await;
    let alice = a.register("alice").await;
    let bob = b.register("bob").await;
    let bob_id = b.user_id("bob");
    let room_id = knock_room(&alice).await;

    let via: OwnedServerName = a.server_name.as_str().try_into().unwrap();
    let target: OwnedRoomOrAliasId = room_id.as_str().try_into().unwrap();
    bob.knock(target, Some("let me in".into()), vec![via])
        .await
        .unwrap();
    sync_until(&[&alice], 20, "alice sees the knock", || async {
        membership_of(&alice, &room_id, &bob_id).await == Some(MembershipState::Knock)
    })
    .await;
    let knock = member_event(&alice, &room_id, &bob_id).await.unwrap();
    assert_eq!(knock["content"]["reason"], "let me in", "{knock}");
    sync_until(&[&bob], 20, "bob's client shows the knock", || async {
        bob.get_room(&room_id)
            .is_some_and(|r| r.state() == RoomState::Knocked)
    })
    .await;

    alice
        .get_room(&room_id)
        .unwrap()
        .invite_user_by_id(user(&bob_id))
        .await
        .unwrap();
    sync_until(&[&bob], 20, "bob is invited", || async {
        bob.get_room(&room_id)
            .is_some_and(|r| r.state() == RoomState::Invited)
    })
    .await;
    bob.get_room(&room_id).unwrap().join().await.unwrap();
    sync_until(&[&alice], 20, "alice sees bob joined", || async {
        membership_of(&alice, &room_id, &bob_id).await == Some(MembershipState::Join)
    })
    .await;
    sync_until(&[&bob], 20, "bob's server holds the room", || async {
        bob.get_room(&room_id).is_some_and(|r| {
            r.state() == RoomState::Joined && r.name().as_deref() == Some("Council")
        })
    })
    .await;
}

/// Bob knocks on Alice's knock room, then withdraws the knock: his server
/// (not in the room, whose version 12 ID names no server) asks Alice's,
/// whose users sent the state he was shown, for the leave.
async fn a_remote_knock_is_withdrawn(backend: Backend) {
    let a = TestServer::start_federating(backend, &[]).await;
    let b = TestServer::start_federating(backend, &[]).await;
    let alice = a.register("alice").await;
    let bob = b.register("bob").await;
    let bob_id = b.user_id("bob");
    let room_id = knock_room(&alice).await;
    let via: OwnedServerName = a.server_name.as_str().try_into().unwrap();
    let target: OwnedRoomOrAliasId = room_id.as_str().try_into().unwrap();
    bob.knock(target, None, vec![via]).await.unwrap();
    sync_until(&[&alice], 20, "alice sees the knock", || async {
        membership_of(&alice, &room_id, &bob_id).await == Some(MembershipState::Knock)
    })
    .await;
    sync_until(&[&bob], 20, "bob's client shows the knock", || async {
        bob.get_room(&room_id)
            .is_some_and(|r| r.state() == RoomState::Knocked)
    })
    .await;

    reject(&b, &bob, &room_id).await;
    sync_until(&[&alice], 20, "alice sees the knock withdrawn", || async {
        membership_of(&alice, &room_id, &bob_id).await == Some(MembershipState::Leave)
    })
    .await;
    sync_until(&[&bob], 20, "bob's sync shows the room left", || async {
        bob.get_room(&room_id)
            .is_some_and(|r| r.state() == RoomState::Left)
    })
    .await;
}

both_backends!(
    deactivation_rejects_a_remote_invite => deactivation_rejects_a_remote_invite,
    a_remote_knock_is_withdrawn => a_remote_knock_is_withdrawn,
    a_remote_member_leaves_and_stops_receiving => a_remote_member_leaves_and_stops_receiving,
    a_remote_member_is_kicked_with_a_reason => a_remote_member_is_kicked_with_a_reason,
    a_banned_remote_user_rejoins_only_once_unbanned => a_banned_remote_user_rejoins_only_once_unbanned,
    a_remote_invite_is_rejected => a_remote_invite_is_rejected,
    an_invite_of_an_unreachable_server_is_rejected_locally => an_invite_of_an_unreachable_server_is_rejected_locally,
    make_leave_is_refused_to_another_server => make_leave_is_refused_to_another_server,
    a_remote_user_knocks_and_is_let_in => a_remote_user_knocks_and_is_let_in,
);
