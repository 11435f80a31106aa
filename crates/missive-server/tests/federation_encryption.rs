//! End-to-end encryption between users of two missive-servers, driven by
//! matrix-sdk as a person's devices would: an encrypted room shared across
//! the servers, messages decrypted on the other side, a second device
//! signing in later that decrypts what is sent after, and SAS emoji
//! verification between the two users.

#![allow(clippy::unwrap_used)]

mod support;

use matrix_sdk::ruma::OwnedUserId;
use support::{
    Backend, TestServer,
    e2ee::{encrypted_room, reads, send_encrypted, verify_with_emoji},
    sync_once, sync_until,
};

async fn an_encrypted_room_across_servers(backend: Backend) {
    let a = TestServer::start_federating(backend, &[]).await;
    let b = TestServer::start_federating(backend, &[]).await;
    let alice = a.register("alice").await;
    let bob = b.register("bob").await;
    sync_once(&alice).await;
    sync_once(&bob).await;
    let room = encrypted_room(&alice, &bob).await;

    let text = "Note confidentielle du cabinet";
    let sent = send_encrypted(&alice, &room, text).await;
    sync_until(&[&bob], 60, "bob decrypts alice's message", || async {
        reads(&bob, &room, &sent, text).await
    })
    .await;
    let text = "Bien reçu, merci";
    let sent = send_encrypted(&bob, &room, text).await;
    sync_until(&[&alice], 60, "alice decrypts bob's reply", || async {
        reads(&alice, &room, &sent, text).await
    })
    .await;

    // Bob signs in on a second device: B announces it to A, alice's client
    // learns of it and shares the next room key with it too.
    let bob_phone = b.login("bob").await;
    sync_once(&bob_phone).await;
    let bob_id: OwnedUserId = bob.user_id().unwrap().to_owned();
    let phone = bob_phone.device_id().unwrap().to_owned();
    sync_until(
        &[&alice],
        60,
        "alice's client sees bob's new device",
        || async {
            alice
                .encryption()
                .get_device(&bob_id, &phone)
                .await
                .ok()
                .flatten()
                .is_some()
        },
    )
    .await;
    let text = "Pour vos deux appareils";
    let sent = send_encrypted(&alice, &room, text).await;
    sync_until(&[&bob_phone], 60, "bob's phone decrypts it", || async {
        reads(&bob_phone, &room, &sent, text).await
    })
    .await;
    sync_until(&[&bob], 60, "bob's first device too", || async {
        reads(&bob, &room, &sent, text).await
    })
    .await;

    // Alice and Bob verify each other across the servers (to-device
    // messages both ways).
    verify_with_emoji(&alice, &bob).await;
}

both_backends!(
    an_encrypted_room_across_servers_with_a_later_device_and_verification =>
        an_encrypted_room_across_servers,
);
