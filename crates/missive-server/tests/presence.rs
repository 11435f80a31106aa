//! Presence: syncing marks a user online, `PUT /presence` sets a state and
//! message, and only users sharing a room see either.

// Test code throughout: allow-unwrap-in-tests (clippy.toml) covers only
// #[test] functions, not the helpers an integration test crate shares.
#![allow(clippy::unwrap_used)]

mod support;

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use support::{Backend, TestServer};

struct User {
    token: String,
    id: String,
}

struct Api {
    server: TestServer,
    http: Client,
}

impl Api {
    async fn call(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(
                method.parse().unwrap(),
                format!("{}{path}", self.server.base_url),
            )
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("request");
        (res.status(), res.json().await.unwrap_or(Value::Null))
    }

    async fn register(&self, name: &str) -> User {
        let json = self.server.register_raw(name).await;
        User {
            token: json["access_token"].as_str().unwrap().to_owned(),
            id: json["user_id"].as_str().unwrap().to_owned(),
        }
    }

    async fn sync(&self, user: &User, since: Option<&str>, query: &str) -> Value {
        let path = match since {
            Some(s) => format!("/_matrix/client/v3/sync?since={s}&{query}"),
            None => format!("/_matrix/client/v3/sync?{query}"),
        };
        let (status, json) = self.call("GET", &path, &user.token, None).await;
        assert_eq!(status, StatusCode::OK, "{json}");
        json
    }

    async fn presence_of(&self, viewer: &User, target: &User) -> (StatusCode, Value) {
        self.call(
            "GET",
            &format!("/_matrix/client/v3/presence/{}/status", target.id),
            &viewer.token,
            None,
        )
        .await
    }
}

/// The presence events about `user` in a sync answer.
fn presence_events<'a>(sync: &'a Value, user: &User) -> Vec<&'a Value> {
    sync["presence"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["sender"] == user.id.as_str())
        .collect()
}

#[tokio::test]
async fn presence_follows_syncs_and_explicit_states() {
    let api = Api {
        server: TestServer::start(Backend::Sqlite).await,
        http: Client::new(),
    };
    let alice = api.register("alice").await;
    let bob = api.register("bob").await;
    let carol = api.register("carol").await;
    let (_, room) = api
        .call(
            "POST",
            "/_matrix/client/v3/createRoom",
            &alice.token,
            Some(json!({ "invite": [bob.id] })),
        )
        .await;
    let room = room["room_id"].as_str().unwrap().to_owned();
    let (status, _) = api
        .call(
            "POST",
            &format!("/_matrix/client/v3/join/{room}"),
            &bob.token,
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // A sync that asks to stay offline marks nothing: bob is offline, as
    // someone who never set a presence is.
    api.sync(&bob, None, "set_presence=offline").await;
    let (status, body) = api.presence_of(&alice, &bob).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["presence"], "offline", "{body}");
    assert!(body.get("last_active_ago").is_none(), "{body}");

    // Bob's sync marks him online; Alice sees it in her sync and on request.
    let first = api.sync(&alice, None, "").await;
    let since = first["next_batch"].as_str().unwrap().to_owned();
    api.sync(&bob, None, "").await;
    let news = api.sync(&alice, Some(&since), "timeout=10000").await;
    let seen = presence_events(&news, &bob);
    assert_eq!(seen.len(), 1, "{news}");
    assert_eq!(seen[0]["content"]["presence"], "online");
    let since = news["next_batch"].as_str().unwrap().to_owned();

    // Bob steps away with a message: his next syncs, marking him online,
    // bring him back (as a sync's set_presence asks).
    let (status, _) = api
        .call(
            "PUT",
            &format!("/_matrix/client/v3/presence/{}/status", bob.id),
            &bob.token,
            Some(json!({ "presence": "unavailable", "status_msg": "in a meeting" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, now) = api.presence_of(&alice, &bob).await;
    assert_eq!(now["presence"], "unavailable");
    assert_eq!(now["status_msg"], "in a meeting");
    let news = api.sync(&alice, Some(&since), "timeout=10000").await;
    let seen = presence_events(&news, &bob);
    assert_eq!(
        seen.last().unwrap()["content"]["presence"],
        "unavailable",
        "{news}"
    );
    api.sync(&bob, None, "").await;
    let (_, now) = api.presence_of(&alice, &bob).await;
    assert_eq!(now["presence"], "online");
    assert_eq!(now["status_msg"], "in a meeting", "the message stays");
    api.sync(&bob, None, "set_presence=unavailable").await;
    let (_, now) = api.presence_of(&alice, &bob).await;
    assert_eq!(now["presence"], "unavailable");

    // Carol shares no room with Bob.
    let (status, json) = api.presence_of(&carol, &bob).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{json}");
}
