//! missive-server federating with Synapse, the server most of the Matrix
//! network runs (from PyPI, see support/synapse.rs), both ways: a room
//! created on missive joined from Synapse and one created on Synapse joined
//! from missive, end-to-end encrypted, driven by matrix-sdk clients.

// Test code throughout: allow-unwrap-in-tests (clippy.toml) covers only
// #[test] functions, not the helpers an integration test crate shares.
#![allow(clippy::unwrap_used)]

mod support;

use matrix_sdk::{Client, ruma::OwnedRoomId};
use support::{
    Backend, TestServer,
    e2ee::{encrypted_room, reads, send_encrypted},
    synapse::Synapse,
    sync_once, sync_until,
};

/// Encrypted messages both ways between `host` (whose server created the
/// room) and `guest`, each decrypted by the other side.
async fn converse(host: &Client, guest: &Client, room_id: &OwnedRoomId) {
    let first = "Bonjour, ici le ministère hôte";
    let sent = send_encrypted(host, room_id, first).await;
    sync_until(
        &[guest],
        60,
        "the guest decrypts the host's message",
        || async { reads(guest, room_id, &sent, first).await },
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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_of_missive_is_joined_from_synapse_with_e2ee() {
    let synapse = Synapse::start().await;
    let missive = TestServer::start_federating(Backend::Sqlite, &[]).await;
    let alice = missive.register("alice").await;
    let bob = synapse.register("bob").await;
    sync_once(&alice).await;
    sync_once(&bob).await;
    let room_id = encrypted_room(&alice, &bob).await;
    converse(&alice, &bob, &room_id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_of_synapse_is_joined_from_missive_with_e2ee() {
    let synapse = Synapse::start().await;
    let missive = TestServer::start_federating(Backend::Sqlite, &[]).await;
    let alice = missive.register("alice").await;
    let bob = synapse.register("bob").await;
    sync_once(&alice).await;
    sync_once(&bob).await;
    let room_id = encrypted_room(&bob, &alice).await;
    converse(&bob, &alice, &room_id).await;
}
