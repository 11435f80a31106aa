//! The `device_lists` of an incremental sync: whose devices the client
//! must fetch again (their keys changed, or they newly share a room with
//! the user) and whom it no longer shares any room with.

use std::collections::{BTreeSet, HashMap, HashSet};

use missive_store::{EventStore, KeyStore, Membership, SqlStore, StreamPos, SyncBatchStore};
use ruma::{OwnedRoomId, OwnedUserId, RoomId, UserId, events::room::member::MembershipState};

use super::{Syncer, user_ids};
use crate::error::ApiResult;

/// What changed in the user's device lists since the last sync.
pub(super) struct DeviceListDelta {
    pub changed: Vec<String>,
    pub left: Vec<String>,
    /// Users who share a room with the user since the last sync (their
    /// presence is sent too).
    pub newly_sharing: Vec<String>,
}

impl Syncer {
    /// `GET /keys/changes`: the users whose devices changed after `since`
    /// (or who newly share a room with `user`) and those who no longer
    /// share any, as a sync from `since` reports them.
    pub async fn key_changes(
        &self,
        user: &UserId,
        since: StreamPos,
    ) -> ApiResult<(Vec<OwnedUserId>, Vec<OwnedUserId>)> {
        let memberships = self.store.user_memberships(user).await?;
        let active = self.store.rooms_active_since(user, since).await?;
        let delta = self
            .device_list_delta(user, since, &memberships, Some(&active))
            .await?;
        Ok((user_ids(delta.changed), user_ids(delta.left)))
    }

    /// Users whose devices the client must re-fetch (changed keys, or newly
    /// sharing a room) and users it no longer shares any room with.
    pub(super) async fn device_list_delta(
        &self,
        user: &UserId,
        since: StreamPos,
        memberships: &[Membership],
        active: Option<&HashSet<String>>,
    ) -> ApiResult<DeviceListDelta> {
        let mut changed = self.store.device_list_changes(user, since).await?;
        let mut newly_sharing = BTreeSet::new();
        let mut left = BTreeSet::new();
        // Membership changes are room events: quiet rooms have none.
        let considered: Vec<&Membership> = memberships
            .iter()
            .filter(|m| m.stream_ordering > since || active.is_none_or(|a| a.contains(&m.room_id)))
            .collect();
        // Others' changes in all these rooms, in one read.
        let batch: Vec<OwnedRoomId> = considered
            .iter()
            .filter_map(|m| OwnedRoomId::try_from(m.room_id.as_str()).ok())
            .collect();
        let mut others_changed: HashMap<String, Vec<Membership>> = Default::default();
        for o in self.store.members_changed_in(&batch, since).await? {
            others_changed.entry(o.room_id.clone()).or_default().push(o);
        }
        for m in considered {
            let own_change = m.stream_ordering > since;
            if m.membership == MembershipState::Join
                && own_change
                && !self.was_joined(&room_id_of(m)?, user, since).await?
            {
                // We joined: everyone in the room is new to us.
                let members = joined_members(&self.store, &m.room_id).await?;
                newly_sharing.extend(members.iter().cloned());
                changed.extend(members);
                continue;
            }
            for other in others_changed
                .get(&m.room_id)
                .into_iter()
                .flatten()
                .filter(|o| o.user_id != user.as_str())
            {
                match other.membership.as_str() {
                    "join" if m.membership == MembershipState::Join => {
                        changed.insert(other.user_id.clone());
                        newly_sharing.insert(other.user_id.clone());
                    }
                    "leave" | "ban" => {
                        left.insert(other.user_id.clone());
                    }
                    _ => {}
                }
            }
            if matches!(m.membership, MembershipState::Leave | MembershipState::Ban) && own_change {
                left.extend(joined_members(&self.store, &m.room_id).await?);
            }
        }
        // Still sharing another room: not "left".
        let mut really_left = Vec::new();
        for other in left {
            let Ok(other_id) = <&UserId>::try_from(other.as_str()) else {
                continue;
            };
            if other != user.as_str() && self.store.shared_rooms(user, other_id).await?.is_empty() {
                really_left.push(other);
            }
        }
        let mut changed: Vec<String> = changed
            .into_iter()
            .filter(|u| !really_left.contains(u))
            .collect();
        changed.sort();
        newly_sharing.remove(user.as_str());
        Ok(DeviceListDelta {
            changed,
            left: really_left,
            newly_sharing: newly_sharing.into_iter().collect(),
        })
    }
}

/// The users joined to a room now.
async fn joined_members(store: &SqlStore, room_id: &str) -> ApiResult<Vec<String>> {
    let Ok(room_id) = <&RoomId>::try_from(room_id) else {
        return Ok(Vec::new());
    };
    Ok(store
        .room_members(room_id)
        .await?
        .into_iter()
        .filter(|o| o.membership == MembershipState::Join)
        .map(|o| o.user_id)
        .collect())
}

fn room_id_of(m: &Membership) -> ApiResult<OwnedRoomId> {
    OwnedRoomId::try_from(m.room_id.as_str())
        .map_err(|e| crate::error::ApiError::Internal(format!("stored room ID: {e}")))
}
