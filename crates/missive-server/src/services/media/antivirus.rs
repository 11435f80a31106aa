//! Malware scanning with ClamAV's clamd (INSTREAM over a unix or TCP
//! socket), through the `clamav-client` crate.

use std::path::Path;

/// Where clamd listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Clamd {
    Unix(String),
    Tcp(String),
}

impl Clamd {
    /// Parses `unix:/path/to/clamd.sock` or `tcp:host:port`.
    pub fn parse(s: &str) -> Option<Self> {
        if let Some(path) = s.strip_prefix("unix:") {
            Some(Self::Unix(path.to_owned()))
        } else {
            s.strip_prefix("tcp:")
                .map(|addr| Self::Tcp(addr.to_owned()))
        }
    }
}

/// The verdict on one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Clean,
    /// Malware found; the signature name as clamd reports it.
    Infected(String),
    /// clamd could not be asked (down, unreachable, or it answered an error).
    Unavailable(String),
}

/// Scans a local file by streaming it to clamd.
pub async fn scan_file(clamd: &Clamd, path: &Path) -> Verdict {
    let response = match clamd {
        Clamd::Unix(socket) => {
            clamav_client::tokio::scan_file(
                path,
                clamav_client::tokio::Socket {
                    socket_path: socket.as_str(),
                },
                None,
            )
            .await
        }
        Clamd::Tcp(addr) => {
            clamav_client::tokio::scan_file(
                path,
                clamav_client::tokio::Tcp {
                    host_address: addr.as_str(),
                },
                None,
            )
            .await
        }
    };
    interpret(response)
}

/// Scans bytes held in memory (decrypted attachments never touch the disk).
pub async fn scan_bytes(clamd: &Clamd, bytes: &[u8]) -> Verdict {
    let response = match clamd {
        Clamd::Unix(socket) => {
            clamav_client::tokio::scan_buffer(
                bytes,
                clamav_client::tokio::Socket {
                    socket_path: socket.as_str(),
                },
                None,
            )
            .await
        }
        Clamd::Tcp(addr) => {
            clamav_client::tokio::scan_buffer(
                bytes,
                clamav_client::tokio::Tcp {
                    host_address: addr.as_str(),
                },
                None,
            )
            .await
        }
    };
    interpret(response)
}

fn interpret(response: std::io::Result<Vec<u8>>) -> Verdict {
    let response = match response {
        Ok(r) => r,
        Err(e) => return Verdict::Unavailable(e.to_string()),
    };
    let text = String::from_utf8_lossy(&response);
    let text = text.trim_end_matches('\0').trim();
    // "stream: OK", "stream: Eicar-Test-Signature FOUND", "... ERROR".
    if let Some(found) = text.strip_suffix("FOUND") {
        let name = found.trim().rsplit(": ").next().unwrap_or("unknown").trim();
        Verdict::Infected(name.to_owned())
    } else if text.ends_with("OK") {
        Verdict::Clean
    } else {
        Verdict::Unavailable(format!("clamd answered {text:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamd_answers_are_read() {
        assert_eq!(interpret(Ok(b"stream: OK\0".to_vec())), Verdict::Clean);
        assert_eq!(
            interpret(Ok(b"stream: Eicar-Test-Signature FOUND\0".to_vec())),
            Verdict::Infected("Eicar-Test-Signature".into())
        );
        assert!(matches!(
            interpret(Ok(b"INSTREAM size limit exceeded. ERROR\0".to_vec())),
            Verdict::Unavailable(_)
        ));
        assert!(matches!(
            interpret(Err(std::io::Error::other("refused"))),
            Verdict::Unavailable(_)
        ));
        assert_eq!(
            Clamd::parse("unix:/run/clamd.sock"),
            Some(Clamd::Unix("/run/clamd.sock".into()))
        );
        assert_eq!(
            Clamd::parse("tcp:127.0.0.1:3310"),
            Some(Clamd::Tcp("127.0.0.1:3310".into()))
        );
        assert_eq!(Clamd::parse("bogus"), None);
    }
}
