//! To-device messages: queued per device, delivered by sync, deleted once
//! the device acknowledges them by syncing with a later token.

use async_trait::async_trait;
use sqlx::Row;

use ruma::{DeviceId, UserId};

use crate::{SqlStore, StoreResult, StreamPos};

/// One message for one device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToDeviceMessage {
    pub recipient_user: String,
    pub recipient_device: String,
    /// The event as the recipient receives it (`type`, `sender`, `content`).
    pub message_json: String,
}

#[async_trait]
pub trait ToDeviceStore: Send + Sync {
    /// Queues messages under one stream position, unless the sender's
    /// transaction ID was already used (then returns `None`).
    async fn queue_to_device(
        &self,
        txn: Option<(&str, &str, &str)>,
        messages: &[ToDeviceMessage],
    ) -> StoreResult<Option<StreamPos>>;
    /// Drops messages delivered in syncs up to token `acked`, then returns
    /// up to `limit` pending ones (oldest first) and stamps them with
    /// `delivered_at`, the token of the sync carrying them.
    async fn take_to_device(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        acked: Option<StreamPos>,
        delivered_at: StreamPos,
        limit: i64,
    ) -> StoreResult<Vec<String>>;
    /// Whether messages are waiting that no sync has carried yet.
    async fn has_pending_to_device(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
    ) -> StoreResult<bool>;
}

#[async_trait]
impl ToDeviceStore for SqlStore {
    async fn queue_to_device(
        &self,
        txn: Option<(&str, &str, &str)>,
        messages: &[ToDeviceMessage],
    ) -> StoreResult<Option<StreamPos>> {
        let mut tx = self.begin().await?;
        if let Some((user, device, txn_id)) = txn {
            let inserted = sqlx::query(
                "INSERT INTO to_device_txns (sender_user, sender_device, txn_id) VALUES ($1, $2, $3) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(user)
            .bind(device)
            .bind(txn_id)
            .execute(&mut *tx)
            .await?;
            if inserted.rows_affected() == 0 {
                return Ok(None);
            }
        }
        let pos = self
            .next_positions(&mut tx, 1, crate::StreamKind::ToDevice)
            .await?;
        for m in messages {
            sqlx::query(
                "INSERT INTO to_device (recipient_user, recipient_device, stream_pos, message_json) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(&m.recipient_user)
            .bind(&m.recipient_device)
            .bind(pos)
            .bind(&m.message_json)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(Some(pos))
    }

    async fn take_to_device(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        acked: Option<StreamPos>,
        delivered_at: StreamPos,
        limit: i64,
    ) -> StoreResult<Vec<String>> {
        // Most syncs find nothing queued: answer from a reader, without
        // taking the write lock.
        let queued: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM to_device WHERE recipient_user = $1 AND recipient_device = $2",
        )
        .bind(user_id.as_str())
        .bind(device_id.as_str())
        .fetch_one(&self.read)
        .await?;
        if queued == 0 {
            return Ok(Vec::new());
        }
        let mut tx = self.begin().await?;
        if let Some(acked) = acked {
            sqlx::query(
                "DELETE FROM to_device WHERE recipient_user = $1 AND recipient_device = $2 \
                 AND delivered_at IS NOT NULL AND delivered_at <= $3",
            )
            .bind(user_id.as_str())
            .bind(device_id.as_str())
            .bind(acked)
            .execute(&mut *tx)
            .await?;
        }
        let rows = sqlx::query(
            "SELECT id, message_json FROM to_device WHERE recipient_user = $1 AND recipient_device = $2 \
             AND stream_pos <= $3 ORDER BY id LIMIT $4",
        )
        .bind(user_id.as_str())
        .bind(device_id.as_str())
        .bind(delivered_at)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let id: i64 = r.try_get(0)?;
            sqlx::query("UPDATE to_device SET delivered_at = $1 WHERE id = $2")
                .bind(delivered_at)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            out.push(r.try_get(1)?);
        }
        tx.commit().await?;
        Ok(out)
    }

    async fn has_pending_to_device(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
    ) -> StoreResult<bool> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM to_device WHERE recipient_user = $1 AND recipient_device = $2 AND delivered_at IS NULL",
        )
        .bind(user_id.as_str())
        .bind(device_id.as_str())
        .fetch_one(&self.read)
        .await?;
        Ok(n > 0)
    }
}
