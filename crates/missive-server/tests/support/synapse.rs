//! A real Synapse (installed from PyPI into `~/.cache/synapse-venv` by
//! `scripts/synapse-venv.sh`, which `make test` runs) on loopback, set up to
//! federate with the test servers: IP-literal server name, a TLS federation
//! listener with a self-signed certificate, loopback peers allowed and their
//! certificates unchecked (interop/synapse/configure.py). Stopped on drop.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use matrix_sdk::Client;

use super::{Backend, TestServer, free_port, sync_once};

pub struct Synapse {
    child: Child,
    config: PathBuf,
    /// The client listener (plain HTTP).
    pub base_url: String,
    /// `127.0.0.1:<federation port>`.
    pub server_name: String,
    pub data_dir: tempfile::TempDir,
}

fn venv() -> PathBuf {
    std::env::var_os("SYNAPSE_VENV").map_or_else(
        || PathBuf::from(std::env::var("HOME").expect("HOME")).join(".cache/synapse-venv"),
        PathBuf::from,
    )
}

fn python() -> PathBuf {
    let python = venv().join("bin/python");
    assert!(
        python.exists(),
        "Synapse is not installed at {}: run `make synapse-deps` (make test does)",
        venv().display()
    );
    python
}

fn run(cmd: &mut Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Writes a self-signed certificate for 127.0.0.1 and its key into `dir`.
fn self_signed(dir: &std::path::Path) -> (PathBuf, PathBuf) {
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()])
        .expect("self-signed certificate");
    let cert_path = dir.join("tls.crt");
    let key_path = dir.join("tls.key");
    std::fs::write(&cert_path, cert.cert.pem()).expect("write certificate");
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).expect("write key");
    (cert_path, key_path)
}

fn spawn(config: &std::path::Path, dir: &std::path::Path) -> Child {
    Command::new(python())
        .args(["-m", "synapse.app.homeserver", "--config-path"])
        .arg(config)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::from(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join("stderr.log"))
                .expect("stderr log"),
        ))
        .spawn()
        .expect("start synapse")
}

impl Synapse {
    pub async fn start() -> Self {
        let python = python();
        let data_dir = tempfile::tempdir().expect("temp dir");
        let dir = data_dir.path();
        let client_port = free_port();
        let federation_port = free_port();
        let server_name = format!("127.0.0.1:{federation_port}");
        let config = dir.join("homeserver.yaml");
        run(
            Command::new(&python)
                .args(["-m", "synapse.app.homeserver", "--server-name"])
                .arg(&server_name)
                .arg("--config-path")
                .arg(&config)
                .args(["--generate-config", "--report-stats=no", "--data-directory"])
                .arg(dir),
            "synapse --generate-config",
        );
        let (cert, key) = self_signed(dir);
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../interop/synapse/configure.py"
        );
        run(
            Command::new(&python)
                .arg(script)
                .arg(&config)
                .arg(client_port.to_string())
                .arg(federation_port.to_string())
                .arg(dir)
                .arg(&cert)
                .arg(&key),
            "interop/synapse/configure.py",
        );
        let child = spawn(&config, dir);
        let mut synapse = Self {
            child,
            config,
            base_url: format!("http://127.0.0.1:{client_port}"),
            server_name,
            data_dir,
        };
        synapse.wait_ready().await;
        synapse
    }

    /// Kills Synapse with SIGKILL; [`Synapse::start_again`] brings it back
    /// on the same data and ports.
    pub fn kill(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }

    pub async fn start_again(&mut self) {
        self.child = spawn(&self.config, self.data_dir.path());
        self.wait_ready().await;
    }

    /// Polls `/_matrix/client/versions` for up to about 120 s; gives up at
    /// once, with the log, if the process exits first.
    async fn wait_ready(&mut self) {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("http client");
        for _ in 0..1200 {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "synapse exited ({status}) before it was ready:\n{}",
                    self.log()
                );
            }
            if let Ok(r) = http
                .get(format!("{}/_matrix/client/versions", self.base_url))
                .send()
                .await
                && r.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("synapse did not answer within ~120 s:\n{}", self.log());
    }

    /// `@name:<server name>`.
    pub fn user_id(&self, name: &str) -> String {
        format!("@{name}:{}", self.server_name)
    }

    /// Registers `name` through matrix-sdk (dummy auth), as on missive.
    pub async fn register(&self, name: &str) -> Client {
        super::register_at(&self.base_url, name).await
    }

    pub fn log(&self) -> String {
        let dir = self.data_dir.path();
        format!(
            "{}{}",
            std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default(),
            std::fs::read_to_string(dir.join("synapse.log")).unwrap_or_default()
        )
    }
}

impl Drop for Synapse {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = self.log();
            // The end of the log is where a failure shows.
            let tail: String = log
                .lines()
                .rev()
                .take(400)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n");
            eprintln!("---- synapse log (last 400 lines) ----\n{tail}");
        }
    }
}

/// Synapse and a federating missive-server (SQLite) side by side: Alice of
/// missive and Bob of Synapse, registered and synced once (so their keys
/// are up).
pub async fn with_missive() -> (Synapse, TestServer, Client, Client) {
    let synapse = Synapse::start().await;
    let missive = TestServer::start_federating(Backend::Sqlite, &[]).await;
    let alice = missive.register("alice").await;
    let bob = synapse.register("bob").await;
    sync_once(&alice).await;
    sync_once(&bob).await;
    (synapse, missive, alice, bob)
}
