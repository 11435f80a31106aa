//! Other servers' signing keys (`ServerKeyStore`): the cache behind
//! federation request and event signature checks, and what the notary
//! serves. Only keys whose server's self-signature was verified are given
//! here; the store keeps them, it does not judge them.

use async_trait::async_trait;
use ruma::ServerName;
use sqlx::Row;

use crate::{SqlStore, StoreResult};

/// One signing key of a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSigningKey {
    /// `ed25519:abc`.
    pub key_id: String,
    /// Unpadded base64, as served.
    pub public_key: String,
    /// Until when (ms) the key may be used without fetching it again.
    pub valid_until_ts: i64,
    /// When (ms) the server stopped using it, for an `old_verify_keys`
    /// entry: signatures made before then still verify.
    pub expired_ts: Option<i64>,
}

#[async_trait]
pub trait ServerKeyStore: Send + Sync {
    /// Records a server's verified key answer: `answer` (its signed JSON,
    /// valid until `valid_until_ts`) replaces the previous one, and each of
    /// `keys` is added or updated. A key known already keeps the later of
    /// its two validities, and once expired stays expired.
    async fn save_server_keys(
        &self,
        server_name: &ServerName,
        answer: &str,
        valid_until_ts: i64,
        keys: &[ServerSigningKey],
    ) -> StoreResult<()>;
    /// Every key known of `server_name`, current and old, by key ID.
    async fn server_signing_keys(
        &self,
        server_name: &ServerName,
    ) -> StoreResult<Vec<ServerSigningKey>>;
    /// The last answer saved for `server_name`, with its validity.
    async fn server_key_answer(
        &self,
        server_name: &ServerName,
    ) -> StoreResult<Option<(String, i64)>>;
}

#[async_trait]
impl ServerKeyStore for SqlStore {
    async fn save_server_keys(
        &self,
        server_name: &ServerName,
        answer: &str,
        valid_until_ts: i64,
        keys: &[ServerSigningKey],
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO server_key_answers (server_name, answer, valid_until_ts) \
             VALUES ($1, $2, $3) ON CONFLICT (server_name) DO UPDATE SET \
             answer = excluded.answer, valid_until_ts = excluded.valid_until_ts",
        )
        .bind(server_name.as_str())
        .bind(answer)
        .bind(valid_until_ts)
        .execute(&mut *tx)
        .await?;
        for key in keys {
            sqlx::query(
                "INSERT INTO server_signing_keys \
                 (server_name, key_id, public_key, valid_until_ts, expired_ts) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (server_name, key_id) DO UPDATE SET \
                 public_key = excluded.public_key, \
                 valid_until_ts = CASE \
                   WHEN excluded.valid_until_ts > server_signing_keys.valid_until_ts \
                   THEN excluded.valid_until_ts ELSE server_signing_keys.valid_until_ts END, \
                 expired_ts = COALESCE(server_signing_keys.expired_ts, excluded.expired_ts)",
            )
            .bind(server_name.as_str())
            .bind(&key.key_id)
            .bind(&key.public_key)
            .bind(key.valid_until_ts)
            .bind(key.expired_ts)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn server_signing_keys(
        &self,
        server_name: &ServerName,
    ) -> StoreResult<Vec<ServerSigningKey>> {
        let rows = sqlx::query(
            "SELECT key_id, public_key, valid_until_ts, expired_ts FROM server_signing_keys \
             WHERE server_name = $1 ORDER BY key_id",
        )
        .bind(server_name.as_str())
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ServerSigningKey {
                    key_id: r.try_get(0)?,
                    public_key: r.try_get(1)?,
                    valid_until_ts: r.try_get(2)?,
                    expired_ts: r.try_get(3)?,
                })
            })
            .collect()
    }

    async fn server_key_answer(
        &self,
        server_name: &ServerName,
    ) -> StoreResult<Option<(String, i64)>> {
        let row = sqlx::query(
            "SELECT answer, valid_until_ts FROM server_key_answers WHERE server_name = $1",
        )
        .bind(server_name.as_str())
        .fetch_optional(&self.read)
        .await?;
        row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).transpose()
    }
}
