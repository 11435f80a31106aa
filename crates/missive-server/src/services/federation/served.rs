//! Room events other servers ask this one for: one event, the state at an
//! event (IDs or events, with its auth chain), an event's auth chain, the
//! events between two points of the graph (`get_missing_events`), and
//! history (`backfill`). Only a server with a user in the room is
//! answered, and only with events of that room.

use std::collections::{BTreeSet, HashSet, VecDeque};

use missive_core::Pdu;
use missive_store::EventStore;
use ruma::{EventId, OwnedEventId, RoomId, ServerName, events::room::member::MembershipState};

use super::inbound::Inbound;
use crate::{
    error::{ApiError, ApiResult},
    services::rooms::to_pdu,
};

/// Most events answered by `get_missing_events` and `backfill`.
const MAX_EVENTS: usize = 100;

impl Inbound {
    /// Refuses `origin` unless one of its users is joined to the room and
    /// the room's server ACL allows it.
    async fn check_server_in_room(&self, origin: &ServerName, room_id: &RoomId) -> ApiResult<()> {
        self.check_acl(origin, room_id).await?;
        let suffix = format!(":{origin}");
        let in_room = self
            .store()
            .room_members(room_id)
            .await?
            .iter()
            .any(|m| m.user_id.ends_with(&suffix) && m.membership == MembershipState::Join);
        if in_room {
            Ok(())
        } else {
            Err(ApiError::forbidden("your server is not in this room"))
        }
    }

    /// `GET /event/{eventId}`.
    pub async fn served_event(&self, origin: &ServerName, event_id: &EventId) -> ApiResult<Pdu> {
        let stored = self
            .store()
            .event(event_id)
            .await?
            .ok_or_else(|| ApiError::not_found("event not found"))?;
        let pdu = to_pdu(&stored)?;
        self.check_server_in_room(origin, &pdu.room_id).await?;
        Ok(pdu)
    }

    /// `GET /state` and `/state_ids`: the state before `event_id` and its
    /// auth chain.
    pub async fn served_state(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
        event_id: &OwnedEventId,
    ) -> ApiResult<(Vec<Pdu>, Vec<Pdu>)> {
        self.check_server_in_room(origin, room_id).await?;
        self.rooms().state_for_joiner(room_id, event_id).await
    }

    /// `GET /event_auth`: the event's auth chain.
    pub async fn served_auth_chain(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
        event_id: &EventId,
    ) -> ApiResult<Vec<Pdu>> {
        self.check_server_in_room(origin, room_id).await?;
        let event = self.served_event(origin, event_id).await?;
        if event.room_id != room_id {
            return Err(ApiError::not_found("event not found in this room"));
        }
        let mut chain = Vec::new();
        let mut seen: HashSet<OwnedEventId> = HashSet::new();
        let mut wanted: Vec<String> = event.auth_events.iter().map(ToString::to_string).collect();
        while !wanted.is_empty() {
            let found = self.store().events(&wanted).await?;
            wanted.clear();
            for stored in found {
                let pdu = to_pdu(&stored)?;
                if !seen.insert(pdu.event_id.clone()) {
                    continue;
                }
                wanted.extend(
                    pdu.auth_events
                        .iter()
                        .filter(|a| !seen.contains(*a))
                        .map(ToString::to_string),
                );
                chain.push(pdu);
            }
        }
        Ok(chain)
    }

    /// `POST /get_missing_events`: events before `latest` (walking prev
    /// events) back to `earliest`, oldest first, at most `limit`, none
    /// below `min_depth`.
    pub async fn served_missing_events(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
        earliest: &[OwnedEventId],
        latest: &[OwnedEventId],
        limit: usize,
        min_depth: u64,
    ) -> ApiResult<Vec<Pdu>> {
        self.check_server_in_room(origin, room_id).await?;
        let stop: HashSet<&EventId> = earliest.iter().map(|e| &**e).collect();
        let starts: Vec<String> = latest.iter().map(ToString::to_string).collect();
        let mut found = self
            .walk_back(room_id, &starts, limit.min(MAX_EVENTS), &stop, false)
            .await?;
        found.retain(|p| u64::from(p.depth) >= min_depth);
        Ok(found)
    }

    /// `GET /backfill`: `from` and the events before them, newest first,
    /// at most `limit`.
    pub async fn served_backfill(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
        from: &[OwnedEventId],
        limit: usize,
    ) -> ApiResult<Vec<Pdu>> {
        self.check_server_in_room(origin, room_id).await?;
        let starts: Vec<String> = from.iter().map(ToString::to_string).collect();
        let mut found = self
            .walk_back(
                room_id,
                &starts,
                limit.min(MAX_EVENTS),
                &HashSet::new(),
                true,
            )
            .await?;
        found.reverse();
        Ok(found)
    }

    /// Walks prev events breadth-first from `starts` (included when
    /// `include_starts`), not past `stop`, collecting up to `limit` events
    /// of `room_id`; returns them oldest first.
    async fn walk_back(
        &self,
        room_id: &RoomId,
        starts: &[String],
        limit: usize,
        stop: &HashSet<&EventId>,
        include_starts: bool,
    ) -> ApiResult<Vec<Pdu>> {
        let mut out: Vec<Pdu> = Vec::new();
        let mut seen: BTreeSet<String> = starts.iter().cloned().collect();
        let mut queue: VecDeque<String> = VecDeque::new();
        for stored in self.store().events(starts).await? {
            let pdu = to_pdu(&stored)?;
            if pdu.room_id != room_id {
                continue;
            }
            for prev in &pdu.prev_events {
                if seen.insert(prev.to_string()) && !stop.contains(&**prev) {
                    queue.push_back(prev.to_string());
                }
            }
            if include_starts {
                out.push(pdu);
            }
        }
        while out.len() < limit && !queue.is_empty() {
            let batch: Vec<String> = queue.drain(..queue.len().min(50)).collect();
            for stored in self.store().events(&batch).await? {
                if out.len() >= limit {
                    break;
                }
                let pdu = to_pdu(&stored)?;
                if pdu.room_id != room_id {
                    continue;
                }
                for prev in &pdu.prev_events {
                    if seen.insert(prev.to_string()) && !stop.contains(&**prev) {
                        queue.push_back(prev.to_string());
                    }
                }
                out.push(pdu);
            }
        }
        out.sort_by_key(|p| p.depth);
        out.truncate(limit);
        Ok(out)
    }
}
