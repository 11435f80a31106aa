//! Paths the web client's file server answers: never a redirect that a
//! browser would follow to another host.

// Test code throughout: allow-unwrap-in-tests (clippy.toml) covers only
// #[test] functions, not the helpers an integration test crate shares.
#![allow(clippy::unwrap_used)]

mod support;

use support::{Backend, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doubled_slashes_never_redirect_off_site() {
    let web = tempfile::tempdir().unwrap();
    std::fs::write(
        web.path().join("index.html"),
        "<!doctype html><title>shell</title>",
    )
    .unwrap();
    std::fs::create_dir(web.path().join("assets")).unwrap();
    std::fs::write(web.path().join("assets/app.js"), "// app").unwrap();
    let dir = web.path().to_str().unwrap();
    let server = TestServer::start_with(Backend::Sqlite, &[("MISSIVE_WEB_CLIENT_DIR", dir)]).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for path in ["//assets", "/assets", "//assets/", "///example.org", "/"] {
        let res = client
            .get(format!("{}{path}", server.base_url))
            .send()
            .await
            .unwrap();
        let location = res
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_owned());
        assert!(
            !res.status().is_redirection(),
            "{path}: {} to {location:?}",
            res.status()
        );
    }
    let shell = client
        .get(format!("{}/", server.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(shell.status(), 200);
    assert!(shell.text().await.unwrap().contains("shell"));
    let asset = client
        .get(format!("{}/assets/app.js", server.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(asset.status(), 200);
}

#[test]
fn an_unsupported_database_url_is_said_plainly() {
    let data = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_missive-server"))
        .env("MISSIVE_DATA_DIR", data.path())
        .env("MISSIVE_LISTEN", "127.0.0.1:0")
        .env("MISSIVE_DATABASE_URL", "mysql://root@127.0.0.1/missive")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("unsupported database URL"), "{said}");
    assert!(!said.contains("corrupt"), "{said}");
}
