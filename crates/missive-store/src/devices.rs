//! Devices and their access tokens (`DeviceStore`): login sessions,
//! tokens looked up by hash only, and device removal with everything tied
//! to the device.

use async_trait::async_trait;
use sqlx::Row;

use ruma::{DeviceId, OwnedDeviceId, UserId};

use crate::{DeviceListBump, SqlStore, StoreResult};

/// A user's device (one login session).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRecord {
    pub user_id: String,
    pub device_id: String,
    pub display_name: Option<String>,
    pub last_seen_ts: Option<i64>,
    pub last_seen_ip: Option<String>,
}

/// Who an access token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenOwner {
    pub user_id: String,
    pub device_id: String,
}

/// What authenticating a request needs to know about its access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenUser {
    pub user_id: String,
    pub device_id: String,
    pub is_admin: bool,
    pub deactivated: bool,
    pub is_guest: bool,
}

/// Devices and their access tokens. Tokens are looked up by their hash only.
#[async_trait]
pub trait DeviceStore: Send + Sync {
    /// Creates the device if new (keeping its name if it exists) and adds a
    /// token for it, in one transaction. A new device is a change of the
    /// user's device list: its position is returned.
    async fn create_device_with_token(
        &self,
        device: DeviceRecord,
        token_hash: &str,
    ) -> StoreResult<Option<DeviceListBump>>;
    /// Creates or updates a device that has no access token (a dehydrated
    /// device waiting on the server).
    async fn upsert_device(&self, device: DeviceRecord) -> StoreResult<()>;
    async fn token_owner(&self, token_hash: &str) -> StoreResult<Option<TokenOwner>>;
    /// The token's device and its user's account flags, in one read (every
    /// authenticated request asks this; on SQLite it is cached).
    async fn token_user(&self, token_hash: &str) -> StoreResult<Option<TokenUser>>;
    async fn delete_token(&self, token_hash: &str) -> StoreResult<()>;
    async fn device(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
    ) -> StoreResult<Option<DeviceRecord>>;
    async fn devices(&self, user_id: &UserId) -> StoreResult<Vec<DeviceRecord>>;
    /// Renames a device and records the change of the user's device list
    /// in the same transaction; `None` if there is no such device.
    async fn rename_device(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        name: &str,
    ) -> StoreResult<Option<DeviceListBump>>;
    /// Deletes the devices and all their tokens; returns the device-list
    /// changes, one per named device in order (none if none was named).
    async fn delete_devices(
        &self,
        user_id: &UserId,
        device_ids: &[OwnedDeviceId],
    ) -> StoreResult<Option<DeviceListBump>>;
    /// Deletes every device and token of the user except `keep`; returns
    /// the devices deleted and the device-list changes, one per device
    /// deleted in that order (one when there was none).
    async fn delete_all_devices(
        &self,
        user_id: &UserId,
        keep: Option<&DeviceId>,
    ) -> StoreResult<(Vec<String>, DeviceListBump)>;
    async fn touch_device(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        ts: i64,
        ip: Option<&str>,
    ) -> StoreResult<()>;
}

fn device_from_row(row: &sqlx::any::AnyRow) -> StoreResult<DeviceRecord> {
    Ok(DeviceRecord {
        user_id: row.try_get("user_id")?,
        device_id: row.try_get("device_id")?,
        display_name: row.try_get("display_name")?,
        last_seen_ts: row.try_get("last_seen_ts")?,
        last_seen_ip: row.try_get("last_seen_ip")?,
    })
}

#[async_trait]
impl DeviceStore for SqlStore {
    async fn create_device_with_token(
        &self,
        device: DeviceRecord,
        token_hash: &str,
    ) -> StoreResult<Option<DeviceListBump>> {
        let mut tx = self.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO devices (user_id, device_id, display_name, last_seen_ts, last_seen_ip) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, device_id) DO NOTHING",
        )
        .bind(&device.user_id)
        .bind(&device.device_id)
        .bind(&device.display_name)
        .bind(device.last_seen_ts)
        .bind(&device.last_seen_ip)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            > 0;
        let pos = if inserted {
            let user = <&UserId>::try_from(device.user_id.as_str())
                .map_err(|e| crate::StoreError::corrupt(format!("user ID: {e}")))?;
            Some(self.bump_device_list_by(&mut tx, user, 1).await?)
        } else {
            // A known device signing in again: its name stays.
            sqlx::query(
                "UPDATE devices SET last_seen_ts = $1, last_seen_ip = $2 \
                 WHERE user_id = $3 AND device_id = $4",
            )
            .bind(device.last_seen_ts)
            .bind(&device.last_seen_ip)
            .bind(&device.user_id)
            .bind(&device.device_id)
            .execute(&mut *tx)
            .await?;
            None
        };
        sqlx::query(
            "INSERT INTO access_tokens (token_hash, user_id, device_id) VALUES ($1, $2, $3)",
        )
        .bind(token_hash)
        .bind(&device.user_id)
        .bind(&device.device_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(pos)
    }

    async fn upsert_device(&self, device: DeviceRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO devices (user_id, device_id, display_name, last_seen_ts, last_seen_ip) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, device_id) DO UPDATE \
             SET display_name = excluded.display_name",
        )
        .bind(&device.user_id)
        .bind(&device.device_id)
        .bind(&device.display_name)
        .bind(device.last_seen_ts)
        .bind(&device.last_seen_ip)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn token_user(&self, token_hash: &str) -> StoreResult<Option<TokenUser>> {
        let read = async {
            let row = sqlx::query(
                "SELECT t.user_id, t.device_id, u.is_admin, u.deactivated, u.is_guest \
                 FROM access_tokens t \
                 JOIN users u ON u.user_id = t.user_id WHERE t.token_hash = $1",
            )
            .bind(token_hash)
            .fetch_optional(&self.read)
            .await?;
            row.map(|r| {
                Ok(TokenUser {
                    user_id: r.try_get(0)?,
                    device_id: r.try_get(1)?,
                    is_admin: r.try_get::<i64, _>(2)? != 0,
                    deactivated: r.try_get::<i64, _>(3)? != 0,
                    is_guest: r.try_get::<i64, _>(4)? != 0,
                })
            })
            .transpose()
        };
        self.caches.tokens.read_through(token_hash, read).await
    }

    async fn token_owner(&self, token_hash: &str) -> StoreResult<Option<TokenOwner>> {
        let row = sqlx::query("SELECT user_id, device_id FROM access_tokens WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(&self.read)
            .await?;
        row.map(|r| {
            Ok(TokenOwner {
                user_id: r.try_get(0)?,
                device_id: r.try_get(1)?,
            })
        })
        .transpose()
    }

    async fn delete_token(&self, token_hash: &str) -> StoreResult<()> {
        // The token's device's pushers go with it, as Synapse deletes them
        // when their token is logged out.
        let mut tx = self.begin().await?;
        sqlx::query(
            "DELETE FROM pushers WHERE EXISTS (SELECT 1 FROM access_tokens t \
             WHERE t.token_hash = $1 AND t.user_id = pushers.user_id \
             AND t.device_id = pushers.device_id)",
        )
        .bind(token_hash)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM access_tokens WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.caches.tokens.forget(token_hash);
        self.caches.pushers_changed(None);
        Ok(())
    }

    async fn device(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
    ) -> StoreResult<Option<DeviceRecord>> {
        let row = sqlx::query(
            "SELECT user_id, device_id, display_name, last_seen_ts, last_seen_ip FROM devices \
             WHERE user_id = $1 AND device_id = $2",
        )
        .bind(user_id.as_str())
        .bind(device_id.as_str())
        .fetch_optional(&self.read)
        .await?;
        row.as_ref().map(device_from_row).transpose()
    }

    async fn devices(&self, user_id: &UserId) -> StoreResult<Vec<DeviceRecord>> {
        let rows = sqlx::query(
            "SELECT user_id, device_id, display_name, last_seen_ts, last_seen_ip FROM devices \
             WHERE user_id = $1 ORDER BY device_id",
        )
        .bind(user_id.as_str())
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(device_from_row).collect()
    }

    async fn rename_device(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        name: &str,
    ) -> StoreResult<Option<DeviceListBump>> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE devices SET display_name = $1 WHERE user_id = $2 AND device_id = $3",
        )
        .bind(name)
        .bind(user_id.as_str())
        .bind(device_id.as_str())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        let bump = self.bump_device_list_by(&mut tx, user_id, 1).await?;
        tx.commit().await?;
        Ok(Some(bump))
    }

    async fn delete_devices(
        &self,
        user_id: &UserId,
        device_ids: &[OwnedDeviceId],
    ) -> StoreResult<Option<DeviceListBump>> {
        let mut tx = self.begin().await?;
        for device_id in device_ids {
            delete_device_rows(&mut tx, user_id, "device_id = $2", device_id.as_str()).await?;
        }
        let bump = if device_ids.is_empty() {
            None
        } else {
            Some(
                self.bump_device_list_by(&mut tx, user_id, device_ids.len())
                    .await?,
            )
        };
        tx.commit().await?;
        self.caches.tokens.forget_all();
        self.caches.pushers_changed(None);
        Ok(bump)
    }

    async fn delete_all_devices(
        &self,
        user_id: &UserId,
        keep: Option<&DeviceId>,
    ) -> StoreResult<(Vec<String>, DeviceListBump)> {
        let mut tx = self.begin().await?;
        let keep_id = keep.map_or("", DeviceId::as_str);
        let deleted: Vec<String> = sqlx::query_scalar(
            "SELECT device_id FROM devices WHERE user_id = $1 AND device_id <> $2 \
             ORDER BY device_id",
        )
        .bind(user_id.as_str())
        .bind(keep_id)
        .fetch_all(&mut *tx)
        .await?;
        delete_device_rows(&mut tx, user_id, "device_id <> $2", keep_id).await?;
        let bump = self
            .bump_device_list_by(&mut tx, user_id, deleted.len())
            .await?;
        tx.commit().await?;
        self.caches.tokens.forget_all();
        self.caches.pushers_changed(None);
        Ok((deleted, bump))
    }

    async fn touch_device(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        ts: i64,
        ip: Option<&str>,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE devices SET last_seen_ts = $1, last_seen_ip = $2 WHERE user_id = $3 AND device_id = $4",
        )
        .bind(ts)
        .bind(ip)
        .bind(user_id.as_str())
        .bind(device_id.as_str())
        .execute(&self.write)
        .await?;
        Ok(())
    }
}

/// Everything that belongs to a device: its record, tokens, pushers, keys
/// and queued to-device messages. `condition` selects devices with `$2`.
async fn delete_device_rows(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    user_id: &UserId,
    condition: &str,
    device: &str,
) -> StoreResult<()> {
    const TABLES: [(&str, &str, &str); 7] = [
        ("access_tokens", "user_id", "device_id"),
        ("pushers", "user_id", "device_id"),
        ("devices", "user_id", "device_id"),
        ("device_keys", "user_id", "device_id"),
        ("one_time_keys", "user_id", "device_id"),
        ("fallback_keys", "user_id", "device_id"),
        ("to_device", "recipient_user", "recipient_device"),
    ];
    for (table, user_col, device_col) in TABLES {
        let condition = condition.replace("device_id", device_col);
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM {table} WHERE {user_col} = $1 AND {condition}"
        )))
        .bind(user_id.as_str())
        .bind(device)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}
