//! Restricted joins across servers (room versions 8 and later): a room
//! that lets in the members of another room is joined by a user of another
//! server, whose join the resident server authorises (`make_join` names
//! one of its members in `join_authorised_via_users_server`, `send_join`
//! signs the join as that member's server and returns it). Between two
//! missive-servers and with Synapse both ways, driven by matrix-sdk.

// Test code throughout: allow-unwrap-in-tests (clippy.toml) covers only
// #[test] functions, not the helpers an integration test crate shares.
#![allow(clippy::unwrap_used)]

mod support;

use matrix_sdk::{
    Client, RoomState,
    ruma::{
        OwnedRoomId, OwnedServerName, RoomVersionId, UserId,
        api::client::room::{
            Visibility,
            create_room::v3::{Request as CreateRoomRequest, RoomPreset},
        },
        events::room::message::RoomMessageEventContent,
        serde::Raw,
    },
};
use serde_json::json;
use support::{Backend, TestServer, federation::member_event, synapse, sync_once, sync_until};

/// `host`'s public "Lobby" and a "Cabinet" that only the lobby's members
/// may join, both of room version 12; in the cabinet only moderators invite.
async fn lobby_and_cabinet(host: &Client) -> (OwnedRoomId, OwnedRoomId) {
    let mut request = CreateRoomRequest::new();
    request.name = Some("Lobby".into());
    request.visibility = Visibility::Public;
    request.preset = Some(RoomPreset::PublicChat);
    request.room_version = Some(RoomVersionId::V12);
    let lobby = host
        .create_room(request)
        .await
        .unwrap()
        .room_id()
        .to_owned();
    let join_rules = json!({
        "type": "m.room.join_rules",
        "state_key": "",
        "content": {
            "join_rule": "restricted",
            "allow": [{"type": "m.room_membership", "room_id": lobby}],
        },
    });
    let mut request = CreateRoomRequest::new();
    request.name = Some("Cabinet".into());
    request.room_version = Some(RoomVersionId::V12);
    request.initial_state = vec![Raw::from_json(
        serde_json::value::to_raw_value(&join_rules).unwrap(),
    )];
    // Only moderators invite, so only they may let members of the lobby in.
    request.power_level_content_override = Some(Raw::from_json(
        serde_json::value::to_raw_value(&json!({"invite": 50})).unwrap(),
    ));
    let cabinet = host
        .create_room(request)
        .await
        .unwrap()
        .room_id()
        .to_owned();
    (lobby, cabinet)
}

async fn join_via(client: &Client, room: &OwnedRoomId, via: &str) -> matrix_sdk::Result<()> {
    let via: OwnedServerName = via.try_into().unwrap();
    let target: &matrix_sdk::ruma::RoomOrAliasId = room.as_str().try_into().unwrap();
    client
        .join_room_by_id_or_alias(target, &[via])
        .await
        .map(|_| ())
}

/// The content of `user`'s member event in `room` as `client` holds it.
async fn member_content(client: &Client, room: &OwnedRoomId, user: &UserId) -> serde_json::Value {
    member_event(client, room, user.as_str()).await.unwrap()["content"].clone()
}

/// Whether `client` sees `user` joined to `room`.
async fn sees_joined(client: &Client, room: &OwnedRoomId, user: &UserId) -> bool {
    let Some(room) = client.get_room(room) else {
        return false;
    };
    room.get_member_no_sync(user)
        .await
        .ok()
        .flatten()
        .is_some_and(|m| {
            *m.membership() == matrix_sdk::ruma::events::room::member::MembershipState::Join
        })
}

/// `guest` (of another server than `host`'s, `host_server`) is refused the
/// cabinet until they are in the lobby, then let in by the host's
/// server: the join names the host as its authoriser, and a message of the
/// guest reaches the host.
async fn restricted_join_across(host: &Client, host_server: &str, guest: &Client) -> OwnedRoomId {
    let (lobby, cabinet) = lobby_and_cabinet(host).await;
    let refused = join_via(guest, &cabinet, host_server).await;
    assert!(
        refused.is_err(),
        "a user in none of the allowed rooms joined a restricted room"
    );

    join_via(guest, &lobby, host_server).await.unwrap();
    join_via(guest, &cabinet, host_server).await.unwrap();
    let host_id = host.user_id().unwrap().to_owned();
    let guest_id = guest.user_id().unwrap().to_owned();
    sync_until(
        &[host, guest],
        60,
        "the host sees the guest in the cabinet",
        || async {
            sees_joined(host, &cabinet, &guest_id).await
                && guest
                    .get_room(&cabinet)
                    .is_some_and(|r| r.state() == RoomState::Joined)
        },
    )
    .await;
    for side in [host, guest] {
        assert_eq!(
            member_content(side, &cabinet, &guest_id).await["join_authorised_via_users_server"],
            json!(host_id),
            "the join names the host as its authoriser"
        );
    }

    let sent = guest
        .get_room(&cabinet)
        .unwrap()
        .send(RoomMessageEventContent::text_plain("Entré par le salon"))
        .await
        .unwrap()
        .response
        .event_id;
    sync_until(&[host], 60, "the host gets the guest's message", || async {
        host.get_room(&cabinet)
            .unwrap()
            .load_or_fetch_event(&sent, None)
            .await
            .is_ok()
    })
    .await;
    cabinet
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restricted_room_is_joined_from_another_missive_server() {
    let a = TestServer::start_federating(Backend::Sqlite, &[]).await;
    let b = TestServer::start_federating(Backend::Sqlite, &[]).await;
    let alice = a.register("alice").await;
    let bob = b.register("bob").await;
    let carol = b.register("carol").await;
    sync_once(&alice).await;
    sync_once(&bob).await;
    let cabinet = restricted_join_across(&alice, &a.server_name, &bob).await;

    // B is now in the cabinet, but none of its members may invite: Carol,
    // of B, is let in by A's Alice (B asks A, as Synapse would), once she
    // is in the lobby too.
    let lobby = alice
        .get_room(&cabinet)
        .unwrap()
        .join_rule()
        .and_then(|rule| match rule {
            matrix_sdk::ruma::events::room::join_rules::JoinRule::Restricted(r) => {
                r.allow.first().and_then(|allow| match allow {
                    matrix_sdk::ruma::events::room::join_rules::AllowRule::RoomMembership(m) => {
                        Some(m.room_id.clone())
                    }
                    _ => None,
                })
            }
            _ => None,
        })
        .unwrap();
    sync_once(&carol).await;
    assert!(join_via(&carol, &cabinet, &b.server_name).await.is_err());
    join_via(&carol, &lobby, &b.server_name).await.unwrap();
    let carol_id = carol.user_id().unwrap().to_owned();
    // A lets Carol in only once it knows she is in the lobby.
    sync_until(&[&alice], 60, "A sees Carol in the lobby", || async {
        sees_joined(&alice, &lobby, &carol_id).await
    })
    .await;
    join_via(&carol, &cabinet, &b.server_name).await.unwrap();
    sync_until(
        &[&alice, &bob],
        60,
        "both servers see Carol in the cabinet",
        || async {
            sees_joined(&alice, &cabinet, &carol_id).await
                && sees_joined(&bob, &cabinet, &carol_id).await
        },
    )
    .await;
    assert_eq!(
        member_content(&bob, &cabinet, &carol_id).await["join_authorised_via_users_server"],
        json!(alice.user_id().unwrap()),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restricted_room_of_synapse_is_joined_from_missive() {
    let (synapse, _missive, alice, bob) = synapse::with_missive().await;
    restricted_join_across(&bob, &synapse.server_name, &alice).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restricted_room_of_missive_is_joined_from_synapse() {
    let (_synapse, missive, alice, bob) = synapse::with_missive().await;
    restricted_join_across(&alice, &missive.server_name, &bob).await;
}
