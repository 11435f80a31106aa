//! The resident server's half of another server's user joining (or
//! leaving) a room: the membership event built on the room's current
//! state and handed over unsigned (`make_join`, `make_leave`), and the
//! state a joining server needs once its signed join is written.

use std::collections::HashSet;

use missive_core::{Pdu, event_builder::EventTemplate, membership_template, room_versions};
use missive_store::{EventStore, StreamPos};
use ruma::{
    CanonicalJsonObject, OwnedEventId, RoomId, RoomVersionId, UserId, events::StateEventType,
    state_res::StateMap,
};
use serde_json::json;

use super::Rooms;
use crate::error::{ApiError, ApiResult};

impl Rooms {
    /// `user`'s (of another server) membership event with `membership`,
    /// built on the room's current state and authorised there (a join the
    /// room refuses is refused here), as the template the user's server
    /// signs; with the room's version. A join of a restricted room names
    /// its authorising member here, when the user is in a room that grants
    /// access.
    pub async fn remote_membership_template(
        &self,
        room_id: &RoomId,
        user: &UserId,
        membership: &str,
    ) -> ApiResult<(RoomVersionId, CanonicalJsonObject)> {
        let (room, _) = self.room(room_id).await?;
        let (version, _) = room_versions::parse(&room.room_version)?;
        let mut content = json!({"membership": membership});
        // A restricted room's join names the member of this server who
        // lets the user in; `send_join` then signs it as that member's.
        if membership == "join"
            && let Some(authoriser) = self.join_authoriser(room_id, &room.join_rule, user).await?
        {
            content["join_authorised_via_users_server"] = json!(authoriser);
        }
        let template = EventTemplate::state(StateEventType::RoomMember, user.as_str(), content);
        let pdu = self.build_unsent(room_id, user, template).await?;
        Ok((version, membership_template::template_of(&pdu)))
    }

    /// Whether a user of this server is joined to the room: only then can
    /// this server vouch for its state to another.
    pub async fn is_resident(&self, room_id: &RoomId) -> ApiResult<bool> {
        let ours = format!(":{}", self.server_name());
        Ok(self.store().room_members(room_id).await?.iter().any(|m| {
            m.user_id.ends_with(&ours)
                && m.membership == ruma::events::room::member::MembershipState::Join
        }))
    }

    /// The room's state before `event_id` (its state after, without the
    /// event's own entry) and the auth chain of that state and the event,
    /// as PDUs: what `send_join` answers with.
    pub async fn state_for_joiner(
        &self,
        room_id: &RoomId,
        event_id: &OwnedEventId,
    ) -> ApiResult<(Vec<Pdu>, Vec<Pdu>)> {
        let store = self.store();
        let event = store
            .event(event_id)
            .await?
            .filter(|e| e.room_id == room_id.as_str())
            .ok_or_else(|| ApiError::not_found("event not found"))?;
        let pdu = super::to_pdu(&event)?;
        let (_, rules) = self.room(room_id).await?;
        // The state before the join: after its one prev event, or resolved
        // over its prev events.
        let prev_ids: Vec<String> = pdu.prev_events.iter().map(ToString::to_string).collect();
        let mut prev_states = Vec::new();
        for prev in store.events(&prev_ids).await? {
            prev_states.push(super::remote::state_map(
                store.state_at_group(prev.state_group).await?,
            )?);
        }
        let events = self
            .load_with_auth_chains(
                prev_states
                    .iter()
                    .flat_map(|s| s.values())
                    .chain([event_id]),
            )
            .await?;
        let state: StateMap<OwnedEventId> =
            missive_core::state_resolution::resolve(&rules, &prev_states, &events)
                .map_err(|e| ApiError::Internal(e.to_string()))?;
        let in_state: HashSet<&OwnedEventId> = state.values().collect();
        let state_pdus = in_state
            .iter()
            .filter_map(|id| events.get(*id).cloned())
            .collect();
        let auth_chain = events
            .values()
            .filter(|p| !in_state.contains(&p.event_id) && p.event_id != *event_id)
            .cloned()
            .collect();
        Ok((state_pdus, auth_chain))
    }

    /// Announces a membership written for another server's user at `pos`.
    pub async fn announce_remote_member(&self, pos: StreamPos, room_id: &RoomId, user: &UserId) {
        self.announce(pos, room_id.as_str(), &[user.as_str()]).await;
    }
}
