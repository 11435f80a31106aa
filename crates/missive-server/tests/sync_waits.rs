//! A long-poll waits only when there is nothing to send: a sync whose token
//! is the stream's newest position goes straight to waiting, unless
//! to-device messages were held back by the previous answer's limit.

// Test code throughout: allow-unwrap-in-tests (clippy.toml) covers only
// #[test] functions, not the helpers an integration test crate shares.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use reqwest::Client;
use serde_json::{Value, json};
use support::{Backend, TestServer};

async fn call(http: &Client, method: &str, url: String, token: &str, body: Option<Value>) -> Value {
    let mut req = http
        .request(method.parse().unwrap(), url)
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.expect("request");
    assert!(res.status().is_success(), "{}", res.status());
    res.json().await.expect("json")
}

#[tokio::test]
async fn to_device_messages_beyond_one_answer_come_without_waiting() {
    let server = TestServer::start(Backend::Sqlite).await;
    let http = Client::new();
    let url = |path: &str| format!("{}{path}", server.base_url);
    let registered = server.register_raw("tess").await;
    let token = registered["access_token"].as_str().unwrap().to_owned();
    let device = registered["device_id"].as_str().unwrap().to_owned();
    let first = call(&http, "GET", url("/_matrix/client/v3/sync"), &token, None).await;
    let mut since = first["next_batch"].as_str().unwrap().to_owned();

    // 150 messages in 150 requests: more than one answer carries (100).
    for i in 0..150 {
        let body = json!({ "messages": { "@tess:localhost": { &device: { "n": i } } } });
        call(
            &http,
            "PUT",
            url(&format!("/_matrix/client/v3/sendToDevice/m.test/t{i}")),
            &token,
            Some(body),
        )
        .await;
    }

    let mut received = 0;
    for _ in 0..2 {
        // A long timeout: if the server waited for news while messages
        // remain queued, this would hang until the guard below fails.
        let answer = tokio::time::timeout(
            Duration::from_secs(30),
            call(
                &http,
                "GET",
                url(&format!(
                    "/_matrix/client/v3/sync?since={since}&timeout=60000"
                )),
                &token,
                None,
            ),
        )
        .await
        .expect("a sync with queued to-device messages answers at once");
        received += answer["to_device"]["events"].as_array().unwrap().len();
        since = answer["next_batch"].as_str().unwrap().to_owned();
    }
    assert_eq!(received, 150);
}
