//! Server-side room key backup (encrypted by the client; opaque here).

use async_trait::async_trait;
use sqlx::Row;

use ruma::UserId;

use crate::{SqlStore, StoreResult};

/// A backup version's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupVersion {
    pub version: String,
    pub algorithm: String,
    pub auth_data: String,
    /// Changes whenever the version's keys change.
    pub etag: String,
    pub count: i64,
}

/// One backed-up session key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackedUpKey {
    pub room_id: String,
    pub session_id: String,
    pub first_message_index: i64,
    pub forwarded_count: i64,
    pub is_verified: bool,
    /// The encrypted `session_data` object, as JSON.
    pub session_data: String,
}

impl BackedUpKey {
    /// The spec's rule for which copy of a session key to keep: a verified
    /// one over an unverified one, then the lower first message index, then
    /// the lower forwarded count.
    pub fn better_than(&self, other: &BackedUpKey) -> bool {
        if self.is_verified != other.is_verified {
            return self.is_verified;
        }
        if self.first_message_index != other.first_message_index {
            return self.first_message_index < other.first_message_index;
        }
        self.forwarded_count < other.forwarded_count
    }
}

#[async_trait]
pub trait BackupStore: Send + Sync {
    /// Creates a new version (becoming the current one) and returns it.
    async fn create_backup_version(
        &self,
        user_id: &UserId,
        algorithm: &str,
        auth_data: &str,
    ) -> StoreResult<String>;
    /// The given version, or the newest when `version` is `None`.
    async fn backup_version(
        &self,
        user_id: &UserId,
        version: Option<&str>,
    ) -> StoreResult<Option<BackupVersion>>;
    async fn update_backup_version(
        &self,
        user_id: &UserId,
        version: &str,
        auth_data: &str,
    ) -> StoreResult<bool>;
    async fn delete_backup_version(&self, user_id: &UserId, version: &str) -> StoreResult<bool>;
    /// Stores keys, keeping the better copy of each session.
    async fn put_backup_keys(
        &self,
        user_id: &UserId,
        version: &str,
        keys: &[BackedUpKey],
    ) -> StoreResult<()>;
    /// Keys of the version, optionally of one room or one session.
    async fn backup_keys(
        &self,
        user_id: &UserId,
        version: &str,
        room_id: Option<&str>,
        session_id: Option<&str>,
    ) -> StoreResult<Vec<BackedUpKey>>;
    async fn delete_backup_keys(
        &self,
        user_id: &UserId,
        version: &str,
        room_id: Option<&str>,
        session_id: Option<&str>,
    ) -> StoreResult<()>;
}

fn parse_version(v: &str) -> Option<i64> {
    v.parse().ok()
}

#[async_trait]
impl BackupStore for SqlStore {
    async fn create_backup_version(
        &self,
        user_id: &UserId,
        algorithm: &str,
        auth_data: &str,
    ) -> StoreResult<String> {
        let mut tx = self.begin().await?;
        let max: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM backup_versions WHERE user_id = $1")
                .bind(user_id.as_str())
                .fetch_one(&mut *tx)
                .await?;
        let version = max.unwrap_or(0) + 1;
        sqlx::query(
            "INSERT INTO backup_versions (user_id, version, algorithm, auth_data, etag, deleted) \
             VALUES ($1, $2, $3, $4, 0, 0)",
        )
        .bind(user_id.as_str())
        .bind(version)
        .bind(algorithm)
        .bind(auth_data)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(version.to_string())
    }

    async fn backup_version(
        &self,
        user_id: &UserId,
        version: Option<&str>,
    ) -> StoreResult<Option<BackupVersion>> {
        let row = match version {
            Some(v) => {
                let Some(v) = parse_version(v) else {
                    return Ok(None);
                };
                sqlx::query(
                    "SELECT version, algorithm, auth_data, etag FROM backup_versions \
                     WHERE user_id = $1 AND version = $2 AND deleted = 0",
                )
                .bind(user_id.as_str())
                .bind(v)
                .fetch_optional(&self.read)
                .await?
            }
            None => {
                sqlx::query(
                    "SELECT version, algorithm, auth_data, etag FROM backup_versions \
                     WHERE user_id = $1 AND deleted = 0 ORDER BY version DESC LIMIT 1",
                )
                .bind(user_id.as_str())
                .fetch_optional(&self.read)
                .await?
            }
        };
        let Some(row) = row else { return Ok(None) };
        let version: i64 = row.try_get(0)?;
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM backup_keys WHERE user_id = $1 AND version = $2",
        )
        .bind(user_id.as_str())
        .bind(version)
        .fetch_one(&self.read)
        .await?;
        Ok(Some(BackupVersion {
            version: version.to_string(),
            algorithm: row.try_get(1)?,
            auth_data: row.try_get(2)?,
            etag: row.try_get::<i64, _>(3)?.to_string(),
            count,
        }))
    }

    async fn update_backup_version(
        &self,
        user_id: &UserId,
        version: &str,
        auth_data: &str,
    ) -> StoreResult<bool> {
        let Some(v) = parse_version(version) else {
            return Ok(false);
        };
        let done = sqlx::query(
            "UPDATE backup_versions SET auth_data = $1 WHERE user_id = $2 AND version = $3 AND deleted = 0",
        )
        .bind(auth_data)
        .bind(user_id.as_str())
        .bind(v)
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_backup_version(&self, user_id: &UserId, version: &str) -> StoreResult<bool> {
        let Some(v) = parse_version(version) else {
            return Ok(false);
        };
        let mut tx = self.begin().await?;
        let done = sqlx::query("UPDATE backup_versions SET deleted = 1 WHERE user_id = $1 AND version = $2 AND deleted = 0")
            .bind(user_id.as_str())
            .bind(v)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM backup_keys WHERE user_id = $1 AND version = $2")
            .bind(user_id.as_str())
            .bind(v)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    async fn put_backup_keys(
        &self,
        user_id: &UserId,
        version: &str,
        keys: &[BackedUpKey],
    ) -> StoreResult<()> {
        let Some(v) = parse_version(version) else {
            return Ok(());
        };
        let mut tx = self.begin().await?;
        let mut changed = false;
        for key in keys {
            let existing = sqlx::query(
                "SELECT first_message_index, forwarded_count, is_verified FROM backup_keys \
                 WHERE user_id = $1 AND version = $2 AND room_id = $3 AND session_id = $4",
            )
            .bind(user_id.as_str())
            .bind(v)
            .bind(&key.room_id)
            .bind(&key.session_id)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(row) = existing {
                let current = BackedUpKey {
                    first_message_index: row.try_get(0)?,
                    forwarded_count: row.try_get(1)?,
                    is_verified: row.try_get::<i64, _>(2)? != 0,
                    ..key.clone()
                };
                if !key.better_than(&current) {
                    continue;
                }
            }
            sqlx::query(
                "INSERT INTO backup_keys (user_id, version, room_id, session_id, first_message_index, \
                 forwarded_count, is_verified, session_data) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (user_id, version, room_id, session_id) DO UPDATE SET \
                 first_message_index = excluded.first_message_index, forwarded_count = excluded.forwarded_count, \
                 is_verified = excluded.is_verified, session_data = excluded.session_data",
            )
            .bind(user_id.as_str())
            .bind(v)
            .bind(&key.room_id)
            .bind(&key.session_id)
            .bind(key.first_message_index)
            .bind(key.forwarded_count)
            .bind(i64::from(key.is_verified))
            .bind(&key.session_data)
            .execute(&mut *tx)
            .await?;
            changed = true;
        }
        if changed {
            sqlx::query(
                "UPDATE backup_versions SET etag = etag + 1 WHERE user_id = $1 AND version = $2",
            )
            .bind(user_id.as_str())
            .bind(v)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn backup_keys(
        &self,
        user_id: &UserId,
        version: &str,
        room_id: Option<&str>,
        session_id: Option<&str>,
    ) -> StoreResult<Vec<BackedUpKey>> {
        let Some(v) = parse_version(version) else {
            return Ok(Vec::new());
        };
        let rows = sqlx::query(
            "SELECT room_id, session_id, first_message_index, forwarded_count, is_verified, session_data \
             FROM backup_keys WHERE user_id = $1 AND version = $2 \
             AND ($3 = '' OR room_id = $3) AND ($4 = '' OR session_id = $4) ORDER BY room_id, session_id",
        )
        .bind(user_id.as_str())
        .bind(v)
        .bind(room_id.unwrap_or(""))
        .bind(session_id.unwrap_or(""))
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(BackedUpKey {
                    room_id: r.try_get(0)?,
                    session_id: r.try_get(1)?,
                    first_message_index: r.try_get(2)?,
                    forwarded_count: r.try_get(3)?,
                    is_verified: r.try_get::<i64, _>(4)? != 0,
                    session_data: r.try_get(5)?,
                })
            })
            .collect()
    }

    async fn delete_backup_keys(
        &self,
        user_id: &UserId,
        version: &str,
        room_id: Option<&str>,
        session_id: Option<&str>,
    ) -> StoreResult<()> {
        let Some(v) = parse_version(version) else {
            return Ok(());
        };
        let mut tx = self.begin().await?;
        sqlx::query(
            "DELETE FROM backup_keys WHERE user_id = $1 AND version = $2 \
             AND ($3 = '' OR room_id = $3) AND ($4 = '' OR session_id = $4)",
        )
        .bind(user_id.as_str())
        .bind(v)
        .bind(room_id.unwrap_or(""))
        .bind(session_id.unwrap_or(""))
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE backup_versions SET etag = etag + 1 WHERE user_id = $1 AND version = $2",
        )
        .bind(user_id.as_str())
        .bind(v)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
