//! A minimal Client-Server API client: just what the scenarios need.

use std::time::Duration;

use serde_json::{Value, json};

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    pub token: String,
    pub user_id: String,
}

pub type Result<T> = std::result::Result<T, String>;

async fn check(res: reqwest::Response) -> Result<Value> {
    let status = res.status();
    let body: Value = res.json().await.map_err(|e| e.to_string())?;
    if status.is_success() {
        Ok(body)
    } else {
        Err(format!("{status}: {body}"))
    }
}

impl Client {
    /// An HTTP client of its own (its own connections), or to share among
    /// many users with [`Client::register_on`].
    pub fn http() -> reqwest::Client {
        // Connections are kept for reuse, as real clients keep theirs: a
        // burst that opened more than the pool keeps would otherwise close
        // them afterwards and connect again (the server measured accepting
        // connections, not serving requests).
        reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .timeout(Duration::from_secs(120))
            .build()
            .expect("http client")
    }

    /// Registers `name` with the dummy auth stage (retrying the UIA step).
    pub async fn register(base: &str, name: &str) -> Result<Self> {
        Self::register_on(Self::http(), base, name).await
    }

    /// [`Client::register`] over a shared HTTP client: thousands of users
    /// need not hold thousands of idle connections.
    pub async fn register_on(http: reqwest::Client, base: &str, name: &str) -> Result<Self> {
        let url = format!("{base}/_matrix/client/v3/register");
        let body = json!({ "username": name, "password": "bench-password-1", "auth": { "type": "m.login.dummy" } });
        let res = http
            .post(&url)
            .json(&body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let v = if res.status() == 401 {
            let session = res.json::<Value>().await.map_err(|e| e.to_string())?["session"].clone();
            let body = json!({ "username": name, "password": "bench-password-1",
                               "auth": { "type": "m.login.dummy", "session": session } });
            check(
                http.post(&url)
                    .json(&body)
                    .send()
                    .await
                    .map_err(|e| e.to_string())?,
            )
            .await?
        } else {
            check(res).await?
        };
        Ok(Self {
            http,
            base: base.to_owned(),
            token: v["access_token"].as_str().ok_or("no token")?.to_owned(),
            user_id: v["user_id"].as_str().ok_or("no user id")?.to_owned(),
        })
    }

    pub async fn login(base: &str, name: &str) -> Result<Self> {
        let http = Self::http();
        let body = json!({ "type": "m.login.password", "identifier": { "type": "m.id.user", "user": name },
                           "password": "bench-password-1" });
        let v = check(
            http.post(format!("{base}/_matrix/client/v3/login"))
                .json(&body)
                .send()
                .await
                .map_err(|e| e.to_string())?,
        )
        .await?;
        Ok(Self {
            http,
            base: base.to_owned(),
            token: v["access_token"].as_str().ok_or("no token")?.to_owned(),
            user_id: v["user_id"].as_str().ok_or("no user id")?.to_owned(),
        })
    }

    pub async fn post(&self, path: &str, body: Value) -> Result<Value> {
        check(
            self.http
                .post(format!("{}{path}", self.base))
                .bearer_auth(&self.token)
                .json(&body)
                .send()
                .await
                .map_err(|e| e.to_string())?,
        )
        .await
    }

    pub async fn put(&self, path: &str, body: Value) -> Result<Value> {
        check(
            self.http
                .put(format!("{}{path}", self.base))
                .bearer_auth(&self.token)
                .json(&body)
                .send()
                .await
                .map_err(|e| e.to_string())?,
        )
        .await
    }

    pub async fn get(&self, path: &str) -> Result<Value> {
        check(
            self.http
                .get(format!("{}{path}", self.base))
                .bearer_auth(&self.token)
                .send()
                .await
                .map_err(|e| e.to_string())?,
        )
        .await
    }

    pub async fn create_room(&self, invite: &[String]) -> Result<String> {
        self.create_room_with(json!({ "preset": "private_chat", "invite": invite }))
            .await
    }

    /// A room anyone on the server may join without an invitation.
    pub async fn create_public_room(&self) -> Result<String> {
        self.create_room_with(json!({ "preset": "public_chat" }))
            .await
    }

    async fn create_room_with(&self, body: Value) -> Result<String> {
        let v = self.post("/_matrix/client/v3/createRoom", body).await?;
        Ok(v["room_id"].as_str().ok_or("no room id")?.to_owned())
    }

    pub async fn join(&self, room: &str) -> Result<()> {
        self.post(&format!("/_matrix/client/v3/join/{}", enc(room)), json!({}))
            .await
            .map(|_| ())
    }

    /// Joins `room` through `server` (`server_name` in the query): a room
    /// of another server.
    pub async fn join_via(&self, room: &str, server: &str) -> Result<()> {
        let path = format!(
            "/_matrix/client/v3/join/{}?server_name={}",
            enc(room),
            enc_query(server)
        );
        self.post(&path, json!({})).await.map(|_| ())
    }

    pub async fn send_text(&self, room: &str, txn: &str, body: &str) -> Result<()> {
        let path = format!(
            "/_matrix/client/v3/rooms/{}/send/m.room.message/{txn}",
            enc(room)
        );
        self.put(&path, json!({ "msgtype": "m.text", "body": body }))
            .await
            .map(|_| ())
    }

    pub async fn sync(&self, since: Option<&str>, timeout_ms: u64) -> Result<Value> {
        let mut path = format!("/_matrix/client/v3/sync?timeout={timeout_ms}");
        if let Some(s) = since {
            path.push_str(&format!("&since={s}"));
        }
        self.get(&path).await
    }
}

pub fn enc(s: &str) -> String {
    s.replace('!', "%21")
        .replace(':', "%3A")
        .replace('#', "%23")
        .replace('@', "%40")
}

/// Percent-encodes a query parameter value (a JSON filter).
pub fn enc_query(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
