//! A real SMTP server for the e-mail tests: aiosmtpd (from the venv that
//! `scripts/smtp-venv.sh` fills) on a free loopback port, with the handler
//! in `interop/smtp/capture.py` writing each mail it receives, decoded, as
//! a JSON file that the test reads. Stopped on drop.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use serde_json::Value;

/// One mail the server received.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: Vec<String>,
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl Mail {
    /// The first link in the text part that starts with `prefix`.
    pub fn link(&self, prefix: &str) -> String {
        let start = self
            .text
            .find(prefix)
            .unwrap_or_else(|| panic!("no link {prefix} in the mail:\n{}", self.text));
        self.text[start..]
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned()
    }

    /// A query parameter of the mail's validation link.
    pub fn link_param(&self, base_url: &str, name: &str) -> String {
        let link = self.link(base_url);
        let query = link.split_once('?').map(|(_, q)| q).unwrap_or_default();
        form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .unwrap_or_else(|| panic!("no {name} in {link}"))
    }
}

pub struct SmtpServer {
    child: Child,
    dir: tempfile::TempDir,
    pub port: u16,
}

/// The venv's python (`SMTP_VENV`, default `~/.cache/missive-smtp-venv`).
fn smtp_python() -> PathBuf {
    let venv = std::env::var_os("SMTP_VENV").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/missive-smtp-venv"),
        PathBuf::from,
    );
    venv.join("bin/python")
}

impl SmtpServer {
    pub async fn start() -> Self {
        let python = smtp_python();
        assert!(
            python.exists(),
            "{} is missing: run scripts/smtp-venv.sh first (make test does)",
            python.display()
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let port = super::free_port();
        let handler_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../interop/smtp");
        let child = Command::new(python)
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "capture.Capture"])
            .arg(dir.path())
            .env("PYTHONPATH", handler_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start aiosmtpd");
        let mut me = Self { child, dir, port };
        for _ in 0..300 {
            if let Ok(Some(status)) = me.child.try_wait() {
                panic!("aiosmtpd exited ({status}) before it listened");
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return me;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("aiosmtpd did not listen on {port}");
    }

    /// The `MISSIVE_SMTP_URL` for this server.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every mail received so far, in order.
    pub fn mails(&self) -> Vec<Mail> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .expect("read the mail directory")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .filter(|p| {
                !p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            })
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| {
                let v: Value = serde_json::from_str(&std::fs::read_to_string(p).expect("mail"))
                    .expect("mail JSON");
                let text = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
                Mail {
                    to: v["to"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(Value::as_str)
                                .map(str::to_owned)
                                .collect()
                        })
                        .unwrap_or_default(),
                    subject: text("subject"),
                    text: text("text"),
                    html: text("html"),
                }
            })
            .collect()
    }

    /// The mails sent to `to`.
    pub fn mails_to(&self, to: &str) -> Vec<Mail> {
        self.mails()
            .into_iter()
            .filter(|m| m.to.iter().any(|t| t.eq_ignore_ascii_case(to)))
            .collect()
    }

    /// Waits (up to about 30 s) until `count` mails have gone to `to`;
    /// returns the last. Mail is sent before the request answers, so this
    /// normally returns at once.
    pub async fn wait_for_mail(&self, to: &str, count: usize) -> Mail {
        for _ in 0..300 {
            let mails = self.mails_to(to);
            if mails.len() >= count {
                return mails[count - 1].clone();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no mail #{count} to {to} arrived; got {:?}", self.mails());
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
