//! Third-party invites across two real servers: Alice of A invited an
//! address (an `m.room.third_party_invite` listing an identity server's
//! key); the address becomes Xavier's, of B. The identity server (played
//! by the test, with its own ed25519 key) tells B (`PUT /3pid/onbind`),
//! B asks A (`PUT /exchange_third_party_invite`), and A invites Xavier
//! as Alice, the room's rules checking the identity server's signature.

// Test code throughout: allow-unwrap-in-tests (clippy.toml) covers only
// #[test] functions, not the helpers an integration test crate shares.
#![allow(clippy::unwrap_used)]

mod support;

use base64::Engine;
use matrix_sdk::{
    Client, RoomState,
    ruma::{
        OwnedRoomId, UserId, api::client::room::create_room::v3::Request as CreateRoomRequest,
        events::room::member::MembershipState,
    },
};
use ruma::{CanonicalJsonObject, signatures::Ed25519KeyPair};
use serde_json::{Value, json};
use support::{
    Backend, TestServer,
    federation::{encode, https, member_event, signed},
    sync_once, sync_until,
};

const TOKEN: &str = "cabinet-invite-token";
const DISPLAY_NAME: &str = "x…@b.gouv.fr";

/// A new identity server key.
fn identity_key() -> Ed25519KeyPair {
    Ed25519KeyPair::from_der(&Ed25519KeyPair::generate(), "0".into()).unwrap()
}

/// `{mxid, token}` signed by `key` as the identity server signs it.
fn signed_block(key: &Ed25519KeyPair, mxid: &str) -> Value {
    let mut object: CanonicalJsonObject =
        serde_json::from_value(json!({ "mxid": mxid, "token": TOKEN })).unwrap();
    ruma::signatures::sign_json("id.example", key, &mut object).unwrap();
    serde_json::to_value(object).unwrap()
}

/// Alice's private room on A, with a third-party invite of an address
/// that `key`'s identity server holds.
async fn room_with_third_party_invite(alice: &Client, key: &Ed25519KeyPair) -> OwnedRoomId {
    let room = alice.create_room(CreateRoomRequest::new()).await.unwrap();
    let public_key = base64::engine::general_purpose::STANDARD_NO_PAD.encode(key.public_key());
    room.send_state_event_raw(
        "m.room.third_party_invite",
        TOKEN,
        json!({
            "display_name": DISPLAY_NAME,
            "key_validity_url": "https://id.example/_matrix/identity/v2/pubkey/isvalid",
            "public_key": public_key,
        }),
    )
    .await
    .unwrap();
    room.room_id().to_owned()
}

/// The content of `user`'s member event in `room` as `client` holds it.
async fn member_content(client: &Client, room: &OwnedRoomId, user: &UserId) -> Value {
    member_event(client, room, user.as_str()).await.unwrap()["content"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_bound_on_another_server_is_invited_through_the_inviters_server() {
    let a = TestServer::start_federating(Backend::Sqlite, &[]).await;
    let b = TestServer::start_federating(Backend::Sqlite, &[]).await;
    let alice = a.register("alice").await;
    let xavier = b.register("xavier").await;
    sync_once(&alice).await;
    sync_once(&xavier).await;
    let key = identity_key();
    let room_id = room_with_third_party_invite(&alice, &key).await;
    let alice_id = a.user_id("alice");
    let xavier_id = b.user_id("xavier");

    // A refuses an exchange whose block another key signed, and one from
    // a server for a user of another.
    let exchange = |signed: Value, target: &str| {
        json!({
            "type": "m.room.member",
            "room_id": room_id,
            "sender": alice_id,
            "state_key": target,
            "content": {
                "membership": "invite",
                "third_party_invite": { "display_name": "forged", "signed": signed },
            },
        })
    };
    let path = format!(
        "/_matrix/federation/v1/exchange_third_party_invite/{}",
        encode(room_id.as_str())
    );
    let forged = exchange(signed_block(&identity_key(), &xavier_id), &xavier_id);
    let (status, body) = signed(&b, &a, http::Method::PUT, &path, Some(&forged)).await;
    assert_eq!(status, 403, "a block another key signed: {body}");
    let someone_else = a.user_id("mallory");
    let for_a_user_of_a = exchange(signed_block(&key, &someone_else), &someone_else);
    let (status, body) = signed(&b, &a, http::Method::PUT, &path, Some(&for_a_user_of_a)).await;
    assert_eq!(status, 403, "B exchanging for a user of A: {body}");

    // The identity server tells B the address is Xavier's now.
    let bind = json!({
        "medium": "email",
        "address": "xavier@b.gouv.fr",
        "mxid": xavier_id,
        "invites": [{
            "medium": "email",
            "address": "xavier@b.gouv.fr",
            "mxid": xavier_id,
            "room_id": room_id,
            "sender": alice_id,
            "signed": signed_block(&key, &xavier_id),
        }],
    });
    let res = https()
        .put(format!(
            "{}/_matrix/federation/v1/3pid/onbind",
            b.federation_url()
        ))
        .json(&bind)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());

    let xavier_uid = <&UserId>::try_from(xavier_id.as_str()).unwrap();
    sync_until(&[&xavier], 60, "Xavier is invited", || async {
        xavier
            .get_room(&room_id)
            .is_some_and(|r| r.state() == RoomState::Invited)
    })
    .await;
    let invite = member_content(&xavier, &room_id, xavier_uid).await;
    assert_eq!(invite["membership"], "invite");
    assert_eq!(
        invite["third_party_invite"]["display_name"], DISPLAY_NAME,
        "the invite carries the room's display name for the address"
    );
    assert_eq!(invite["third_party_invite"]["signed"]["token"], TOKEN);

    xavier.join_room_by_id(&room_id).await.unwrap();
    sync_until(&[&alice], 60, "Alice sees Xavier join", || async {
        let Some(room) = alice.get_room(&room_id) else {
            return false;
        };
        room.get_member_no_sync(xavier_uid)
            .await
            .ok()
            .flatten()
            .is_some_and(|m| *m.membership() == MembershipState::Join)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_bound_where_the_inviter_is_becomes_an_invite_there() {
    let a = TestServer::start_federating(Backend::Sqlite, &[]).await;
    let alice = a.register("alice").await;
    let yvonne = a.register("yvonne").await;
    sync_once(&alice).await;
    sync_once(&yvonne).await;
    let key = identity_key();
    let room_id = room_with_third_party_invite(&alice, &key).await;
    let yvonne_id = a.user_id("yvonne");
    let bind = |mxid: &str, signed: Value| {
        json!({
            "medium": "email",
            "address": "yvonne@a.gouv.fr",
            "mxid": mxid,
            "invites": [{
                "medium": "email",
                "address": "yvonne@a.gouv.fr",
                "mxid": mxid,
                "room_id": room_id,
                "sender": a.user_id("alice"),
                "signed": signed,
            }],
        })
    };
    let put = |body: Value| {
        https()
            .put(format!(
                "{}/_matrix/federation/v1/3pid/onbind",
                a.federation_url()
            ))
            .json(&body)
            .send()
    };
    // A user of another server is not this server's to bind.
    let res = put(bind(
        "@zoe:elsewhere.example",
        signed_block(&key, "@zoe:elsewhere.example"),
    ))
    .await
    .unwrap();
    assert_eq!(res.status(), 400);
    // A forged block invites nobody; the true one invites Yvonne.
    let res = put(bind(&yvonne_id, signed_block(&identity_key(), &yvonne_id)))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let member_path = format!(
        "{}/_matrix/client/v3/rooms/{}/state/m.room.member/{}",
        a.base_url,
        encode(room_id.as_str()),
        encode(&yvonne_id)
    );
    let res = reqwest::Client::new()
        .get(&member_path)
        .bearer_auth(alice.access_token().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404, "a forged block invited Yvonne");
    let res = put(bind(&yvonne_id, signed_block(&key, &yvonne_id)))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    sync_until(&[&yvonne], 60, "Yvonne is invited", || async {
        yvonne
            .get_room(&room_id)
            .is_some_and(|r| r.state() == RoomState::Invited)
    })
    .await;
    let yvonne_uid = <&UserId>::try_from(yvonne_id.as_str()).unwrap();
    let invite = member_content(&yvonne, &room_id, yvonne_uid).await;
    assert_eq!(invite["third_party_invite"]["display_name"], DISPLAY_NAME);
}
