//! The federation listener's TLS: the configured PEM certificate chain and
//! key, or a self-signed pair generated in the data directory on first
//! start (peers verifying certificates refuse it: for tests and closed
//! networks, where `MISSIVE_FEDERATION_VERIFY_TLS=off`).

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};

/// Where the generated pair is kept, in the data directory.
pub const GENERATED_CERT: &str = "federation.crt";
pub const GENERATED_KEY: &str = "federation.key";

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {0}: {1}")]
    Read(PathBuf, String),
    #[error("cannot write {0}: {1}")]
    Write(PathBuf, std::io::Error),
    #[error("cannot generate a certificate: {0}")]
    Generate(String),
    #[error("invalid certificate or key: {0}")]
    Invalid(String),
}

/// The listener's certificate files, and whether they were generated.
pub struct CertificateFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Self-signed, made by this server (now or on an earlier start).
    pub self_signed: bool,
}

/// The configured files, or the generated pair (made now if missing) for
/// `host` (the server name's host: a DNS name or an IP address).
pub fn certificate_files(
    configured: Option<(&Path, &Path)>,
    data_dir: &Path,
    host: &str,
) -> Result<CertificateFiles, TlsError> {
    if let Some((cert, key)) = configured {
        return Ok(CertificateFiles {
            cert: cert.to_owned(),
            key: key.to_owned(),
            self_signed: false,
        });
    }
    let cert = data_dir.join(GENERATED_CERT);
    let key = data_dir.join(GENERATED_KEY);
    if !cert.exists() || !key.exists() {
        // rcgen makes an IP address SAN of a host that parses as one.
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let pair = rcgen::generate_simple_self_signed(vec![host.to_owned()])
            .map_err(|e| TlsError::Generate(e.to_string()))?;
        write_private(&key, pair.signing_key.serialize_pem().as_bytes())
            .map_err(|e| TlsError::Write(key.clone(), e))?;
        std::fs::write(&cert, pair.cert.pem()).map_err(|e| TlsError::Write(cert.clone(), e))?;
    }
    Ok(CertificateFiles {
        cert,
        key,
        self_signed: true,
    })
}

/// The rustls configuration serving `files` (HTTP/1.1, as the client
/// listener).
pub fn server_config(files: &CertificateFiles) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let chain = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| TlsError::Read(files.cert.clone(), e.to_string()))?;
    if chain.is_empty() {
        return Err(TlsError::Read(
            files.cert.clone(),
            "no certificate in the file".into(),
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| TlsError::Read(files.key.clone(), e.to_string()))?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| TlsError::Invalid(e.to_string()))?
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .map_err(|e| TlsError::Invalid(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Writes a file readable by its owner only (a private key).
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
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
    fn a_generated_pair_is_made_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let files = certificate_files(None, dir.path(), "127.0.0.1").unwrap();
        assert!(files.self_signed);
        server_config(&files).unwrap();
        let first = std::fs::read(&files.cert).unwrap();
        let again = certificate_files(None, dir.path(), "127.0.0.1").unwrap();
        assert_eq!(std::fs::read(&again.cert).unwrap(), first);
    }

    #[test]
    fn a_missing_configured_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("none.crt");
        let key = dir.path().join("none.key");
        let files = certificate_files(Some((&cert, &key)), dir.path(), "x").unwrap();
        assert!(!files.self_signed);
        assert!(server_config(&files).is_err());
    }
}
