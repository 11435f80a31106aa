//! Test harness: the real `missive-server` binary on a free port, on SQLite
//! or on a fresh PostgreSQL database, and matrix-sdk clients for it.

#![allow(dead_code)]

pub mod coturn;
pub mod e2ee;
pub mod federation;
mod http;
pub mod smtp;
pub mod synapse;

use std::{
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use matrix_sdk::{
    Client,
    config::SyncSettings,
    ruma::api::client::{account::register, uiaa},
};

/// Which database the server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A running server, stopped (and its database dropped) on drop.
pub struct TestServer {
    child: Child,
    pub base_url: String,
    pub data_dir: tempfile::TempDir,
    postgres_db: Option<String>,
    port: u16,
    env: Vec<(String, String)>,
    /// The Matrix server name (`localhost` unless federating).
    pub server_name: String,
    /// The federation listener's port, when federating.
    pub federation_port: Option<u16>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn psql(sql: &str) {
    let status = Command::new("psql")
        .args([
            "-X",
            "-q",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-c",
            sql,
        ])
        .stdout(Stdio::null())
        .status()
        .expect("psql must be installed for PostgreSQL tests");
    assert!(status.success(), "psql failed: {sql}");
}

/// The server binary: `MISSIVE_TEST_SERVER_BIN` when set, else Cargo's.
/// Worktrees sharing one target directory share Cargo's
/// `target/debug/missive-server` too (each build overwrites it), so a test
/// run may get another worktree's build; the variable names one's own
/// (`target/debug/deps/missive_server-<hash>`).
pub fn server_binary() -> std::ffi::OsString {
    std::env::var_os("MISSIVE_TEST_SERVER_BIN")
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_missive-server").into())
}

fn spawn(
    port: u16,
    data_dir: &std::path::Path,
    postgres_db: Option<&str>,
    env: &[(String, String)],
) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(data_dir.join("server.log"))
        .expect("log file");
    let mut cmd = Command::new(server_binary());
    cmd.env("MISSIVE_SERVER_NAME", "localhost")
        .env("MISSIVE_LISTEN", format!("127.0.0.1:{port}"))
        .env("MISSIVE_DATA_DIR", data_dir)
        .env("MISSIVE_REGISTRATION", "open")
        .env("MISSIVE_RATE_LIMITS", "off")
        .env_remove("MISSIVE_DATABASE_URL")
        .stdout(log.try_clone().expect("log"))
        .stderr(log);
    if let Some(db) = postgres_db {
        cmd.env(
            "MISSIVE_DATABASE_URL",
            format!("postgres://postgres@127.0.0.1:5432/{db}"),
        );
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().expect("start missive-server")
}

impl TestServer {
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(backend, &[]).await
    }

    /// Starts the server with extra environment variables.
    pub async fn start_with(backend: Backend, env: &[(&str, &str)]) -> Self {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let postgres_db = (backend == Backend::Postgres).then(|| {
            let name = format!("missive_it_{}_{port}", std::process::id());
            psql(&format!("CREATE DATABASE {name}"));
            name
        });
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let child = spawn(port, data_dir.path(), postgres_db.as_deref(), &env);
        let mut server = Self {
            child,
            base_url: format!("http://127.0.0.1:{port}"),
            data_dir,
            postgres_db,
            port,
            env,
            server_name: "localhost".to_owned(),
            federation_port: None,
        };
        server.wait_healthy().await;
        server
    }

    /// A server with a federation listener on a free port and the
    /// IP-literal server name `127.0.0.1:<that port>`, set up as the issue
    /// says such a name must work: self-signed certificate, peers'
    /// certificates unchecked, loopback allowlisted; `env` adds to that.
    pub async fn start_federating(backend: Backend, env: &[(&str, &str)]) -> Self {
        let port = free_port();
        let name = format!("127.0.0.1:{port}");
        let mut all: Vec<(&str, &str)> = vec![
            ("MISSIVE_SERVER_NAME", &name),
            ("MISSIVE_FEDERATION_LISTEN", &name),
            ("MISSIVE_FEDERATION_VERIFY_TLS", "off"),
            ("MISSIVE_FEDERATION_IP_ALLOWLIST", "127.0.0.0/8"),
        ];
        all.extend_from_slice(env);
        let mut server = Self::start_with(backend, &all).await;
        server.server_name = name;
        server.federation_port = Some(port);
        server
    }

    /// `https://127.0.0.1:<federation port>`.
    pub fn federation_url(&self) -> String {
        format!(
            "https://127.0.0.1:{}",
            self.federation_port.expect("a federating server")
        )
    }

    /// `@name:<server name>`.
    pub fn user_id(&self, name: &str) -> String {
        format!("@{name}:{}", self.server_name)
    }

    /// A second server process on the same PostgreSQL database (and signing
    /// key), as a scaled-out deployment runs them. It does not own the
    /// database: the first server drops it.
    pub async fn second_process(&self) -> TestServer {
        let db = self
            .postgres_db
            .as_deref()
            .expect("scale-out needs PostgreSQL");
        let data_dir = tempfile::tempdir().expect("temp dir");
        std::fs::copy(
            self.data_dir.path().join("signing.key"),
            data_dir.path().join("signing.key"),
        )
        .expect("share the signing key");
        let port = free_port();
        let child = spawn(port, data_dir.path(), Some(db), &self.env);
        let mut server = Self {
            child,
            base_url: format!("http://127.0.0.1:{port}"),
            data_dir,
            postgres_db: None,
            port,
            env: self.env.clone(),
            server_name: self.server_name.clone(),
            federation_port: None,
        };
        server.wait_healthy().await;
        server
    }

    /// Kills the server with SIGKILL (no shutdown at all) and starts it
    /// again on the same data.
    pub async fn crash_and_restart(&mut self) {
        self.kill();
        self.start_again().await;
    }

    /// Kills the server with SIGKILL; [`TestServer::start_again`] brings it
    /// back on the same data and ports.
    pub fn kill(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }

    /// Starts a killed server again on the same data.
    pub async fn start_again(&mut self) {
        self.child = spawn(
            self.port,
            self.data_dir.path(),
            self.postgres_db.as_deref(),
            &self.env,
        );
        self.wait_healthy().await;
    }

    /// Polls `/health` for up to about 60 s; gives up at once, with the
    /// log, if the process exits first.
    async fn wait_healthy(&mut self) {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("http client");
        for _ in 0..600 {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "missive-server exited ({status}) before it was healthy; log:\n{}",
                    self.log()
                );
            }
            if let Ok(r) = http.get(format!("{}/health", self.base_url)).send().await
                && r.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "missive-server did not answer GET /health with 200 within ~60 s; log:\n{}",
            self.log()
        );
    }

    /// Runs `missive-server admin ARGS` on this server's configuration
    /// (same data dir and database); returns (success, stdout + stderr).
    pub fn admin(&self, args: &[&str]) -> (bool, String) {
        let mut cmd = Command::new(server_binary());
        cmd.arg("admin")
            .args(args)
            .env("MISSIVE_SERVER_NAME", "localhost")
            .env("MISSIVE_DATA_DIR", self.data_dir.path())
            .env_remove("MISSIVE_DATABASE_URL");
        if let Some(db) = &self.postgres_db {
            cmd.env(
                "MISSIVE_DATABASE_URL",
                format!("postgres://postgres@127.0.0.1:5432/{db}"),
            );
        }
        let out = cmd.output().expect("run missive-server admin");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    /// The server process's ID (to read its /proc entries).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    pub fn log_path(&self) -> PathBuf {
        self.data_dir.path().join("server.log")
    }

    /// A new matrix-sdk client (in-memory stores) for this server.
    pub async fn client(&self) -> Client {
        Client::builder()
            .homeserver_url(&self.base_url)
            .build()
            .await
            .expect("client")
    }

    /// Registers `name` (password [`PASSWORD`]) through matrix-sdk,
    /// answering the user-interactive auth challenge with `m.login.dummy`.
    pub async fn register(&self, name: &str) -> Client {
        register_at(&self.base_url, name).await
    }

    /// Logs in again as `name` on a new client (a new device).
    pub async fn login(&self, name: &str) -> Client {
        let client = self.client().await;
        client
            .matrix_auth()
            .login_username(name, PASSWORD)
            .send()
            .await
            .expect("login");
        client
    }
}

pub const PASSWORD: &str = "correct horse battery staple";

/// Registers `name` (password [`PASSWORD`]) on the homeserver at `base_url`
/// through matrix-sdk, answering the user-interactive auth challenge with
/// `m.login.dummy` (missive and Synapse alike).
pub async fn register_at(base_url: &str, name: &str) -> Client {
    let client = Client::builder()
        .homeserver_url(base_url)
        .build()
        .await
        .expect("client");
    let mut request = register::v3::Request::new();
    request.username = Some(name.to_owned());
    request.password = Some(PASSWORD.to_owned());
    request.initial_device_display_name = Some(format!("{name}'s test device"));
    let first = client.matrix_auth().register(request.clone()).await;
    let err = first.expect_err("the first register call asks for auth");
    let info = err.as_uiaa_response().expect("a UIA challenge").clone();
    let mut dummy = uiaa::Dummy::new();
    dummy.session = info.session.clone();
    request.auth = Some(uiaa::AuthData::Dummy(dummy));
    client
        .matrix_auth()
        .register(request)
        .await
        .expect("register");
    client
}

impl TestServer {
    /// Registers `name` over raw HTTP (dummy auth, password [`PASSWORD`])
    /// and returns the registration answer (user ID, device ID, token).
    pub async fn register_raw(&self, name: &str) -> serde_json::Value {
        let res: serde_json::Value = reqwest::Client::new()
            .post(format!("{}/_matrix/client/v3/register", self.base_url))
            .json(&serde_json::json!({ "username": name, "password": PASSWORD, "auth": { "type": "m.login.dummy" } }))
            .send()
            .await
            .expect("register request")
            .json()
            .await
            .expect("register response");
        assert!(
            res["access_token"].is_string(),
            "registration failed: {res}"
        );
        res
    }

    /// Registers `name` over raw HTTP and returns the access token.
    pub async fn register_token(&self, name: &str) -> String {
        self.register_raw(name).await["access_token"]
            .as_str()
            .expect("token")
            .to_owned()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("---- server log ----\n{}", self.log());
        }
        if let Some(db) = &self.postgres_db {
            let _ = Command::new("psql")
                .args([
                    "-X",
                    "-q",
                    "-h",
                    "127.0.0.1",
                    "-U",
                    "postgres",
                    "-d",
                    "postgres",
                    "-c",
                ])
                .arg(format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// One sync round (no waiting) so the client's state catches up; returns
/// the next batch token.
pub async fn sync_once(client: &Client) -> String {
    client
        .sync_once(SyncSettings::default().timeout(Duration::ZERO))
        .await
        .expect("sync")
        .next_batch
}

/// Whether the client sees an invite to the room.
pub fn invited_to(client: &Client, room_id: &matrix_sdk::ruma::RoomId) -> bool {
    client
        .get_room(room_id)
        .is_some_and(|r| r.state() == matrix_sdk::RoomState::Invited)
}

/// Syncs until `check` holds, at most `rounds` times (each round long-polls
/// briefly); panics with `what` otherwise. No assertion on elapsed time.
pub async fn sync_until<F, Fut>(clients: &[&Client], rounds: usize, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..rounds {
        for c in clients {
            c.sync_once(SyncSettings::default().timeout(Duration::from_millis(300)))
                .await
                .expect("sync");
        }
        if check().await {
            return;
        }
    }
    panic!("gave up waiting for: {what}");
}

/// Generates one test per backend from an `async fn(Backend)`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident => $body:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$body($crate::support::Backend::Sqlite).await }
            )*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$body($crate::support::Backend::Postgres).await }
            )*
        }
    };
}

/// A real clamd (Debian's clamav-daemon) with a local signature database
/// holding only the EICAR test signature (the updater cannot download
/// here). Stopped on drop.
pub struct Clamd {
    child: Child,
    dir: tempfile::TempDir,
}

/// The EICAR anti-virus test file: harmless, detected by every scanner.
pub const EICAR: &[u8] = br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

impl Clamd {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("db");
        std::fs::create_dir_all(&db).unwrap();
        // MD5 signature of the 68-byte EICAR file.
        std::fs::write(
            db.join("eicar.hdb"),
            "44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature\n",
        )
        .unwrap();
        let conf = dir.path().join("clamd.conf");
        std::fs::write(
            &conf,
            format!(
                "Foreground yes\nLocalSocket {}\nDatabaseDirectory {}\nLogFile {}\n",
                dir.path().join("clamd.sock").display(),
                db.display(),
                dir.path().join("clamd.log").display()
            ),
        )
        .unwrap();
        let clamd = ["/usr/sbin/clamd", "clamd"]
            .into_iter()
            .find(|p| Command::new(p).arg("--version").output().is_ok());
        let clamd = clamd.expect("clamd must be installed (apt-get install clamav-daemon)");
        let child = Command::new(clamd)
            .arg(format!("--config-file={}", conf.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start clamd");
        let me = Self { child, dir };
        for _ in 0..300 {
            if let Ok(mut s) = tokio::net::UnixStream::connect(me.socket()).await {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                if s.write_all(b"zPING\0").await.is_ok() {
                    let mut buf = [0u8; 8];
                    if s.read(&mut buf).await.is_ok_and(|n| n > 0) {
                        return me;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("clamd did not start");
    }

    pub fn socket(&self) -> std::path::PathBuf {
        self.dir.path().join("clamd.sock")
    }

    /// The `MISSIVE_CLAMD` value for this daemon.
    pub fn address(&self) -> String {
        format!("unix:{}", self.socket().display())
    }
}

impl Drop for Clamd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
