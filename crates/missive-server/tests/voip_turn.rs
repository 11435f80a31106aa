//! `GET /voip/turnServer` against a real coturn (support/coturn.rs): the
//! credentials the server hands out get a relay allocation from coturn,
//! tampered or expired ones do not; without a TURN server the answer is
//! Synapse's empty object; guests get credentials only when allowed.

// Test code throughout: allow-unwrap-in-tests (clippy.toml) covers only
// #[test] functions, not the helpers an integration test crate shares.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use support::{Backend, TestServer, coturn::Coturn};

const SECRET: &str = "a-secret-shared-with-coturn";

async fn turn_server(server: &TestServer, token: &str) -> (u16, Value) {
    server
        .call(
            Some(token),
            "GET",
            "/_matrix/client/v3/voip/turnServer",
            json!({}),
        )
        .await
}

/// A real coturn, and a server handing out credentials for it valid
/// `ttl` seconds; with the TURN URI it names.
async fn coturn_and_server(ttl: &str) -> (Coturn, TestServer, String) {
    let coturn = Coturn::start(SECRET).await;
    let uri = format!("turn:127.0.0.1:{}?transport=udp", coturn.port);
    let server = TestServer::start_with(
        Backend::Sqlite,
        &[
            ("MISSIVE_TURN_URIS", uri.as_str()),
            ("MISSIVE_TURN_SECRET", SECRET),
            ("MISSIVE_TURN_TTL", ttl),
        ],
    )
    .await;
    (coturn, server, uri)
}

/// The expiry a TURN REST username starts with.
fn expiry_of(username: &str) -> u64 {
    username.split_once(':').unwrap().0.parse().unwrap()
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coturn_accepts_the_credentials_handed_out_and_no_others() {
    let (coturn, server, uri) = coturn_and_server("600").await;
    let alice = server.register_token("alice").await;
    let before = now_secs();
    let (status, body) = turn_server(&server, &alice).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["uris"], json!([uri]));
    assert_eq!(body["ttl"], 600);
    let username = body["username"].as_str().unwrap();
    let password = body["password"].as_str().unwrap();
    assert!(username.ends_with(":@alice:localhost"), "{username}");
    let expiry = expiry_of(username);
    assert!((before + 600..=now_secs() + 600).contains(&expiry));

    assert!(
        coturn.allocates(username, password).await,
        "coturn refused the server's credentials:\n{}",
        coturn.log()
    );
    // The password is bound to the username: another user, another
    // expiry or another password is refused.
    let bob = username.replace("@alice", "@bob");
    assert!(!coturn.allocates(&bob, password).await);
    let later = format!("{}:@alice:localhost", expiry + 1);
    assert!(!coturn.allocates(&later, password).await);
    assert!(
        !coturn
            .allocates(username, "AAAAAAAAAAAAAAAAAAAAAAAAAAA=")
            .await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_credentials_are_refused() {
    let (coturn, server, _) = coturn_and_server("1").await;
    let alice = server.register_token("alice").await;
    let (_, body) = turn_server(&server, &alice).await;
    let username = body["username"].as_str().unwrap();
    let password = body["password"].as_str().unwrap();
    // Waits for the expiry to pass (coturn compares whole seconds).
    while now_secs() <= expiry_of(username) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        !coturn.allocates(username, password).await,
        "coturn accepted expired credentials"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_turn_server_the_answer_is_empty_and_guests_need_permission() {
    let server = TestServer::start_with(Backend::Sqlite, &[("MISSIVE_GUEST_ACCESS", "on")]).await;
    let alice = server.register_token("alice").await;
    assert_eq!(turn_server(&server, &alice).await, (200, json!({})));
    let (_, guest) = server
        .call(
            None,
            "POST",
            "/_matrix/client/v3/register?kind=guest",
            json!({}),
        )
        .await;
    let guest = guest["access_token"].as_str().unwrap().to_owned();
    let (status, body) = turn_server(&server, &guest).await;
    assert_eq!(
        (status, &body["errcode"]),
        (403, &json!("M_GUEST_ACCESS_FORBIDDEN"))
    );

    let allowed = TestServer::start_with(
        Backend::Sqlite,
        &[
            ("MISSIVE_GUEST_ACCESS", "on"),
            ("MISSIVE_TURN_GUESTS", "on"),
            (
                "MISSIVE_TURN_URIS",
                "turn:turn.example.org:3478?transport=udp,turns:turn.example.org:5349",
            ),
            ("MISSIVE_TURN_SECRET", SECRET),
        ],
    )
    .await;
    let (_, guest) = allowed
        .call(
            None,
            "POST",
            "/_matrix/client/v3/register?kind=guest",
            json!({}),
        )
        .await;
    let guest = guest["access_token"].as_str().unwrap().to_owned();
    let (status, body) = turn_server(&allowed, &guest).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ttl"], 86_400, "the default lifetime is a day");
    assert_eq!(body["uris"].as_array().unwrap().len(), 2);
}
