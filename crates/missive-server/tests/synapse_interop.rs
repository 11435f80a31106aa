//! missive-server federating with Synapse, the server most of the Matrix
//! network runs (from PyPI, see support/synapse.rs), both ways: a room
//! created on missive joined from Synapse and one created on Synapse joined
//! from missive, end-to-end encrypted, driven by matrix-sdk clients.

// Test code throughout: allow-unwrap-in-tests (clippy.toml) covers only
// #[test] functions, not the helpers an integration test crate shares.
#![allow(clippy::unwrap_used)]

mod support;

use matrix_sdk::{
    Client,
    ruma::{
        OwnedRoomId,
        api::client::receipt::create_receipt::v3::ReceiptType,
        events::{receipt::ReceiptThread, room::member::MembershipState},
    },
};
use support::{
    e2ee::{encrypted_room, joined, reads, send_encrypted},
    synapse, sync_once, sync_until,
};

/// Encrypted messages both ways between `host` (whose server created the
/// room) and `guest`, each decrypted by the other side.
async fn converse(host: &Client, guest: &Client, room_id: &OwnedRoomId) {
    let first = "Bonjour, ici le ministère hôte";
    let from_host = send_encrypted(host, room_id, first).await;
    sync_until(
        &[guest],
        60,
        "the guest decrypts the host's message",
        || async { reads(guest, room_id, &from_host, first).await },
    )
    .await;
    let reply = "Bien reçu, ici le ministère invité";
    let sent = send_encrypted(guest, room_id, reply).await;
    sync_until(
        &[host],
        60,
        "the host decrypts the guest's reply",
        || async { reads(host, room_id, &sent, reply).await },
    )
    .await;
    // State changes both ways: the host's topic, the guest's display name.
    host.get_room(room_id)
        .unwrap()
        .set_room_topic("Réunion de jeudi")
        .await
        .unwrap();
    sync_until(&[guest], 60, "the guest sees the host's topic", || async {
        guest.get_room(room_id).and_then(|r| r.topic()).as_deref() == Some("Réunion de jeudi")
    })
    .await;
    guest
        .account()
        .set_display_name(Some("Invité"))
        .await
        .unwrap();
    let guest_id = guest.user_id().unwrap().to_owned();
    sync_until(
        &[host],
        60,
        "the host sees the guest's new name",
        || async {
            let Some(room) = host.get_room(room_id) else {
                return false;
            };
            room.get_member_no_sync(&guest_id)
                .await
                .ok()
                .flatten()
                .is_some_and(|m| m.display_name() == Some("Invité"))
        },
    )
    .await;

    // Typing and a read receipt of the guest reach the host.
    let host_id = host.user_id().unwrap().to_owned();
    let host_room = host.get_room(room_id).unwrap();
    let (_guard, mut typing_updates) = host_room.subscribe_to_typing_notifications();
    guest
        .get_room(room_id)
        .unwrap()
        .typing_notice(true)
        .await
        .unwrap();
    let mut typing = false;
    for _ in 0..60 {
        sync_once(host).await;
        while let Ok(ids) = typing_updates.try_recv() {
            typing |= ids.contains(&guest_id);
        }
        if typing {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    assert!(typing, "the guest's typing never reached the host");
    guest
        .get_room(room_id)
        .unwrap()
        .send_single_receipt(
            ReceiptType::Read,
            ReceiptThread::Unthreaded,
            from_host.clone(),
        )
        .await
        .unwrap();
    sync_until(
        &[host],
        60,
        "the host sees the guest's read receipt",
        || async {
            host_room
                .load_user_receipt(
                    matrix_sdk::ruma::events::receipt::ReceiptType::Read,
                    ReceiptThread::Unthreaded,
                    &guest_id,
                )
                .await
                .ok()
                .flatten()
                .is_some_and(|(event_id, _)| event_id == from_host)
        },
    )
    .await;

    // Profiles of the other server's users are looked up through it.
    let profile = guest
        .account()
        .fetch_user_profile_of(&host_id)
        .await
        .unwrap();
    assert_eq!(
        profile.get("displayname"),
        Some(&serde_json::json!(host_id.localpart()))
    );

    // The host kicks the guest, who is told; invited back, the guest
    // rejoins; banned, the guest is told again; then the guest leaves
    // (after an unban) and the host sees it.
    let state_of = |client: &Client| client.get_room(room_id).map(|r| r.state());
    host_room
        .kick_user(&guest_id, Some("réorganisation"))
        .await
        .unwrap();
    sync_until(&[guest], 60, "the guest sees the kick", || async {
        state_of(guest) == Some(matrix_sdk::RoomState::Left)
    })
    .await;
    host_room.invite_user_by_id(&guest_id).await.unwrap();
    sync_until(&[guest], 60, "the guest is invited back", || async {
        state_of(guest) == Some(matrix_sdk::RoomState::Invited)
    })
    .await;
    guest.join_room_by_id(room_id).await.unwrap();
    sync_until(&[host], 60, "the host sees the guest back", || async {
        joined(&host_room, &guest_id).await
    })
    .await;
    host_room
        .ban_user(&guest_id, Some("fin de mission"))
        .await
        .unwrap();
    // matrix-sdk files a room one was banned from under the left ones.
    sync_until(&[guest], 60, "the guest is out of the room", || async {
        matches!(
            state_of(guest),
            Some(matrix_sdk::RoomState::Left | matrix_sdk::RoomState::Banned)
        )
    })
    .await;
    let rejoin = guest.join_room_by_id(room_id).await;
    assert!(rejoin.is_err(), "a banned user rejoined: {rejoin:?}");
    host_room.unban_user(&guest_id, None).await.unwrap();
    sync_until(&[host], 60, "the host sees the unban", || async {
        host_room
            .get_member_no_sync(&guest_id)
            .await
            .ok()
            .flatten()
            .is_some_and(|m| *m.membership() == MembershipState::Leave)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_of_missive_is_joined_from_synapse_with_e2ee() {
    let (_synapse, _missive, alice, bob) = synapse::with_missive().await;
    let room_id = encrypted_room(&alice, &bob).await;
    converse(&alice, &bob, &room_id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_of_synapse_is_joined_from_missive_with_e2ee() {
    let (_synapse, _missive, alice, bob) = synapse::with_missive().await;
    let room_id = encrypted_room(&bob, &alice).await;
    converse(&bob, &alice, &room_id).await;
}
