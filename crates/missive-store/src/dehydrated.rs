//! Dehydrated devices (MSC3814): a device kept on the server, encrypted by
//! the client, that receives room keys while the user has no device online.

use async_trait::async_trait;
use sqlx::Row;

use ruma::{DeviceId, UserId};

use crate::{SqlStore, StoreResult};

#[async_trait]
pub trait DehydratedDeviceStore: Send + Sync {
    /// Records the user's dehydrated device, returning the one it replaces.
    async fn set_dehydrated_device(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        device_data: &str,
    ) -> StoreResult<Option<String>>;
    /// (device ID, device data) of the user's dehydrated device.
    async fn dehydrated_device(&self, user_id: &UserId) -> StoreResult<Option<(String, String)>>;
    /// Forgets the dehydrated device; returns its ID.
    async fn delete_dehydrated_device(&self, user_id: &UserId) -> StoreResult<Option<String>>;
}

#[async_trait]
impl DehydratedDeviceStore for SqlStore {
    async fn set_dehydrated_device(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        device_data: &str,
    ) -> StoreResult<Option<String>> {
        let mut tx = self.begin().await?;
        let previous: Option<String> =
            sqlx::query_scalar("SELECT device_id FROM dehydrated_devices WHERE user_id = $1")
                .bind(user_id.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        sqlx::query(
            "INSERT INTO dehydrated_devices (user_id, device_id, device_data) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id) DO UPDATE SET device_id = excluded.device_id, device_data = excluded.device_data",
        )
        .bind(user_id.as_str())
        .bind(device_id.as_str())
        .bind(device_data)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(previous.filter(|p| p != device_id))
    }

    async fn dehydrated_device(&self, user_id: &UserId) -> StoreResult<Option<(String, String)>> {
        let row =
            sqlx::query("SELECT device_id, device_data FROM dehydrated_devices WHERE user_id = $1")
                .bind(user_id.as_str())
                .fetch_optional(&self.read)
                .await?;
        row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).transpose()
    }

    async fn delete_dehydrated_device(&self, user_id: &UserId) -> StoreResult<Option<String>> {
        Ok(sqlx::query_scalar(
            "DELETE FROM dehydrated_devices WHERE user_id = $1 RETURNING device_id",
        )
        .bind(user_id.as_str())
        .fetch_optional(&self.write)
        .await?)
    }
}
