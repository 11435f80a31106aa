//! Mobile notifications: pushers (`/pushers`, `/pushers/set`), delivery to
//! a push gateway in the Push Gateway API format (retries, rejections,
//! resuming after a restart), `GET /notifications`, and the push rule
//! paths Synapse answers (listings of one kind, room rules, malformed
//! paths). The gateway is an axum server on loopback inside the test.

// Test code throughout: allow-unwrap-in-tests (clippy.toml) covers only
// #[test] functions, not the helpers an integration test crate shares.
#![allow(clippy::unwrap_used)]

mod support;

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{Json, Router, extract::State, http::StatusCode, routing::post};
use serde_json::{Value, json};
use support::{Backend, TestServer};

const NOTIFY_PATH: &str = "/_matrix/push/v1/notify";

/// How the test gateway answers.
#[derive(Clone, Debug)]
enum Mode {
    Accept,
    /// Answers 503: the gateway is "down".
    Down,
    /// Accepts, listing these pushkeys as rejected.
    Reject(Vec<String>),
}

#[derive(Default)]
struct Recorded {
    /// Every notification body received, accepted or not.
    attempts: Vec<Value>,
    /// The notifications answered with success.
    delivered: Vec<Value>,
}

struct Gateway {
    url: String,
    mode: Arc<Mutex<Mode>>,
    recorded: Arc<Mutex<Recorded>>,
    task: tokio::task::JoinHandle<()>,
}

type Shared = (Arc<Mutex<Mode>>, Arc<Mutex<Recorded>>);

async fn notify(
    State((mode, recorded)): State<Shared>,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let mode = mode.lock().unwrap().clone();
    let mut recorded = recorded.lock().unwrap();
    recorded.attempts.push(body.clone());
    match mode {
        Mode::Down => (StatusCode::SERVICE_UNAVAILABLE, Json(json!({}))),
        Mode::Accept => {
            recorded.delivered.push(body);
            (StatusCode::OK, Json(json!({ "rejected": [] })))
        }
        Mode::Reject(keys) => {
            recorded.delivered.push(body);
            (StatusCode::OK, Json(json!({ "rejected": keys })))
        }
    }
}

impl Gateway {
    async fn start(mode: Mode) -> Self {
        let mode = Arc::new(Mutex::new(mode));
        let recorded = Arc::new(Mutex::new(Recorded::default()));
        let app = Router::new()
            .route(NOTIFY_PATH, post(notify))
            .with_state((mode.clone(), recorded.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            url: format!("http://{addr}{NOTIFY_PATH}"),
            mode,
            recorded,
            task,
        }
    }

    fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    fn attempts(&self) -> Vec<Value> {
        self.recorded.lock().unwrap().attempts.clone()
    }

    fn delivered(&self) -> Vec<Value> {
        self.recorded.lock().unwrap().delivered.clone()
    }

    /// Waits (up to about 60 s) until a delivered notification is for
    /// `event_id`; returns it.
    async fn wait_for(&self, event_id: &str) -> Value {
        for _ in 0..600 {
            if let Some(n) = self
                .delivered()
                .into_iter()
                .find(|n| n["notification"]["event_id"] == event_id)
            {
                return n;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "no notification for {event_id}; attempts: {:?}",
            self.attempts()
        );
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The server, allowed to reach the test gateway on loopback.
async fn server(backend: Backend) -> TestServer {
    TestServer::start_with(backend, &[("MISSIVE_PUSH_IP_ALLOWLIST", "127.0.0.0/8")]).await
}

/// Sets an HTTP pusher for `token`; asserts success.
async fn set_pusher(server: &TestServer, token: &str, pushkey: &str, data: Value) {
    let (status, v) = server
        .call(
            Some(token),
            "POST",
            "/_matrix/client/v3/pushers/set",
            json!({
                "kind": "http",
                "app_id": "org.example.app",
                "pushkey": pushkey,
                "app_display_name": "Example",
                "device_display_name": "Phone",
                "lang": "en",
                "data": data,
            }),
        )
        .await;
    assert_eq!(status, 200, "pushers/set: {v}");
}

async fn pushers(server: &TestServer, token: &str) -> Vec<Value> {
    let (status, v) = server
        .call(
            Some(token),
            "GET",
            "/_matrix/client/v3/pushers",
            Value::Null,
        )
        .await;
    assert_eq!(status, 200, "{v}");
    v["pushers"].as_array().unwrap().clone()
}

/// Alice and Bob in a two-member room named "Lobby"; returns their tokens
/// and the room.
async fn pair(server: &TestServer) -> (String, String, String) {
    let alice = server.register_token("alice").await;
    let bob = server.register_token("bob").await;
    let room = server
        .create_room(&alice, json!({ "preset": "public_chat", "name": "Lobby" }))
        .await;
    server.join(&bob, &room).await;
    (alice, bob, room)
}

async fn say(server: &TestServer, token: &str, room: &str, txn: &str, body: Value) -> String {
    let (status, v) = server
        .send_event(token, room, "m.room.message", txn, body)
        .await;
    assert_eq!(status, 200, "send: {v}");
    v["event_id"].as_str().unwrap().to_owned()
}

async fn message_notifies_the_other_members_pusher(backend: Backend) {
    let gateway = Gateway::start(Mode::Accept).await;
    let server = server(backend).await;
    let (alice, bob, room) = pair(&server).await;
    set_pusher(
        &server,
        &bob,
        "bob-key",
        json!({ "url": gateway.url, "custom": "kept" }),
    )
    .await;
    let listed = pushers(&server, &bob).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["pushkey"], "bob-key");
    assert_eq!(listed[0]["data"]["url"], gateway.url);

    let event_id = say(
        &server,
        &alice,
        &room,
        "t1",
        json!({ "msgtype": "m.text", "body": "hello" }),
    )
    .await;
    let got = gateway.wait_for(&event_id).await;
    let n = &got["notification"];
    assert_eq!(n["room_id"], room);
    assert_eq!(n["type"], "m.room.message");
    assert_eq!(n["sender"], "@alice:localhost");
    assert_eq!(n["sender_display_name"], "alice");
    assert_eq!(n["room_name"], "Lobby");
    assert_eq!(n["content"]["body"], "hello");
    // The default priority, high, goes without saying (ruma leaves it out).
    assert!(n.get("prio").is_none() || n["prio"] == "high", "{n}");
    assert_eq!(n["counts"]["unread"], 1, "{n}");
    let device = &n["devices"][0];
    assert_eq!(device["app_id"], "org.example.app");
    assert_eq!(device["pushkey"], "bob-key");
    assert!(device["pushkey_ts"].is_u64(), "{device}");
    assert_eq!(device["data"]["custom"], "kept");
    assert!(
        device["data"].get("url").is_none(),
        "url is not sent: {device}"
    );
    // A one-to-one room rings (the default rule's sound tweak).
    assert_eq!(device["tweaks"]["sound"], "default", "{device}");
    // Alice's own message never reaches her; Bob's pusher got exactly one.
    assert_eq!(gateway.attempts().len(), 1, "{:?}", gateway.attempts());
}

async fn event_id_only_omits_the_content(backend: Backend) {
    let gateway = Gateway::start(Mode::Accept).await;
    let server = server(backend).await;
    let (alice, bob, room) = pair(&server).await;
    set_pusher(
        &server,
        &bob,
        "bob-key",
        json!({ "url": gateway.url, "format": "event_id_only" }),
    )
    .await;
    let event_id = say(
        &server,
        &alice,
        &room,
        "t1",
        json!({ "msgtype": "m.text", "body": "secret" }),
    )
    .await;
    let got = gateway.wait_for(&event_id).await;
    let n = &got["notification"];
    assert_eq!(n["room_id"], room);
    assert!(n.get("content").is_none(), "{n}");
    assert!(n.get("sender_display_name").is_none(), "{n}");
    assert!(!got.to_string().contains("secret"), "{got}");
    assert_eq!(n["devices"][0]["data"]["format"], "event_id_only");
}

async fn a_rejected_pushkey_removes_the_pusher(backend: Backend) {
    let gateway = Gateway::start(Mode::Reject(vec!["bob-key".into()])).await;
    let server = server(backend).await;
    let (alice, bob, room) = pair(&server).await;
    set_pusher(&server, &bob, "bob-key", json!({ "url": gateway.url })).await;
    let event_id = say(
        &server,
        &alice,
        &room,
        "t1",
        json!({ "msgtype": "m.text", "body": "hi" }),
    )
    .await;
    gateway.wait_for(&event_id).await;
    for _ in 0..100 {
        if pushers(&server, &bob).await.is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the rejected pusher is still listed");
}

async fn a_gateway_down_then_up_gets_the_notification(backend: Backend) {
    let gateway = Gateway::start(Mode::Down).await;
    let server = server(backend).await;
    let (alice, bob, room) = pair(&server).await;
    set_pusher(&server, &bob, "bob-key", json!({ "url": gateway.url })).await;
    let event_id = say(
        &server,
        &alice,
        &room,
        "t1",
        json!({ "msgtype": "m.text", "body": "hi" }),
    )
    .await;
    for _ in 0..600 {
        if !gateway.attempts().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!gateway.attempts().is_empty(), "the server never tried");
    gateway.set_mode(Mode::Accept);
    gateway.wait_for(&event_id).await;
    assert_eq!(
        pushers(&server, &bob).await.len(),
        1,
        "a failing gateway keeps its pusher"
    );
}

async fn a_restart_resumes_from_the_stored_position(backend: Backend) {
    let gateway = Gateway::start(Mode::Accept).await;
    let mut server = server(backend).await;
    let (alice, bob, room) = pair(&server).await;
    set_pusher(&server, &bob, "bob-key", json!({ "url": gateway.url })).await;
    let first = say(
        &server,
        &alice,
        &room,
        "t1",
        json!({ "msgtype": "m.text", "body": "one" }),
    )
    .await;
    gateway.wait_for(&first).await;
    // The gateway goes down: the second message waits, the server crashes,
    // and the restarted server delivers it once the gateway is back.
    gateway.set_mode(Mode::Down);
    let second = say(
        &server,
        &alice,
        &room,
        "t2",
        json!({ "msgtype": "m.text", "body": "two" }),
    )
    .await;
    server.crash_and_restart().await;
    gateway.set_mode(Mode::Accept);
    gateway.wait_for(&second).await;
    let third = say(
        &server,
        &alice,
        &room,
        "t3",
        json!({ "msgtype": "m.text", "body": "three" }),
    )
    .await;
    gateway.wait_for(&third).await;
    let ids: Vec<String> = gateway
        .delivered()
        .iter()
        .map(|n| n["notification"]["event_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        ids,
        vec![first, second, third],
        "each delivered once, in order"
    );
}

async fn internal_gateways_need_the_allowlist(backend: Backend) {
    let gateway = Gateway::start(Mode::Accept).await;
    // No MISSIVE_PUSH_IP_ALLOWLIST: loopback is internal, so refused.
    let server = TestServer::start(backend).await;
    let (alice, bob, room) = pair(&server).await;
    set_pusher(&server, &bob, "bob-key", json!({ "url": gateway.url })).await;
    say(
        &server,
        &alice,
        &room,
        "t1",
        json!({ "msgtype": "m.text", "body": "hi" }),
    )
    .await;
    for _ in 0..600 {
        if server.log().contains("not in the push IP allowlist") {
            assert!(gateway.attempts().is_empty(), "{:?}", gateway.attempts());
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "the server did not refuse the internal gateway:\n{}",
        server.log()
    );
}

async fn pushers_follow_their_device_and_pushkey(backend: Backend) {
    let gateway = Gateway::start(Mode::Accept).await;
    let server = server(backend).await;
    let alice = server.register_token("alice").await;
    let bob = server.register_token("bob").await;
    // The URL must be a push gateway's notify endpoint.
    let (status, v) = server
        .call(
            Some(&bob),
            "POST",
            "/_matrix/client/v3/pushers/set",
            json!({
                "kind": "http", "app_id": "a", "pushkey": "k", "app_display_name": "A",
                "device_display_name": "D", "lang": "en",
                "data": { "url": "http://127.0.0.1:1/somewhere" },
            }),
        )
        .await;
    assert_eq!(
        (status, v["errcode"].as_str()),
        (400, Some("M_INVALID_PARAM")),
        "{v}"
    );

    // Without `append`, the same app ID and pushkey moves from Alice to Bob.
    set_pusher(&server, &alice, "shared", json!({ "url": gateway.url })).await;
    set_pusher(&server, &bob, "shared", json!({ "url": gateway.url })).await;
    assert!(pushers(&server, &alice).await.is_empty());
    assert_eq!(pushers(&server, &bob).await.len(), 1);

    // `kind: null` deletes.
    let (status, v) = server
        .call(
            Some(&bob),
            "POST",
            "/_matrix/client/v3/pushers/set",
            json!({ "kind": null, "app_id": "org.example.app", "pushkey": "shared" }),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert!(pushers(&server, &bob).await.is_empty());

    // Logging out removes the pushers of the token's device.
    set_pusher(&server, &bob, "again", json!({ "url": gateway.url })).await;
    let (status, v) = server
        .call(Some(&bob), "POST", "/_matrix/client/v3/logout", json!({}))
        .await;
    assert_eq!(status, 200, "{v}");
    let (status, login) = server
        .call(
            None,
            "POST",
            "/_matrix/client/v3/login",
            json!({
                "type": "m.login.password",
                "identifier": { "type": "m.id.user", "user": "bob" },
                "password": support::PASSWORD,
            }),
        )
        .await;
    assert_eq!(status, 200, "{login}");
    let bob = login["access_token"].as_str().unwrap();
    assert!(pushers(&server, bob).await.is_empty());
}

async fn notifications_list_newest_first_and_filter_highlights(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (alice, bob, room) = pair(&server).await;
    let plain = say(
        &server,
        &alice,
        &room,
        "t1",
        json!({ "msgtype": "m.text", "body": "hello" }),
    )
    .await;
    let mention = say(
        &server,
        &alice,
        &room,
        "t2",
        json!({ "msgtype": "m.text", "body": "bob: look", "m.mentions": { "user_ids": ["@bob:localhost"] } }),
    )
    .await;
    let (status, all) = server
        .call(
            Some(&bob),
            "GET",
            "/_matrix/client/v3/notifications",
            Value::Null,
        )
        .await;
    assert_eq!(status, 200, "{all}");
    let list = all["notifications"].as_array().unwrap();
    let ids: Vec<&str> = list
        .iter()
        .map(|n| n["event"]["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![mention.as_str(), plain.as_str()], "{all}");
    assert_eq!(list[0]["room_id"], room);
    assert_eq!(list[0]["read"], false);
    assert!(list[0]["ts"].is_u64());
    assert!(
        list[0]["actions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["set_tweak"] == "highlight"),
        "{all}"
    );
    // A one-to-one room's message rings: the rule's sound tweak is listed.
    assert_eq!(
        list[1]["actions"],
        json!(["notify", { "set_tweak": "sound", "value": "default" }]),
        "{all}"
    );

    let (_, page) = server
        .call(
            Some(&bob),
            "GET",
            "/_matrix/client/v3/notifications?limit=1",
            Value::Null,
        )
        .await;
    assert_eq!(page["notifications"].as_array().unwrap().len(), 1, "{page}");
    let next = page["next_token"].as_str().unwrap();
    let (_, rest) = server
        .call(
            Some(&bob),
            "GET",
            &format!("/_matrix/client/v3/notifications?limit=5&from={next}"),
            Value::Null,
        )
        .await;
    assert_eq!(
        rest["notifications"][0]["event"]["event_id"],
        plain.as_str(),
        "{rest}"
    );
    assert_eq!(rest["notifications"].as_array().unwrap().len(), 1, "{rest}");

    let (_, highlights) = server
        .call(
            Some(&bob),
            "GET",
            "/_matrix/client/v3/notifications?only=highlight",
            Value::Null,
        )
        .await;
    let list = highlights["notifications"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{highlights}");
    assert_eq!(list[0]["event"]["event_id"], mention.as_str());

    // A read receipt on the newest marks both read.
    let (status, v) = server
        .call(
            Some(&bob),
            "POST",
            &format!("/_matrix/client/v3/rooms/{room}/receipt/m.read/{mention}"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let (_, after) = server
        .call(
            Some(&bob),
            "GET",
            "/_matrix/client/v3/notifications",
            Value::Null,
        )
        .await;
    assert!(
        after["notifications"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["read"] == true),
        "{after}"
    );
    // Alice has no notifications of her own messages.
    let (_, hers) = server
        .call(
            Some(&alice),
            "GET",
            "/_matrix/client/v3/notifications",
            Value::Null,
        )
        .await;
    assert_eq!(hers["notifications"], json!([]), "{hers}");
}

async fn push_rule_listings_room_rules_and_malformed_paths(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register_token("alice").await;
    let room = server.create_room(&alice, json!({})).await;
    let base = "/_matrix/client/v3/pushrules";

    let (status, v) = server
        .call(
            Some(&alice),
            "GET",
            &format!("{base}/global/override/"),
            Value::Null,
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let list = v.as_array().unwrap_or_else(|| panic!("an array: {v}"));
    assert!(list.iter().any(|r| r["rule_id"] == ".m.rule.master"), "{v}");

    let (status, v) = server
        .call(
            Some(&alice),
            "PUT",
            &format!("{base}/global/room/{room}"),
            json!({ "actions": ["notify"] }),
        )
        .await;
    assert_eq!(status, 200, "room rule: {v}");
    let (status, v) = server
        .call(
            Some(&alice),
            "GET",
            &format!("{base}/global/room/{room}"),
            Value::Null,
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["rule_id"], room.as_str());
    // Clients percent-encode the room ID in the path (matrix-sdk does).
    let encoded = room.replace('!', "%21").replace(':', "%3A");
    let (status, v) = server
        .call(
            Some(&alice),
            "PUT",
            &format!("{base}/global/room/{encoded}/actions"),
            json!({ "actions": [] }),
        )
        .await;
    assert_eq!(status, 200, "encoded room rule: {v}");
    let (status, v) = server
        .call(
            Some(&alice),
            "GET",
            &format!("{base}/global/room/{encoded}"),
            Value::Null,
        )
        .await;
    assert_eq!((status, &v["actions"]), (200, &json!([])), "{v}");
    let (_, v) = server
        .call(
            Some(&alice),
            "GET",
            &format!("{base}/global/room/"),
            Value::Null,
        )
        .await;
    assert!(
        v.as_array()
            .unwrap()
            .iter()
            .any(|r| r["rule_id"] == room.as_str()),
        "{v}"
    );

    for (method, path, errcode) in [
        ("GET", "/device/override/x", "M_UNRECOGNIZED"),
        ("PUT", "/device/override/x", "M_UNRECOGNIZED"),
        ("GET", "/global/nonsense/", "M_UNRECOGNIZED"),
        ("GET", "/global/nonsense/x", "M_UNRECOGNIZED"),
        ("PUT", "/global/nonsense/x", "M_INVALID_PARAM"),
        ("DELETE", "/global/nonsense/x", "M_INVALID_PARAM"),
        ("PUT", "/global/room/", "M_UNRECOGNIZED"),
        ("DELETE", "/global/room/", "M_UNRECOGNIZED"),
    ] {
        let (status, v) = server
            .call(
                Some(&alice),
                method,
                &format!("{base}{path}"),
                json!({ "actions": ["notify"] }),
            )
            .await;
        assert_eq!(
            (status, v["errcode"].as_str()),
            (400, Some(errcode)),
            "{method} {path}: {v}"
        );
    }
}

both_backends!(
    internal_gateways_need_the_allowlist => internal_gateways_need_the_allowlist,
    message_notifies_the_other_members_pusher => message_notifies_the_other_members_pusher,
    event_id_only_omits_the_content => event_id_only_omits_the_content,
    a_rejected_pushkey_removes_the_pusher => a_rejected_pushkey_removes_the_pusher,
    a_gateway_down_then_up_gets_the_notification => a_gateway_down_then_up_gets_the_notification,
    a_restart_resumes_from_the_stored_position => a_restart_resumes_from_the_stored_position,
    pushers_follow_their_device_and_pushkey => pushers_follow_their_device_and_pushkey,
    notifications_list_newest_first_and_filter_highlights => notifications_list_newest_first_and_filter_highlights,
    push_rule_listings_room_rules_and_malformed_paths => push_rule_listings_room_rules_and_malformed_paths,
);

/// Two processes on one PostgreSQL database: one delivers, whichever
/// process took the message, and nothing is delivered twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_sharing_a_database_deliver_once() {
    let gateway = Gateway::start(Mode::Accept).await;
    let first = server(Backend::Postgres).await;
    let second = first.second_process().await;
    let (alice, bob, room) = pair(&first).await;
    set_pusher(&second, &bob, "bob-key", json!({ "url": gateway.url })).await;
    let one = say(
        &first,
        &alice,
        &room,
        "t1",
        json!({ "msgtype": "m.text", "body": "one" }),
    )
    .await;
    gateway.wait_for(&one).await;
    let two = say(
        &second,
        &alice,
        &room,
        "t2",
        json!({ "msgtype": "m.text", "body": "two" }),
    )
    .await;
    gateway.wait_for(&two).await;
    let ids: Vec<String> = gateway
        .delivered()
        .iter()
        .map(|n| n["notification"]["event_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, vec![one, two], "each delivered once");
}
