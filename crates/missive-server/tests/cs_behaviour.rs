//! Client-Server behaviours clients rely on, as Synapse has them: repeated
//! state is not a new event, `/context` with `limit=0`, presence of someone
//! who never set it, and member lists of world-readable rooms.

// Test code throughout: allow-unwrap-in-tests (clippy.toml) covers only
// #[test] functions, not the helpers an integration test crate shares.
#![allow(clippy::unwrap_used)]

mod support;

use serde_json::{Value, json};
use support::{Backend, TestServer};

async fn repeated_state_is_not_a_new_event(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register_token("alice").await;
    let bob = server.register_token("bob").await;
    let room = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    let topic = json!({ "topic": "budget" });
    let (_, first) = server
        .send_state(&alice, &room, "m.room.topic", "", topic.clone())
        .await;
    let (status, again) = server
        .send_state(&alice, &room, "m.room.topic", "", topic)
        .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(
        first["event_id"], again["event_id"],
        "the same state is the same event"
    );
    let (_, changed) = server
        .send_state(
            &alice,
            &room,
            "m.room.topic",
            "",
            json!({ "topic": "other" }),
        )
        .await;
    assert_ne!(first["event_id"], changed["event_id"]);

    // Joining a room one is in changes nothing either.
    server.join(&bob, &room).await;
    let member = |server: &TestServer| {
        let (bob, room) = (bob.clone(), room.clone());
        let server_url = server.base_url.clone();
        async move {
            let res: Value = reqwest::Client::new()
                .get(format!(
                    "{server_url}/_matrix/client/v3/rooms/{room}/state/m.room.member/@bob:localhost?format=event"
                ))
                .bearer_auth(&bob)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            res["event_id"].clone()
        }
    };
    let joined = member(&server).await;
    server.join(&bob, &room).await;
    assert_eq!(
        member(&server).await,
        joined,
        "a second join makes no event"
    );
}

async fn context_limit_zero_is_the_event_alone(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register_token("alice").await;
    let room = server.create_room(&alice, json!({})).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let (_, sent) = server
            .send_event(
                &alice,
                &room,
                "m.room.message",
                &format!("t{i}"),
                json!({"msgtype": "m.text", "body": i.to_string()}),
            )
            .await;
        ids.push(sent["event_id"].as_str().unwrap().to_owned());
    }
    let (status, context) = server
        .call(
            Some(&alice),
            "GET",
            &format!("/_matrix/client/v3/rooms/{room}/context/{}?limit=0", ids[1]),
            Value::Null,
        )
        .await;
    assert_eq!(status, 200, "{context}");
    assert_eq!(context["event"]["event_id"], ids[1].as_str());
    let count = |k: &str| context.get(k).and_then(Value::as_array).map_or(0, Vec::len);
    assert_eq!(
        (count("events_before"), count("events_after")),
        (0, 0),
        "{context}"
    );
}

async fn presence_and_previews(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register_token("alice").await;
    let bob = server.register_token("bob").await;
    let carol = server.register_token("carol").await;
    let room = server
        .create_room(
            &alice,
            json!({
                "preset": "public_chat",
                "initial_state": [{
                    "type": "m.room.history_visibility", "state_key": "",
                    "content": { "history_visibility": "world_readable" }
                }]
            }),
        )
        .await;
    server.join(&bob, &room).await;

    // Bob never set a presence: he is offline, not unknown.
    let (status, presence) = server
        .call(
            Some(&alice),
            "GET",
            "/_matrix/client/v3/presence/@bob:localhost/status",
            Value::Null,
        )
        .await;
    assert_eq!(status, 200, "{presence}");
    assert_eq!(presence["presence"], "offline");

    // Carol is in no room, yet a world-readable room's members are hers to
    // preview, as its state is.
    let (status, members) = server
        .call(
            Some(&carol),
            "GET",
            &format!("/_matrix/client/v3/rooms/{room}/joined_members"),
            Value::Null,
        )
        .await;
    assert_eq!(status, 200, "{members}");
    assert!(
        members["joined"].get("@bob:localhost").is_some(),
        "{members}"
    );

    // A private room's members stay private.
    let private = server.create_room(&alice, json!({})).await;
    let (status, _) = server
        .call(
            Some(&carol),
            "GET",
            &format!("/_matrix/client/v3/rooms/{private}/joined_members"),
            Value::Null,
        )
        .await;
    assert_eq!(status, 403);
}

async fn typing_without_a_timeout_is_accepted(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register_token("alice").await;
    let room = server.create_room(&alice, json!({})).await;
    let (status, body) = server
        .call(
            Some(&alice),
            "PUT",
            &format!("/_matrix/client/v3/rooms/{room}/typing/@alice:localhost"),
            json!({ "typing": true }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

/// Deleting an alias takes it out of the canonical alias, so the room no
/// longer advertises it.
async fn deleted_alias_leaves_the_canonical_alias(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register_token("alice").await;
    let room = server
        .create_room(&alice, json!({ "room_alias_name": "budget" }))
        .await;
    let canonical = || async {
        server
            .call(
                Some(&alice),
                "GET",
                &format!("/_matrix/client/v3/rooms/{room}/state/m.room.canonical_alias/"),
                Value::Null,
            )
            .await
    };
    let (status, before) = canonical().await;
    assert_eq!(status, 200, "{before}");
    assert_eq!(before["alias"], "#budget:localhost");
    let (status, body) = server
        .call(
            Some(&alice),
            "DELETE",
            "/_matrix/client/v3/directory/room/%23budget:localhost",
            Value::Null,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, after) = canonical().await;
    assert!(after.get("alias").is_none(), "{after}");
}

/// Fields a client adds to `POST /join` stay in its member event.
async fn join_content_is_kept(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register_token("alice").await;
    let bob = server.register_token("bob").await;
    let room = server
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    let (status, body) = server
        .call(
            Some(&bob),
            "POST",
            &format!("/_matrix/client/v3/join/{room}"),
            json!({ "reason": "the weekly meeting", "org.example.badge": 7, "membership": "ban" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, member) = server
        .call(
            Some(&bob),
            "GET",
            &format!("/_matrix/client/v3/rooms/{room}/state/m.room.member/@bob:localhost"),
            Value::Null,
        )
        .await;
    assert_eq!(member["membership"], "join", "{member}");
    assert_eq!(member["reason"], "the weekly meeting");
    assert_eq!(member["org.example.badge"], 7);
}

/// No bridges run here: an empty protocol list (Element asks at start),
/// unknown protocols, empty lookups; the token is still required.
async fn no_third_party_networks(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register_token("alice").await;
    let base = "/_matrix/client/v3/thirdparty";
    for (path, status, want) in [
        ("/protocols", 200, Some(json!({}))),
        ("/location?alias=%23a:localhost", 200, Some(json!([]))),
        ("/user?userid=@a:localhost", 200, Some(json!([]))),
        ("/protocol/irc", 404, None),
        ("/location/irc", 404, None),
        ("/user/irc", 404, None),
    ] {
        let (got, v) = server
            .call(Some(&alice), "GET", &format!("{base}{path}"), Value::Null)
            .await;
        assert_eq!(got, status, "{path}: {v}");
        match want {
            Some(body) => assert_eq!(v, body, "{path}"),
            None => assert_eq!(v["errcode"], "M_NOT_FOUND", "{path}"),
        }
    }
    let (status, _) = server
        .call(None, "GET", &format!("{base}/protocols"), Value::Null)
        .await;
    assert_eq!(status, 401);
}

both_backends!(
    typing_without_a_timeout_is_accepted => typing_without_a_timeout_is_accepted,
    repeated_state_is_not_a_new_event => repeated_state_is_not_a_new_event,
    context_limit_zero_is_the_event_alone => context_limit_zero_is_the_event_alone,
    presence_and_previews => presence_and_previews,
    deleted_alias_leaves_the_canonical_alias => deleted_alias_leaves_the_canonical_alias,
    join_content_is_kept => join_content_is_kept,
    no_third_party_networks => no_third_party_networks,
);
