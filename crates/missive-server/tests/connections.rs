//! Bounded connections, with the real binary and raw TCP clients: a
//! request header must arrive whole within its deadline, an idle
//! keep-alive connection is closed, a long poll in flight is not, the
//! connection cap keeps the server serving, and the open-files limit is
//! raised at start.
//!
//! The deadlines are configured short (1 s); the tests assert what the
//! client observes (the server closes: a read returns 0), never how long
//! it took. Each wait has a generous guard so that a missing deadline
//! fails the test instead of hanging it.

// Test code throughout: allow-unwrap-in-tests (clippy.toml) covers only
// #[test] functions, not the helpers an integration test crate shares.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use support::{Backend, TestServer};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// How long a test waits for the server to close a connection before
/// concluding that it never will (many times the configured deadlines).
const GUARD: Duration = Duration::from_secs(30);

fn addr(server: &TestServer) -> String {
    server.base_url.trim_start_matches("http://").to_owned()
}

/// Reads until the server closes the connection; returns what was read.
/// Panics if the connection is still open after [`GUARD`].
async fn read_until_closed(stream: &mut TcpStream, what: &str) -> Vec<u8> {
    let mut got = Vec::new();
    let closed = tokio::time::timeout(GUARD, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) => panic!("{what}: expected an orderly close, got {e}"),
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "{what}: the server never closed it");
    got
}

/// Reads one HTTP response with a `Content-Length` body; returns its text.
async fn read_response(stream: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(GUARD, stream.read(&mut buf))
            .await
            .expect("a response")
            .expect("read");
        assert!(n > 0, "closed before a whole response: {got:?}");
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .expect("content-length");
            if body.len() >= length {
                return text;
            }
        }
    }
}

const HEALTH: &[u8] = b"GET /health HTTP/1.1\r\nHost: test\r\n\r\n";

#[tokio::test]
async fn half_a_request_header_is_cut_at_the_header_deadline() {
    let server = TestServer::start_with(
        Backend::Sqlite,
        &[
            ("MISSIVE_HEADER_READ_TIMEOUT_SECS", "1"),
            ("MISSIVE_IDLE_TIMEOUT_SECS", "3600"),
        ],
    )
    .await;
    let mut slow = TcpStream::connect(addr(&server)).await.unwrap();
    // The request line and one header, never the blank line that ends them.
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: test\r\n")
        .await
        .unwrap();
    read_until_closed(&mut slow, "a half-sent header").await;

    // A client that sends its header whole is served as before.
    let mut fine = TcpStream::connect(addr(&server)).await.unwrap();
    fine.write_all(HEALTH).await.unwrap();
    assert!(read_response(&mut fine).await.starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn idle_connections_are_closed_after_the_idle_timeout() {
    let server = TestServer::start_with(
        Backend::Sqlite,
        &[
            ("MISSIVE_HEADER_READ_TIMEOUT_SECS", "3600"),
            ("MISSIVE_IDLE_TIMEOUT_SECS", "1"),
        ],
    )
    .await;
    // Kept alive after one request, then silent.
    let mut kept = TcpStream::connect(addr(&server)).await.unwrap();
    kept.write_all(HEALTH).await.unwrap();
    assert!(read_response(&mut kept).await.starts_with("HTTP/1.1 200"));
    let rest = read_until_closed(&mut kept, "an idle keep-alive connection").await;
    assert!(rest.is_empty(), "nothing more was asked: {rest:?}");

    // Connected and silent from the start.
    let mut silent = TcpStream::connect(addr(&server)).await.unwrap();
    read_until_closed(&mut silent, "a connection that never sent anything").await;
}

#[tokio::test]
async fn a_long_poll_outlasting_the_idle_timeout_still_answers() {
    let server = TestServer::start_with(
        Backend::Sqlite,
        &[
            ("MISSIVE_HEADER_READ_TIMEOUT_SECS", "1"),
            ("MISSIVE_IDLE_TIMEOUT_SECS", "1"),
        ],
    )
    .await;
    let token = server.register_token("alice").await;
    let http = reqwest::Client::new();
    let sync = |query: String| {
        http.get(format!(
            "{}/_matrix/client/v3/sync?{query}",
            server.base_url
        ))
        .bearer_auth(&token)
        .send()
    };
    let first: serde_json::Value = sync("timeout=0".into())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let since = first["next_batch"].as_str().unwrap().to_owned();
    // Nothing happens meanwhile: the server holds the request for its
    // whole timeout, three times the idle timeout, and must still answer.
    let held = sync(format!("since={since}&timeout=3000")).await.unwrap();
    assert_eq!(held.status(), 200);
    let body: serde_json::Value = held.json().await.unwrap();
    assert!(body["next_batch"].is_string(), "{body}");
}

#[tokio::test]
async fn a_full_connection_cap_still_serves_once_idle_ones_expire() {
    let server = TestServer::start_with(
        Backend::Sqlite,
        &[
            ("MISSIVE_MAX_CONNECTIONS", "4"),
            ("MISSIVE_IDLE_TIMEOUT_SECS", "1"),
        ],
    )
    .await;
    // One more idle connection than the cap allows.
    let mut idle = Vec::new();
    for _ in 0..5 {
        idle.push(TcpStream::connect(addr(&server)).await.unwrap());
    }
    // A real client behind them is served: the server stops accepting
    // while full (its connection waits in the listen backlog) and accepts
    // it once an idle connection has expired and freed a place.
    let mut client = TcpStream::connect(addr(&server)).await.unwrap();
    client.write_all(HEALTH).await.unwrap();
    assert!(read_response(&mut client).await.starts_with("HTTP/1.1 200"));
    for (i, conn) in idle.iter_mut().enumerate() {
        read_until_closed(conn, &format!("idle connection {i}")).await;
    }
    assert!(
        server.log().contains("connection limit reached"),
        "the cap is logged:\n{}",
        server.log()
    );
}

#[tokio::test]
async fn the_open_files_soft_limit_is_raised_to_the_hard_limit() {
    // The server inherits this (lowered) soft limit, as from a shell whose
    // `ulimit -n` is the common 1024.
    let (_, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap();
    let lowered = hard.min(1024) / 2;
    rlimit::setrlimit(rlimit::Resource::NOFILE, lowered, hard).unwrap();
    let server = TestServer::start(Backend::Sqlite).await;
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", server.pid())).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("a Max open files line");
    let numbers: Vec<&str> = line.split_whitespace().skip(3).take(2).collect();
    assert_eq!(numbers[0], numbers[1], "soft equals hard: {line}");
    assert_eq!(numbers[1], hard.to_string(), "{line}");
}
