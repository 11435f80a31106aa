//! End-to-end encryption through missive-server with matrix-sdk as the
//! client: encrypted rooms, cross-signing, key backup with a recovery key,
//! and room key rotation when a member leaves.

// Test code throughout: allow-unwrap-in-tests (clippy.toml) covers only
// #[test] functions, not the helpers an integration test crate shares.
#![allow(clippy::unwrap_used)]

mod support;

use matrix_sdk::{
    Client,
    deserialized_responses::{TimelineEvent, TimelineEventKind},
    room::MessagesOptions,
    ruma::{
        OwnedEventId, OwnedRoomId,
        api::client::{room::create_room, uiaa},
        events::room::message::RoomMessageEventContent,
        user_id,
    },
};
use support::{Backend, PASSWORD, TestServer, sync_once, sync_until};

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

/// Alice creates an encrypted private room and bob joins it.
async fn encrypted_room(alice: &Client, bob: &Client) -> OwnedRoomId {
    let mut request = create_room::v3::Request::new();
    request.invite = vec![bob.user_id().unwrap().to_owned()];
    request.initial_state = vec![
        matrix_sdk::ruma::events::InitialStateEvent::with_empty_state_key(
            matrix_sdk::ruma::events::room::encryption::RoomEncryptionEventContent::with_recommended_defaults(),
        )
        .to_raw_any(),
    ];
    let room = alice.create_room(request).await.expect("create room");
    let room_id = room.room_id().to_owned();
    sync_until(&[bob], 20, "bob sees the invite", || async {
        support::invited_to(bob, &room_id)
    })
    .await;
    bob.join_room_by_id(&room_id).await.expect("bob joins");
    sync_until(
        &[alice, bob],
        20,
        "both see the joined, encrypted room",
        || async {
            let a = alice.get_room(&room_id);
            let b = bob.get_room(&room_id);
            match (a, b) {
                (Some(a), Some(b)) => {
                    a.joined_members_count() == 2
                        && a.latest_encryption_state()
                            .await
                            .is_ok_and(|s| s.is_encrypted())
                        && b.latest_encryption_state()
                            .await
                            .is_ok_and(|s| s.is_encrypted())
                }
                _ => false,
            }
        },
    )
    .await;
    room_id
}

async fn send_text(client: &Client, room_id: &OwnedRoomId, body: &str) -> OwnedEventId {
    let room = client.get_room(room_id).expect("room known");
    let result = room
        .send(RoomMessageEventContent::text_plain(body))
        .await
        .expect("send");
    assert!(
        result.encryption_info.is_some(),
        "{body:?} must have been sent encrypted"
    );
    result.response.event_id
}

/// Fetches an event through /event and returns its decrypted body.
async fn read_body(
    client: &Client,
    room_id: &OwnedRoomId,
    event_id: &OwnedEventId,
) -> Option<String> {
    let room = client.get_room(room_id).expect("room known");
    let event = room.event(event_id, None).await.expect("fetch event");
    decrypted_body(&event)
}

async fn exchange_messages(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    sync_once(&alice).await;
    sync_once(&bob).await;
    let room_id = encrypted_room(&alice, &bob).await;

    let from_alice = send_text(&alice, &room_id, "Bonjour Bob, ceci est chiffré").await;
    sync_until(&[&bob], 20, "bob receives alice's room key", || async {
        read_body(&bob, &room_id, &from_alice).await.is_some()
    })
    .await;
    assert_eq!(
        read_body(&bob, &room_id, &from_alice).await.as_deref(),
        Some("Bonjour Bob, ceci est chiffré")
    );

    let from_bob = send_text(&bob, &room_id, "Reçu, Alice").await;
    sync_until(&[&alice], 20, "alice receives bob's room key", || async {
        read_body(&alice, &room_id, &from_bob).await.is_some()
    })
    .await;
    assert_eq!(
        read_body(&alice, &room_id, &from_bob).await.as_deref(),
        Some("Reçu, Alice")
    );

    // The server stored only ciphertext.
    let raw = reqwest::Client::new()
        .get(format!(
            "{}/_matrix/client/v3/rooms/{room_id}/event/{from_alice}",
            server.base_url
        ))
        .bearer_auth(alice.access_token().unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        raw.contains("m.room.encrypted") && !raw.contains("Bonjour"),
        "server saw plaintext: {raw}"
    );
}

async fn leaver_cannot_read_new_messages(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    sync_once(&alice).await;
    sync_once(&bob).await;
    let room_id = encrypted_room(&alice, &bob).await;

    let before = send_text(&alice, &room_id, "before the leave").await;
    sync_until(&[&bob], 20, "bob decrypts the first message", || async {
        read_body(&bob, &room_id, &before).await.is_some()
    })
    .await;

    bob.get_room(&room_id)
        .unwrap()
        .leave()
        .await
        .expect("bob leaves");
    sync_until(&[&alice], 20, "alice sees bob leave", || async {
        alice
            .get_room(&room_id)
            .is_some_and(|r| r.joined_members_count() == 1)
    })
    .await;
    let after = send_text(&alice, &room_id, "after the leave").await;

    // Bob keeps his device and syncs, but got no key for the new session.
    sync_once(&bob).await;
    sync_once(&bob).await;
    let raw_after = alice
        .get_room(&room_id)
        .unwrap()
        .event(&after, None)
        .await
        .unwrap();
    let raw_before = alice
        .get_room(&room_id)
        .unwrap()
        .event(&before, None)
        .await
        .unwrap();
    let session = |e: &TimelineEvent| {
        e.encryption_info()
            .and_then(|i| i.session_id().map(str::to_owned))
    };
    assert_ne!(
        session(&raw_after),
        session(&raw_before),
        "a new megolm session after the leave"
    );
    assert!(
        bob.encryption()
            .get_device(alice.user_id().unwrap(), alice.device_id().unwrap())
            .await
            .unwrap()
            .is_some(),
        "bob still knows alice's device, so only the missing key stops him"
    );
    // Bob may no longer read the room on the server either.
    let status = reqwest::Client::new()
        .get(format!(
            "{}/_matrix/client/v3/rooms/{room_id}/event/{after}",
            server.base_url
        ))
        .bearer_auth(bob.access_token().unwrap())
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 404, "bob must not fetch events sent after he left");
}

fn password_auth(client: &Client, session: Option<String>) -> uiaa::AuthData {
    let mut password = uiaa::Password::new(
        uiaa::UserIdentifier::Matrix(uiaa::MatrixUserIdentifier::new(
            client.user_id().unwrap().localpart().to_owned(),
        )),
        PASSWORD.to_owned(),
    );
    password.session = session;
    uiaa::AuthData::Password(password)
}

async fn cross_signing_bootstrap(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    sync_once(&alice).await;
    alice
        .encryption()
        .bootstrap_cross_signing(None)
        .await
        .expect("first bootstrap needs no password");
    let status = alice
        .encryption()
        .cross_signing_status()
        .await
        .expect("status");
    assert!(
        status.is_complete(),
        "all three cross-signing keys present: {status:?}"
    );

    // A second device sees alice's identity and that the first device is signed.
    let alice2 = server.login("alice").await;
    sync_once(&alice2).await;
    let identity = alice2
        .encryption()
        .get_user_identity(user_id!("@alice:localhost"))
        .await
        .expect("query")
        .expect("alice has a cross-signing identity");
    let first = alice2
        .encryption()
        .get_device(alice.user_id().unwrap(), alice.device_id().unwrap())
        .await
        .unwrap()
        .expect("first device known");
    assert!(
        first.is_cross_signed_by_owner(),
        "the bootstrapping device signed itself"
    );
    drop(identity);

    // Replacing the identity needs the password.
    let err = alice2
        .encryption()
        .bootstrap_cross_signing(None)
        .await
        .expect_err("UIA required to reset");
    let session = err
        .as_uiaa_response()
        .expect("UIA challenge")
        .session
        .clone();
    alice2
        .encryption()
        .bootstrap_cross_signing(Some(password_auth(&alice2, session)))
        .await
        .expect("reset with password");
}

async fn backup_restores_history_on_a_new_login(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    sync_once(&alice).await;
    sync_once(&bob).await;
    let room_id = encrypted_room(&alice, &bob).await;

    let recovery_key = alice
        .encryption()
        .recovery()
        .enable()
        .await
        .expect("enable recovery and backup");
    let old = send_text(&bob, &room_id, "an old secret").await;
    sync_until(&[&alice], 20, "alice decrypts bob's message", || async {
        read_body(&alice, &room_id, &old).await.is_some()
    })
    .await;
    alice
        .encryption()
        .backups()
        .wait_for_steady_state()
        .await
        .expect("backup uploaded");

    // A brand-new login has no keys until it recovers from the backup.
    let alice_new = server.login("alice").await;
    sync_once(&alice_new).await;
    alice_new
        .encryption()
        .recovery()
        .recover(&recovery_key)
        .await
        .expect("recover with the recovery key");
    alice_new
        .encryption()
        .backups()
        .download_room_keys_for_room(&room_id)
        .await
        .expect("download the room's keys from the backup");
    let room = alice_new.get_room(&room_id).expect("room known after sync");
    let page = room
        .messages(MessagesOptions::backward())
        .await
        .expect("history");
    let found = page
        .chunk
        .iter()
        .find(|e| e.event_id().as_ref() == Some(&old))
        .and_then(decrypted_body);
    assert_eq!(found.as_deref(), Some("an old secret"));
}

async fn sas_emoji_verification(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    sync_once(&alice).await;
    sync_once(&bob).await;
    // Sharing a room makes each side track the other's devices.
    encrypted_room(&alice, &bob).await;
    support::e2ee::verify_with_emoji(&alice, &bob).await;
}

both_backends! {
    encrypted_messages_are_decrypted_both_ways => exchange_messages,
    a_member_who_left_gets_no_new_keys => leaver_cannot_read_new_messages,
    cross_signing_bootstraps_and_resets_with_password => cross_signing_bootstrap,
    key_backup_restores_history_with_the_recovery_key => backup_restores_history_on_a_new_login,
    sas_emoji_verification_marks_both_devices_verified => sas_emoji_verification,
}
