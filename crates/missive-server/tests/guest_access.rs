//! Guest access: off by default; when on, guests register without a
//! password, read and talk only in rooms open to guests, are refused
//! everything else with `M_GUEST_ACCESS_FORBIDDEN`, and can become a full
//! account under the same user ID.

// Test code throughout: allow-unwrap-in-tests (clippy.toml) covers only
// #[test] functions, not the helpers an integration test crate shares.
#![allow(clippy::unwrap_used)]

mod support;

use serde_json::{Value, json};
use support::{Backend, TestServer};

async fn register_guest(server: &TestServer) -> (u16, Value) {
    server
        .call(
            None,
            "POST",
            "/_matrix/client/v3/register?kind=guest",
            json!({}),
        )
        .await
}

async fn guests_are_off_by_default(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (status, body) = register_guest(&server).await;
    assert_eq!(
        (status, &body["errcode"]),
        (403, &json!("M_FORBIDDEN")),
        "{body}"
    );
}

async fn guests_read_and_talk_where_allowed(backend: Backend) {
    let server = TestServer::start_with(backend, &[("MISSIVE_GUEST_ACCESS", "on")]).await;
    let alice = server.register_token("alice").await;
    let open = server
        .create_room(
            &alice,
            json!({ "preset": "public_chat", "initial_state": [{
                "type": "m.room.guest_access", "state_key": "",
                "content": { "guest_access": "can_join" } }] }),
        )
        .await;
    let closed = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;

    let (status, guest) = register_guest(&server).await;
    assert_eq!(status, 200, "{guest}");
    let token = guest["access_token"].as_str().unwrap().to_owned();
    let user_id = guest["user_id"].as_str().unwrap().to_owned();
    let (_, me) = server
        .call(
            Some(&token),
            "GET",
            "/_matrix/client/v3/account/whoami",
            Value::Null,
        )
        .await;
    assert_eq!(me["is_guest"], true, "{me}");

    // Rooms with guest access welcome them; others do not.
    server.join(&token, &open).await;
    let (status, body) = server
        .call(
            Some(&token),
            "POST",
            &format!("/_matrix/client/v3/join/{closed}"),
            json!({}),
        )
        .await;
    assert_eq!(
        (status, &body["errcode"]),
        (403, &json!("M_FORBIDDEN")),
        "{body}"
    );
    let (status, sent) = server
        .send_event(
            &token,
            &open,
            "m.room.message",
            "g1",
            json!({ "msgtype": "m.text", "body": "hello from a guest" }),
        )
        .await;
    assert_eq!(status, 200, "{sent}");
    let (status, sync) = server
        .call(
            Some(&token),
            "GET",
            "/_matrix/client/v3/sync?timeout=0",
            Value::Null,
        )
        .await;
    assert_eq!(status, 200, "{sync}");
    assert!(sync["rooms"]["join"][&open].is_object(), "{sync}");

    // What guests may not do.
    for (method, path, body) in [
        (
            "POST",
            "/_matrix/client/v3/createRoom".to_owned(),
            json!({}),
        ),
        (
            "PUT",
            format!("/_matrix/client/v3/user/{user_id}/account_data/org.example.x"),
            json!({}),
        ),
        ("GET", "/_matrix/client/v3/devices".to_owned(), Value::Null),
        (
            "POST",
            "/_matrix/client/v3/user_directory/search".to_owned(),
            json!({ "search_term": "alice" }),
        ),
    ] {
        let (status, answer) = server.call(Some(&token), method, &path, body).await;
        assert_eq!(
            (status, &answer["errcode"]),
            (403, &json!("M_GUEST_ACCESS_FORBIDDEN")),
            "{method} {path}: {answer}"
        );
    }

    let (status, answer) = server
        .call(
            Some(&token),
            "POST",
            "/_matrix/media/v3/upload?filename=a.txt",
            json!({}),
        )
        .await;
    assert_eq!(
        (status, &answer["errcode"]),
        (403, &json!("M_GUEST_ACCESS_FORBIDDEN")),
        "upload: {answer}"
    );

    // The guest becomes a full account with the same ID.
    let localpart = user_id.trim_start_matches('@').split(':').next().unwrap();
    let (status, upgraded) = server
        .call(
            None,
            "POST",
            "/_matrix/client/v3/register",
            json!({
                "username": localpart,
                "password": "a long enough passphrase",
                "guest_access_token": token,
                "auth": { "type": "m.login.dummy" },
            }),
        )
        .await;
    assert_eq!(status, 200, "{upgraded}");
    assert_eq!(upgraded["user_id"], user_id.as_str());
    let full = upgraded["access_token"].as_str().unwrap();
    let (_, me) = server
        .call(
            Some(full),
            "GET",
            "/_matrix/client/v3/account/whoami",
            Value::Null,
        )
        .await;
    assert_ne!(me["is_guest"], true, "{me}");
    let (status, body) = server
        .call(
            Some(full),
            "POST",
            "/_matrix/client/v3/createRoom",
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // Still in the room it joined as a guest.
    let (_, rooms) = server
        .call(
            Some(full),
            "GET",
            "/_matrix/client/v3/joined_rooms",
            Value::Null,
        )
        .await;
    assert!(
        rooms["joined_rooms"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == open.as_str()),
        "{rooms}"
    );

    // Another user's name cannot be taken with a guest token.
    let (_, second) = register_guest(&server).await;
    let (status, body) = server
        .call(
            None,
            "POST",
            "/_matrix/client/v3/register",
            json!({
                "username": "somebody",
                "password": "a long enough passphrase",
                "guest_access_token": second["access_token"],
                "auth": { "type": "m.login.dummy" },
            }),
        )
        .await;
    assert_eq!(
        (status, &body["errcode"]),
        (403, &json!("M_FORBIDDEN")),
        "{body}"
    );
}

both_backends! {
    guests_are_off_by_default_test => guests_are_off_by_default,
    guests_read_and_talk_where_allowed_test => guests_read_and_talk_where_allowed,
}
