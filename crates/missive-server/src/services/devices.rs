//! A user's devices and sessions: listing, renaming, and ending them. A
//! rename or a device's end (which removes its keys and pending messages)
//! records a device-list change in the store's one transaction, announced
//! here right after to everyone sharing a room with the user.

use std::sync::Arc;

use missive_store::{DeviceRecord, DeviceStore, SqlStore};
use ruma::{DeviceId, OwnedDeviceId, UserId};

use crate::{
    error::{ApiError, ApiResult},
    services::{accounts::Identity, audience, notifier::Notifier},
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

    /// `GET /admin/whois`: the devices of `user`, with where and when each
    /// was last seen, for the user themself or a server admin (Synapse's
    /// rule; admins are the accounts created with `--admin`). Another
    /// server's user is 400, as with Synapse.
    pub async fn whois(&self, caller: &Identity, user: &UserId) -> ApiResult<Vec<DeviceRecord>> {
        if caller.user_id != user && !caller.is_admin {
            return Err(ApiError::forbidden("you are not a server admin"));
        }
        if user.server_name() != caller.user_id.server_name() {
            return Err(ApiError::invalid_param("can only whois a local user"));
        }
        self.list(user).await
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
        let pos = self
            .store
            .rename_device(user, device, name)
            .await?
            .ok_or_else(|| ApiError::not_found("device not found"))?;
        self.announce(pos, user).await;
        Ok(())
    }

    /// Ends the sessions of these devices of the user (their tokens, keys
    /// and queued messages go with them).
    pub async fn delete(&self, user: &UserId, devices: &[&DeviceId]) -> ApiResult<()> {
        let ids: Vec<OwnedDeviceId> = devices.iter().map(|d| (*d).to_owned()).collect();
        if let Some(pos) = self.store.delete_devices(user, &ids).await? {
            self.announce(pos, user).await;
        }
        Ok(())
    }

    /// Ends every session of the user, except `keep`'s.
    pub async fn delete_all(&self, user: &UserId, keep: Option<&DeviceId>) -> ApiResult<()> {
        let pos = self.store.delete_all_devices(user, keep).await?;
        self.announce(pos, user).await;
        Ok(())
    }

    /// Device list changes reach the user and everyone sharing a room
    /// with them.
    async fn announce(&self, pos: missive_store::StreamPos, user: &UserId) {
        audience::announce_to_sharing(&self.store, &self.notifier, pos, user.as_str()).await;
    }
}
