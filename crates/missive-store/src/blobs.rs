//! File contents, stored by SHA-256 so identical uploads share one blob.
//! Behind a trait so an object store can replace the filesystem.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::{StoreError, StoreResult};

/// A blob being written: bytes stream in, the hash is computed on the way.
pub struct BlobWriter {
    file: tokio::fs::File,
    temp: PathBuf,
    hasher: Sha256,
    size: u64,
}

impl BlobWriter {
    pub async fn write(&mut self, chunk: &[u8]) -> StoreResult<()> {
        self.hasher.update(chunk);
        self.size += chunk.len() as u64;
        self.file.write_all(chunk).await.map_err(io)
    }

    pub fn size(&self) -> u64 {
        self.size
    }
}

/// A finished blob: its address and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobInfo {
    pub sha256: String,
    pub size: u64,
}

#[async_trait]
pub trait BlobStore: Send + Sync {
    async fn start(&self) -> StoreResult<BlobWriter>;
    /// Makes the written bytes durable under their hash.
    async fn finish(&self, writer: BlobWriter) -> StoreResult<BlobInfo>;
    /// Drops an unfinished blob.
    async fn abort(&self, writer: BlobWriter);
    /// Where the blob's bytes can be read (a local file).
    fn path(&self, sha256: &str) -> StoreResult<PathBuf>;
    async fn delete(&self, sha256: &str) -> StoreResult<()>;
}

fn io(e: std::io::Error) -> StoreError {
    StoreError::Corrupt(format!("blob I/O: {e}"))
}

/// Blobs as files under `<root>/ab/cd/<sha256>`.
pub struct FsBlobStore {
    root: PathBuf,
}

impl FsBlobStore {
    pub fn new(root: impl Into<PathBuf>) -> StoreResult<Self> {
        let root = root.into();
        std::fs::create_dir_all(root.join("tmp")).map_err(io)?;
        Ok(Self { root })
    }
}

fn is_hex_sha256(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

#[async_trait]
impl BlobStore for FsBlobStore {
    async fn start(&self) -> StoreResult<BlobWriter> {
        let name = format!("{}-{}", std::process::id(), rand_suffix());
        let temp = self.root.join("tmp").join(name);
        let file = tokio::fs::File::create(&temp).await.map_err(io)?;
        Ok(BlobWriter {
            file,
            temp,
            hasher: Sha256::new(),
            size: 0,
        })
    }

    async fn finish(&self, mut writer: BlobWriter) -> StoreResult<BlobInfo> {
        writer.file.flush().await.map_err(io)?;
        writer.file.sync_all().await.map_err(io)?;
        let sha256 = hex(&writer.hasher.finalize());
        let path = self.path(&sha256)?;
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir).await.map_err(io)?;
        }
        tokio::fs::rename(&writer.temp, &path).await.map_err(io)?;
        if let Some(dir) = path.parent() {
            // The rename is durable once the directory is synced.
            if let Ok(d) = tokio::fs::File::open(dir).await {
                let _ = d.sync_all().await;
            }
        }
        Ok(BlobInfo {
            sha256,
            size: writer.size,
        })
    }

    async fn abort(&self, writer: BlobWriter) {
        drop(writer.file);
        let _ = tokio::fs::remove_file(&writer.temp).await;
    }

    fn path(&self, sha256: &str) -> StoreResult<PathBuf> {
        if !is_hex_sha256(sha256) {
            return Err(StoreError::Corrupt(format!(
                "not a blob address: {sha256:?}"
            )));
        }
        Ok(self
            .root
            .join(&sha256[0..2])
            .join(&sha256[2..4])
            .join(sha256))
    }

    async fn delete(&self, sha256: &str) -> StoreResult<()> {
        match tokio::fs::remove_file(self.path(sha256)?).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(e)),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{t:x}-{}", N.fetch_add(1, Ordering::Relaxed))
}

/// The root of blobs inside a data directory.
pub fn default_root(data_dir: &Path) -> PathBuf {
    data_dir.join("media")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn identical_content_lands_at_one_address() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::new(dir.path()).unwrap();
        let mut a = store.start().await.unwrap();
        a.write(b"hello ").await.unwrap();
        a.write(b"world").await.unwrap();
        let a = store.finish(a).await.unwrap();
        let mut b = store.start().await.unwrap();
        b.write(b"hello world").await.unwrap();
        let b = store.finish(b).await.unwrap();
        assert_eq!(a, b);
        assert_eq!(a.size, 11);
        // sha256("hello world")
        assert_eq!(
            a.sha256,
            "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
        );
        assert_eq!(
            std::fs::read(store.path(&a.sha256).unwrap()).unwrap(),
            b"hello world"
        );
        store.delete(&a.sha256).await.unwrap();
        assert!(!store.path(&a.sha256).unwrap().exists());
        assert!(store.path("../../etc/passwd").is_err());
    }
}
