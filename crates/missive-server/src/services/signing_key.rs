//! The server's ed25519 signing key, created on first start.

use std::path::Path;

use base64::Engine;
use ruma::signatures::Ed25519KeyPair;

/// Loads `signing.key` from the data directory, creating it if missing.
/// The file holds `ed25519 <version> <base64 PKCS#8 document>`.
pub fn load_or_create(data_dir: &Path) -> std::io::Result<Ed25519KeyPair> {
    let path = data_dir.join("signing.key");
    let invalid = |msg: String| std::io::Error::new(std::io::ErrorKind::InvalidData, msg);
    if !path.exists() {
        let document = Ed25519KeyPair::generate();
        let version = crate::services::accounts::random_alphanumeric(6);
        let line = format!(
            "ed25519 {version} {}\n",
            base64::engine::general_purpose::STANDARD.encode(&document)
        );
        write_private(&path, line.as_bytes())?;
    }
    let text = std::fs::read_to_string(&path)?;
    let mut parts = text.split_whitespace();
    let (Some("ed25519"), Some(version), Some(doc)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid(format!(
            "{} is not a signing key file",
            path.display()
        )));
    };
    let der = base64::engine::general_purpose::STANDARD
        .decode(doc)
        .map_err(|e| invalid(e.to_string()))?;
    Ed25519KeyPair::from_der(&der, version.to_owned()).map_err(|e| invalid(e.to_string()))
}

/// A signing key this server used before a rotation: its public half and
/// when it stopped being used (ms), served in `old_verify_keys`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OldKey {
    /// `ed25519:<version>`.
    pub key_id: String,
    pub public_key: Vec<u8>,
    pub expired_ts: i64,
}

/// The file of old keys, one `ed25519 <version> <base64 public key>
/// <expired ms>` line each.
const OLD_KEYS: &str = "old_signing_keys";

/// The keys used before the current one (none until a rotation).
pub fn load_old(data_dir: &Path) -> std::io::Result<Vec<OldKey>> {
    let path = data_dir.join(OLD_KEYS);
    if !path.exists() {
        return Ok(Vec::new());
    }
    let invalid = |line: &str| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{}: not an old key line: {line}", path.display()),
        )
    };
    std::fs::read_to_string(&path)?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let parts: Vec<&str> = line.split_whitespace().collect();
            let ["ed25519", version, key, expired] = parts.as_slice() else {
                return Err(invalid(line));
            };
            Ok(OldKey {
                key_id: format!("ed25519:{version}"),
                public_key: base64::engine::general_purpose::STANDARD
                    .decode(key)
                    .map_err(|_| invalid(line))?,
                expired_ts: expired.parse().map_err(|_| invalid(line))?,
            })
        })
        .collect()
}

/// Replaces the signing key by a new one, keeping the old key's public
/// half (expired at `now_ms`) for `old_verify_keys`; returns the new key.
/// Run while the server is stopped; it signs with the new key once
/// started again.
pub fn rotate(data_dir: &Path, now_ms: i64) -> std::io::Result<Ed25519KeyPair> {
    use std::io::Write;
    let current = load_or_create(data_dir)?;
    let line = format!(
        "ed25519 {} {} {now_ms}\n",
        current.version(),
        base64::engine::general_purpose::STANDARD.encode(current.public_key())
    );
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(data_dir.join(OLD_KEYS))?
        .write_all(line.as_bytes())?;
    std::fs::remove_file(data_dir.join("signing.key"))?;
    load_or_create(data_dir)
}

/// Writes a file readable by its owner only.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rotation_keeps_the_old_public_key_with_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(dir.path()).unwrap();
        assert!(load_old(dir.path()).unwrap().is_empty());
        let second = rotate(dir.path(), 1_000).unwrap();
        assert_ne!(first.version(), second.version());
        assert_eq!(
            load_or_create(dir.path()).unwrap().public_key(),
            second.public_key()
        );
        rotate(dir.path(), 2_000).unwrap();
        let old = load_old(dir.path()).unwrap();
        assert_eq!(
            old,
            [
                OldKey {
                    key_id: format!("ed25519:{}", first.version()),
                    public_key: first.public_key().to_vec(),
                    expired_ts: 1_000,
                },
                OldKey {
                    key_id: format!("ed25519:{}", second.version()),
                    public_key: second.public_key().to_vec(),
                    expired_ts: 2_000,
                },
            ]
        );
    }

    #[test]
    fn the_key_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(dir.path()).unwrap();
        let again = load_or_create(dir.path()).unwrap();
        assert_eq!(first.public_key(), again.public_key());
        assert_eq!(first.version(), again.version());
    }
}
