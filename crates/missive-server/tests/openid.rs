//! OpenID tokens (`POST /user/{userId}/openid/request_token`, checked by a
//! third party through `GET /_matrix/federation/v1/openid/userinfo`) and
//! `GET /admin/whois/{userId}` (for oneself, or for a server admin).

// Test code throughout: allow-unwrap-in-tests (clippy.toml) covers only
// #[test] functions, not the helpers an integration test crate shares.
#![allow(clippy::unwrap_used)]

mod support;

use serde_json::{Value, json};
use support::{Backend, PASSWORD, TestServer};

async fn openid_tokens_name_their_user(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register_token("alice").await;
    let bob = server.register_token("bob").await;
    let path = "/_matrix/client/v3/user/@alice:localhost/openid/request_token";
    let (status, v) = server.call(Some(&alice), "POST", path, json!({})).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["token_type"], json!("Bearer"));
    assert_eq!(v["matrix_server_name"], json!("localhost"));
    assert_eq!(v["expires_in"], json!(3600));
    let token = v["access_token"].as_str().unwrap();

    // Only for oneself.
    let (status, v) = server.call(Some(&bob), "POST", path, json!({})).await;
    assert_eq!(
        (status, v["errcode"].as_str()),
        (403, Some("M_FORBIDDEN")),
        "{v}"
    );

    // The third party asks without any other credential.
    let userinfo = |t: &str| format!("/_matrix/federation/v1/openid/userinfo?access_token={t}");
    let (status, v) = server
        .call(None, "GET", &userinfo(token), Value::Null)
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v, json!({ "sub": "@alice:localhost" }));
    for wrong in ["nope", alice.as_str()] {
        let (status, v) = server
            .call(None, "GET", &userinfo(wrong), Value::Null)
            .await;
        assert_eq!(
            (status, v["errcode"].as_str()),
            (401, Some("M_UNKNOWN_TOKEN")),
            "{v}"
        );
    }
}

async fn whois_is_for_oneself_or_admins(backend: Backend) {
    let server = TestServer::start(backend).await;
    let v = server.register_raw("alice").await;
    let alice = v["access_token"].as_str().unwrap().to_owned();
    let device = v["device_id"].as_str().unwrap().to_owned();
    let bob = server.register_token("bob").await;
    let (ok, out) = server.admin(&["create-user", "root", "--password", PASSWORD, "--admin"]);
    assert!(ok, "{out}");
    let (status, v) = server
        .call(
            None,
            "POST",
            "/_matrix/client/v3/login",
            json!({
                "type": "m.login.password",
                "identifier": { "type": "m.id.user", "user": "root" },
                "password": PASSWORD,
            }),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let root = v["access_token"].as_str().unwrap().to_owned();

    let path = "/_matrix/client/v3/admin/whois/@alice:localhost";
    for (who, token) in [("alice", &alice), ("an admin", &root)] {
        let (status, v) = server.call(Some(token), "GET", path, Value::Null).await;
        assert_eq!(status, 200, "{who}: {v}");
        assert_eq!(v["user_id"], json!("@alice:localhost"));
        let connections = &v["devices"][&device]["sessions"][0]["connections"];
        assert_eq!(connections[0]["ip"], json!("127.0.0.1"), "{who}: {v}");
        assert!(connections[0]["last_seen"].is_u64(), "{who}: {v}");
    }
    let (status, v) = server.call(Some(&bob), "GET", path, Value::Null).await;
    assert_eq!(
        (status, v["errcode"].as_str()),
        (403, Some("M_FORBIDDEN")),
        "{v}"
    );
}

both_backends! {
    openid_tokens_name_their_user => openid_tokens_name_their_user,
    whois_is_for_oneself_or_admins => whois_is_for_oneself_or_admins,
}
