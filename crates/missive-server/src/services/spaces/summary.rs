//! What anyone who may preview a room learns of it: a summary from its
//! current state (name, topic, avatar, alias, join rule, members,
//! encryption, version), and who may preview it at all (Synapse's rule for
//! space hierarchies and room summaries).

use missive_store::{EventStore, SqlStore, StoredEvent};
use ruma::{
    OwnedMxcUri, OwnedRoomAliasId, OwnedRoomId, RoomId, RoomVersionId, UInt, UserId,
    events::room::{
        encryption::RoomEncryptionEventContent, join_rules::RoomJoinRulesEventContent,
        member::MembershipState,
    },
    room::{AllowRule, JoinRule, JoinRuleSummary, RoomSummary, RoomType},
};
use serde_json::Value;

use crate::{error::ApiResult, services::reader::serve_event};

/// The state types a summary reads (all with the empty state key).
pub const SUMMARY_TYPES: &[&str] = &[
    "m.room.create",
    "m.room.name",
    "m.room.topic",
    "m.room.avatar",
    "m.room.canonical_alias",
    "m.room.join_rules",
    "m.room.history_visibility",
    "m.room.guest_access",
    "m.room.encryption",
];

/// A room's current summary state, read once.
pub struct RoomFacts {
    pub room_id: OwnedRoomId,
    pub state: Vec<StoredEvent>,
    pub joined: usize,
    pub version: String,
}

impl RoomFacts {
    /// Reads the summary state and member count of a room this server
    /// knows (None otherwise).
    pub async fn read(store: &SqlStore, room_id: &RoomId) -> ApiResult<Option<Self>> {
        let Some(record) = store.room(room_id).await? else {
            return Ok(None);
        };
        let keys: Vec<(String, String)> = SUMMARY_TYPES
            .iter()
            .map(|t| ((*t).to_owned(), String::new()))
            .collect();
        let state = store.current_state_events_for(room_id, &keys).await?;
        let joined = store
            .room_members(room_id)
            .await?
            .iter()
            .filter(|m| m.membership == MembershipState::Join)
            .count();
        Ok(Some(Self {
            room_id: room_id.to_owned(),
            state,
            joined,
            version: record.room_version,
        }))
    }

    fn content(&self, ty: &str) -> Option<Value> {
        self.state
            .iter()
            .find(|e| e.event_type == ty && e.state_key.as_deref() == Some(""))
            .map(|e| serve_event(e)["content"].clone())
    }

    fn text(&self, ty: &str, field: &str) -> Option<String> {
        self.content(ty)
            .and_then(|c| c.get(field).and_then(Value::as_str).map(str::to_owned))
    }

    /// The join rule (invite when the room has none, as the spec says).
    pub fn join_rule(&self) -> JoinRule {
        self.content("m.room.join_rules")
            .and_then(|c| serde_json::from_value::<RoomJoinRulesEventContent>(c).ok())
            .map_or(JoinRule::Invite, |c| c.join_rule)
    }

    pub fn world_readable(&self) -> bool {
        self.text("m.room.history_visibility", "history_visibility")
            .as_deref()
            == Some("world_readable")
    }

    pub fn room_type(&self) -> Option<RoomType> {
        self.text("m.room.create", "type")
            .map(|t| RoomType::from(t.as_str()))
    }

    /// The summary clients show.
    pub fn summary(&self) -> RoomSummary {
        let mut summary = RoomSummary::new(
            self.room_id.clone(),
            JoinRuleSummary::from(self.join_rule()),
            self.text("m.room.guest_access", "guest_access").as_deref() == Some("can_join"),
            UInt::try_from(self.joined).unwrap_or_default(),
            self.world_readable(),
        );
        summary.name = self.text("m.room.name", "name").filter(|n| !n.is_empty());
        summary.topic = self.text("m.room.topic", "topic").filter(|t| !t.is_empty());
        summary.avatar_url = self
            .text("m.room.avatar", "url")
            .filter(|u| !u.is_empty())
            .map(OwnedMxcUri::from);
        summary.canonical_alias = self
            .text("m.room.canonical_alias", "alias")
            .and_then(|a| OwnedRoomAliasId::try_from(a).ok());
        summary.room_type = self.room_type();
        summary.encryption = self
            .content("m.room.encryption")
            .and_then(|c| serde_json::from_value::<RoomEncryptionEventContent>(c).ok())
            .map(|c| c.algorithm);
        summary.room_version = RoomVersionId::try_from(self.version.as_str()).ok();
        summary
    }

    /// Whether `user` may preview the room: it is world-readable, anyone
    /// may join or knock, the user is joined or invited, or the join rule
    /// is restricted to a room the user is in.
    pub async fn previewable_by(&self, store: &SqlStore, user: &UserId) -> ApiResult<bool> {
        if self.world_readable() {
            return Ok(true);
        }
        let rule = self.join_rule();
        if matches!(
            rule,
            JoinRule::Public | JoinRule::Knock | JoinRule::KnockRestricted(_)
        ) {
            return Ok(true);
        }
        let mine = store.membership(&self.room_id, user).await?;
        if mine.is_some_and(|m| {
            matches!(
                m.membership,
                MembershipState::Join | MembershipState::Invite
            )
        }) {
            return Ok(true);
        }
        if let JoinRule::Restricted(restricted) = &rule {
            let allowed = restricted.allow.iter().filter_map(|rule| match rule {
                AllowRule::RoomMembership(m) => Some(&m.room_id),
                _ => None,
            });
            for room in allowed {
                let member = store.membership(room, user).await?;
                if member.is_some_and(|m| m.membership == MembershipState::Join) {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }
}
