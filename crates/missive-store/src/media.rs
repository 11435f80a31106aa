//! Media metadata: which MXC URI points at which blob, who uploaded it,
//! and the thumbnails generated from it.

use async_trait::async_trait;
use sqlx::Row;

use crate::{SqlStore, StoreError, StoreResult, error::is_unique_violation};

/// One MXC URI's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaRecord {
    pub server_name: String,
    pub media_id: String,
    pub uploader: String,
    pub content_type: Option<String>,
    pub filename: Option<String>,
    pub size: i64,
    /// The blob holding the bytes; `None` while an async upload is pending.
    pub sha256: Option<String>,
    pub created_ts: i64,
    /// For a pending async upload: when the reservation lapses.
    pub expires_ts: Option<i64>,
}

/// A generated thumbnail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThumbnailRecord {
    pub sha256: String,
    pub width: i64,
    pub height: i64,
    pub method: String,
    pub thumb_sha256: String,
    pub content_type: String,
    pub size: i64,
}

#[async_trait]
pub trait MediaStore: Send + Sync {
    /// `AlreadyExists` if the ID is taken.
    async fn create_media(&self, media: &MediaRecord) -> StoreResult<()>;
    async fn media(&self, server_name: &str, media_id: &str) -> StoreResult<Option<MediaRecord>>;
    /// Fills a pending async upload; false if it was already filled.
    async fn complete_media(
        &self,
        server_name: &str,
        media_id: &str,
        sha256: &str,
        size: i64,
        content_type: Option<&str>,
        filename: Option<&str>,
    ) -> StoreResult<bool>;
    /// Bytes stored for the user (their quota use).
    async fn media_usage(&self, uploader: &str) -> StoreResult<i64>;
    /// Pending async uploads of the user that have not expired.
    async fn pending_media_count(&self, uploader: &str, now_ts: i64) -> StoreResult<i64>;
    /// MXC IDs (server, media ID) uploaded by the user.
    async fn user_media(&self, uploader: &str) -> StoreResult<Vec<(String, String)>>;
    /// Deletes the record. Returns the blobs no record uses any more (the
    /// file's, and its thumbnails') for the caller to delete.
    async fn delete_media(&self, server_name: &str, media_id: &str) -> StoreResult<Vec<String>>;
    async fn thumbnail(
        &self,
        sha256: &str,
        width: i64,
        height: i64,
        method: &str,
    ) -> StoreResult<Option<ThumbnailRecord>>;
    async fn add_thumbnail(&self, thumb: &ThumbnailRecord) -> StoreResult<()>;
    /// Thumbnails of a blob (to delete with it).
    async fn thumbnails_of(&self, sha256: &str) -> StoreResult<Vec<ThumbnailRecord>>;
}

const COLUMNS: &str =
    "server_name, media_id, uploader, content_type, filename, size, sha256, created_ts, expires_ts";

fn media_from_row(r: &sqlx::any::AnyRow) -> StoreResult<MediaRecord> {
    Ok(MediaRecord {
        server_name: r.try_get(0)?,
        media_id: r.try_get(1)?,
        uploader: r.try_get(2)?,
        content_type: r.try_get(3)?,
        filename: r.try_get(4)?,
        size: r.try_get(5)?,
        sha256: r.try_get(6)?,
        created_ts: r.try_get(7)?,
        expires_ts: r.try_get(8)?,
    })
}

fn thumb_from_row(r: &sqlx::any::AnyRow) -> StoreResult<ThumbnailRecord> {
    Ok(ThumbnailRecord {
        sha256: r.try_get(0)?,
        width: r.try_get(1)?,
        height: r.try_get(2)?,
        method: r.try_get(3)?,
        thumb_sha256: r.try_get(4)?,
        content_type: r.try_get(5)?,
        size: r.try_get(6)?,
    })
}

#[async_trait]
impl MediaStore for SqlStore {
    async fn create_media(&self, m: &MediaRecord) -> StoreResult<()> {
        let result = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO media ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        )))
        .bind(&m.server_name)
        .bind(&m.media_id)
        .bind(&m.uploader)
        .bind(&m.content_type)
        .bind(&m.filename)
        .bind(m.size)
        .bind(&m.sha256)
        .bind(m.created_ts)
        .bind(m.expires_ts)
        .execute(&self.write)
        .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(StoreError::AlreadyExists(m.media_id.clone())),
            Err(e) => Err(e.into()),
        }
    }

    async fn media(&self, server_name: &str, media_id: &str) -> StoreResult<Option<MediaRecord>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM media WHERE server_name = $1 AND media_id = $2"
        )))
        .bind(server_name)
        .bind(media_id)
        .fetch_optional(&self.read)
        .await?;
        row.as_ref().map(media_from_row).transpose()
    }

    async fn complete_media(
        &self,
        server_name: &str,
        media_id: &str,
        sha256: &str,
        size: i64,
        content_type: Option<&str>,
        filename: Option<&str>,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE media SET sha256 = $1, size = $2, content_type = $3, filename = $4, expires_ts = NULL \
             WHERE server_name = $5 AND media_id = $6 AND sha256 IS NULL",
        )
        .bind(sha256)
        .bind(size)
        .bind(content_type)
        .bind(filename)
        .bind(server_name)
        .bind(media_id)
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn media_usage(&self, uploader: &str) -> StoreResult<i64> {
        let total: Option<i64> = sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM media WHERE uploader = $1",
        )
        .bind(uploader)
        .fetch_one(&self.read)
        .await?;
        Ok(total.unwrap_or(0))
    }

    async fn pending_media_count(&self, uploader: &str, now_ts: i64) -> StoreResult<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM media WHERE uploader = $1 AND sha256 IS NULL AND expires_ts > $2",
        )
        .bind(uploader)
        .bind(now_ts)
        .fetch_one(&self.read)
        .await?)
    }

    async fn user_media(&self, uploader: &str) -> StoreResult<Vec<(String, String)>> {
        let rows = sqlx::query(
            "SELECT server_name, media_id FROM media WHERE uploader = $1 ORDER BY created_ts",
        )
        .bind(uploader)
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    async fn delete_media(&self, server_name: &str, media_id: &str) -> StoreResult<Vec<String>> {
        let mut tx = self.begin().await?;
        let sha: Option<Option<String>> = sqlx::query_scalar(
            "DELETE FROM media WHERE server_name = $1 AND media_id = $2 RETURNING sha256",
        )
        .bind(server_name)
        .bind(media_id)
        .fetch_optional(&mut *tx)
        .await?;
        let mut orphans = Vec::new();
        if let Some(sha) = sha.flatten() {
            let still_used: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM media WHERE sha256 = $1")
                    .bind(&sha)
                    .fetch_one(&mut *tx)
                    .await?;
            if still_used == 0 {
                let thumbs: Vec<String> = sqlx::query_scalar(
                    "DELETE FROM media_thumbnails WHERE sha256 = $1 RETURNING thumb_sha256",
                )
                .bind(&sha)
                .fetch_all(&mut *tx)
                .await?;
                orphans.push(sha);
                orphans.extend(thumbs);
            }
        }
        tx.commit().await?;
        Ok(orphans)
    }

    async fn thumbnail(
        &self,
        sha256: &str,
        width: i64,
        height: i64,
        method: &str,
    ) -> StoreResult<Option<ThumbnailRecord>> {
        let row = sqlx::query(
            "SELECT sha256, width, height, method, thumb_sha256, content_type, size FROM media_thumbnails \
             WHERE sha256 = $1 AND width = $2 AND height = $3 AND method = $4",
        )
        .bind(sha256)
        .bind(width)
        .bind(height)
        .bind(method)
        .fetch_optional(&self.read)
        .await?;
        row.as_ref().map(thumb_from_row).transpose()
    }

    async fn add_thumbnail(&self, t: &ThumbnailRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO media_thumbnails (sha256, width, height, method, thumb_sha256, content_type, size) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (sha256, width, height, method) DO NOTHING",
        )
        .bind(&t.sha256)
        .bind(t.width)
        .bind(t.height)
        .bind(&t.method)
        .bind(&t.thumb_sha256)
        .bind(&t.content_type)
        .bind(t.size)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn thumbnails_of(&self, sha256: &str) -> StoreResult<Vec<ThumbnailRecord>> {
        let rows = sqlx::query(
            "SELECT sha256, width, height, method, thumb_sha256, content_type, size FROM media_thumbnails \
             WHERE sha256 = $1",
        )
        .bind(sha256)
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(thumb_from_row).collect()
    }
}
