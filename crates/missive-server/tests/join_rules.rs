//! Knocking and restricted joins over raw HTTP.

// Test code throughout: allow-unwrap-in-tests (clippy.toml) covers only
// #[test] functions, not the helpers an integration test crate shares.
#![allow(clippy::unwrap_used)]

mod support;

use serde_json::{Value, json};
use support::{Backend, TestServer};

async fn call(
    server: &TestServer,
    token: &str,
    method: &str,
    path: &str,
    body: Value,
) -> (u16, Value) {
    let res = reqwest::Client::new()
        .request(
            method.parse().unwrap(),
            format!("{}{path}", server.base_url),
        )
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    (
        res.status().as_u16(),
        res.json().await.unwrap_or(Value::Null),
    )
}

fn join_rules(rule: Value) -> Value {
    json!({ "type": "m.room.join_rules", "state_key": "", "content": rule })
}

async fn membership(server: &TestServer, token: &str, room: &str, user: &str) -> Value {
    let (_, v) = call(
        server,
        token,
        "GET",
        &format!("/_matrix/client/v3/rooms/{room}/state/m.room.member/{user}"),
        json!(null),
    )
    .await;
    v
}

async fn knocking(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register_token("alice").await;
    let bob = server.register_token("bob").await;
    let (_, room) = call(
        &server,
        &alice,
        "POST",
        "/_matrix/client/v3/createRoom",
        json!({ "initial_state": [join_rules(json!({ "join_rule": "knock" }))] }),
    )
    .await;
    let room = room["room_id"].as_str().unwrap().to_owned();

    let (status, _) = call(
        &server,
        &bob,
        "POST",
        &format!("/_matrix/client/v3/join/{room}"),
        json!({}),
    )
    .await;
    assert_eq!(status, 403, "a knock room cannot be joined uninvited");
    let (status, body) = call(
        &server,
        &bob,
        "POST",
        &format!("/_matrix/client/v3/knock/{room}"),
        json!({ "reason": "Bonjour" }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        membership(&server, &alice, &room, "@bob:localhost").await["membership"],
        "knock"
    );
    let (status, _) = call(
        &server,
        &alice,
        "POST",
        &format!("/_matrix/client/v3/rooms/{room}/invite"),
        json!({ "user_id": "@bob:localhost" }),
    )
    .await;
    assert_eq!(status, 200, "the knock is accepted by inviting");
    let (status, _) = call(
        &server,
        &bob,
        "POST",
        &format!("/_matrix/client/v3/join/{room}"),
        json!({}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        membership(&server, &alice, &room, "@bob:localhost").await["membership"],
        "join"
    );
}

async fn restricted(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register_token("alice").await;
    let carol = server.register_token("carol").await;
    let (_, space) = call(
        &server,
        &alice,
        "POST",
        "/_matrix/client/v3/createRoom",
        json!({ "preset": "public_chat" }),
    )
    .await;
    let space = space["room_id"].as_str().unwrap().to_owned();
    let rule = json!({ "join_rule": "restricted", "allow": [{ "type": "m.room_membership", "room_id": space }] });
    let (_, room) = call(
        &server,
        &alice,
        "POST",
        "/_matrix/client/v3/createRoom",
        json!({ "initial_state": [join_rules(rule)] }),
    )
    .await;
    let room = room["room_id"].as_str().unwrap().to_owned();

    let (status, body) = call(
        &server,
        &carol,
        "POST",
        &format!("/_matrix/client/v3/join/{room}"),
        json!({}),
    )
    .await;
    assert_eq!(
        (status, body["errcode"].as_str()),
        (403, Some("M_FORBIDDEN")),
        "not in the allowed room yet"
    );
    let (status, _) = call(
        &server,
        &carol,
        "POST",
        &format!("/_matrix/client/v3/join/{space}"),
        json!({}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = call(
        &server,
        &carol,
        "POST",
        &format!("/_matrix/client/v3/join/{room}"),
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let member = membership(&server, &alice, &room, "@carol:localhost").await;
    assert_eq!(member["membership"], "join");
    assert_eq!(
        member["join_authorised_via_users_server"],
        "@alice:localhost"
    );
}

both_backends! {
    knocking_then_being_invited_lets_a_user_in => knocking,
    restricted_rooms_admit_members_of_the_allowed_room => restricted,
}
