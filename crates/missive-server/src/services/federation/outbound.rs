//! The outbound queue as writers see it ([`Outbound`]): which servers a
//! local event goes to, queuing EDUs, and waking the sender
//! ([`super::sender`]) once something was committed. Exists only when
//! federation is on, so nothing is queued when it is off.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
};

use missive_federation::Policy;
use missive_store::{DeviceListBump, EventStore, FederationOutboxStore, PushTargetStore, SqlStore};
use ruma::{
    OwnedDeviceId, OwnedServerName, RoomId, ServerName, UInt, UserId,
    api::federation::transactions::edu::{DeviceListUpdateContent, Edu},
    encryption::DeviceKeys,
    serde::Raw,
};
use tokio::sync::Notify;

use crate::error::ApiResult;

/// Cheap to clone.
#[derive(Clone)]
pub struct Outbound {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<SqlStore>,
    server_name: OwnedServerName,
    policy: Policy,
    /// Pinged when something was queued (a stored permit: a ping while the
    /// sender is busy is not lost), with the destinations it was for.
    wake: Notify,
    woken: Mutex<HashSet<String>>,
    /// Destinations the sender is backing off from (kept by the sender),
    /// and those of them a verified request has come from since: they are
    /// up again and retried at once, as Synapse does.
    backing_off: Mutex<HashSet<String>>,
    revived: Mutex<HashSet<String>>,
}

/// A poisoned lock still holds a usable set.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Outbound {
    pub fn new(store: Arc<SqlStore>, server_name: OwnedServerName, policy: Policy) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                server_name,
                policy,
                wake: Notify::new(),
                woken: Mutex::new(HashSet::new()),
                backing_off: Mutex::new(HashSet::new()),
                revived: Mutex::new(HashSet::new()),
            }),
        }
    }

    pub fn server_name(&self) -> &ServerName {
        &self.inner.server_name
    }

    pub(super) fn store(&self) -> &Arc<SqlStore> {
        &self.inner.store
    }

    /// Whether the domain allowlist lets us send to `server`.
    pub fn may_send_to(&self, server: &ServerName) -> bool {
        self.inner.policy.server_allowed(server)
    }

    /// The destinations among `servers` (server names, repeats allowed):
    /// not this server, valid names the allowlist accepts, sorted and
    /// without repeats.
    pub fn destinations<'a>(&self, servers: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        let own = self.inner.server_name.as_str();
        let mut out: Vec<String> = servers
            .into_iter()
            .filter(|s| *s != own)
            .filter(|s| ServerName::parse(s).is_ok_and(|name| self.may_send_to(&name)))
            .map(str::to_owned)
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The destinations of an event in a room whose joined members are
    /// `member_ids` (user IDs): their servers, and `also`'s (an invitee,
    /// the target of a kick), see [`Outbound::destinations`].
    pub fn destinations_of_members<'a>(
        &self,
        member_ids: impl IntoIterator<Item = &'a str>,
        also: Option<&'a str>,
    ) -> Vec<String> {
        let own = self.inner.server_name.as_str();
        // Most members of most rooms are local: the cheap test first.
        let remote = member_ids
            .into_iter()
            .chain(also)
            .filter_map(|user| user.split_once(':').map(|(_, server)| server))
            .filter(|server| *server != own);
        self.destinations(remote)
    }

    /// Queues `edu` (`{"edu_type": ..., "content": ...}`) for
    /// `destinations` and wakes the sender. Destinations the allowlist
    /// refuses, and this server, are left out.
    pub async fn queue_edu(
        &self,
        destinations: &[OwnedServerName],
        edu: &serde_json::Value,
    ) -> ApiResult<()> {
        let destinations = self.destinations(destinations.iter().map(|d| d.as_str()));
        if destinations.is_empty() {
            return Ok(());
        }
        self.inner
            .store
            .queue_edu(&destinations, &edu.to_string())
            .await?;
        self.wake(&destinations);
        Ok(())
    }

    /// Queues `edu` for the servers of the room's joined members (an
    /// ephemeral event of the room: typing, a receipt).
    pub async fn queue_edu_to_room(&self, room: &RoomId, edu: &Edu) -> ApiResult<()> {
        let members = self.inner.store.push_targets(room.as_str()).await?;
        let destinations =
            self.destinations_of_members(members.iter().map(|m| m.user_id.as_str()), None);
        self.queue_edu_to(&destinations, edu).await
    }

    /// Queues `edu` for the servers sharing a room with `user` (whoever
    /// sees their presence and device list).
    pub async fn queue_edu_to_sharing(&self, user: &UserId, edu: &Edu) -> ApiResult<()> {
        let sharing = self.inner.store.users_sharing_rooms_with(user).await?;
        let destinations = self.destinations_of_members(sharing.iter().map(String::as_str), None);
        self.queue_edu_to(&destinations, edu).await
    }

    /// Queues an `m.device_list_update` per device of `changes` (in the
    /// order of `bump`'s stream IDs) for the servers sharing a room with
    /// `user`. Each carries the device's keys, if any, or `deleted`; never
    /// its display name (other servers are not told device names, as
    /// `GET /user/devices` does not tell them).
    pub async fn queue_device_list_updates(
        &self,
        user: &UserId,
        bump: DeviceListBump,
        changes: Vec<(OwnedDeviceId, DeviceChange)>,
    ) -> ApiResult<()> {
        let sharing = self.inner.store.users_sharing_rooms_with(user).await?;
        let destinations = self.destinations_of_members(sharing.iter().map(String::as_str), None);
        if destinations.is_empty() {
            return Ok(());
        }
        for ((device, change), (stream_id, prev_id)) in changes.into_iter().zip(bump.chain()) {
            let mut update = DeviceListUpdateContent::new(
                user.to_owned(),
                device,
                UInt::try_from(stream_id).unwrap_or_default(),
            );
            // 0 is "no change before": nothing to have missed.
            update.prev_id = UInt::try_from(prev_id)
                .ok()
                .filter(|p| *p > UInt::MIN)
                .into_iter()
                .collect();
            match change {
                DeviceChange::Keys(keys) => update.keys = keys,
                DeviceChange::Deleted => update.deleted = Some(true),
            }
            self.queue_edu_to(&destinations, &Edu::DeviceListUpdate(update))
                .await?;
        }
        Ok(())
    }

    /// Queues `edu` for `destinations`, already filtered by
    /// [`Outbound::destinations`].
    async fn queue_edu_to(&self, destinations: &[String], edu: &Edu) -> ApiResult<()> {
        if destinations.is_empty() {
            return Ok(());
        }
        let json = serde_json::to_string(edu)
            .map_err(|e| crate::error::ApiError::Internal(format!("EDU not serialisable: {e}")))?;
        self.inner.store.queue_edu(destinations, &json).await?;
        self.wake(destinations);
        Ok(())
    }

    /// Whether `user` is one of this server's (only their ephemeral
    /// events go out: those of other servers' users came from there).
    pub fn is_local(&self, user: &UserId) -> bool {
        user.server_name() == self.inner.server_name
    }

    /// Tells the sender that something was committed for `destinations`.
    pub fn wake(&self, destinations: &[String]) {
        if destinations.is_empty() {
            return;
        }
        self.inner
            .woken
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(destinations.iter().cloned());
        self.inner.wake.notify_one();
    }

    /// A request signed by `origin` was verified: if the sender is backing
    /// off from it, it is up again; its queue is sent now rather than
    /// after the backoff (a restarted server catches up at once).
    pub fn server_up(&self, origin: &ServerName) {
        let was_down = lock(&self.inner.backing_off).remove(origin.as_str());
        if was_down {
            lock(&self.inner.revived).insert(origin.as_str().to_owned());
            self.inner.wake.notify_one();
        }
    }

    /// The sender's record of which destinations it is backing off from.
    pub(super) fn set_backing_off(&self, destinations: impl IntoIterator<Item = String>) {
        *lock(&self.inner.backing_off) = destinations.into_iter().collect();
    }

    /// The destinations found up again since the last call.
    pub(super) fn take_revived(&self) -> HashSet<String> {
        std::mem::take(&mut *lock(&self.inner.revived))
    }

    /// The destinations woken for since the last call.
    pub(super) fn take_woken(&self) -> HashSet<String> {
        std::mem::take(&mut *self.inner.woken.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Waits for [`Outbound::wake`] (or returns at once if it was called
    /// since the last wait).
    pub(super) async fn woken(&self) {
        self.inner.wake.notified().await;
    }
}

/// What became of a device, for [`Outbound::queue_device_list_updates`].
pub enum DeviceChange {
    /// New, renamed, or new keys: its keys as served, if it has any.
    Keys(Option<Raw<DeviceKeys>>),
    Deleted,
}

/// A device's stored keys as other servers get them: without `unsigned`
/// (where its display name is served to local clients). `None` when
/// unreadable.
pub fn served_keys(json: &str) -> Option<Raw<DeviceKeys>> {
    let mut value: serde_json::Value = serde_json::from_str(json).ok()?;
    if let Some(object) = value.as_object_mut() {
        object.remove("unsigned");
    }
    Raw::from_json_string(value.to_string()).ok()
}
