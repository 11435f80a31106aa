//! What widely used clients send and Synapse accepts works here too, over
//! raw HTTP against the real binary (SQLite): bodies left out where every
//! field is optional (matrix-nio joins with `POST /join/{id}` and no body),
//! the `access_token` query parameter, and stale tokens on endpoints that
//! need none.

// Test code throughout: allow-unwrap-in-tests (clippy.toml) covers only
// #[test] functions, not the helpers an integration test crate shares.
#![allow(clippy::unwrap_used)]

mod support;

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use support::{Backend, PASSWORD, TestServer};

/// A percent-encoded path segment (room IDs, aliases, user IDs).
fn enc(segment: &str) -> String {
    form_urlencoded::byte_serialize(segment.as_bytes()).collect()
}

struct Session {
    token: String,
    user_id: String,
    device_id: String,
}

async fn register(server: &TestServer, name: &str) -> Session {
    let answer = server.register_raw(name).await;
    let field = |k: &str| answer[k].as_str().expect(k).to_owned();
    Session {
        token: field("access_token"),
        user_id: field("user_id"),
        device_id: field("device_id"),
    }
}

/// `METHOD path` with no body and no Content-Type at all, the token in the
/// `access_token` query parameter, as matrix-nio sends it.
async fn bare(
    http: &Client,
    server: &TestServer,
    method: &str,
    path: &str,
    token: &str,
) -> (StatusCode, Value) {
    let sep = if path.contains('?') { '&' } else { '?' };
    let url = format!("{}{path}{sep}access_token={}", server.base_url, enc(token));
    let res = http
        .request(method.parse().expect("method"), url)
        .send()
        .await
        .expect("request");
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// A JSON request with the token in the Authorization header.
async fn call(
    http: &Client,
    server: &TestServer,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Value,
) -> (StatusCode, Value) {
    let mut req = http.request(
        method.parse().expect("method"),
        format!("{}{path}", server.base_url),
    );
    // `Value::Null` stands for no body (reads).
    if !body.is_null() {
        req = req.json(&body);
    }
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.expect("request");
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// Unexpected answers, collected so that one run names them all.
#[derive(Default)]
struct Failures(Vec<String>);

impl Failures {
    /// Notes `got` unless its status is `want`; returns its JSON.
    fn expect(&mut self, what: &str, got: (StatusCode, Value), want: StatusCode) -> Value {
        if got.0 != want {
            self.0
                .push(format!("{what}: {} {} (want {want})", got.0, got.1));
        }
        got.1
    }
}

/// Every endpoint whose body is entirely optional (the spec's request body
/// has no required field) answers a request without a body as it answers
/// `{}`; failures are collected so that one run names them all.
#[tokio::test]
async fn bodies_that_are_entirely_optional_may_be_left_out() {
    let server = TestServer::start(Backend::Sqlite).await;
    let http = Client::new();
    let alice = register(&server, "alice").await;
    let bob = register(&server, "bob").await;
    let a = alice.token.as_str();
    let b = bob.token.as_str();
    let c = "/_matrix/client/v3";
    let mut failures = Failures::default();

    // A public room with an alias made the ordinary way, for the joins.
    let (_, room) = call(
        &http,
        &server,
        "POST",
        &format!("{c}/createRoom"),
        Some(a),
        json!({ "preset": "public_chat", "room_alias_name": "quirks" }),
    )
    .await;
    let room = room["room_id"].as_str().expect("room").to_owned();
    let r = enc(&room);

    let got = bare(&http, &server, "POST", &format!("{c}/createRoom"), a).await;
    failures.expect("POST /createRoom", got, StatusCode::OK);
    let got = bare(&http, &server, "POST", &format!("{c}/join/{r}"), b).await;
    failures.expect("POST /join/{roomId}", got, StatusCode::OK);
    let got = bare(&http, &server, "POST", &format!("{c}/rooms/{r}/leave"), b).await;
    failures.expect("POST /rooms/{roomId}/leave", got, StatusCode::OK);
    let alias = enc("#quirks:localhost");
    let got = bare(&http, &server, "POST", &format!("{c}/join/{alias}"), b).await;
    failures.expect("POST /join/{roomAlias}", got, StatusCode::OK);
    let got = bare(&http, &server, "POST", &format!("{c}/rooms/{r}/join"), b).await;
    failures.expect("POST /rooms/{roomId}/join", got, StatusCode::OK);

    // Events whose content is the empty object.
    let got = bare(
        &http,
        &server,
        "PUT",
        &format!("{c}/rooms/{r}/send/org.example.ping/t1"),
        a,
    )
    .await;
    let sent = failures.expect("PUT /send", got, StatusCode::OK);
    let event = enc(sent["event_id"].as_str().unwrap_or("$missing"));
    let got = bare(
        &http,
        &server,
        "PUT",
        &format!("{c}/rooms/{r}/state/org.example.flag/"),
        a,
    )
    .await;
    failures.expect("PUT /state/{type}/", got, StatusCode::OK);
    let got = bare(
        &http,
        &server,
        "PUT",
        &format!("{c}/rooms/{r}/state/org.example.flag/key"),
        a,
    )
    .await;
    failures.expect("PUT /state/{type}/{key}", got, StatusCode::OK);
    let got = bare(
        &http,
        &server,
        "POST",
        &format!("{c}/rooms/{r}/receipt/m.read/{event}"),
        b,
    )
    .await;
    failures.expect("POST /receipt", got, StatusCode::OK);
    let got = bare(
        &http,
        &server,
        "POST",
        &format!("{c}/rooms/{r}/read_markers"),
        b,
    )
    .await;
    failures.expect("POST /read_markers", got, StatusCode::OK);
    let got = bare(
        &http,
        &server,
        "PUT",
        &format!("{c}/rooms/{r}/redact/{event}/r1"),
        a,
    )
    .await;
    failures.expect("PUT /redact", got, StatusCode::OK);

    // Account data, tags, filters, the directory.
    let me = enc(&alice.user_id);
    let got = bare(
        &http,
        &server,
        "PUT",
        &format!("{c}/user/{me}/account_data/org.example.empty"),
        a,
    )
    .await;
    failures.expect("PUT /account_data", got, StatusCode::OK);
    let got = bare(
        &http,
        &server,
        "PUT",
        &format!("{c}/user/{me}/rooms/{r}/account_data/org.example.empty"),
        a,
    )
    .await;
    failures.expect("PUT /rooms/{roomId}/account_data", got, StatusCode::OK);
    let got = bare(
        &http,
        &server,
        "PUT",
        &format!("{c}/user/{me}/rooms/{r}/tags/u.work"),
        a,
    )
    .await;
    failures.expect("PUT /tags/{tag}", got, StatusCode::OK);
    let got = bare(&http, &server, "POST", &format!("{c}/user/{me}/filter"), a).await;
    failures.expect("POST /filter", got, StatusCode::OK);
    let got = bare(
        &http,
        &server,
        "PUT",
        &format!("{c}/directory/list/room/{r}"),
        a,
    )
    .await;
    failures.expect("PUT /directory/list/room", got, StatusCode::OK);
    let got = bare(&http, &server, "POST", &format!("{c}/publicRooms"), a).await;
    failures.expect("POST /publicRooms", got, StatusCode::OK);

    // Devices and keys.
    let dev = enc(&alice.device_id);
    let got = bare(&http, &server, "PUT", &format!("{c}/devices/{dev}"), a).await;
    failures.expect("PUT /devices/{deviceId}", got, StatusCode::OK);
    let got = bare(&http, &server, "POST", &format!("{c}/keys/upload"), a).await;
    failures.expect("POST /keys/upload", got, StatusCode::OK);
    let got = bare(
        &http,
        &server,
        "POST",
        &format!("{c}/keys/signatures/upload"),
        a,
    )
    .await;
    failures.expect("POST /keys/signatures/upload", got, StatusCode::OK);

    // User-interactive auth: an empty body is the first step, answered
    // with the flows (401), not refused as malformed.
    for (method, path) in [
        ("POST", format!("{c}/register")),
        ("POST", format!("{c}/account/deactivate")),
        ("DELETE", format!("{c}/devices/{dev}")),
    ] {
        let got = bare(&http, &server, method, &path, a).await;
        let flows = failures.expect(&format!("{method} {path}"), got, StatusCode::UNAUTHORIZED);
        if !flows["flows"].is_array() {
            failures
                .0
                .push(format!("{method} {path}: no UIA flows in {flows}"));
        }
    }

    // A body with a required field is still refused when left out, with
    // a clear error rather than as an empty request.
    for (method, path) in [
        ("PUT", format!("{c}/rooms/{r}/typing/{me}")),
        ("POST", format!("{c}/keys/query")),
        ("POST", format!("{c}/keys/claim")),
        ("POST", format!("{c}/rooms/{r}/invite")),
        ("POST", format!("{c}/rooms/{r}/kick")),
        ("PUT", format!("{c}/presence/{me}/status")),
        ("PUT", format!("{c}/sendToDevice/m.test/t1")),
    ] {
        let got = bare(&http, &server, method, &path, a).await;
        let json = failures.expect(&format!("{method} {path}"), got, StatusCode::BAD_REQUEST);
        if !["M_BAD_JSON", "M_MISSING_PARAM"].contains(&json["errcode"].as_str().unwrap_or("")) {
            failures.0.push(format!("{method} {path}: {json}"));
        }
    }

    // Knocking, then leaving and forgetting.
    let (_, knockable) = call(
        &http,
        &server,
        "POST",
        &format!("{c}/createRoom"),
        Some(a),
        json!({ "initial_state": [{ "type": "m.room.join_rules", "state_key": "", "content": { "join_rule": "knock" } }] }),
    )
    .await;
    let knockable = enc(knockable["room_id"].as_str().expect("knockable room"));
    let got = bare(&http, &server, "POST", &format!("{c}/knock/{knockable}"), b).await;
    failures.expect("POST /knock/{roomIdOrAlias}", got, StatusCode::OK);
    let got = bare(&http, &server, "POST", &format!("{c}/rooms/{r}/leave"), b).await;
    failures.expect("POST /rooms/{roomId}/leave (again)", got, StatusCode::OK);
    let got = bare(&http, &server, "POST", &format!("{c}/rooms/{r}/forget"), b).await;
    failures.expect("POST /rooms/{roomId}/forget", got, StatusCode::OK);

    // Logging out: one session, then all of them.
    let got = bare(&http, &server, "POST", &format!("{c}/logout"), b).await;
    failures.expect("POST /logout", got, StatusCode::OK);
    let got = bare(&http, &server, "POST", &format!("{c}/logout/all"), a).await;
    failures.expect("POST /logout/all", got, StatusCode::OK);

    assert!(
        failures.0.is_empty(),
        "requests without a body refused:\n{}",
        failures.0.join("\n")
    );
}

/// Endpoints that need no token answer a stale one as Synapse does: as
/// for an anonymous request. `/versions` is the exception Synapse makes
/// (it looks the token up for per-user features and refuses a dead one).
#[tokio::test]
async fn stale_tokens_are_ignored_where_no_token_is_needed() {
    let server = TestServer::start(Backend::Sqlite).await;
    let http = Client::new();
    let alice = register(&server, "alice").await;
    let c = "/_matrix/client/v3";
    let (_, room) = call(
        &http,
        &server,
        "POST",
        &format!("{c}/createRoom"),
        Some(&alice.token),
        json!({ "preset": "public_chat", "room_alias_name": "stale" }),
    )
    .await;
    let room = enc(room["room_id"].as_str().expect("room"));
    let (status, _) = call(
        &http,
        &server,
        "POST",
        &format!("{c}/logout"),
        Some(&alice.token),
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let stale = alice.token.as_str();
    let me = enc(&alice.user_id);

    let mut failures = Vec::new();
    for path in [
        format!("{c}/login"),
        format!("{c}/register/available?username=zed"),
        format!("{c}/profile/{me}"),
        format!("{c}/profile/{me}/displayname"),
        format!("{c}/directory/room/{}", enc("#stale:localhost")),
        format!("{c}/directory/list/room/{room}"),
        format!("{c}/publicRooms"),
    ] {
        let (status, json) = call(&http, &server, "GET", &path, Some(stale), Value::Null).await;
        if status != StatusCode::OK {
            failures.push(format!("GET {path} (header): {status} {json}"));
        }
        let (status, json) = bare(&http, &server, "GET", &path, stale).await;
        if status != StatusCode::OK {
            failures.push(format!("GET {path} (query): {status} {json}"));
        }
    }
    // A client whose session died logs in again with the old token still
    // in its headers.
    let login = json!({
        "type": "m.login.password",
        "identifier": { "type": "m.id.user", "user": "alice" },
        "password": PASSWORD,
    });
    let (status, json) = call(
        &http,
        &server,
        "POST",
        &format!("{c}/login"),
        Some(stale),
        login,
    )
    .await;
    if status != StatusCode::OK || !json["access_token"].is_string() {
        failures.push(format!("POST /login: {status} {json}"));
    }
    assert!(
        failures.is_empty(),
        "a stale token was refused where none is needed:\n{}",
        failures.join("\n")
    );

    // Where the token changes the answer, a dead one is refused as by
    // Synapse: /versions (per-user features) and /register (an appservice
    // token there).
    for (method, path) in [
        ("GET", "/_matrix/client/versions".to_owned()),
        ("POST", format!("{c}/register")),
    ] {
        let (status, json) = call(&http, &server, method, &path, Some(stale), json!({})).await;
        assert_eq!(
            (status, json["errcode"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("M_UNKNOWN_TOKEN")),
            "{method} {path}"
        );
    }
}
