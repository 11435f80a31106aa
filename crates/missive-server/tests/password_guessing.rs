//! Every endpoint that takes a password counts against the same rate limit
//! as `/login`, per account and per address: guessing through user-
//! interactive auth is no cheaper than guessing at the login screen.

// Test code throughout: allow-unwrap-in-tests (clippy.toml) covers only
// #[test] functions, not the helpers an integration test crate shares.
#![allow(clippy::unwrap_used)]

mod support;

use serde_json::{Value, json};
use support::{Backend, TestServer};

/// The `auth` object of a password stage for `user` with a wrong password.
fn wrong_password(user: &str) -> Value {
    json!({
        "type": "m.login.password",
        "identifier": { "type": "m.id.user", "user": user },
        "password": "not the password",
    })
}

/// Sends `attempt` (built from the auth object) until the server answers
/// 429; panics if it never does within `tries`.
async fn guess_until_limited(
    server: &TestServer,
    token: &str,
    method: &str,
    path: &str,
    body: impl Fn(Value) -> Value,
    user: &str,
) {
    let tries = 40;
    for _ in 0..tries {
        let (status, answer) = server
            .call(Some(token), method, path, body(wrong_password(user)))
            .await;
        match status {
            429 => {
                assert_eq!(answer["errcode"], "M_LIMIT_EXCEEDED", "{answer}");
                assert!(answer["retry_after_ms"].as_u64().is_some(), "{answer}");
                return;
            }
            401 | 403 => continue,
            other => panic!("{path}: unexpected {other}: {answer}"),
        }
    }
    panic!("{path}: {tries} wrong passwords were never rate limited");
}

async fn every_password_check_is_rate_limited(backend: Backend) {
    let server = TestServer::start_with(backend, &[("MISSIVE_RATE_LIMITS", "on")]).await;
    let names = ["dana", "eve", "fay", "gus"];
    let mut tokens = Vec::new();
    for name in names {
        tokens.push(server.register_token(name).await);
    }

    guess_until_limited(
        &server,
        &tokens[0],
        "POST",
        "/_matrix/client/v3/delete_devices",
        |auth| json!({ "devices": ["NOPE"], "auth": auth }),
        names[0],
    )
    .await;
    guess_until_limited(
        &server,
        &tokens[1],
        "POST",
        "/_matrix/client/v3/account/password",
        |auth| json!({ "new_password": "new one", "auth": auth }),
        names[1],
    )
    .await;
    guess_until_limited(
        &server,
        &tokens[2],
        "POST",
        "/_matrix/client/v3/account/deactivate",
        |auth| json!({ "auth": auth }),
        names[2],
    )
    .await;

    // Replacing a cross-signing master key needs the password.
    let master = |key: &str| {
        json!({
            "user_id": "@gus:localhost",
            "usage": ["master"],
            "keys": { format!("ed25519:{key}"): key },
        })
    };
    let (status, answer) = server
        .call(
            Some(&tokens[3]),
            "POST",
            "/_matrix/client/v3/keys/device_signing/upload",
            json!({ "master_key": master("QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE") }),
        )
        .await;
    assert_eq!(status, 200, "first master key: {answer}");
    guess_until_limited(
        &server,
        &tokens[3],
        "POST",
        "/_matrix/client/v3/keys/device_signing/upload",
        |auth| json!({ "master_key": master("QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI"), "auth": auth }),
        names[3],
    )
    .await;

    // The account's own bucket is spent too: the right password now waits
    // as well, at the login screen and through user-interactive auth.
    let (status, answer) = server
        .call(
            None,
            "POST",
            "/_matrix/client/v3/login",
            json!({
                "type": "m.login.password",
                "identifier": { "type": "m.id.user", "user": names[0] },
                "password": support::PASSWORD,
            }),
        )
        .await;
    assert_eq!(status, 429, "{answer}");
}

/// Rate limits are kept in memory, the same on both backends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_password_check_is_rate_limited_sqlite() {
    every_password_check_is_rate_limited(Backend::Sqlite).await;
}
