//! User-interactive auth sessions as Synapse keeps them: a session is bound
//! to the operation it was started for (a completed one authorises that
//! operation again, never another), a completed registration replays to
//! the same account, a registration's first request's password and user
//! name carry over to its later stages, authenticating as another user is
//! 403, and the legacy password shape (`user` without `identifier`) works.

// Test code throughout: allow-unwrap-in-tests (clippy.toml) covers only
// #[test] functions, not the helpers an integration test crate shares.
#![allow(clippy::unwrap_used)]

mod support;

use serde_json::{Value, json};
use support::{Backend, PASSWORD, TestServer};

const REGISTER: &str = "/_matrix/client/v3/register";

async fn login(server: &TestServer, name: &str) -> (String, String) {
    let (status, v) = server
        .call(
            None,
            "POST",
            "/_matrix/client/v3/login",
            json!({
                "type": "m.login.password",
                "identifier": { "type": "m.id.user", "user": name },
                "password": PASSWORD,
            }),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    (
        v["access_token"].as_str().unwrap().to_owned(),
        v["device_id"].as_str().unwrap().to_owned(),
    )
}

fn password(user: &str, session: &str) -> Value {
    json!({
        "type": "m.login.password",
        "identifier": { "type": "m.id.user", "user": user },
        "password": PASSWORD,
        "session": session,
    })
}

/// Starts a session on `DELETE /devices/{device}`; returns its ID.
async fn start_delete(server: &TestServer, token: &str, device: &str) -> String {
    let (status, v) = server
        .call(
            Some(token),
            "DELETE",
            &format!("/_matrix/client/v3/devices/{device}"),
            json!({}),
        )
        .await;
    assert_eq!(status, 401, "{v}");
    v["session"].as_str().unwrap().to_owned()
}

async fn sessions_are_bound_to_their_operation(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.register_token("alice").await;
    let (_, d2) = login(&server, "alice").await;
    let (_, d3) = login(&server, "alice").await;

    // A session started to delete d2 cannot delete d3, even in progress.
    let session = start_delete(&server, &token, &d2).await;
    let (status, v) = server
        .call(
            Some(&token),
            "DELETE",
            &format!("/_matrix/client/v3/devices/{d3}"),
            json!({ "auth": password("alice", &session) }),
        )
        .await;
    assert_eq!(
        (status, v["errcode"].as_str()),
        (403, Some("M_FORBIDDEN")),
        "{v}"
    );

    // Completed for d2, it deletes d2...
    let (status, v) = server
        .call(
            Some(&token),
            "DELETE",
            &format!("/_matrix/client/v3/devices/{d2}"),
            json!({ "auth": password("alice", &session) }),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    // ...and is no pass for another operation.
    for auth in [json!({ "session": session }), password("alice", &session)] {
        let (status, v) = server
            .call(
                Some(&token),
                "DELETE",
                &format!("/_matrix/client/v3/devices/{d3}"),
                json!({ "auth": auth }),
            )
            .await;
        assert_eq!(
            (status, v["errcode"].as_str()),
            (403, Some("M_FORBIDDEN")),
            "{v}"
        );
        let (status, v) = server
            .call(
                Some(&token),
                "POST",
                "/_matrix/client/v3/delete_devices",
                json!({ "devices": [d3], "auth": auth }),
            )
            .await;
        assert_eq!(
            (status, v["errcode"].as_str()),
            (403, Some("M_FORBIDDEN")),
            "{v}"
        );
    }
    let (status, v) = server
        .call(
            Some(&token),
            "GET",
            &format!("/_matrix/client/v3/devices/{d3}"),
            Value::Null,
        )
        .await;
    assert_eq!(status, 200, "d3 is still there: {v}");
}

async fn another_users_password_is_forbidden(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.register_token("alice").await;
    server.register_token("bob").await;
    let (_, d2) = login(&server, "alice").await;
    let session = start_delete(&server, &token, &d2).await;
    let (status, v) = server
        .call(
            Some(&token),
            "DELETE",
            &format!("/_matrix/client/v3/devices/{d2}"),
            json!({ "auth": password("bob", &session) }),
        )
        .await;
    assert_eq!(
        (status, v["errcode"].as_str()),
        (403, Some("M_FORBIDDEN")),
        "{v}"
    );
}

async fn a_completed_registration_replays_to_its_account(backend: Backend) {
    let server = TestServer::start(backend).await;
    let body = json!({ "username": "carol", "password": PASSWORD });
    let (status, v) = server.call(None, "POST", REGISTER, body.clone()).await;
    assert_eq!(status, 401, "{v}");
    let session = v["session"].as_str().unwrap().to_owned();
    let mut done = body.clone();
    done["auth"] = json!({ "type": "m.login.dummy", "session": session });
    let (status, first) = server.call(None, "POST", REGISTER, done.clone()).await;
    assert_eq!(status, 200, "{first}");
    // The answer was lost: the client asks again with the same session.
    let (status, again) = server.call(None, "POST", REGISTER, done).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["user_id"], first["user_id"]);
    assert!(again["access_token"].is_string());
    assert_ne!(again["access_token"], first["access_token"]);
}

async fn a_registration_remembers_its_first_request(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (status, v) = server
        .call(
            None,
            "POST",
            REGISTER,
            json!({ "username": "erin", "password": PASSWORD }),
        )
        .await;
    assert_eq!(status, 401, "{v}");
    let session = v["session"].as_str().unwrap();
    // The stage's request carries only the auth.
    let (status, v) = server
        .call(
            None,
            "POST",
            REGISTER,
            json!({ "auth": { "type": "m.login.dummy", "session": session } }),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["user_id"], json!("@erin:localhost"));
    login(&server, "erin").await;
}

async fn cross_signing_takes_the_legacy_password_shape(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.register_token("alice").await;
    let master = |key: &str| {
        json!({
            "master_key": {
                "user_id": "@alice:localhost",
                "usage": ["master"],
                "keys": { format!("ed25519:{key}"): key },
            }
        })
    };
    let path = "/_matrix/client/v3/keys/device_signing/upload";
    let first = "A".repeat(43);
    let (status, v) = server
        .call(Some(&token), "POST", path, master(&first))
        .await;
    assert_eq!(status, 200, "the first upload needs no password: {v}");
    let second = "B".repeat(43);
    let (status, v) = server
        .call(Some(&token), "POST", path, master(&second))
        .await;
    assert_eq!(status, 401, "{v}");
    let mut body = master(&second);
    body["auth"] = json!({
        "type": "m.login.password",
        "user": "@alice:localhost",
        "password": PASSWORD,
        "session": v["session"],
    });
    let (status, v) = server.call(Some(&token), "POST", path, body).await;
    assert_eq!(status, 200, "{v}");
}

both_backends! {
    sessions_are_bound_to_their_operation => sessions_are_bound_to_their_operation,
    another_users_password_is_forbidden => another_users_password_is_forbidden,
    a_completed_registration_replays_to_its_account => a_completed_registration_replays_to_its_account,
    a_registration_remembers_its_first_request => a_registration_remembers_its_first_request,
    cross_signing_takes_the_legacy_password_shape => cross_signing_takes_the_legacy_password_shape,
}
