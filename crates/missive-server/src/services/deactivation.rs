//! Deactivating an account: it leaves every room, loses its e-mail
//! addresses, is locked, and every session ends.

use std::sync::Arc;

use missive_store::{AccountStore, EventStore, IdentityStore, SqlStore, ThreepidStore};
use ruma::{RoomId, UserId};

use crate::{
    error::ApiResult,
    services::{devices::Devices, federation::inbound::Inbound},
};
use ruma::events::room::member::MembershipState;

#[derive(Clone)]
pub struct Deactivation {
    store: Arc<SqlStore>,
    inbound: Inbound,
    devices: Devices,
}

impl Deactivation {
    pub fn new(store: Arc<SqlStore>, inbound: Inbound, devices: Devices) -> Self {
        Self {
            store,
            inbound,
            devices,
        }
    }

    /// Leaves the user's rooms (and declines invites and knocks), then
    /// locks the account and ends its sessions.
    pub async fn deactivate(&self, user: &UserId) -> ApiResult<()> {
        for m in self.store.user_memberships(user).await? {
            if matches!(
                m.membership,
                MembershipState::Join | MembershipState::Invite | MembershipState::Knock
            ) && let Ok(room_id) = RoomId::parse(&m.room_id)
            {
                // A room that refuses the leave (already gone, say) must
                // not keep the account alive. An invite to a room of
                // another server is rejected through it.
                if let Err(e) = self.inbound.leave(&room_id, user, None).await {
                    tracing::warn!(room = %room_id, error = %e, "leave on deactivation failed");
                }
            }
        }
        // Its addresses are free again (nothing was published elsewhere:
        // deactivation answers `id_server_unbind_result: no-support`).
        self.store.delete_user_threepids(user).await?;
        self.store.delete_identity_tokens(user).await?;
        self.store.deactivate_user(user).await?;
        self.devices.delete_all(user, None).await?;
        tracing::info!(%user, "deactivated");
        Ok(())
    }
}
