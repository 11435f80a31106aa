//! Raw HTTP calls for tests that check exact statuses and errcodes.

use serde_json::Value;

use super::TestServer;

impl TestServer {
    /// Sends `body` as JSON (none for `Value::Null`) with `token` as the
    /// bearer token (none if `None`); returns the status and the JSON
    /// answer (`Value::Null` if it was not JSON).
    pub async fn call(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Value,
    ) -> (u16, Value) {
        let mut req = reqwest::Client::new().request(
            method.parse().expect("HTTP method"),
            format!("{}{path}", self.base_url),
        );
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if !body.is_null() {
            req = req.json(&body);
        }
        let res = req.send().await.expect("request sent");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// Creates a room as `token` with `body`; returns its ID.
    pub async fn create_room(&self, token: &str, body: Value) -> String {
        let (status, v) = self
            .call(Some(token), "POST", "/_matrix/client/v3/createRoom", body)
            .await;
        assert_eq!(status, 200, "createRoom: {v}");
        v["room_id"].as_str().expect("room_id").to_owned()
    }

    /// Sends a message event; returns the status and answer.
    pub async fn send_event(
        &self,
        token: &str,
        room: &str,
        event_type: &str,
        txn: &str,
        content: Value,
    ) -> (u16, Value) {
        self.call(
            Some(token),
            "PUT",
            &format!("/_matrix/client/v3/rooms/{room}/send/{event_type}/{txn}"),
            content,
        )
        .await
    }

    /// Sends a state event; returns the status and answer.
    pub async fn send_state(
        &self,
        token: &str,
        room: &str,
        event_type: &str,
        state_key: &str,
        content: Value,
    ) -> (u16, Value) {
        self.call(
            Some(token),
            "PUT",
            &format!("/_matrix/client/v3/rooms/{room}/state/{event_type}/{state_key}"),
            content,
        )
        .await
    }

    /// Joins `room` as `token`, asserting success.
    pub async fn join(&self, token: &str, room: &str) {
        let (status, v) = self
            .call(
                Some(token),
                "POST",
                &format!("/_matrix/client/v3/join/{room}"),
                serde_json::json!({}),
            )
            .await;
        assert_eq!(status, 200, "join: {v}");
    }

    /// Sends a text message as `token`, asserting success; returns its ID.
    pub async fn say(&self, token: &str, room: &str, txn: &str, body: &str) -> String {
        let (status, v) = self
            .send_event(
                token,
                room,
                "m.room.message",
                txn,
                serde_json::json!({ "msgtype": "m.text", "body": body }),
            )
            .await;
        assert_eq!(status, 200, "send: {v}");
        v["event_id"].as_str().expect("event_id").to_owned()
    }
}
