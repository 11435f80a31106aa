//! What a push notification says besides the event, read when it is sent:
//! the room's name and alias and the sender's display name (current
//! state), the user's rule actions for the event (for the tweaks: the
//! stored push actions keep only notify and highlight), and the badge
//! count (rooms with unread notifications, Synapse's default).

use std::sync::Arc;

use missive_core::push as core_push;
use missive_store::{EventStore, PushTargetStore, SqlStore, StoredEvent, SyncBatchStore};
use ruma::{
    OwnedRoomAliasId, OwnedRoomId, RoomId, UserId,
    events::room::member::MembershipState,
    push::{Action, FlattenedJson, Ruleset},
    serde::Raw,
};
use serde_json::Value;

use super::payload::RoomFacts;
use crate::{
    error::{ApiError, ApiResult},
    services::push_rules,
};

/// Reads the facts of notifications.
pub struct Facts {
    store: Arc<SqlStore>,
}

fn content(event: &StoredEvent) -> Value {
    serde_json::from_str::<Value>(&event.json)
        .ok()
        .and_then(|mut v| v.get_mut("content").map(Value::take))
        .unwrap_or(Value::Null)
}

fn text(v: &Value, field: &str) -> Option<String> {
    v.get(field)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

impl Facts {
    pub fn new(store: Arc<SqlStore>) -> Self {
        Self { store }
    }

    /// The room's name and canonical alias and the sender's display name.
    pub async fn about(&self, room_id: &RoomId, sender: &str) -> ApiResult<RoomFacts> {
        let keys = [
            ("m.room.name".to_owned(), String::new()),
            ("m.room.canonical_alias".to_owned(), String::new()),
            ("m.room.member".to_owned(), sender.to_owned()),
        ];
        let state = self.store.current_state_events_for(room_id, &keys).await?;
        let mut facts = RoomFacts::default();
        for event in &state {
            let c = content(event);
            match event.event_type.as_str() {
                "m.room.name" => facts.room_name = text(&c, "name"),
                "m.room.canonical_alias" => {
                    facts.room_alias =
                        text(&c, "alias").and_then(|a| OwnedRoomAliasId::try_from(a).ok());
                }
                "m.room.member" => facts.sender_display_name = text(&c, "displayname"),
                _ => {}
            }
        }
        Ok(facts)
    }

    /// The actions of the user's first matching rule for `event` (client
    /// format), evaluated now: their tweaks (a sound) go to the gateway.
    /// Power levels are not looked at (only `@room` rules need them, and
    /// the highlight they give is the one stored with the event).
    pub async fn actions(
        &self,
        user: &UserId,
        room_id: &RoomId,
        event: &Value,
    ) -> ApiResult<Vec<Action>> {
        let ruleset = push_rules::load(&self.store, user).await?;
        self.actions_under(&ruleset, user, room_id, event).await
    }

    /// As [`Facts::actions`], under a ruleset already loaded (one load
    /// for a page of notifications).
    pub async fn actions_under(
        &self,
        ruleset: &Ruleset,
        user: &UserId,
        room_id: &RoomId,
        event: &Value,
    ) -> ApiResult<Vec<Action>> {
        let members = self.store.push_targets(room_id.as_str()).await?;
        let display_name = members
            .iter()
            .find(|t| t.user_id == user.as_str())
            .and_then(|t| t.displayname.clone())
            .unwrap_or_else(|| user.localpart().to_owned());
        let raw: Raw<Value> = Raw::new(event).map_err(|e| ApiError::Internal(e.to_string()))?;
        let flat = FlattenedJson::from_raw(&raw);
        let recipient = core_push::Recipient {
            user_id: user.to_owned(),
            display_name,
            room_id: room_id.to_owned(),
            member_count: members.len() as u64,
            power_levels: None,
        };
        Ok(core_push::matched_actions(ruleset, &flat, recipient)
            .await
            .to_vec())
    }

    /// How many of the user's rooms have unread notifications.
    pub async fn unread_rooms(&self, user: &UserId) -> ApiResult<u64> {
        let rooms: Vec<OwnedRoomId> = self
            .store
            .user_memberships(user)
            .await?
            .into_iter()
            .filter(|m| m.membership == MembershipState::Join)
            .filter_map(|m| OwnedRoomId::try_from(m.room_id).ok())
            .collect();
        let upto = self.store.current_position().await?;
        let counts = self.store.unread_counts_in(user, &rooms, upto).await?;
        Ok(counts.values().filter(|(n, _)| *n > 0).count() as u64)
    }
}
