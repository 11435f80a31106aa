//! Reading rooms with history visibility applied: every read path (sync,
//! /messages, /context, /event, /state, /members) asks this module what
//! the user may see, and gets [`Visible`] events back.

mod by_time;
mod ignored;
mod pages;
mod relations;
mod visible;

use std::sync::Arc;

use missive_core::visibility::{HistoryVisibility, RoomHistory};
use missive_store::{EventStore, SqlStore, StateMap, StoredEvent, StreamPos};
use ruma::{EventId, RoomId, UserId};
use serde_json::{Value, json};

pub use ignored::Ignored;
pub use pages::{Context, Messages, MessagesQuery};
pub(in crate::services) use pages::{PageScan, is_selective};
pub(in crate::services) use relations::apply_aggregates;
pub use relations::{Relations, RelationsQuery, Threads};
pub(in crate::services) use visible::serve_event;
pub use visible::{EventFormat, Visible, to_raw};

use crate::error::{ApiError, ApiResult};
use ruma::events::room::member::MembershipState;

#[derive(Clone)]
pub struct Reader {
    store: Arc<SqlStore>,
}

/// Up to where a user may read a room's state and timeline.
pub enum ReadScope {
    /// A current member (or world-readable room): up to now.
    Current,
    /// A former member: up to the event that removed them.
    UpTo(StreamPos),
}

impl Reader {
    pub fn new(store: Arc<SqlStore>) -> Self {
        Self { store }
    }

    /// The user's membership and the room's visibility over time.
    pub async fn history(&self, room_id: &RoomId, user: &UserId) -> ApiResult<RoomHistory> {
        let memberships = self
            .store
            .state_history(room_id, "m.room.member", user.as_str())
            .await?;
        let visibility = self
            .store
            .state_history(room_id, "m.room.history_visibility", "")
            .await?;
        Ok(history_from(memberships.into_iter().chain(visibility)))
    }

    /// Keeps the events the user may see.
    pub async fn filter_visible(
        &self,
        room_id: &RoomId,
        user: &UserId,
        events: Vec<StoredEvent>,
    ) -> ApiResult<Vec<Visible>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let history = self.history(room_id, user).await?;
        Ok(gate(&history, events))
    }

    /// The event `event_id` of the room with its bundled aggregations, if
    /// the user may see it; `M_NOT_FOUND` otherwise (whether it exists or
    /// not).
    pub async fn event(
        &self,
        room_id: &RoomId,
        user: &UserId,
        event_id: &EventId,
    ) -> ApiResult<Visible> {
        self.read_scope(room_id, user).await?;
        let event = self
            .store
            .event(event_id)
            .await?
            .filter(|e| e.room_id == room_id.as_str());
        let history = self.history(room_id, user).await?;
        let mut visible = gate(&history, event.into_iter().collect());
        self.bundle(user, &mut visible, &history).await?;
        visible
            .pop()
            .ok_or_else(|| ApiError::not_found("event not found"))
    }

    /// The event `event_id` of a room `user` is joined to, if they may see
    /// it (an event from before their join may be hidden from them):
    /// receipts and read markers point only at such events.
    pub async fn member_event(
        &self,
        room_id: &RoomId,
        user: &UserId,
        event_id: &EventId,
    ) -> ApiResult<Visible> {
        self.require_joined(room_id, user).await?;
        self.visible_event(room_id, user, event_id).await
    }

    /// The event through the history-visibility gate; `M_NOT_FOUND` when it
    /// is not in the room or hidden from the user.
    async fn visible_event(
        &self,
        room_id: &RoomId,
        user: &UserId,
        event_id: &EventId,
    ) -> ApiResult<Visible> {
        let event = self
            .store
            .event(event_id)
            .await?
            .filter(|e| e.room_id == room_id.as_str());
        let visible = match event {
            Some(event) => self.filter_visible(room_id, user, vec![event]).await?,
            None => Vec::new(),
        };
        visible
            .into_iter()
            .next()
            .ok_or_else(|| ApiError::not_found("event not found"))
    }

    /// Events in the client format, with `unsigned.transaction_id` on those
    /// this device sent (clients match them to their local echoes).
    pub async fn serve_timeline(
        &self,
        events: &[&Visible],
        user: &UserId,
        device_id: &str,
        format: EventFormat,
    ) -> ApiResult<Vec<Value>> {
        let own: Vec<String> = events
            .iter()
            .filter(|e| e.sender == user.as_str())
            .map(|e| e.event_id.clone())
            .collect();
        let txns = if own.is_empty() {
            Default::default()
        } else {
            self.store
                .txn_ids_for_events(user, device_id.into(), &own)
                .await?
        };
        Ok(events
            .iter()
            .map(|e| {
                let mut v = e.serve(format);
                if let Some(txn) = txns.get(&e.event_id) {
                    v["unsigned"]["transaction_id"] = json!(txn);
                }
                v
            })
            .collect())
    }

    /// `M_FORBIDDEN` unless the user is joined to the room now.
    pub async fn require_joined(&self, room_id: &RoomId, user: &UserId) -> ApiResult<()> {
        match self.store.membership(room_id, user).await? {
            Some(m) if m.membership == MembershipState::Join => Ok(()),
            _ => Err(ApiError::forbidden("you are not in this room")),
        }
    }

    /// Whether the user may read the room's state, and up to where.
    /// `M_FORBIDDEN` for users who were never in it (unless world-readable).
    pub async fn read_scope(&self, room_id: &RoomId, user: &UserId) -> ApiResult<ReadScope> {
        if self.store.room(room_id).await?.is_none() {
            return Err(ApiError::forbidden("you are not allowed to read this room"));
        }
        let membership = self.store.membership(room_id, user).await?;
        match membership {
            Some(m) if m.membership == MembershipState::Join => return Ok(ReadScope::Current),
            Some(m) if matches!(m.membership, MembershipState::Leave | MembershipState::Ban) => {
                let history = self.history(room_id, user).await?;
                if history.memberships.iter().any(|(_, ms)| ms == "join") {
                    return Ok(ReadScope::UpTo(m.stream_ordering));
                }
            }
            _ => {}
        }
        if self.world_readable(room_id).await? {
            return Ok(ReadScope::Current);
        }
        Err(ApiError::forbidden("you are not allowed to read this room"))
    }

    async fn world_readable(&self, room_id: &RoomId) -> ApiResult<bool> {
        let ev = self
            .store
            .current_state_event(room_id, "m.room.history_visibility", "")
            .await?;
        let content = ev
            .and_then(|e| serde_json::from_str::<serde_json::Value>(&e.json).ok())
            .and_then(|v| v.get("content").cloned());
        Ok(HistoryVisibility::from_content(content.as_ref()) == HistoryVisibility::WorldReadable)
    }

    /// The member events of `users` in the room's state at stream position
    /// `at` (after the event there). Callers pass a position the user may
    /// see (an event they are shown), so nothing later leaks.
    pub async fn members_at(
        &self,
        room_id: &RoomId,
        users: &[&str],
        at: StreamPos,
    ) -> ApiResult<Vec<Visible>> {
        let mut members = Vec::with_capacity(users.len());
        for user in users {
            if let Some(e) = self
                .store
                .state_event_at(room_id, "m.room.member", user, at)
                .await?
            {
                members.push(Visible::checked(e));
            }
        }
        Ok(members)
    }

    /// The room state the user may read: current, or as it was when they left.
    pub async fn state(&self, room_id: &RoomId, user: &UserId) -> ApiResult<Vec<Visible>> {
        let events = match self.read_scope(room_id, user).await? {
            ReadScope::Current => self.store.current_state_events(room_id).await?,
            ReadScope::UpTo(pos) => self.state_at(room_id, pos).await?,
        };
        Ok(Visible::all_checked(events))
    }

    /// The members joined to the room now, for a user joined to it or
    /// anyone when the room is world-readable (room previews list them).
    pub async fn joined_members(&self, room_id: &RoomId, user: &UserId) -> ApiResult<Vec<Visible>> {
        if self.require_joined(room_id, user).await.is_err()
            && !self.world_readable(room_id).await?
        {
            return Err(ApiError::forbidden("you are not in this room"));
        }
        let members = self
            .store
            .current_state_events(room_id)
            .await?
            .into_iter()
            .filter(|e| e.event_type == "m.room.member" && e.membership.as_deref() == Some("join"))
            .collect();
        Ok(Visible::all_checked(members))
    }

    /// The room's whole state after the event at or before `pos`. Callers
    /// have checked the user may read the room up to `pos`.
    async fn state_at(&self, room_id: &RoomId, pos: StreamPos) -> ApiResult<Vec<StoredEvent>> {
        let group = self
            .store
            .event_state_group_at(room_id, pos)
            .await?
            .ok_or_else(|| ApiError::Internal("no state at a readable position".into()))?;
        let map: StateMap = self.store.state_at_group(group).await?;
        let ids: Vec<String> = map.into_values().collect();
        Ok(self.store.events(&ids).await?)
    }
}

/// The events of `events` that a user with `history` may see: the gate
/// every served timeline passes (sync calls it with a history it read for
/// many rooms at once).
///
/// `missive-core` has no storage types, so its `RoomHistory` orders events
/// by the number of their stream position.
pub fn gate(history: &RoomHistory, events: Vec<StoredEvent>) -> Vec<Visible> {
    events
        .into_iter()
        .filter(|e| history.can_see(e.stream_ordering.get()))
        .map(|e| {
            let pos = e.stream_ordering.get();
            Visible::gated(e, history.membership_at(pos))
        })
        .collect()
}

/// A room's history from the user's membership events and the room's
/// `m.room.history_visibility` events (any order; nothing else).
pub fn history_from(events: impl IntoIterator<Item = StoredEvent>) -> RoomHistory {
    let mut history = RoomHistory::default();
    for e in events {
        if e.event_type == "m.room.history_visibility" {
            let content = serde_json::from_str::<serde_json::Value>(&e.json)
                .ok()
                .and_then(|v| v.get("content").cloned());
            history.visibility.push((
                e.stream_ordering.get(),
                HistoryVisibility::from_content(content.as_ref()),
            ));
        } else {
            history.memberships.push((
                e.stream_ordering.get(),
                e.membership.unwrap_or_else(|| "leave".into()),
            ));
        }
    }
    history.memberships.sort_by_key(|(pos, _)| *pos);
    history.visibility.sort_by_key(|(pos, _)| *pos);
    history
}
