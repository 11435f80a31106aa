//! Other servers' users' device lists, kept in `device_keys` and
//! `cross_signing_keys` beside local users' (so sync's `device_lists` and
//! key queries read them alike), with the origin's stream ID of the last
//! update applied (`remote_device_lists`). Every change here is a
//! device-list change of the user.

use async_trait::async_trait;
use ruma::UserId;
use sqlx::{Any, Transaction};

use crate::{SqlStore, StoreResult, StreamPos};

/// A whole device list as the user's server serves it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemoteDeviceList {
    /// The origin's stream ID the list is current at.
    pub stream_id: i64,
    /// Device ID and its keys (JSON), for devices that have keys.
    pub devices: Vec<(String, String)>,
    /// Cross-signing key type (`master`, `self_signing`) and its JSON.
    pub cross_signing: Vec<(String, String)>,
}

#[async_trait]
pub trait RemoteDeviceStore: Send + Sync {
    /// The stream ID a remote user's kept list is current at, or `None`
    /// when no whole list is kept (then their server is asked).
    async fn remote_device_stream(&self, user_id: &UserId) -> StoreResult<Option<i64>>;
    /// Replaces everything kept of the user's devices and cross-signing
    /// keys with `list`, received at `now_ts`.
    async fn replace_remote_devices(
        &self,
        user_id: &UserId,
        list: &RemoteDeviceList,
        now_ts: i64,
    ) -> StoreResult<StreamPos>;
    /// Applies one device's update (new keys, or `None`: deleted or
    /// without keys) at the origin's `stream_id`.
    async fn update_remote_device(
        &self,
        user_id: &UserId,
        device_id: &str,
        key_json: Option<&str>,
        stream_id: i64,
    ) -> StoreResult<StreamPos>;
    /// Stops keeping the user's list (a gap that could not be resynced):
    /// their server is asked again, and local clients re-fetch.
    async fn forget_remote_devices(&self, user_id: &UserId) -> StoreResult<StreamPos>;
    /// The position of a (local) user's latest device-list change, 0 if
    /// none: the `stream_id` this server announces their list at.
    async fn device_list_stream_id(&self, user_id: &UserId) -> StoreResult<i64>;
}

impl SqlStore {
    /// Records the origin's stream ID of the user's list: a whole list
    /// (`synced_ts` given) starts keeping it, an update only moves it.
    async fn set_remote_stream(
        tx: &mut Transaction<'static, Any>,
        user_id: &UserId,
        stream_id: i64,
        synced_ts: Option<i64>,
    ) -> StoreResult<()> {
        let query = match synced_ts {
            Some(ts) => sqlx::query(
                "INSERT INTO remote_device_lists (user_id, stream_id, synced_ts) VALUES ($1, $2, $3) \
                 ON CONFLICT (user_id) DO UPDATE SET stream_id = excluded.stream_id, \
                 synced_ts = excluded.synced_ts",
            )
            .bind(user_id.as_str())
            .bind(stream_id)
            .bind(ts),
            None => sqlx::query("UPDATE remote_device_lists SET stream_id = $2 WHERE user_id = $1")
                .bind(user_id.as_str())
                .bind(stream_id),
        };
        query.execute(&mut **tx).await?;
        Ok(())
    }
}

#[async_trait]
impl RemoteDeviceStore for SqlStore {
    async fn remote_device_stream(&self, user_id: &UserId) -> StoreResult<Option<i64>> {
        Ok(
            sqlx::query_scalar("SELECT stream_id FROM remote_device_lists WHERE user_id = $1")
                .bind(user_id.as_str())
                .fetch_optional(&self.read)
                .await?,
        )
    }

    async fn replace_remote_devices(
        &self,
        user_id: &UserId,
        list: &RemoteDeviceList,
        now_ts: i64,
    ) -> StoreResult<StreamPos> {
        let mut tx = self.begin().await?;
        for sql in [
            "DELETE FROM device_keys WHERE user_id = $1",
            "DELETE FROM cross_signing_keys WHERE user_id = $1",
        ] {
            sqlx::query(sql)
                .bind(user_id.as_str())
                .execute(&mut *tx)
                .await?;
        }
        for (device, json) in &list.devices {
            sqlx::query(
                "INSERT INTO device_keys (user_id, device_id, key_json) VALUES ($1, $2, $3) \
                 ON CONFLICT (user_id, device_id) DO UPDATE SET key_json = excluded.key_json",
            )
            .bind(user_id.as_str())
            .bind(device)
            .bind(json)
            .execute(&mut *tx)
            .await?;
        }
        for (ty, json) in &list.cross_signing {
            sqlx::query(
                "INSERT INTO cross_signing_keys (user_id, key_type, key_json) VALUES ($1, $2, $3) \
                 ON CONFLICT (user_id, key_type) DO UPDATE SET key_json = excluded.key_json",
            )
            .bind(user_id.as_str())
            .bind(ty)
            .bind(json)
            .execute(&mut *tx)
            .await?;
        }
        Self::set_remote_stream(&mut tx, user_id, list.stream_id, Some(now_ts)).await?;
        let pos = self.bump_device_list(&mut tx, user_id).await?;
        tx.commit().await?;
        Ok(pos)
    }

    async fn update_remote_device(
        &self,
        user_id: &UserId,
        device_id: &str,
        key_json: Option<&str>,
        stream_id: i64,
    ) -> StoreResult<StreamPos> {
        let mut tx = self.begin().await?;
        match key_json {
            Some(json) => {
                sqlx::query(
                    "INSERT INTO device_keys (user_id, device_id, key_json) VALUES ($1, $2, $3) \
                     ON CONFLICT (user_id, device_id) DO UPDATE SET key_json = excluded.key_json",
                )
                .bind(user_id.as_str())
                .bind(device_id)
                .bind(json)
                .execute(&mut *tx)
                .await?;
            }
            None => {
                sqlx::query("DELETE FROM device_keys WHERE user_id = $1 AND device_id = $2")
                    .bind(user_id.as_str())
                    .bind(device_id)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        Self::set_remote_stream(&mut tx, user_id, stream_id, None).await?;
        let pos = self.bump_device_list(&mut tx, user_id).await?;
        tx.commit().await?;
        Ok(pos)
    }

    async fn forget_remote_devices(&self, user_id: &UserId) -> StoreResult<StreamPos> {
        let mut tx = self.begin().await?;
        for sql in [
            "DELETE FROM remote_device_lists WHERE user_id = $1",
            "DELETE FROM device_keys WHERE user_id = $1",
            "DELETE FROM cross_signing_keys WHERE user_id = $1",
        ] {
            sqlx::query(sql)
                .bind(user_id.as_str())
                .execute(&mut *tx)
                .await?;
        }
        let pos = self.bump_device_list(&mut tx, user_id).await?;
        tx.commit().await?;
        Ok(pos)
    }

    async fn device_list_stream_id(&self, user_id: &UserId) -> StoreResult<i64> {
        let pos: Option<i64> =
            sqlx::query_scalar("SELECT stream_pos FROM device_list_changes WHERE user_id = $1")
                .bind(user_id.as_str())
                .fetch_optional(&self.read)
                .await?;
        Ok(pos.unwrap_or(0))
    }
}
