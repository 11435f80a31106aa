//! State resolution after a partition: two servers share a room; one is
//! stopped while the other's admin changes power levels, membership and the
//! topic; then that one is stopped and the first comes back, whose admin
//! makes conflicting changes of the same kinds; once both run again, their
//! queues cross and each side resolves the fork. Both must end in the same
//! state, the one state resolution v2 gives (worked out below), between two
//! missive-servers (room versions 11 and 12, the revised algorithm) and
//! between missive-server and Synapse.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;

use serde_json::{Value, json};
use support::{Backend, PASSWORD, TestServer, federation::encode, synapse::Synapse};

/// A user of either server, over raw HTTP.
struct User {
    base: String,
    token: String,
    id: String,
}

impl User {
    /// Registers `name` with the dummy stage (answering the UIA challenge
    /// with its session when the server asks for one).
    async fn register(base: &str, name: &str) -> Self {
        let http = reqwest::Client::new();
        let url = format!("{base}/_matrix/client/v3/register");
        let mut body =
            json!({ "username": name, "password": PASSWORD, "auth": { "type": "m.login.dummy" } });
        let mut res = http.post(&url).json(&body).send().await.unwrap();
        if res.status() == 401 {
            let session = res.json::<Value>().await.unwrap()["session"].clone();
            body["auth"]["session"] = session;
            res = http.post(&url).json(&body).send().await.unwrap();
        }
        let v: Value = res.json().await.unwrap();
        Self {
            base: base.to_owned(),
            token: v["access_token"].as_str().expect("registered").to_owned(),
            id: v["user_id"].as_str().unwrap().to_owned(),
        }
    }

    async fn call(&self, method: &str, path: &str, body: Value) -> (u16, Value) {
        let mut req = reqwest::Client::new()
            .request(method.parse().unwrap(), format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if !body.is_null() {
            req = req.json(&body);
        }
        match req.send().await {
            Ok(res) => {
                let status = res.status().as_u16();
                (status, res.json().await.unwrap_or(Value::Null))
            }
            // A server being restarted.
            Err(_) => (0, Value::Null),
        }
    }

    async fn ok(&self, method: &str, path: &str, body: Value) -> Value {
        let (status, v) = self.call(method, path, body).await;
        assert_eq!(status, 200, "{} {method} {path}: {v}", self.id);
        v
    }

    async fn set_state(&self, room: &str, ty: &str, key: &str, content: Value) {
        self.ok(
            "PUT",
            &format!(
                "/_matrix/client/v3/rooms/{}/state/{ty}/{}",
                encode(room),
                encode(key)
            ),
            content,
        )
        .await;
    }

    async fn power_levels(&self, room: &str) -> Value {
        self.ok(
            "GET",
            &format!(
                "/_matrix/client/v3/rooms/{}/state/m.room.power_levels/",
                encode(room)
            ),
            Value::Null,
        )
        .await
    }

    /// The room's current state as this user's server holds it: event ID
    /// and content by (type, state key); `None` while the server is down.
    async fn state(&self, room: &str) -> Option<BTreeMap<(String, String), (String, Value)>> {
        let (status, v) = self
            .call(
                "GET",
                &format!("/_matrix/client/v3/rooms/{}/state", encode(room)),
                Value::Null,
            )
            .await;
        (status == 200).then(|| {
            v.as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    (
                        (
                            e["type"].as_str().unwrap().to_owned(),
                            e["state_key"].as_str().unwrap().to_owned(),
                        ),
                        (
                            e["event_id"].as_str().unwrap().to_owned(),
                            e["content"].clone(),
                        ),
                    )
                })
                .collect()
        })
    }
}

/// Either kind of server, stopped and started by the scenario.
enum Node {
    Missive(TestServer),
    Synapse(Synapse),
}

impl Node {
    fn base(&self) -> &str {
        match self {
            Node::Missive(s) => &s.base_url,
            Node::Synapse(s) => &s.base_url,
        }
    }

    fn server_name(&self) -> &str {
        match self {
            Node::Missive(s) => &s.server_name,
            Node::Synapse(s) => &s.server_name,
        }
    }

    fn kill(&mut self) {
        match self {
            Node::Missive(s) => s.kill(),
            Node::Synapse(s) => s.kill(),
        }
    }

    async fn start_again(&mut self) {
        match self {
            Node::Missive(s) => s.start_again().await,
            Node::Synapse(s) => s.start_again().await,
        }
    }
}

/// Polls `until` once a second, at most `secs` times.
async fn eventually<F, Fut>(secs: usize, what: &str, mut until: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..secs {
        if until().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
    panic!("gave up waiting for: {what}");
}

fn membership(state: &BTreeMap<(String, String), (String, Value)>, user: &str) -> Option<String> {
    state
        .get(&("m.room.member".to_owned(), user.to_owned()))
        .and_then(|(_, c)| c["membership"].as_str().map(str::to_owned))
}

/// The scenario on `a` (where the room is created) and `b`.
async fn partition(mut a: Node, mut b: Node, version: &str) {
    let root = User::register(a.base(), "root").await;
    let alice = User::register(a.base(), "alice").await;
    let carol = User::register(a.base(), "carol").await;
    let dave = User::register(a.base(), "dave").await;
    let bob = User::register(b.base(), "bob").await;

    // Alice (server A) and Bob (server B) both administer the room; its
    // creator stays out of it (in version 12 a creator's power is
    // unlimited and not in `users`).
    let mut users = json!({ alice.id.clone(): 100, bob.id.clone(): 100 });
    if version != "12" {
        users[&root.id] = json!(100);
    }
    let created = root
        .ok(
            "POST",
            "/_matrix/client/v3/createRoom",
            json!({ "preset": "public_chat", "room_version": version,
                    "power_level_content_override": { "users": users } }),
        )
        .await;
    let room = created["room_id"].as_str().unwrap().to_owned();
    let path = |p: &str| format!("/_matrix/client/v3/{p}");
    alice
        .ok("POST", &path(&format!("join/{}", encode(&room))), json!({}))
        .await;
    carol
        .ok("POST", &path(&format!("join/{}", encode(&room))), json!({}))
        .await;
    bob.ok(
        "POST",
        &path(&format!(
            "join/{}?server_name={}",
            encode(&room),
            encode(a.server_name())
        )),
        json!({}),
    )
    .await;
    // B has the whole room before the partition.
    eventually(60, "B sees carol joined", || async {
        bob.state(&room)
            .await
            .is_some_and(|s| membership(&s, &carol.id).as_deref() == Some("join"))
    })
    .await;
    let original = alice.power_levels(&room).await;

    // B stopped: Alice promotes Carol, invites Dave, sets a topic.
    b.kill();
    let mut on_a = original.clone();
    on_a["users"][&carol.id] = json!(50);
    alice
        .set_state(&room, "m.room.power_levels", "", on_a)
        .await;
    alice
        .ok(
            "POST",
            &path(&format!("rooms/{}/invite", encode(&room))),
            json!({ "user_id": dave.id }),
        )
        .await;
    alice
        .set_state(&room, "m.room.topic", "", json!({ "topic": "A side" }))
        .await;

    // A stopped, B back: Bob (who still sees the original power levels)
    // raises the kick level, bans Carol, sets another topic.
    a.kill();
    b.start_again().await;
    let mut on_b = original.clone();
    on_b["kick"] = json!(75);
    bob.set_state(&room, "m.room.power_levels", "", on_b.clone())
        .await;
    bob.ok(
        "POST",
        &path(&format!("rooms/{}/ban", encode(&room))),
        json!({ "user_id": carol.id, "reason": "partition" }),
    )
    .await;
    bob.set_state(&room, "m.room.topic", "", json!({ "topic": "B side" }))
        .await;

    // Both up: the queues cross, each side resolves the fork.
    a.start_again().await;
    let mut state = None;
    for _ in 0..120 {
        if let (Some(x), Some(y)) = (alice.state(&room).await, bob.state(&room).await)
            && x == y
        {
            state = Some(x);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
    let Some(state) = state else {
        panic!(
            "the two servers never agreed:\nA: {:#?}\nB: {:#?}",
            alice.state(&room).await,
            bob.state(&room).await
        );
    };

    // What state resolution v2 gives: both power level changes pass auth
    // (each sender had 100); ordered by the senders' power, then time,
    // Alice's comes first and Bob's, applied after it, wins (Carol's
    // promotion is lost with it). Carol's ban (Bob has 100) and Dave's
    // invite both hold; of the two topics, Bob's comes later on the
    // resolved power levels' mainline.
    let (_, power) = &state[&("m.room.power_levels".to_owned(), String::new())];
    assert_eq!(power, &on_b, "Bob's power levels win");
    assert_eq!(membership(&state, &carol.id).as_deref(), Some("ban"));
    assert_eq!(membership(&state, &dave.id).as_deref(), Some("invite"));
    assert_eq!(membership(&state, &bob.id).as_deref(), Some("join"));
    let (_, topic) = &state[&("m.room.topic".to_owned(), String::new())];
    assert_eq!(topic["topic"], "B side");
}

async fn between_missive_servers(backend: Backend, version: &str) {
    let a = TestServer::start_federating(backend, &[]).await;
    let b = TestServer::start_federating(backend, &[]).await;
    partition(Node::Missive(a), Node::Missive(b), version).await;
}

async fn v11(backend: Backend) {
    between_missive_servers(backend, "11").await;
}

async fn v12(backend: Backend) {
    between_missive_servers(backend, "12").await;
}

both_backends!(
    a_partition_heals_to_one_state_v11 => v11,
    a_partition_heals_to_one_state_v12 => v12,
);

/// The same partition between missive-server (holding the room) and
/// Synapse, in Synapse's default room version: both resolve it alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_with_synapse_heals_to_the_same_state() {
    let synapse = Synapse::start().await;
    let missive = TestServer::start_federating(Backend::Sqlite, &[]).await;
    partition(Node::Missive(missive), Node::Synapse(synapse), "12").await;
}
