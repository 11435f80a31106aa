//! A user's devices and sessions: listing, renaming, and ending them. A
//! device's end removes its keys and pending messages in the store's one
//! transaction, and is announced here, right after.

use std::sync::Arc;

use missive_store::{DeviceRecord, DeviceStore, SqlStore};
use ruma::{DeviceId, OwnedDeviceId, UserId};

use crate::{
    error::{ApiError, ApiResult},
    services::notifier::Notifier,
};

/// Longest device display name, in bytes.
const MAX_DEVICE_NAME_BYTES: usize = 512;

#[derive(Clone)]
pub struct Devices {
    store: Arc<SqlStore>,
    notifier: Notifier,
}

impl Devices {
    pub fn new(store: Arc<SqlStore>, notifier: Notifier) -> Self {
        Self { store, notifier }
    }

    /// The user's devices, by device ID.
    pub async fn list(&self, user: &UserId) -> ApiResult<Vec<DeviceRecord>> {
        Ok(self.store.devices(user).await?)
    }

    /// One of the user's devices; `M_NOT_FOUND` if it is not theirs.
    pub async fn get(&self, user: &UserId, device: &DeviceId) -> ApiResult<DeviceRecord> {
        self.store
            .device(user, device)
            .await?
            .ok_or_else(|| ApiError::not_found("device not found"))
    }

    /// Renames one of the user's devices.
    pub async fn rename(&self, user: &UserId, device: &DeviceId, name: &str) -> ApiResult<()> {
        if name.len() > MAX_DEVICE_NAME_BYTES {
            return Err(ApiError::invalid_param("display name too long"));
        }
        if self.store.rename_device(user, device, name).await? {
            Ok(())
        } else {
            Err(ApiError::not_found("device not found"))
        }
    }

    /// Ends the sessions of these devices of the user (their tokens, keys
    /// and queued messages go with them).
    pub async fn delete(&self, user: &UserId, devices: &[&DeviceId]) -> ApiResult<()> {
        let ids: Vec<OwnedDeviceId> = devices.iter().map(|d| (*d).to_owned()).collect();
        self.store.delete_devices(user, &ids).await?;
        self.announce().await
    }

    /// Ends every session of the user, except `keep`'s.
    pub async fn delete_all(&self, user: &UserId, keep: Option<&DeviceId>) -> ApiResult<()> {
        self.store.delete_all_devices(user, keep).await?;
        self.announce().await
    }

    /// Device list changes reach everyone sharing a room with the user;
    /// the store does not return the position of a deletion, so the newest
    /// one is announced to every sync.
    async fn announce(&self) -> ApiResult<()> {
        self.notifier.notify(self.store.current_position().await?);
        Ok(())
    }
}
