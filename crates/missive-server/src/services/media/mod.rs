//! The media repository: uploads streamed to content-addressed blobs,
//! antivirus scanning before anything can be downloaded, thumbnails, quotas.

pub mod antivirus;
pub mod encrypted;
mod png_metadata;
pub mod preview;
mod remote;
pub mod thumbnail;
mod thumbnailing;

use std::{path::PathBuf, sync::Arc};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use missive_store::{BlobStore, MediaRecord, MediaStore, SqlStore, ThumbnailRecord};
use ruma::{OwnedServerName, UserId};

use self::{
    antivirus::{Clamd, Verdict},
    thumbnail::Method,
    thumbnailing::{KeyedLocks, Thumbnailing},
};
use crate::{
    config::MediaConfig,
    error::{ApiError, ApiResult},
    services::accounts::random_alphanumeric,
    services::federation::Federation,
    time::now_ms,
};

/// How long an asynchronous upload reservation stays open.
const PENDING_UPLOAD_MS: i64 = 24 * 60 * 60 * 1000;

#[derive(Clone)]
pub struct Media {
    store: Arc<SqlStore>,
    blobs: Arc<dyn BlobStore>,
    config: Arc<MediaConfig>,
    clamd: Option<Clamd>,
    server_name: OwnedServerName,
    thumbnailing: Arc<Thumbnailing>,
    /// Fetches other servers' media (none when federation is off).
    federation: Federation,
    /// One fetch per remote file at a time.
    fetches: Arc<KeyedLocks>,
}

/// A stored file ready to serve.
pub struct StoredFile {
    pub path: PathBuf,
    pub content_type: String,
    pub filename: Option<String>,
    pub size: i64,
}

impl Media {
    pub fn new(
        store: Arc<SqlStore>,
        blobs: Arc<dyn BlobStore>,
        config: MediaConfig,
        server_name: OwnedServerName,
        federation: Federation,
    ) -> Self {
        let clamd = config.clamd.as_deref().and_then(Clamd::parse);
        Self {
            store,
            blobs,
            config: Arc::new(config),
            clamd,
            server_name,
            thumbnailing: Arc::new(Thumbnailing::new()),
            federation,
            fetches: Arc::new(KeyedLocks::default()),
        }
    }

    pub fn max_upload_bytes(&self) -> u64 {
        self.config.max_upload_bytes
    }

    /// An OpenGraph preview of `url`, when previews are on.
    pub async fn preview_url(&self, url: &str) -> ApiResult<preview::OpenGraph> {
        if !self.config.url_previews {
            return Err(ApiError::forbidden(
                "URL previews are disabled on this server",
            ));
        }
        let allowed: Vec<ipnet::IpNet> = self
            .config
            .url_preview_ip_allowlist
            .iter()
            .filter_map(|n| n.parse().ok())
            .collect();
        preview::preview(url, &allowed).await.map_err(|e| match e {
            preview::PreviewError::Forbidden => ApiError::forbidden(e.to_string()),
            preview::PreviewError::Fetch(_) => ApiError::Unknown(e.to_string()),
            _ => ApiError::invalid_param(e.to_string()),
        })
    }

    pub fn legacy_unauthenticated(&self) -> bool {
        self.config.legacy_unauthenticated
    }

    /// Refuses a declared size over the limit or the user's quota before
    /// any byte is read.
    pub async fn check_declared_size(&self, user: &UserId, declared: Option<u64>) -> ApiResult<()> {
        if let Some(size) = declared {
            self.check_size(user, size).await?;
        }
        Ok(())
    }

    async fn check_size(&self, user: &UserId, size: u64) -> ApiResult<()> {
        if size > self.config.max_upload_bytes {
            return Err(ApiError::TooLarge(format!(
                "file is larger than the {} byte upload limit",
                self.config.max_upload_bytes
            )));
        }
        if self.config.quota_bytes > 0 {
            let used = self.store.media_usage(user.as_str()).await?.max(0) as u64;
            if used + size > self.config.quota_bytes {
                return Err(ApiError::ResourceLimitExceeded(format!(
                    "storage quota exceeded: {used} of {} bytes used",
                    self.config.quota_bytes
                )));
            }
        }
        Ok(())
    }

    /// Streams a body into a blob, enforcing the limits as bytes arrive,
    /// then scans it. Returns the blob's hash and size.
    async fn receive<S, E>(&self, user: &UserId, mut body: S) -> ApiResult<(String, u64)>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let mut writer = self.blobs.start().await?;
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    self.blobs.abort(writer).await;
                    return Err(ApiError::Unknown(format!("upload interrupted: {e}")));
                }
            };
            if writer.size() + chunk.len() as u64 > self.config.max_upload_bytes {
                self.blobs.abort(writer).await;
                return Err(ApiError::TooLarge(format!(
                    "file is larger than the {} byte upload limit",
                    self.config.max_upload_bytes
                )));
            }
            if let Err(e) = writer.write(&chunk).await {
                self.blobs.abort(writer).await;
                return Err(e.into());
            }
        }
        let size = writer.size();
        if let Err(e) = self.check_size(user, size).await {
            self.blobs.abort(writer).await;
            return Err(e);
        }
        let blob = self.blobs.finish(writer).await?;
        self.scan(&blob.sha256).await?;
        Ok((blob.sha256, blob.size))
    }

    /// Scans a stored blob; infected files are deleted and refused.
    async fn scan(&self, sha256: &str) -> ApiResult<()> {
        let Some(clamd) = &self.clamd else {
            return Ok(());
        };
        let path = self.blobs.path(sha256)?;
        match antivirus::scan_file(clamd, &path).await {
            Verdict::Clean => Ok(()),
            Verdict::Infected(name) => {
                tracing::warn!(%sha256, signature = %name, "upload refused: malware");
                // Only delete if no earlier (clean-scanned) record shares it,
                // which cannot happen for infected content.
                let _ = self.blobs.delete(sha256).await;
                Err(ApiError::MediaInfected(name))
            }
            Verdict::Unavailable(why) if self.config.clamd_fail_open => {
                tracing::warn!(%why, "antivirus unavailable; accepting upload (fail-open configured)");
                Ok(())
            }
            Verdict::Unavailable(why) => {
                tracing::error!(%why, "antivirus unavailable; refusing upload");
                Err(ApiError::ScannerUnavailable)
            }
        }
    }

    /// Scans bytes held in memory (the decrypted content of an encrypted
    /// attachment). `Ok(None)` when clean; `Ok(Some(signature))` when infected.
    pub async fn scan_bytes(&self, bytes: &[u8]) -> ApiResult<Option<String>> {
        let Some(clamd) = &self.clamd else {
            return Ok(None);
        };
        match antivirus::scan_bytes(clamd, bytes).await {
            Verdict::Clean => Ok(None),
            Verdict::Infected(name) => Ok(Some(name)),
            Verdict::Unavailable(_) if self.config.clamd_fail_open => Ok(None),
            Verdict::Unavailable(_) => Err(ApiError::ScannerUnavailable),
        }
    }

    fn new_media_id() -> String {
        random_alphanumeric(24)
    }

    /// `POST /upload`: stores the file under a new MXC URI.
    pub async fn upload<S, E>(
        &self,
        user: &UserId,
        content_type: Option<String>,
        filename: Option<String>,
        body: S,
    ) -> ApiResult<String>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let (sha256, size) = self.receive(user, body).await?;
        let media_id = Self::new_media_id();
        self.store
            .create_media(&MediaRecord {
                server_name: self.server_name.to_string(),
                media_id: media_id.clone(),
                uploader: user.to_string(),
                content_type,
                filename,
                size: size as i64,
                sha256: Some(sha256),
                created_ts: now_ms(),
                expires_ts: None,
            })
            .await?;
        Ok(format!("mxc://{}/{media_id}", self.server_name))
    }

    /// `POST /media/v1/create`: reserves an MXC URI for a later upload.
    pub async fn create_pending(&self, user: &UserId) -> ApiResult<(String, i64)> {
        let now = now_ms();
        if self.store.pending_media_count(user.as_str(), now).await?
            >= self.config.max_pending_uploads
        {
            return Err(ApiError::LimitExceeded {
                retry_after_ms: 60_000,
            });
        }
        let media_id = Self::new_media_id();
        let expires = now + PENDING_UPLOAD_MS;
        self.store
            .create_media(&MediaRecord {
                server_name: self.server_name.to_string(),
                media_id: media_id.clone(),
                uploader: user.to_string(),
                content_type: None,
                filename: None,
                size: 0,
                sha256: None,
                created_ts: now,
                expires_ts: Some(expires),
            })
            .await?;
        Ok((format!("mxc://{}/{media_id}", self.server_name), expires))
    }

    /// `PUT /upload/{server}/{id}`: fills a reservation, once, by its owner.
    pub async fn upload_pending<S, E>(
        &self,
        user: &UserId,
        server_name: &str,
        media_id: &str,
        content_type: Option<String>,
        filename: Option<String>,
        body: S,
    ) -> ApiResult<()>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let record = self
            .store
            .media(server_name, media_id)
            .await?
            .ok_or_else(|| ApiError::not_found("unknown media ID"))?;
        if record.uploader != user.as_str() {
            return Err(ApiError::forbidden(
                "this media ID was reserved by another user",
            ));
        }
        if record.sha256.is_some() {
            return Err(ApiError::CannotOverwriteMedia);
        }
        if record.expires_ts.is_some_and(|e| e < now_ms()) {
            return Err(ApiError::not_found("the upload reservation expired"));
        }
        let (sha256, size) = self.receive(user, body).await?;
        let filled = self
            .store
            .complete_media(
                server_name,
                media_id,
                &sha256,
                size as i64,
                content_type.as_deref(),
                filename.as_deref(),
            )
            .await?;
        if !filled {
            return Err(ApiError::CannotOverwriteMedia);
        }
        Ok(())
    }

    /// The file behind an MXC URI.
    pub async fn file(&self, server_name: &str, media_id: &str) -> ApiResult<StoredFile> {
        let record = self.record(server_name, media_id).await?;
        let sha = record.sha256.as_deref().expect("checked by record()");
        Ok(StoredFile {
            path: self.blobs.path(sha)?,
            content_type: record
                .content_type
                .clone()
                .unwrap_or_else(|| "application/octet-stream".into()),
            filename: record.filename.clone(),
            size: record.size,
        })
    }

    /// A file of this server, as other servers may download it (never
    /// one cached from elsewhere).
    pub async fn local_file(&self, media_id: &str) -> ApiResult<StoredFile> {
        let own = self.server_name.clone();
        self.file(own.as_str(), media_id).await
    }

    /// A thumbnail of a file of this server, for another server.
    pub async fn local_thumbnail(
        &self,
        media_id: &str,
        width: u32,
        height: u32,
        method: Method,
    ) -> ApiResult<StoredFile> {
        let own = self.server_name.clone();
        self.thumbnail(own.as_str(), media_id, width, height, method)
            .await
    }

    async fn record(&self, server_name: &str, media_id: &str) -> ApiResult<MediaRecord> {
        if server_name != self.server_name.as_str() {
            return self.remote_record(server_name, media_id).await;
        }
        let record = self
            .store
            .media(server_name, media_id)
            .await?
            .ok_or_else(|| ApiError::not_found("media not found"))?;
        if record.sha256.is_none() {
            return Err(ApiError::NotYetUploaded);
        }
        Ok(record)
    }

    /// A thumbnail of the media: the configured size closest to the one
    /// requested, all configured sizes generated from one decode on the
    /// first request and served from their blobs afterwards.
    pub async fn thumbnail(
        &self,
        server_name: &str,
        media_id: &str,
        width: u32,
        height: u32,
        method: Method,
    ) -> ApiResult<StoredFile> {
        let record = self.record(server_name, media_id).await?;
        let sha = record.sha256.expect("checked by record()");
        let size = thumbnail::select(&self.config.thumbnail_sizes, width, height, method);
        if let Some(file) = self.stored_thumbnail(&sha, size).await? {
            return Ok(file);
        }
        // One generation per image at a time: concurrent requests for the
        // same image wait for it and then read its blobs.
        let lock = self.thumbnailing.lock_for(&sha);
        let generated = async {
            let _generating = lock.lock().await;
            if let Some(file) = self.stored_thumbnail(&sha, size).await? {
                return Ok(file);
            }
            self.generate_thumbnails(&sha).await?;
            self.stored_thumbnail(&sha, size)
                .await?
                .ok_or_else(|| ApiError::Internal("generated thumbnail not stored".into()))
        }
        .await;
        self.thumbnailing.release(&sha, lock);
        generated
    }

    async fn stored_thumbnail(
        &self,
        sha: &str,
        size: thumbnail::ThumbnailSize,
    ) -> ApiResult<Option<StoredFile>> {
        let (w, h) = (i64::from(size.width), i64::from(size.height));
        let Some(t) = self
            .store
            .thumbnail(sha, w, h, size.method.as_str())
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(StoredFile {
            path: self.blobs.path(&t.thumb_sha256)?,
            content_type: t.content_type,
            filename: None,
            size: t.size,
        }))
    }

    /// Decodes the image once (at most one decode per core at a time,
    /// each holding a whole decoded image) and stores every configured
    /// size under the size it stands for.
    async fn generate_thumbnails(&self, sha: &str) -> ApiResult<()> {
        let source = self.blobs.path(sha)?;
        let sizes = self.config.thumbnail_sizes.clone();
        let max_pixels = self.config.max_image_pixels;
        let _decoding = self
            .thumbnailing
            .decodes
            .acquire()
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        let thumbs = tokio::task::spawn_blocking(move || {
            thumbnail::generate_all(&source, &sizes, max_pixels)
        })
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|e| match e {
            // The spec's answer for content too large to thumbnail.
            thumbnail::ThumbnailError::TooLarge(_) => ApiError::TooLarge(e.to_string()),
            // Synapse answers 400 M_UNKNOWN when it cannot thumbnail.
            other => ApiError::Unknown(other.to_string()),
        })?;
        for thumb in thumbs {
            // Kept from before (an earlier version, or another process):
            // writing its blob again would leave one nothing refers to.
            if self.stored_thumbnail(sha, thumb.size).await?.is_some() {
                continue;
            }
            let mut writer = self.blobs.start().await?;
            writer.write(&thumb.bytes).await?;
            let blob = self.blobs.finish(writer).await?;
            self.store
                .add_thumbnail(&ThumbnailRecord {
                    sha256: sha.to_owned(),
                    width: i64::from(thumb.size.width),
                    height: i64::from(thumb.size.height),
                    method: thumb.size.method.as_str().into(),
                    thumb_sha256: blob.sha256,
                    content_type: thumb.content_type.into(),
                    size: blob.size as i64,
                })
                .await?;
        }
        Ok(())
    }

    /// Decrypts an encrypted attachment in memory and scans it. Returns
    /// the ciphertext file (to serve when clean) and the verdict:
    /// `None` when clean, `Some(signature)` when infected.
    pub async fn scan_encrypted(
        &self,
        info: &serde_json::Value,
    ) -> ApiResult<(StoredFile, Option<String>)> {
        let file =
            encrypted::EncryptedFile::parse(info).map_err(|e| ApiError::bad_json(e.to_string()))?;
        let (server, media_id) = file.mxc().map_err(|e| ApiError::bad_json(e.to_string()))?;
        let stored = self.file(server, media_id).await?;
        if stored.size as u64 > self.config.max_upload_bytes {
            return Err(ApiError::TooLarge("file too large to scan".into()));
        }
        let ciphertext = tokio::fs::read(&stored.path)
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        let plaintext = file
            .decrypt(&ciphertext)
            .map_err(|e| ApiError::bad_json(e.to_string()))?;
        let verdict = self.scan_bytes(&plaintext).await?;
        Ok((stored, verdict))
    }

    /// Deletes one media item (and its blob once unused).
    pub async fn delete(&self, server_name: &str, media_id: &str) -> ApiResult<bool> {
        if self.store.media(server_name, media_id).await?.is_none() {
            return Ok(false);
        }
        for blob in self.store.delete_media(server_name, media_id).await? {
            self.blobs.delete(&blob).await?;
        }
        Ok(true)
    }

    /// Deletes everything a user uploaded; returns the deleted MXC IDs.
    pub async fn delete_user_media(&self, user: &UserId) -> ApiResult<Vec<String>> {
        let mut deleted = Vec::new();
        for (server, id) in self.store.user_media(user.as_str()).await? {
            if self.delete(&server, &id).await? {
                deleted.push(id);
            }
        }
        Ok(deleted)
    }
}
