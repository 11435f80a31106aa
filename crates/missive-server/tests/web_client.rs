//! The web client as missive-server serves it: cache and security headers,
//! the app shell for client routes, Matrix paths kept apart; then the
//! browser end-to-end test (web/e2e, playwright-core driving Debian's
//! chromium) against the real server.

// Test code throughout: allow-unwrap-in-tests (clippy.toml) covers only
// #[test] functions, not the helpers an integration test crate shares.
#![allow(clippy::unwrap_used)]

mod support;

use std::{path::Path, process::Stdio, time::Duration};

use support::{Backend, TestServer};

fn web_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web")
}

#[tokio::test]
async fn serves_the_client_with_the_right_headers() {
    let dist = tempfile::tempdir().unwrap();
    std::fs::write(dist.path().join("index.html"), "<html>missive</html>").unwrap();
    std::fs::create_dir(dist.path().join("assets")).unwrap();
    std::fs::write(dist.path().join("assets/app-1234.js"), "console.log(1)").unwrap();
    let dir = dist.path().to_str().unwrap();
    let server = TestServer::start_with(Backend::Sqlite, &[("MISSIVE_WEB_CLIENT_DIR", dir)]).await;
    let http = reqwest::Client::new();
    let get = |path: &str| http.get(format!("{}{path}", server.base_url)).send();

    let index = get("/").await.unwrap();
    assert_eq!(index.status(), 200);
    assert_eq!(index.headers()["cache-control"], "no-cache");
    let csp = index.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("'wasm-unsafe-eval'"));
    assert_eq!(index.headers()["x-content-type-options"], "nosniff");

    let asset = get("/assets/app-1234.js").await.unwrap();
    assert_eq!(asset.status(), 200);
    assert_eq!(
        asset.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );

    // A client route gets the app shell; a missing asset is a plain 404,
    // never the shell cached for a year.
    let route = get("/rooms/abc").await.unwrap();
    assert_eq!(route.status(), 200);
    assert_eq!(route.text().await.unwrap(), "<html>missive</html>");
    let missing = get("/assets/gone-9999.js").await.unwrap();
    assert_eq!(missing.status(), 404);
    assert_ne!(
        missing.headers().get("cache-control").unwrap(),
        "public, max-age=31536000, immutable"
    );

    // Matrix paths never fall through to the web client.
    let unknown = get("/_matrix/client/v3/nope").await.unwrap();
    assert_eq!(unknown.status(), 404);
    let body: serde_json::Value = unknown.json().await.unwrap();
    assert_eq!(body["errcode"], "M_UNRECOGNIZED");

    let config: serde_json::Value = get("/config.json").await.unwrap().json().await.unwrap();
    assert_eq!(config["server_name"], "localhost");
    assert_eq!(config["registration"], "open");
}

#[tokio::test]
async fn without_a_built_client_the_root_is_a_matrix_404() {
    let empty = tempfile::tempdir().unwrap();
    let dir = empty.path().to_str().unwrap();
    let server = TestServer::start_with(Backend::Sqlite, &[("MISSIVE_WEB_CLIENT_DIR", dir)]).await;
    let res = reqwest::get(format!("{}/", server.base_url)).await.unwrap();
    assert_eq!(res.status(), 404);
}

/// Two people in two browsers (web/e2e): register, set up the secure backup,
/// an encrypted direct chat both ways, an image decrypted by the recipient,
/// emoji verification, history restored on a new device; and the timeline
/// features (rooms, invitations, replies, edits, reactions, deletion,
/// typing, receipts, files, pagination after a reload, French, sign-out).
#[tokio::test]
async fn browser_end_to_end() {
    let web = web_dir();
    assert!(
        web.join("dist/index.html").exists() && web.join("node_modules").exists(),
        "build the web client first: `make web` (make test does)"
    );
    let dist = web.join("dist");
    let server = TestServer::start_with(
        Backend::Sqlite,
        &[
            ("MISSIVE_WEB_CLIENT_DIR", dist.to_str().unwrap()),
            // Small, so that the size-limit message can be checked cheaply.
            ("MISSIVE_MAX_UPLOAD_BYTES", "200000"),
        ],
    )
    .await;
    // Screenshots of failures outlive the server's temporary directory.
    let artifacts = std::env::temp_dir().join("missive-e2e");
    std::fs::create_dir_all(&artifacts).unwrap();
    let log_path = server.data_dir.path().join("e2e.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut run = tokio::process::Command::new("node")
        .args(["--test", "--test-reporter=spec", "e2e/"])
        .current_dir(&web)
        .env("MISSIVE_URL", &server.base_url)
        .env("E2E_ARTIFACTS", &artifacts)
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .kill_on_drop(true)
        .spawn()
        .expect("node must be installed");
    // The test bounds each step itself; this only stops a hung browser.
    let status = tokio::time::timeout(Duration::from_secs(900), run.wait()).await;
    let output = std::fs::read_to_string(&log_path).unwrap_or_default();
    assert!(
        matches!(status, Ok(Ok(s)) if s.success()),
        "browser test failed:\n{output}\nserver log:\n{}",
        server.log()
    );
}
