//! A user's devices and sessions: listing, renaming, and ending them. A
//! rename or a device's end (which removes its keys and pending messages)
//! records a device-list change in the store's one transaction, announced
//! here right after to everyone sharing a room with the user, and to
//! their servers (`m.device_list_update`, one per device).

use std::sync::Arc;

use missive_store::{DeviceListBump, DeviceRecord, DeviceStore, KeyStore, SqlStore};
use ruma::{DeviceId, OwnedDeviceId, UserId};

use crate::{
    error::{ApiError, ApiResult},
    services::{
        accounts::Identity,
        audience,
        federation::outbound::{DeviceChange, Outbound, served_keys},
        notifier::Notifier,
    },
};

/// Longest device display name, in bytes.
const MAX_DEVICE_NAME_BYTES: usize = 512;

#[derive(Clone)]
pub struct Devices {
    store: Arc<SqlStore>,
    notifier: Notifier,
    /// Where device-list changes go to other servers; `None` when
    /// federation is off.
    outbound: Option<Outbound>,
}

impl Devices {
    pub fn new(store: Arc<SqlStore>, notifier: Notifier, outbound: Option<Outbound>) -> Self {
        Self {
            store,
            notifier,
            outbound,
        }
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
        let bump = self
            .store
            .rename_device(user, device, name)
            .await?
            .ok_or_else(|| ApiError::not_found("device not found"))?;
        self.announce(bump.pos, user).await;
        // Other servers are not told names, but the change keeps their
        // copy of the list's stream IDs unbroken.
        if let Some(outbound) = &self.outbound {
            let keys = self.store.device_keys(user).await?;
            let keys = keys.get(device.as_str()).and_then(|k| served_keys(k));
            let changes = vec![(device.to_owned(), DeviceChange::Keys(keys))];
            outbound
                .queue_device_list_updates(user, bump, changes)
                .await?;
        }
        Ok(())
    }

    /// Ends the sessions of these devices of the user (their tokens, keys
    /// and queued messages go with them).
    pub async fn delete(&self, user: &UserId, devices: &[&DeviceId]) -> ApiResult<()> {
        let ids: Vec<OwnedDeviceId> = devices.iter().map(|d| (*d).to_owned()).collect();
        if let Some(bump) = self.store.delete_devices(user, &ids).await? {
            self.announce(bump.pos, user).await;
            self.send_deletions(user, bump, ids).await?;
        }
        Ok(())
    }

    /// Ends every session of the user, except `keep`'s.
    pub async fn delete_all(&self, user: &UserId, keep: Option<&DeviceId>) -> ApiResult<()> {
        let (deleted, bump) = self.store.delete_all_devices(user, keep).await?;
        self.announce(bump.pos, user).await;
        let ids = deleted.into_iter().map(OwnedDeviceId::from).collect();
        self.send_deletions(user, bump, ids).await
    }

    /// Tells the servers sharing a room with `user` that these devices
    /// are gone (deleted at `bump`'s stream IDs, in order).
    async fn send_deletions(
        &self,
        user: &UserId,
        bump: DeviceListBump,
        devices: Vec<OwnedDeviceId>,
    ) -> ApiResult<()> {
        let Some(outbound) = &self.outbound else {
            return Ok(());
        };
        let changes = devices
            .into_iter()
            .map(|d| (d, DeviceChange::Deleted))
            .collect();
        outbound
            .queue_device_list_updates(user, bump, changes)
            .await
    }

    /// Device list changes reach the user and everyone sharing a room
    /// with them.
    async fn announce(&self, pos: missive_store::StreamPos, user: &UserId) {
        audience::announce_to_sharing(&self.store, &self.notifier, pos, user.as_str()).await;
    }
}
