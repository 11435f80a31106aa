//! A real coturn (`turnserver`, Debian package `coturn`, which `make test`
//! installs) on loopback with the TURN REST scheme (`use-auth-secret`), as
//! the README tells administrators to run it, and coturn's own test client
//! (`turnutils_uclient`) to ask it for relay allocations. Stopped on drop.

use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

use super::free_port;

pub struct Coturn {
    child: Child,
    dir: tempfile::TempDir,
    pub port: u16,
}

impl Coturn {
    /// coturn sharing `secret` with the homeserver, ready to answer.
    pub async fn start(secret: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        // A relay range of its own, so parallel tests do not share ports.
        let min_port = 50_000 + (port % 90) * 100;
        let log = dir.path().join("turn.log");
        let child = Command::new("turnserver")
            .args([
                "-n",
                "--listening-ip=127.0.0.1",
                &format!("--listening-port={port}"),
                "--relay-ip=127.0.0.1",
                &format!("--min-port={min_port}"),
                &format!("--max-port={}", min_port + 99),
                "--use-auth-secret",
                &format!("--static-auth-secret={secret}"),
                "--realm=missive.test",
                "--no-tls",
                "--no-dtls",
                "--no-cli",
                // Both call ends are on this machine.
                "--allow-loopback-peers",
                "--simple-log",
                &format!("--log-file={}", log.display()),
                &format!("--pidfile={}", dir.path().join("turn.pid").display()),
                &format!("--userdb={}", dir.path().join("turndb").display()),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("coturn must be installed (apt-get install coturn; make test does)");
        let me = Self { child, dir, port };
        for _ in 0..300 {
            if me.log().contains("Total General servers") {
                return me;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("coturn did not start:\n{}", me.log());
    }

    pub fn log(&self) -> String {
        std::fs::read_dir(self.dir.path())
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("turn"))
            .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
            .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
            .collect()
    }

    /// Whether coturn grants `username`/`password` a relay allocation and
    /// relays a message through it (coturn's test client, exit status 0).
    pub async fn allocates(&self, username: &str, password: &str) -> bool {
        let run = tokio::process::Command::new("turnutils_uclient")
            .args([
                "-u",
                username,
                "-w",
                password,
                "-p",
                &self.port.to_string(),
                "-n",
                "1",
                "-m",
                "1",
                "-y",
                "127.0.0.1",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .status();
        // A bound, not a measurement: a refused allocation ends at once.
        match tokio::time::timeout(Duration::from_secs(60), run).await {
            Ok(Ok(status)) => status.success(),
            Ok(Err(e)) => panic!("turnutils_uclient (package coturn) did not run: {e}"),
            Err(_) => false,
        }
    }
}

impl Drop for Coturn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
