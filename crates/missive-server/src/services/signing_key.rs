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
    fn the_key_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(dir.path()).unwrap();
        let again = load_or_create(dir.path()).unwrap();
        assert_eq!(first.public_key(), again.public_key());
        assert_eq!(first.version(), again.version());
    }
}
