//! End-to-end encryption steps shared by the tests, whatever servers the
//! clients are on: an encrypted room shared by two users, encrypted
//! messages sent and read back decrypted, SAS emoji verification.

use matrix_sdk::{
    Client,
    deserialized_responses::{TimelineEvent, TimelineEventKind},
    ruma::{
        OwnedEventId, OwnedRoomId, OwnedUserId, api::client::room::create_room,
        events::room::message::RoomMessageEventContent,
    },
};

use super::sync_until;

/// The plaintext body of a timeline event, if it was decrypted.
pub fn decrypted_body(event: &TimelineEvent) -> Option<String> {
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
/// invites `guest` (of the same server or another), who joins it from the
/// invite; returns once both clients see the joined, encrypted room.
pub async fn encrypted_room(host: &Client, guest: &Client) -> OwnedRoomId {
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
        super::invited_to(guest, &room_id)
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
pub async fn joined(room: &matrix_sdk::Room, user: &matrix_sdk::ruma::UserId) -> bool {
    room.get_member_no_sync(user).await.ok().flatten().is_some_and(|m| {
        *m.membership() == matrix_sdk::ruma::events::room::member::MembershipState::Join
    })
}

pub async fn send_encrypted(client: &Client, room_id: &OwnedRoomId, body: &str) -> OwnedEventId {
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
pub async fn reads(client: &Client, room_id: &OwnedRoomId, event_id: &OwnedEventId, body: &str) -> bool {
    let Some(room) = client.get_room(room_id) else {
        return false;
    };
    let Ok(event) = room.event(event_id, None).await else {
        return false;
    };
    decrypted_body(&event).as_deref() == Some(body)
}

/// Verifies `bob`'s device from `alice`'s with SAS emoji (the two already
/// share an encrypted room, so each tracks the other's devices): both see
/// the same seven emoji, confirm, and mark the other's device verified.
pub async fn verify_with_emoji(alice: &Client, bob: &Client) {
    let (alice_id, bob_id) = (
        alice.user_id().unwrap().to_owned(),
        bob.user_id().unwrap().to_owned(),
    );

    let bob_device = alice
        .encryption()
        .get_device(&bob_id, bob.device_id().unwrap())
        .await
        .unwrap()
        .expect("alice knows bob's device");
    assert!(!bob_device.is_verified());
    let request = bob_device
        .request_verification()
        .await
        .expect("request verification");
    let flow_id = request.flow_id().to_owned();

    sync_until(
        &[bob],
        20,
        "bob receives the verification request",
        || async {
            bob.encryption()
                .get_verification_request(&alice_id, &flow_id)
                .await
                .is_some()
        },
    )
    .await;
    let bob_request = bob
        .encryption()
        .get_verification_request(&alice_id, &flow_id)
        .await
        .unwrap();
    bob_request.accept().await.expect("bob accepts");
    sync_until(&[alice], 20, "alice sees bob ready", || async {
        request.is_ready()
    })
    .await;
    let alice_sas = request
        .start_sas()
        .await
        .expect("start SAS")
        .expect("SAS started");

    sync_until(&[bob], 20, "bob sees the SAS start", || async {
        bob.encryption()
            .get_verification(&alice_id, &flow_id)
            .await
            .and_then(|v| v.sas())
            .is_some()
    })
    .await;
    let bob_sas = bob
        .encryption()
        .get_verification(&alice_id, &flow_id)
        .await
        .and_then(|v| v.sas())
        .unwrap();
    bob_sas.accept().await.expect("bob accepts SAS");
    sync_until(&[alice, bob], 20, "both show emoji", || async {
        alice_sas.emoji().is_some() && bob_sas.emoji().is_some()
    })
    .await;
    let emoji = |sas: &matrix_sdk::encryption::verification::SasVerification| {
        sas.emoji()
            .unwrap()
            .iter()
            .map(|e| e.symbol)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        emoji(&alice_sas),
        emoji(&bob_sas),
        "both users see the same seven emoji"
    );

    alice_sas.confirm().await.expect("alice confirms");
    bob_sas.confirm().await.expect("bob confirms");
    sync_until(&[alice, bob], 20, "verification completes", || async {
        alice_sas.is_done() && bob_sas.is_done()
    })
    .await;
    let bob_seen_by_alice = alice
        .encryption()
        .get_device(&bob_id, bob.device_id().unwrap())
        .await
        .unwrap()
        .unwrap();
    let alice_seen_by_bob = bob
        .encryption()
        .get_device(&alice_id, alice.device_id().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(
        bob_seen_by_alice.is_verified(),
        "alice marks bob's device verified"
    );
    assert!(
        alice_seen_by_bob.is_verified(),
        "bob marks alice's device verified"
    );
}

