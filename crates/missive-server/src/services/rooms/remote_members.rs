//! The resident server's half of another server's user joining (or
//! leaving) a room: the membership event built on the room's current
//! state and handed over unsigned (`make_join`, `make_leave`), and the
//! state a joining server needs once its signed join is written.

use std::collections::HashSet;

use missive_core::{
    Pdu,
    event_builder::{self, EventTemplate, RoomContext, StateEvents},
    membership_template, room_versions,
};
use missive_store::{EventStore, StreamPos};
use ruma::{
    CanonicalJsonObject, MilliSecondsSinceUnixEpoch, OwnedEventId, RoomId, RoomVersionId,
    UserId, events::StateEventType, state_res::StateMap,
};
use serde_json::json;

use super::Rooms;
use crate::error::{ApiError, ApiResult};

impl Rooms {
    /// `user`'s (of another server) membership event with `membership`,
    /// built on the room's current state and authorised there (a join the
    /// room refuses is refused here), as the template the user's server
    /// signs; with the room's version.
    pub async fn remote_membership_template(
        &self,
        room_id: &RoomId,
        user: &UserId,
        membership: &str,
    ) -> ApiResult<(RoomVersionId, CanonicalJsonObject)> {
        let (room, _) = self.room(room_id).await?;
        let (version, rules) = room_versions::parse(&room.room_version)?;
        let template = EventTemplate::state(
            StateEventType::RoomMember,
            user.as_str(),
            json!({"membership": membership}),
        );
        let wanted = event_builder::required_state(&template, user, &rules)?;
        let head = self.head(room_id, &wanted).await?;
        let state: StateEvents = wanted
            .iter()
            .filter_map(|key| Some((key.clone(), head.state.get(key).cloned().flatten()?)))
            .collect();
        let ctx = RoomContext {
            room_id: Some(room_id),
            rules: &rules,
            prev_events: head.prev.as_slice(),
            state: &state,
            redaction_target: None,
        };
        let pdu = event_builder::build_event(
            template,
            user,
            &ctx,
            &self.inner.signer,
            MilliSecondsSinceUnixEpoch::now(),
        )?;
        Ok((version, membership_template::template_of(&pdu)))
    }

    /// Whether a user of this server is joined to the room: only then can
    /// this server vouch for its state to another.
    pub async fn is_resident(&self, room_id: &RoomId) -> ApiResult<bool> {
        let ours = format!(":{}", self.server_name());
        Ok(self
            .store()
            .room_members(room_id)
            .await?
            .iter()
            .any(|m| {
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
        let mut state: StateMap<OwnedEventId> = store
            .state_at_group(event.state_group)
            .await?
            .into_iter()
            .filter_map(|((ty, key), id)| {
                Some(((ty.as_str().into(), key), OwnedEventId::try_from(id).ok()?))
            })
            .collect();
        state.retain(|_, id| id != event_id);
        let events = self
            .load_with_auth_chains(state.values().chain([event_id]))
            .await?;
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
