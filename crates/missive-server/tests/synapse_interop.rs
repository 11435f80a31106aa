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
    deserialized_responses::{TimelineEvent, TimelineEventKind},
    ruma::{
        OwnedEventId, OwnedRoomId, OwnedUserId,
        api::client::room::create_room,
        events::room::message::RoomMessageEventContent,
    },
};
use support::{Backend, TestServer, synapse::Synapse, sync_once, sync_until};

/// The plaintext body of a timeline event, if it was decrypted.
fn decrypted_body(event: &TimelineEvent) -> Option<String> {
    match &event.kind {
        TimelineEventKind::Decrypted(_) => event
            .raw()
            .get_field::<serde_json::Value>("content")
            .ok()
            .flatten()
            .and_then(|c| c.get("body").and_then(|b| b.as_str()).map(str::to_owned)),
        _ => None,
    }
}

/// `host` creates an encrypted private room named "Interministériel" and
/// invites `guest` (a user of the other server), who joins it from the
/// invite; returns once both clients see the joined, encrypted room.
async fn encrypted_room(host: &Client, guest: &Client) -> OwnedRoomId {
    let guest_id: OwnedUserId = guest.user_id().unwrap().to_owned();
    let mut request = create_room::v3::Request::new();
    request.name = Some("Interministériel".into());
    request.invite = vec![guest_id];
    request.initial_state = vec![
        matrix_sdk::ruma::events::InitialStateEvent::with_empty_state_key(
            matrix_sdk::ruma::events::room::encryption::RoomEncryptionEventContent::with_recommended_defaults(),
        )
        .to_raw_any(),
    ];
    let room_id = host.create_room(request).await.unwrap().room_id().to_owned();
    sync_until(&[guest], 60, "the guest sees the invite", || async {
        support::invited_to(guest, &room_id)
    })
    .await;
    guest.join_room_by_id(&room_id).await.unwrap();
    sync_until(
        &[host, guest],
        60,
        "both see the joined, encrypted room",
        || async {
            let (Some(h), Some(g)) = (host.get_room(&room_id), guest.get_room(&room_id)) else {
                return false;
            };
            // Synapse sends a room summary (member counts) only to clients
            // that lazy-load members: each side's view of the other's
            // membership is checked instead.
            let seen = (
                joined(&h, guest.user_id().unwrap()).await,
                joined(&g, host.user_id().unwrap()).await,
                g.name(),
                h.latest_encryption_state().await.is_ok_and(|s| s.is_encrypted()),
                g.latest_encryption_state().await.is_ok_and(|s| s.is_encrypted()),
            );
            eprintln!("host and guest see each other joined, name, encryption: {seen:?}");
            seen == (true, true, Some("Interministériel".to_owned()), true, true)
        },
    )
    .await;
    room_id
}

/// Whether `user` is a joined member of `room` as its client knows it.
async fn joined(room: &matrix_sdk::Room, user: &matrix_sdk::ruma::UserId) -> bool {
    room.get_member_no_sync(user).await.ok().flatten().is_some_and(|m| {
        *m.membership() == matrix_sdk::ruma::events::room::member::MembershipState::Join
    })
}

async fn send_encrypted(client: &Client, room_id: &OwnedRoomId, body: &str) -> OwnedEventId {
    let room = client.get_room(room_id).unwrap();
    let sent = room
        .send(RoomMessageEventContent::text_plain(body))
        .await
        .unwrap();
    assert!(sent.encryption_info.is_some(), "{body:?} went out unencrypted");
    sent.response.event_id
}

/// Whether `client` can fetch the event from its own server and decrypt it
/// to `body`.
async fn reads(client: &Client, room_id: &OwnedRoomId, event_id: &OwnedEventId, body: &str) -> bool {
    let Some(room) = client.get_room(room_id) else {
        return false;
    };
    let Ok(event) = room.event(event_id, None).await else {
        return false;
    };
    decrypted_body(&event).as_deref() == Some(body)
}

/// Encrypted messages both ways between `host` (whose server created the
/// room) and `guest`, each decrypted by the other side.
async fn converse(host: &Client, guest: &Client, room_id: &OwnedRoomId) {
    let first = "Bonjour, ici le ministère hôte";
    let sent = send_encrypted(host, room_id, first).await;
    sync_until(&[guest], 60, "the guest decrypts the host's message", || async {
        reads(guest, room_id, &sent, first).await
    })
    .await;
    let reply = "Bien reçu, ici le ministère invité";
    let sent = send_encrypted(guest, room_id, reply).await;
    sync_until(&[host], 60, "the host decrypts the guest's reply", || async {
        reads(host, room_id, &sent, reply).await
    })
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
    guest.account().set_display_name(Some("Invité")).await.unwrap();
    let guest_id = guest.user_id().unwrap().to_owned();
    sync_until(&[host], 60, "the host sees the guest's new name", || async {
        let Some(room) = host.get_room(room_id) else {
            return false;
        };
        room.get_member_no_sync(&guest_id)
            .await
            .ok()
            .flatten()
            .is_some_and(|m| m.display_name() == Some("Invité"))
    })
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
