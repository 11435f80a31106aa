//! The size limits the spec sets, and Synapse's profile limits: refused
//! with a clear error, never stored half-way or silently ignored.

// Test code throughout: allow-unwrap-in-tests (clippy.toml) covers only
// #[test] functions, not the helpers an integration test crate shares.
#![allow(clippy::unwrap_used)]

mod support;

use serde_json::{Value, json};
use support::{Backend, TestServer};

async fn identifiers_are_bounded(backend: Backend) {
    let server = TestServer::start(backend).await;
    let login = server.register_raw("alice").await;
    let alice = login["access_token"].as_str().unwrap().to_owned();
    let room = server.create_room(&alice, json!({})).await;
    let long = "a".repeat(256);
    let just_fits = "a".repeat(255);

    // Event type and state key: 255 bytes at most, by any route.
    for (method, path, body) in [
        (
            "PUT",
            format!("/_matrix/client/v3/rooms/{room}/send/{long}/t1"),
            json!({}),
        ),
        (
            "PUT",
            format!("/_matrix/client/v3/rooms/{room}/state/{long}/"),
            json!({}),
        ),
        (
            "PUT",
            format!("/_matrix/client/v3/rooms/{room}/state/m.custom/{long}"),
            json!({}),
        ),
        // transaction ID
        (
            "PUT",
            format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/{long}"),
            json!({"body": "x"}),
        ),
        // account data type
        (
            "PUT",
            format!("/_matrix/client/v3/user/@alice:localhost/account_data/{long}"),
            json!({}),
        ),
    ] {
        let (status, answer) = server.call(Some(&alice), method, &path, body).await;
        assert_eq!(
            (status, &answer["errcode"]),
            (400, &json!("M_INVALID_PARAM")),
            "{method} {}: {answer}",
            &path[..80]
        );
    }
    let initial_state = |ty: &str, key: &str| json!({ "initial_state": [{ "type": ty, "state_key": key, "content": {} }] });
    for body in [initial_state(&long, ""), initial_state("m.custom", &long)] {
        let (status, answer) = server
            .call(Some(&alice), "POST", "/_matrix/client/v3/createRoom", body)
            .await;
        assert_eq!(
            (status, &answer["errcode"]),
            (413, &json!("M_TOO_LARGE")),
            "{answer}"
        );
    }
    // 255 bytes is fine.
    let (status, answer) = server
        .send_state(&alice, &room, "m.custom", &just_fits, json!({}))
        .await;
    assert_eq!(status, 200, "{answer}");

    // Room alias: the whole alias is 255 bytes at most.
    let (status, answer) = server
        .call(
            Some(&alice),
            "POST",
            "/_matrix/client/v3/createRoom",
            json!({ "room_alias_name": long }),
        )
        .await;
    assert_eq!(status, 400, "{answer}");
    let (status, answer) = server
        .call(
            Some(&alice),
            "PUT",
            &format!("/_matrix/client/v3/directory/room/%23{long}:localhost"),
            json!({ "room_id": room }),
        )
        .await;
    assert_eq!(status, 400, "{answer}");

    // Device ID chosen by the client at login.
    let (status, answer) = server
        .call(
            None,
            "POST",
            "/_matrix/client/v3/login",
            json!({
                "type": "m.login.password",
                "identifier": { "type": "m.id.user", "user": "alice" },
                "password": support::PASSWORD,
                "device_id": long,
            }),
        )
        .await;
    assert_eq!(
        (status, &answer["errcode"]),
        (400, &json!("M_INVALID_PARAM")),
        "{answer}"
    );
}

async fn profiles_are_bounded(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register_token("alice").await;
    let room = server.create_room(&alice, json!({})).await;
    let me = "@alice:localhost";
    let set = |field: &str, value: Value| {
        let path = format!("/_matrix/client/v3/profile/{me}/{field}");
        let body = json!({ field: value });
        let server = &server;
        let alice = &alice;
        async move { server.call(Some(alice), "PUT", &path, body).await }
    };
    let (status, answer) = set("displayname", json!("n".repeat(257))).await;
    assert_eq!(
        (status, &answer["errcode"]),
        (400, &json!("M_INVALID_PARAM")),
        "{answer}"
    );
    // An avatar URL as long as a whole event: refused, not silently left
    // out of the member events.
    let huge = format!("mxc://localhost/{}", "a".repeat(70_000));
    let (status, answer) = set("avatar_url", json!(huge)).await;
    assert_eq!(
        (status, &answer["errcode"]),
        (400, &json!("M_INVALID_PARAM")),
        "{answer}"
    );
    let (status, answer) = set(
        "avatar_url",
        json!(format!("mxc://localhost/{}", "a".repeat(1000))),
    )
    .await;
    assert_eq!(status, 400, "{answer}");
    for not_mxc in [
        "https://example.org/a.png",
        "mxc://",
        "mxc://localhost",
        "javascript:alert(1)",
    ] {
        let (status, answer) = set("avatar_url", json!(not_mxc)).await;
        assert_eq!(
            (status, &answer["errcode"]),
            (400, &json!("M_INVALID_PARAM")),
            "{not_mxc}: {answer}"
        );
    }
    let (_, profile) = server
        .call(
            None,
            "GET",
            &format!("/_matrix/client/v3/profile/{me}"),
            Value::Null,
        )
        .await;
    assert!(profile.get("avatar_url").is_none(), "{profile}");

    // A valid change reaches the member event.
    let (status, answer) = set("avatar_url", json!("mxc://localhost/abcDEF123")).await;
    assert_eq!(status, 200, "{answer}");
    let (_, member) = server
        .call(
            Some(&alice),
            "GET",
            &format!("/_matrix/client/v3/rooms/{room}/state/m.room.member/{me}"),
            Value::Null,
        )
        .await;
    assert_eq!(
        member["avatar_url"], "mxc://localhost/abcDEF123",
        "{member}"
    );
    let (_, profile) = server
        .call(
            None,
            "GET",
            &format!("/_matrix/client/v3/profile/{me}"),
            Value::Null,
        )
        .await;
    assert_eq!(
        profile["avatar_url"], "mxc://localhost/abcDEF123",
        "{profile}"
    );
}

both_backends!(
    identifiers_are_bounded => identifiers_are_bounded,
    profiles_are_bounded => profiles_are_bounded,
);
