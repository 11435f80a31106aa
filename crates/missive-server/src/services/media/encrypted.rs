//! Encrypted attachments (the spec's `EncryptedFile`): the client hands
//! over the decryption info so the server can check a file it otherwise
//! cannot read, as government deployments' content scanners do. Decryption
//! uses the RustCrypto AES-CTR implementation; nothing is written to disk.

use aes::Aes256;
use base64::Engine;
use ctr::cipher::{KeyIvInit, StreamCipher};
use serde_json::Value;
use sha2::{Digest, Sha256};

type Aes256Ctr = ctr::Ctr128BE<Aes256>;

/// The decryption info of an attachment, as found in `content.file`.
#[derive(Debug, Clone)]
pub struct EncryptedFile {
    pub url: String,
    key: [u8; 32],
    iv: [u8; 16],
    sha256: [u8; 32],
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EncryptedFileError {
    #[error("malformed encrypted file info: {0}")]
    Malformed(&'static str),
    #[error("the file does not match its hash")]
    HashMismatch,
}

fn b64(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(s)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s))
        .ok()
}

impl EncryptedFile {
    /// Parses `{url, key: {k, alg: "A256CTR", ...}, iv, hashes: {sha256}, v: "v2"}`.
    pub fn parse(file: &Value) -> Result<Self, EncryptedFileError> {
        use EncryptedFileError::Malformed;
        let url = file
            .get("url")
            .and_then(Value::as_str)
            .ok_or(Malformed("url"))?
            .to_owned();
        let jwk = file.get("key").ok_or(Malformed("key"))?;
        if jwk.get("alg").and_then(Value::as_str) != Some("A256CTR") {
            return Err(Malformed("key.alg must be A256CTR"));
        }
        let key = jwk
            .get("k")
            .and_then(Value::as_str)
            .and_then(b64)
            .ok_or(Malformed("key.k"))?;
        let iv = file
            .get("iv")
            .and_then(Value::as_str)
            .and_then(b64)
            .ok_or(Malformed("iv"))?;
        let hash = file
            .pointer("/hashes/sha256")
            .and_then(Value::as_str)
            .and_then(b64)
            .ok_or(Malformed("hashes.sha256"))?;
        Ok(Self {
            url,
            key: key
                .try_into()
                .map_err(|_| Malformed("key.k must be 32 bytes"))?,
            iv: iv
                .try_into()
                .map_err(|_| Malformed("iv must be 16 bytes"))?,
            sha256: hash
                .try_into()
                .map_err(|_| Malformed("hashes.sha256 must be 32 bytes"))?,
        })
    }

    /// (server name, media ID) of the ciphertext.
    pub fn mxc(&self) -> Result<(&str, &str), EncryptedFileError> {
        self.url
            .strip_prefix("mxc://")
            .and_then(|rest| rest.split_once('/'))
            .ok_or(EncryptedFileError::Malformed("url must be an mxc:// URI"))
    }

    /// Checks the ciphertext's hash and decrypts it in memory.
    pub fn decrypt(&self, ciphertext: &[u8]) -> Result<Vec<u8>, EncryptedFileError> {
        if Sha256::digest(ciphertext).as_slice() != self.sha256 {
            return Err(EncryptedFileError::HashMismatch);
        }
        let mut plaintext = ciphertext.to_vec();
        Aes256Ctr::new(&self.key.into(), &self.iv.into()).apply_keystream(&mut plaintext);
        Ok(plaintext)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encrypt(plain: &[u8], key: [u8; 32], iv: [u8; 16]) -> Vec<u8> {
        let mut out = plain.to_vec();
        Aes256Ctr::new(&key.into(), &iv.into()).apply_keystream(&mut out);
        out
    }

    fn info(key: [u8; 32], iv: [u8; 16], cipher: &[u8]) -> Value {
        let e = |b: &[u8]| base64::engine::general_purpose::STANDARD_NO_PAD.encode(b);
        let u = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        serde_json::json!({
            "url": "mxc://example.org/abc",
            "key": { "kty": "oct", "alg": "A256CTR", "ext": true, "k": u(&key), "key_ops": ["encrypt", "decrypt"] },
            "iv": e(&iv),
            "hashes": { "sha256": e(&Sha256::digest(cipher)) },
            "v": "v2",
        })
    }

    #[test]
    fn round_trips_and_checks_the_hash() {
        let (key, iv) = ([7u8; 32], [0u8; 16]);
        let cipher = encrypt(b"top secret report", key, iv);
        let file = EncryptedFile::parse(&info(key, iv, &cipher)).unwrap();
        assert_eq!(file.mxc().unwrap(), ("example.org", "abc"));
        assert_eq!(file.decrypt(&cipher).unwrap(), b"top secret report");
        let mut tampered = cipher.clone();
        tampered[0] ^= 1;
        assert_eq!(
            file.decrypt(&tampered),
            Err(EncryptedFileError::HashMismatch)
        );
    }

    #[test]
    fn malformed_info_is_refused() {
        assert!(EncryptedFile::parse(&serde_json::json!({})).is_err());
        let mut v = info([1; 32], [2; 16], b"x");
        v["key"]["alg"] = "A128CBC".into();
        assert!(EncryptedFile::parse(&v).is_err());
        let mut v = info([1; 32], [2; 16], b"x");
        v["iv"] = "AAAA".into();
        assert!(EncryptedFile::parse(&v).is_err());
    }
}
