//! Third-party invites by e-mail, with the server as its own identity
//! server: an unknown address gets `m.room.third_party_invite` and a mail,
//! and once the person registers with it the invite becomes theirs
//! (signed, checked by the room's auth rules) and they join; a bound
//! address is invited at once; a revoked invite is not exchanged; other
//! identity servers and inviters without the power are refused. The
//! inviting client is matrix-sdk (`Room::invite_user_by_3pid`), with an
//! identity access token from the identity service API.

// Test code throughout: allow-unwrap-in-tests (clippy.toml) covers only
// #[test] functions, not the helpers an integration test crate shares.
#![allow(clippy::unwrap_used)]

mod support;

use matrix_sdk::ruma::{
    OwnedRoomId,
    api::client::membership::{Invite3pid, Invite3pidInit},
    thirdparty::Medium,
};
use serde_json::{Value, json};
use support::{Backend, PASSWORD, TestServer, smtp::SmtpServer};

const SUBMIT: &str = "/_missive/client/email/submit_token";
const IS: &str = "/_matrix/identity/v2";

async fn start(backend: Backend, smtp: &SmtpServer) -> TestServer {
    let url = smtp.url();
    TestServer::start_with(backend, &[("MISSIVE_SMTP_URL", url.as_str())]).await
}

/// Validates `address` through the mailed link; returns the session ID.
async fn validate(
    server: &TestServer,
    smtp: &SmtpServer,
    kind: &str,
    secret: &str,
    address: &str,
) -> String {
    let (status, v) = server
        .call(
            None,
            "POST",
            &format!("/_matrix/client/v3/{kind}/email/requestToken"),
            json!({ "client_secret": secret, "email": address, "send_attempt": 1 }),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let sid = v["sid"].as_str().unwrap().to_owned();
    let mails = smtp.mails_to(address).len();
    let mail = smtp.wait_for_mail(address, mails.max(1)).await;
    let res = reqwest::get(mail.link(&format!("{}{SUBMIT}", server.base_url)))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    sid
}

/// Registers `name` with `address` (the e-mail flow); returns the token.
/// Registers `name` with `address` (validated); returns the access token.
async fn register_with_email(
    server: &TestServer,
    smtp: &SmtpServer,
    name: &str,
    address: &str,
) -> String {
    register_with_session(server, smtp, name, address).await.0
}

/// As [`register_with_email`], also returning the validation session's
/// ID (its client secret is `reg`), which publishing the address needs.
async fn register_with_session(
    server: &TestServer,
    smtp: &SmtpServer,
    name: &str,
    address: &str,
) -> (String, String) {
    let sid = validate(server, smtp, "register", "reg", address).await;
    let (status, v) = server
        .call(
            None,
            "POST",
            "/_matrix/client/v3/register",
            json!({
                "username": name,
                "password": PASSWORD,
                "auth": {
                    "type": "m.login.email.identity",
                    "threepid_creds": { "sid": sid, "client_secret": "reg" },
                },
            }),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    (v["access_token"].as_str().unwrap().to_owned(), sid)
}

/// An identity access token for the owner of `token` (OpenID token
/// exchanged at this server's identity service).
async fn identity_token(server: &TestServer, token: &str, user: &str) -> String {
    let (status, openid) = server
        .call(
            Some(token),
            "POST",
            &format!("/_matrix/client/v3/user/{user}/openid/request_token"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{openid}");
    let (status, v) = server
        .call(None, "POST", &format!("{IS}/account/register"), openid)
        .await;
    assert_eq!(status, 200, "{v}");
    let is_token = v["token"].as_str().unwrap().to_owned();
    let (status, v) = server
        .call(
            Some(&is_token),
            "GET",
            &format!("{IS}/account"),
            Value::Null,
        )
        .await;
    assert_eq!((status, &v["user_id"]), (200, &json!(user)), "{v}");
    is_token
}

async fn state(server: &TestServer, token: &str, room: &str) -> Vec<Value> {
    let (status, v) = server
        .call(
            Some(token),
            "GET",
            &format!("/_matrix/client/v3/rooms/{room}/state"),
            Value::Null,
        )
        .await;
    assert_eq!(status, 200, "{v}");
    v.as_array().unwrap().clone()
}

fn third_party_invites(state: &[Value]) -> Vec<Value> {
    state
        .iter()
        .filter(|e| e["type"] == "m.room.third_party_invite")
        .cloned()
        .collect()
}

async fn membership(server: &TestServer, token: &str, room: &str, user: &str) -> Option<Value> {
    let (status, v) = server
        .call(
            Some(token),
            "GET",
            &format!("/_matrix/client/v3/rooms/{room}/state/m.room.member/{user}"),
            Value::Null,
        )
        .await;
    (status == 200).then_some(v)
}

async fn invite_raw(
    server: &TestServer,
    token: &str,
    room: &str,
    id_server: &str,
    address: &str,
) -> (u16, Value) {
    server
        .call(
            Some(token),
            "POST",
            &format!("/_matrix/client/v3/rooms/{room}/invite"),
            json!({
                "id_server": id_server, "id_access_token": "unused",
                "medium": "email", "address": address,
            }),
        )
        .await
}

async fn an_unknown_address_is_invited_by_mail_then_joins(backend: Backend) {
    let smtp = SmtpServer::start().await;
    let server = start(backend, &smtp).await;
    let alice = server.register("alice").await;
    let alice_token = alice.matrix_auth().session().unwrap().tokens.access_token;
    let room_id = server
        .create_room(
            &alice_token,
            json!({ "name": "Équipe projet", "preset": "private_chat" }),
        )
        .await;
    let (status, _) = server
        .send_event(
            &alice_token,
            &room_id,
            "m.room.message",
            "t1",
            json!({ "msgtype": "m.text", "body": "bienvenue" }),
        )
        .await;
    assert_eq!(status, 200);

    // matrix-sdk invites by address, naming this server as identity server.
    let is_token = identity_token(&server, &alice_token, "@alice:localhost").await;
    support::sync_once(&alice).await;
    let room = alice
        .get_room(&OwnedRoomId::try_from(room_id.as_str()).unwrap())
        .unwrap();
    let invite: Invite3pid = Invite3pidInit {
        id_server: "localhost".into(),
        id_access_token: is_token,
        medium: Medium::Email,
        address: "Carol@Example.org".into(),
    }
    .into();
    room.invite_user_by_3pid(invite).await.unwrap();

    let invites = third_party_invites(&state(&server, &alice_token, &room_id).await);
    assert_eq!(invites.len(), 1, "{invites:?}");
    let content = &invites[0]["content"];
    assert_eq!(content["display_name"], json!("car...@exa..."));
    let (_, key) = server
        .call(None, "GET", &format!("{IS}/pubkey/ed25519:0"), Value::Null)
        .await;
    assert_eq!(content["public_key"], key["public_key"]);
    let keys = content["public_keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    for k in keys {
        let url = k["key_validity_url"].as_str().unwrap();
        let pk = k["public_key"].as_str().unwrap();
        let v: Value = reqwest::Client::new()
            .get(url)
            .query(&[("public_key", pk)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(v["valid"], json!(true), "{url}");
    }
    let mail = smtp.wait_for_mail("carol@example.org", 1).await;
    assert!(mail.text.contains("Équipe projet"), "{}", mail.text);
    assert!(mail.text.contains("vous invite") && mail.text.contains("invites you"));
    assert!(
        !mail
            .text
            .contains(invites[0]["state_key"].as_str().unwrap()),
        "the token stays secret"
    );

    // Carol registers with the address: the invite is hers.
    let carol_token = register_with_email(&server, &smtp, "carol", "carol@example.org").await;
    let carol = server.login("carol").await;
    let room_oid = OwnedRoomId::try_from(room_id.as_str()).unwrap();
    support::sync_until(&[&carol], 50, "carol's invite", || async {
        support::invited_to(&carol, &room_oid)
    })
    .await;
    let member = membership(&server, &alice_token, &room_id, "@carol:localhost")
        .await
        .unwrap();
    assert_eq!(member["membership"], json!("invite"));
    assert_eq!(
        member["third_party_invite"]["display_name"],
        json!("car...@exa...")
    );
    assert_eq!(
        member["third_party_invite"]["signed"]["mxid"],
        json!("@carol:localhost")
    );
    assert!(
        member["third_party_invite"]["signed"]["signatures"]["localhost"]["ed25519:0"].is_string()
    );

    carol.join_room_by_id(&room_oid).await.unwrap();
    let (status, v) = server
        .call(
            Some(&carol_token),
            "GET",
            &format!("/_matrix/client/v3/rooms/{room_id}/messages?dir=b&limit=50"),
            Value::Null,
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let bodies: Vec<&str> = v["chunk"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["content"]["body"].as_str())
        .collect();
    assert!(bodies.contains(&"bienvenue"), "{v}");
}

async fn a_bound_address_is_invited_at_once(backend: Backend) {
    let smtp = SmtpServer::start().await;
    let server = start(backend, &smtp).await;
    let alice = server.register_token("alice").await;
    let (bob, sid) = register_with_session(&server, &smtp, "bob", "bob@example.org").await;
    // The public host of the base URL names this identity server too.
    let host = server.base_url.trim_start_matches("http://").to_owned();

    // An address added to an account is nobody's to discover until its
    // owner publishes it.
    let alice_is = identity_token(&server, &alice, "@alice:localhost").await;
    let lookup_bob =
        json!({ "algorithm": "none", "pepper": "", "addresses": ["bob@example.org email"] });
    let lookup = format!("{IS}/lookup");
    let (status, v) = server
        .call(Some(&alice_is), "POST", &lookup, lookup_bob.clone())
        .await;
    assert_eq!((status, &v["mappings"]), (200, &json!({})), "{v}");
    let bind = json!({ "sid": sid, "client_secret": "reg", "id_server": host, "id_access_token": "unused" });
    let (status, v) = server
        .call(
            Some(&bob),
            "POST",
            "/_matrix/client/v3/account/3pid/bind",
            bind.clone(),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let (_, v) = server
        .call(Some(&alice_is), "POST", &lookup, lookup_bob.clone())
        .await;
    assert_eq!(
        v["mappings"],
        json!({ "bob@example.org email": "@bob:localhost" })
    );
    // Another account cannot publish it with the same session.
    let (status, v) = server
        .call(
            Some(&alice),
            "POST",
            "/_matrix/client/v3/account/3pid/bind",
            bind,
        )
        .await;
    assert_eq!(
        (status, v["errcode"].as_str()),
        (400, Some("M_THREEPID_AUTH_FAILED")),
        "{v}"
    );

    let mails = smtp.mails_to("bob@example.org").len();
    let room = server.create_room(&alice, json!({})).await;
    let (status, v) = invite_raw(&server, &alice, &room, &host, "BOB@example.org").await;
    assert_eq!(status, 200, "{v}");
    let member = membership(&server, &alice, &room, "@bob:localhost")
        .await
        .unwrap();
    assert_eq!(member["membership"], json!("invite"));
    assert!(member.get("third_party_invite").is_none(), "{member}");
    assert!(third_party_invites(&state(&server, &alice, &room).await).is_empty());
    assert_eq!(
        smtp.mails_to("bob@example.org").len(),
        mails,
        "no invitation mail"
    );
    let (status, v) = server
        .call(
            Some(&bob),
            "POST",
            &format!("/_matrix/client/v3/join/{room}"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{v}");

    // Lookups find the bound address, in the clear and hashed.
    let (status, openid) = server
        .call(
            Some(&alice),
            "POST",
            "/_matrix/client/v3/user/@alice:localhost/openid/request_token",
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let (_, v) = server
        .call(None, "POST", &format!("{IS}/account/register"), openid)
        .await;
    let is_token = v["token"].as_str().unwrap().to_owned();
    let (status, details) = server
        .call(
            Some(&is_token),
            "GET",
            &format!("{IS}/hash_details"),
            Value::Null,
        )
        .await;
    assert_eq!(status, 200, "{details}");
    let pepper = details["lookup_pepper"].as_str().unwrap().to_owned();
    let (status, v) = server
        .call(
            Some(&is_token),
            "POST",
            &format!("{IS}/lookup"),
            json!({ "algorithm": "none", "pepper": pepper, "addresses": ["bob@example.org email", "x@y.z email"] }),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["mappings"],
        json!({ "bob@example.org email": "@bob:localhost" })
    );
    let (status, v) = server
        .call(
            None,
            "POST",
            &format!("{IS}/lookup"),
            json!({ "algorithm": "none", "pepper": pepper, "addresses": [] }),
        )
        .await;
    assert_eq!(status, 401, "identity token required: {v}");
    // Withdrawn from discovery, it is found no more.
    let (status, v) = server
        .call(
            Some(&bob),
            "POST",
            "/_matrix/client/v3/account/3pid/unbind",
            json!({ "medium": "email", "address": "bob@example.org" }),
        )
        .await;
    assert_eq!(
        (status, &v["id_server_unbind_result"]),
        (200, &json!("success")),
        "{v}"
    );
    let (_, v) = server
        .call(Some(&alice_is), "POST", &lookup, lookup_bob)
        .await;
    assert_eq!(v["mappings"], json!({}), "{v}");

    // store-invite: for the token's owner, in a room of theirs.
    let store_invite = |room: &str, sender: &str| json!({ "medium": "email", "address": "erin@example.org", "room_id": room, "sender": sender });
    let (status, v) = server
        .call(
            Some(&is_token),
            "POST",
            &format!("{IS}/store-invite"),
            store_invite(&room, "@alice:localhost"),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["display_name"], json!("eri...@exa..."));
    assert_eq!(v["public_keys"].as_array().unwrap().len(), 2, "{v}");
    assert!(v["token"].is_string());
    smtp.wait_for_mail("erin@example.org", 1).await;
    let (status, v) = server
        .call(
            Some(&is_token),
            "POST",
            &format!("{IS}/store-invite"),
            store_invite(&room, "@bob:localhost"),
        )
        .await;
    assert_eq!(
        (status, v["errcode"].as_str()),
        (403, Some("M_FORBIDDEN")),
        "{v}"
    );
    let other = server.create_room(&bob, json!({})).await;
    let (status, v) = server
        .call(
            Some(&is_token),
            "POST",
            &format!("{IS}/store-invite"),
            store_invite(&other, "@alice:localhost"),
        )
        .await;
    assert_eq!(
        (status, v["errcode"].as_str()),
        (403, Some("M_FORBIDDEN")),
        "not in that room: {v}"
    );
}

async fn revoked_invites_and_strangers(backend: Backend) {
    let smtp = SmtpServer::start().await;
    let server = start(backend, &smtp).await;
    let alice = server.register_token("alice").await;
    let eve = server.register_token("eve").await;
    let room = server
        .create_room(
            &alice,
            json!({ "preset": "public_chat", "power_level_content_override": { "invite": 50 } }),
        )
        .await;
    let (status, _) = server
        .call(
            Some(&eve),
            "POST",
            &format!("/_matrix/client/v3/join/{room}"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200);

    // Other identity servers are not trusted; the invite power applies.
    let (status, v) = invite_raw(&server, &alice, &room, "vector.im", "dave@example.org").await;
    assert_eq!(
        (status, v["errcode"].as_str()),
        (400, Some("M_SERVER_NOT_TRUSTED")),
        "{v}"
    );
    let (status, v) = invite_raw(&server, &eve, &room, "localhost", "dave@example.org").await;
    assert_eq!(
        (status, v["errcode"].as_str()),
        (403, Some("M_FORBIDDEN")),
        "{v}"
    );
    assert!(
        smtp.mails_to("dave@example.org").is_empty(),
        "no mail for a refused invite"
    );

    let (status, v) = invite_raw(&server, &alice, &room, "localhost", "dave@example.org").await;
    assert_eq!(status, 200, "{v}");
    smtp.wait_for_mail("dave@example.org", 1).await;
    let invites = third_party_invites(&state(&server, &alice, &room).await);
    let token = invites[0]["state_key"].as_str().unwrap().to_owned();
    // Revoked: the state emptied.
    let (status, v) = server
        .call(
            Some(&alice),
            "PUT",
            &format!("/_matrix/client/v3/rooms/{room}/state/m.room.third_party_invite/{token}"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{v}");

    let dave = register_with_email(&server, &smtp, "dave", "dave@example.org").await;
    assert!(
        membership(&server, &alice, &room, "@dave:localhost")
            .await
            .is_none()
    );
    let (_, sync) = server
        .call(
            Some(&dave),
            "GET",
            "/_matrix/client/v3/sync?timeout=0",
            Value::Null,
        )
        .await;
    assert!(sync["rooms"]["invite"].get(&room).is_none(), "{sync}");
}

both_backends!(
    an_unknown_address_is_invited_by_mail_then_joins => an_unknown_address_is_invited_by_mail_then_joins,
    a_bound_address_is_invited_at_once => a_bound_address_is_invited_at_once,
    revoked_invites_and_strangers => revoked_invites_and_strangers,
);
