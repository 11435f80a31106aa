//! End-to-end encryption keys: device keys, one-time and fallback keys,
//! cross-signing keys, and the device-list change stream.

use std::collections::{BTreeMap, HashSet};

use async_trait::async_trait;
use sqlx::{Any, Row, Transaction};

use ruma::{DeviceId, UserId};

use crate::{SqlStore, StoreError, StoreResult, StreamPos};

/// A one-time or fallback key as uploaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneTimeKey {
    /// `signed_curve25519`, ...
    pub algorithm: String,
    /// The key's ID without the algorithm.
    pub key_id: String,
    pub key_json: String,
}

/// Changes of a local user's device list as other servers are told of
/// them (`m.device_list_update`): one stream ID per changed device, from
/// `first` to `pos`, each update's `prev_id` the one before it, the first
/// one's the user's change before them all (`prev`, 0 if none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceListBump {
    /// The user's previous change (0: none).
    pub prev: i64,
    /// The first change's stream ID.
    pub first: i64,
    /// The last change's: the user's device list is current at it.
    pub pos: StreamPos,
}

impl DeviceListBump {
    /// Each change's `(stream_id, prev_id)`, in order.
    pub fn chain(&self) -> impl Iterator<Item = (i64, i64)> + use<> {
        let (prev, first) = (self.prev, self.first);
        (first..=self.pos.get()).map(move |id| (id, if id == first { prev } else { id - 1 }))
    }
}

#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Stores a device's identity keys (replacing them) and announces the
    /// change to the user's contacts.
    async fn set_device_keys(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        key_json: &str,
    ) -> StoreResult<DeviceListBump>;
    /// The user's device keys, for all devices or the listed ones.
    async fn device_keys(&self, user_id: &UserId) -> StoreResult<BTreeMap<String, String>>;
    /// Adds one-time keys. `AlreadyExists` if a key ID is reused with
    /// different content (same content is accepted: a client retry).
    async fn add_one_time_keys(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        keys: &[OneTimeKey],
    ) -> StoreResult<()>;
    /// Unclaimed one-time keys per algorithm.
    async fn one_time_key_counts(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
    ) -> StoreResult<BTreeMap<String, i64>>;
    /// Takes one one-time key of the algorithm, or else the fallback key
    /// (which stays usable, marked used).
    async fn claim_key(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        algorithm: &str,
    ) -> StoreResult<Option<OneTimeKey>>;
    /// Replaces the device's fallback key for the key's algorithm.
    async fn set_fallback_key(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        key: &OneTimeKey,
    ) -> StoreResult<()>;
    /// Algorithms with an unused fallback key.
    async fn unused_fallback_key_types(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
    ) -> StoreResult<Vec<String>>;
    /// Removes every key of a device (on logout or deletion) and announces it.
    async fn delete_device_keys(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
    ) -> StoreResult<StreamPos>;

    /// Stores a cross-signing key (`master`, `self_signing`, `user_signing`).
    async fn set_cross_signing_key(
        &self,
        user_id: &UserId,
        key_type: &str,
        key_json: &str,
    ) -> StoreResult<StreamPos>;
    async fn cross_signing_keys(&self, user_id: &UserId) -> StoreResult<BTreeMap<String, String>>;

    /// Users with device or key changes after `since` who share a room with
    /// `user_id` (and the user themself).
    async fn device_list_changes(
        &self,
        user_id: &UserId,
        since: StreamPos,
    ) -> StoreResult<HashSet<String>>;
    /// Announces a change to a user's devices without changing keys.
    async fn mark_device_list_changed(&self, user_id: &UserId) -> StoreResult<StreamPos>;
}

impl SqlStore {
    pub(crate) async fn bump_device_list(
        &self,
        tx: &mut Transaction<'static, Any>,
        user_id: &UserId,
    ) -> StoreResult<StreamPos> {
        Ok(self.bump_device_list_by(tx, user_id, 1).await?.pos)
    }

    /// Records `n` (at least 1) successive changes of the user's device
    /// list, one position each: a change per device, as other servers
    /// are told of them.
    pub(crate) async fn bump_device_list_by(
        &self,
        tx: &mut Transaction<'static, Any>,
        user_id: &UserId,
        n: usize,
    ) -> StoreResult<DeviceListBump> {
        let n = n.max(1);
        // Taking the positions locks the stream counter until commit, so
        // the previous change read next is the one right before these.
        let pos = self
            .next_positions(tx, n, crate::StreamKind::DeviceLists)
            .await?;
        let prev: Option<i64> =
            sqlx::query_scalar("SELECT stream_pos FROM device_list_changes WHERE user_id = $1")
                .bind(user_id.as_str())
                .fetch_optional(&mut **tx)
                .await?;
        sqlx::query(
            "INSERT INTO device_list_changes (user_id, stream_pos) VALUES ($1, $2) \
             ON CONFLICT (user_id) DO UPDATE SET stream_pos = excluded.stream_pos",
        )
        .bind(user_id.as_str())
        .bind(pos)
        .execute(&mut **tx)
        .await?;
        let n = i64::try_from(n).map_err(|_| StoreError::corrupt("too many devices"))?;
        Ok(DeviceListBump {
            prev: prev.unwrap_or(0),
            first: pos.get() - n + 1,
            pos,
        })
    }
}

#[async_trait]
impl KeyStore for SqlStore {
    async fn set_device_keys(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        key_json: &str,
    ) -> StoreResult<DeviceListBump> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO device_keys (user_id, device_id, key_json) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id, device_id) DO UPDATE SET key_json = excluded.key_json",
        )
        .bind(user_id.as_str())
        .bind(device_id.as_str())
        .bind(key_json)
        .execute(&mut *tx)
        .await?;
        let bump = self.bump_device_list_by(&mut tx, user_id, 1).await?;
        tx.commit().await?;
        Ok(bump)
    }

    async fn device_keys(&self, user_id: &UserId) -> StoreResult<BTreeMap<String, String>> {
        let rows = sqlx::query("SELECT device_id, key_json FROM device_keys WHERE user_id = $1")
            .bind(user_id.as_str())
            .fetch_all(&self.read)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    async fn add_one_time_keys(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        keys: &[OneTimeKey],
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        for key in keys {
            let existing: Option<String> = sqlx::query_scalar(
                "SELECT key_json FROM one_time_keys WHERE user_id = $1 AND device_id = $2 \
                 AND algorithm = $3 AND key_id = $4",
            )
            .bind(user_id.as_str())
            .bind(device_id.as_str())
            .bind(&key.algorithm)
            .bind(&key.key_id)
            .fetch_optional(&mut *tx)
            .await?;
            match existing {
                Some(json) if json == key.key_json => continue,
                Some(_) => {
                    return Err(StoreError::AlreadyExists(format!(
                        "one-time key {}:{}",
                        key.algorithm, key.key_id
                    )));
                }
                None => {}
            }
            sqlx::query(
                "INSERT INTO one_time_keys (user_id, device_id, algorithm, key_id, key_json) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(user_id.as_str())
            .bind(device_id.as_str())
            .bind(&key.algorithm)
            .bind(&key.key_id)
            .bind(&key.key_json)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn one_time_key_counts(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
    ) -> StoreResult<BTreeMap<String, i64>> {
        let rows = sqlx::query(
            "SELECT algorithm, COUNT(*) FROM one_time_keys WHERE user_id = $1 AND device_id = $2 GROUP BY algorithm",
        )
        .bind(user_id.as_str())
        .bind(device_id.as_str())
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    async fn claim_key(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        algorithm: &str,
    ) -> StoreResult<Option<OneTimeKey>> {
        let mut tx = self.begin().await?;
        let row = sqlx::query(
            "SELECT key_id, key_json FROM one_time_keys WHERE user_id = $1 AND device_id = $2 \
             AND algorithm = $3 ORDER BY key_id LIMIT 1",
        )
        .bind(user_id.as_str())
        .bind(device_id.as_str())
        .bind(algorithm)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = row {
            let key = OneTimeKey {
                algorithm: algorithm.to_owned(),
                key_id: row.try_get(0)?,
                key_json: row.try_get(1)?,
            };
            let deleted = sqlx::query(
                "DELETE FROM one_time_keys WHERE user_id = $1 AND device_id = $2 AND algorithm = $3 AND key_id = $4",
            )
            .bind(user_id.as_str())
            .bind(device_id.as_str())
            .bind(algorithm)
            .bind(&key.key_id)
            .execute(&mut *tx)
            .await?;
            // Another process claimed it first: the caller may ask again.
            if deleted.rows_affected() == 1 {
                tx.commit().await?;
                return Ok(Some(key));
            }
        }
        let row = sqlx::query(
            "UPDATE fallback_keys SET used = 1 WHERE user_id = $1 AND device_id = $2 AND algorithm = $3 \
             RETURNING key_id, key_json",
        )
        .bind(user_id.as_str())
        .bind(device_id.as_str())
        .bind(algorithm)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        row.map(|r| {
            Ok(OneTimeKey {
                algorithm: algorithm.to_owned(),
                key_id: r.try_get(0)?,
                key_json: r.try_get(1)?,
            })
        })
        .transpose()
    }

    async fn set_fallback_key(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        key: &OneTimeKey,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO fallback_keys (user_id, device_id, algorithm, key_id, key_json, used) \
             VALUES ($1, $2, $3, $4, $5, 0) ON CONFLICT (user_id, device_id, algorithm) DO UPDATE SET \
             key_id = excluded.key_id, key_json = excluded.key_json, used = 0",
        )
        .bind(user_id.as_str())
        .bind(device_id.as_str())
        .bind(&key.algorithm)
        .bind(&key.key_id)
        .bind(&key.key_json)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn unused_fallback_key_types(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
    ) -> StoreResult<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT algorithm FROM fallback_keys WHERE user_id = $1 AND device_id = $2 AND used = 0 ORDER BY algorithm",
        )
        .bind(user_id.as_str())
        .bind(device_id.as_str())
        .fetch_all(&self.read)
        .await?)
    }

    async fn delete_device_keys(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
    ) -> StoreResult<StreamPos> {
        let mut tx = self.begin().await?;
        for table in ["device_keys", "one_time_keys", "fallback_keys"] {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE user_id = $1 AND device_id = $2"
            )))
            .bind(user_id.as_str())
            .bind(device_id.as_str())
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("DELETE FROM to_device WHERE recipient_user = $1 AND recipient_device = $2")
            .bind(user_id.as_str())
            .bind(device_id.as_str())
            .execute(&mut *tx)
            .await?;
        let pos = self.bump_device_list(&mut tx, user_id).await?;
        tx.commit().await?;
        Ok(pos)
    }

    async fn set_cross_signing_key(
        &self,
        user_id: &UserId,
        key_type: &str,
        key_json: &str,
    ) -> StoreResult<StreamPos> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO cross_signing_keys (user_id, key_type, key_json) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id, key_type) DO UPDATE SET key_json = excluded.key_json",
        )
        .bind(user_id.as_str())
        .bind(key_type)
        .bind(key_json)
        .execute(&mut *tx)
        .await?;
        let pos = self.bump_device_list(&mut tx, user_id).await?;
        tx.commit().await?;
        Ok(pos)
    }

    async fn cross_signing_keys(&self, user_id: &UserId) -> StoreResult<BTreeMap<String, String>> {
        let rows =
            sqlx::query("SELECT key_type, key_json FROM cross_signing_keys WHERE user_id = $1")
                .bind(user_id.as_str())
                .fetch_all(&self.read)
                .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    async fn device_list_changes(
        &self,
        user_id: &UserId,
        since: StreamPos,
    ) -> StoreResult<HashSet<String>> {
        if !self.changed_since(crate::StreamKind::DeviceLists, since) {
            return Ok(HashSet::new());
        }
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT d.user_id FROM device_list_changes d WHERE d.stream_pos > $2 AND (d.user_id = $1 OR EXISTS ( \
                 SELECT 1 FROM memberships a JOIN memberships b ON a.room_id = b.room_id \
                 WHERE a.user_id = $1 AND b.user_id = d.user_id \
                   AND a.membership = 'join' AND b.membership IN ('join', 'invite')))",
        )
        .bind(user_id.as_str())
        .bind(since)
        .fetch_all(&self.read)
        .await?;
        Ok(rows.into_iter().collect())
    }

    async fn mark_device_list_changed(&self, user_id: &UserId) -> StoreResult<StreamPos> {
        let mut tx = self.begin().await?;
        let pos = self.bump_device_list(&mut tx, user_id).await?;
        tx.commit().await?;
        Ok(pos)
    }
}
