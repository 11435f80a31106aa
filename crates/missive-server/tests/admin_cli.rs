//! The `missive-server admin` commands, run against the database of a
//! running server: accounts and registration tokens they create work
//! through the client API.

// Test code throughout: allow-unwrap-in-tests (clippy.toml) covers only
// #[test] functions, not the helpers an integration test crate shares.
#![allow(clippy::unwrap_used)]

mod support;

use serde_json::{Value, json};
use support::{Backend, PASSWORD, TestServer};

async fn post_register(server: &TestServer, body: &Value) -> (u16, Value) {
    let res = reqwest::Client::new()
        .post(format!("{}/_matrix/client/v3/register", server.base_url))
        .json(body)
        .send()
        .await
        .expect("register request");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// UIA: the first call returns a session, the second completes the
/// `m.login.registration_token` stage with it.
async fn register_with_token(server: &TestServer, name: &str, token: &str) -> (u16, Value) {
    let body = json!({ "username": name, "password": PASSWORD });
    let (status, challenge) = post_register(server, &body).await;
    assert_eq!(status, 401, "a UIA challenge: {challenge}");
    let session = challenge["session"].as_str().expect("session");
    let body = json!({
        "username": name,
        "password": PASSWORD,
        "auth": { "type": "m.login.registration_token", "token": token, "session": session },
    });
    post_register(server, &body).await
}

async fn created_user_logs_in(backend: Backend) {
    let server = TestServer::start_with(backend, &[("MISSIVE_REGISTRATION", "disabled")]).await;

    // Registration is closed to the public...
    let body =
        json!({ "username": "eve", "password": PASSWORD, "auth": { "type": "m.login.dummy" } });
    let (status, json) = post_register(&server, &body).await;
    assert_eq!(
        (status, json["errcode"].as_str()),
        (403, Some("M_FORBIDDEN"))
    );

    // ...but the admin command creates accounts whatever the mode.
    let (ok, out) = server.admin(&["create-user", "dana", "--password", PASSWORD, "--admin"]);
    assert!(ok, "create-user failed: {out}");
    assert!(out.contains("@dana:localhost"), "{out}");
    let dana = server.login("dana").await;
    assert_eq!(dana.user_id().unwrap().as_str(), "@dana:localhost");
    let whoami = dana.whoami().await.expect("whoami");
    assert_eq!(whoami.user_id.as_str(), "@dana:localhost");

    // The same name twice is refused, with a non-zero exit.
    let (ok, out) = server.admin(&["create-user", "dana", "--password", "other-password"]);
    assert!(!ok, "a second dana was created: {out}");
    // And the first password still works.
    server.login("dana").await;
}

async fn registration_token_is_single_use(backend: Backend) {
    let server = TestServer::start_with(backend, &[("MISSIVE_REGISTRATION", "token")]).await;
    let (ok, out) = server.admin(&[
        "create-registration-token",
        "--token",
        "invite-42",
        "--uses",
        "1",
    ]);
    assert!(ok, "create-registration-token failed: {out}");

    let (status, json) = register_with_token(&server, "frank", "invite-42").await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["user_id"], "@frank:localhost");

    let (status, json) = register_with_token(&server, "grace", "invite-42").await;
    assert_ne!(status, 200, "a used-up token registered grace: {json}");
    assert!(json["access_token"].is_null(), "{json}");
}

both_backends! {
    admin_created_user_logs_in => created_user_logs_in,
    registration_token_is_single_use => registration_token_is_single_use,
}
