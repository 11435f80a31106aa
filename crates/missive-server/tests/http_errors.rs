//! Bad input gets the spec's status and errcode, never a 500, against the
//! real binary (SQLite).

// Test code throughout: allow-unwrap-in-tests (clippy.toml) covers only
// #[test] functions, not the helpers an integration test crate shares.
#![allow(clippy::unwrap_used)]

mod support;

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use support::{Backend, TestServer};

struct Api {
    server: TestServer,
    http: Client,
}

impl Api {
    async fn start() -> Self {
        Self {
            server: TestServer::start(Backend::Sqlite).await,
            http: Client::new(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.base_url)
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method.parse().unwrap(), self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_owned());
        }
        let res = req.send().await.expect("request");
        let status = res.status();
        let json = res.json().await.unwrap_or(Value::Null);
        (status, json)
    }

    async fn register(&self, name: &str) -> String {
        let body = json!({ "username": name, "password": "pw-123456", "auth": { "type": "m.login.dummy" } });
        let (status, json) = self
            .call(
                "POST",
                "/_matrix/client/v3/register",
                None,
                Some(&body.to_string()),
            )
            .await;
        assert_eq!(status, 200, "{json}");
        json["access_token"].as_str().unwrap().to_owned()
    }

    async fn room(&self, token: &str) -> String {
        let (_, json) = self
            .call(
                "POST",
                "/_matrix/client/v3/createRoom",
                Some(token),
                Some("{}"),
            )
            .await;
        json["room_id"].as_str().unwrap().to_owned()
    }
}

fn errcode(json: &Value) -> &str {
    json["errcode"].as_str().unwrap_or("")
}

#[tokio::test]
async fn malformed_bodies_are_refused_with_json_errors() {
    let api = Api::start().await;
    let token = api.register("alice").await;
    let room = api.room(&token).await;
    let path = format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/t1");
    let (status, json) = api
        .call("PUT", &path, Some(&token), Some("{not json"))
        .await;
    assert_eq!(
        (status, errcode(&json)),
        (StatusCode::BAD_REQUEST, "M_NOT_JSON")
    );
    // Well-formed JSON that is not an object: M_NOT_JSON or, by the
    // spec's wording for valid JSON of the wrong shape, M_BAD_JSON.
    let (status, json) = api.call("PUT", &path, Some(&token), Some("[1, 2]")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{json}");
    assert!(
        ["M_NOT_JSON", "M_BAD_JSON"].contains(&errcode(&json)),
        "{json}"
    );
    let (status, json) = api
        .call(
            "POST",
            "/_matrix/client/v3/createRoom",
            Some(&token),
            Some(r#"{"invite": "nope"}"#),
        )
        .await;
    assert_eq!(
        (status, errcode(&json)),
        (StatusCode::BAD_REQUEST, "M_BAD_JSON")
    );
}

#[tokio::test]
async fn oversized_events_are_too_large() {
    let api = Api::start().await;
    let token = api.register("alice").await;
    let room = api.room(&token).await;
    let big = json!({ "msgtype": "m.text", "body": "x".repeat(70_000) }).to_string();
    let path = format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/big");
    let (status, json) = api.call("PUT", &path, Some(&token), Some(&big)).await;
    assert_eq!(
        (status, errcode(&json)),
        (StatusCode::PAYLOAD_TOO_LARGE, "M_TOO_LARGE")
    );
    let huge = "y".repeat(2 * 1024 * 1024);
    let (status, json) = api
        .call(
            "PUT",
            &path,
            Some(&token),
            Some(&format!(r#"{{"body":"{huge}"}}"#)),
        )
        .await;
    assert_eq!(
        (status, errcode(&json)),
        (StatusCode::PAYLOAD_TOO_LARGE, "M_TOO_LARGE")
    );
    // Nothing was stored.
    let (_, json) = api
        .call(
            "GET",
            &format!("/_matrix/client/v3/rooms/{room}/messages?dir=b&limit=50"),
            Some(&token),
            None,
        )
        .await;
    assert!(!json.to_string().contains("xxxx"));
}

#[tokio::test]
async fn tokens_are_checked() {
    let api = Api::start().await;
    let (status, json) = api
        .call("GET", "/_matrix/client/v3/account/whoami", None, None)
        .await;
    assert_eq!(
        (status, errcode(&json)),
        (StatusCode::UNAUTHORIZED, "M_MISSING_TOKEN")
    );
    let (status, json) = api
        .call(
            "GET",
            "/_matrix/client/v3/account/whoami",
            Some("mst_wrong"),
            None,
        )
        .await;
    assert_eq!(
        (status, errcode(&json)),
        (StatusCode::UNAUTHORIZED, "M_UNKNOWN_TOKEN")
    );
    let token = api.register("alice").await;
    let (status, json) = api
        .call(
            "GET",
            "/_matrix/client/v3/account/whoami",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(
        (status, json["user_id"].as_str()),
        (StatusCode::OK, Some("@alice:localhost"))
    );
    let (status, _) = api
        .call(
            "POST",
            "/_matrix/client/v3/logout",
            Some(&token),
            Some("{}"),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, json) = api
        .call(
            "GET",
            "/_matrix/client/v3/account/whoami",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(
        (status, errcode(&json)),
        (StatusCode::UNAUTHORIZED, "M_UNKNOWN_TOKEN"),
        "dead after logout"
    );
}

#[tokio::test]
async fn unknown_endpoints_and_methods() {
    let api = Api::start().await;
    let (status, json) = api
        .call("GET", "/_matrix/client/v3/no/such/endpoint", None, None)
        .await;
    assert_eq!(
        (status, errcode(&json)),
        (StatusCode::NOT_FOUND, "M_UNRECOGNIZED")
    );
    let (status, json) = api
        .call("DELETE", "/_matrix/client/versions", None, None)
        .await;
    assert_eq!(
        (status, errcode(&json)),
        (StatusCode::METHOD_NOT_ALLOWED, "M_UNRECOGNIZED")
    );
    let (status, json) = api
        .call("GET", "/_matrix/client/versions", None, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let at_least_1_12 = |v: &Value| {
        let v = v.as_str().unwrap_or("");
        let mut parts = v.strip_prefix('v').unwrap_or("").split('.');
        let major: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        let minor: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        (major, minor) >= (1, 12)
    };
    assert!(
        json["versions"]
            .as_array()
            .unwrap()
            .iter()
            .any(at_least_1_12),
        "/versions lists v1.12 or later: {json}"
    );
}

#[tokio::test]
async fn registration_and_login_errors() {
    let api = Api::start().await;
    api.register("alice").await;
    let dup = json!({ "username": "alice", "password": "pw", "auth": { "type": "m.login.dummy" } })
        .to_string();
    let (status, json) = api
        .call("POST", "/_matrix/client/v3/register", None, Some(&dup))
        .await;
    assert_eq!(
        (status, errcode(&json)),
        (StatusCode::BAD_REQUEST, "M_USER_IN_USE")
    );
    let bad =
        json!({ "username": "Bad Name!", "password": "pw", "auth": { "type": "m.login.dummy" } })
            .to_string();
    let (status, json) = api
        .call("POST", "/_matrix/client/v3/register", None, Some(&bad))
        .await;
    assert_eq!(
        (status, errcode(&json)),
        (StatusCode::BAD_REQUEST, "M_INVALID_USERNAME")
    );
    let (status, json) = api
        .call(
            "GET",
            "/_matrix/client/v3/register/available?username=alice",
            None,
            None,
        )
        .await;
    assert_eq!(
        (status, errcode(&json)),
        (StatusCode::BAD_REQUEST, "M_USER_IN_USE")
    );
    let login = json!({ "type": "m.login.password", "identifier": { "type": "m.id.user", "user": "alice" }, "password": "wrong" });
    let (status, json) = api
        .call(
            "POST",
            "/_matrix/client/v3/login",
            None,
            Some(&login.to_string()),
        )
        .await;
    assert_eq!(
        (status, errcode(&json)),
        (StatusCode::FORBIDDEN, "M_FORBIDDEN")
    );
}

#[tokio::test]
async fn transaction_ids_make_sends_idempotent() {
    let api = Api::start().await;
    let token = api.register("alice").await;
    let room = api.room(&token).await;
    let path = format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/same-txn");
    let body = r#"{"msgtype":"m.text","body":"once"}"#;
    let (s1, first) = api.call("PUT", &path, Some(&token), Some(body)).await;
    let (s2, second) = api.call("PUT", &path, Some(&token), Some(body)).await;
    assert_eq!((s1, s2), (StatusCode::OK, StatusCode::OK));
    assert_eq!(first["event_id"], second["event_id"]);
    let (_, json) = api
        .call(
            "GET",
            &format!("/_matrix/client/v3/rooms/{room}/messages?dir=b&limit=50"),
            Some(&token),
            None,
        )
        .await;
    let count = json["chunk"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["content"]["body"] == "once")
        .count();
    assert_eq!(count, 1);

    // A retry after leaving still gets its first answer; a new send does not.
    let (status, _) = api
        .call(
            "POST",
            &format!("/_matrix/client/v3/rooms/{room}/leave"),
            Some(&token),
            Some("{}"),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (s3, third) = api.call("PUT", &path, Some(&token), Some(body)).await;
    assert_eq!(
        (s3, &third["event_id"]),
        (StatusCode::OK, &first["event_id"])
    );
    let other = format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/other-txn");
    let (s4, refused) = api.call("PUT", &other, Some(&token), Some(body)).await;
    assert_eq!(
        (s4, refused["errcode"].as_str()),
        (StatusCode::FORBIDDEN, Some("M_FORBIDDEN"))
    );
}

#[tokio::test]
async fn non_members_are_forbidden_and_encryption_stays() {
    let api = Api::start().await;
    let alice = api.register("alice").await;
    let mallory = api.register("mallory").await;
    let room = api.room(&alice).await;
    let (status, json) = api
        .call(
            "GET",
            &format!("/_matrix/client/v3/rooms/{room}/messages?dir=b"),
            Some(&mallory),
            None,
        )
        .await;
    assert_eq!(
        (status, errcode(&json)),
        (StatusCode::FORBIDDEN, "M_FORBIDDEN")
    );
    let send = format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/m1");
    let (status, json) = api
        .call(
            "PUT",
            &send,
            Some(&mallory),
            Some(r#"{"msgtype":"m.text","body":"hi"}"#),
        )
        .await;
    assert_eq!(
        (status, errcode(&json)),
        (StatusCode::FORBIDDEN, "M_FORBIDDEN")
    );

    let enc = format!("/_matrix/client/v3/rooms/{room}/state/m.room.encryption/");
    let (status, _) = api
        .call(
            "PUT",
            &enc,
            Some(&alice),
            Some(r#"{"algorithm":"m.megolm.v1.aes-sha2"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, json) = api.call("PUT", &enc, Some(&alice), Some("{}")).await;
    assert_eq!(
        (status, errcode(&json)),
        (StatusCode::FORBIDDEN, "M_FORBIDDEN"),
        "encryption cannot be removed"
    );
}

#[tokio::test]
async fn malformed_key_uploads_and_claims() {
    let api = Api::start().await;
    let token = api.register("alice").await;
    let (status, json) = api
        .call(
            "POST",
            "/_matrix/client/v3/keys/upload",
            Some(&token),
            Some(r#"{"one_time_keys": {"no-colon": {"key": "x"}}}"#),
        )
        .await;
    assert_eq!(
        (status, errcode(&json)),
        (StatusCode::BAD_REQUEST, "M_BAD_JSON")
    );
    let (status, json) = api
        .call("POST", "/_matrix/client/v3/keys/upload", Some(&token), Some(r#"{"device_keys": {"user_id": "@bob:localhost", "device_id": "X", "keys": {}, "algorithms": []}}"#))
        .await;
    assert_eq!(
        (status, errcode(&json)),
        (StatusCode::BAD_REQUEST, "M_BAD_JSON"),
        "keys for someone else"
    );
    let claim = r#"{"one_time_keys": {"@nobody:localhost": {"NODEVICE": "signed_curve25519"}}}"#;
    let (status, json) = api
        .call(
            "POST",
            "/_matrix/client/v3/keys/claim",
            Some(&token),
            Some(claim),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json["one_time_keys"], json!({}));
    let big =
        json!({ "messages": { "@alice:localhost": { "*": { "blob": "z".repeat(70_000) } } } })
            .to_string();
    let (status, json) = api
        .call(
            "PUT",
            "/_matrix/client/v3/sendToDevice/m.test/t1",
            Some(&token),
            Some(&big),
        )
        .await;
    assert_eq!(
        (status, errcode(&json)),
        (StatusCode::PAYLOAD_TOO_LARGE, "M_TOO_LARGE")
    );
}

#[tokio::test]
async fn a_login_without_a_type_is_bad_json_and_panics_nowhere() {
    // ruma's login parser panics on a body without "type" (it indexes the
    // object); the body is checked before it reaches the parser, so that
    // no request costs a panic and its backtrace.
    let api = Api {
        server: TestServer::start_with(Backend::Sqlite, &[("RUST_BACKTRACE", "1")]).await,
        http: Client::new(),
    };
    for body in [
        r#"{"password":"x"}"#,
        r#"{"type":5,"password":"x"}"#,
        "{}",
        "",
    ] {
        let (status, json) = api
            .call("POST", "/_matrix/client/v3/login", None, Some(body))
            .await;
        assert_eq!(
            (status, errcode(&json)),
            (StatusCode::BAD_REQUEST, "M_BAD_JSON"),
            "{body:?}: {json}"
        );
    }
    let (status, _) = api
        .call("GET", "/_matrix/client/versions", None, None)
        .await;
    assert_eq!(status, StatusCode::OK, "the server is still up");
    let log = api.server.log();
    assert!(
        !log.contains("panicked"),
        "a panic in the server log:\n{log}"
    );
}
