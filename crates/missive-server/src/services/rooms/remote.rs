//! Events received from other servers, written into rooms after the
//! federation layer verified their signatures and checked them against
//! their own auth events (steps 1 to 4 of the spec's checks on receipt).
//!
//! Here, under the room's lock: the state before the event (the state
//! after its one prev event, or the resolution of the states after its
//! prev events at a fork), the authorization rules against it (failure:
//! rejected, kept as such) and against the room's current state (failure:
//! soft-failed, kept outside the timeline), then the write, the room's
//! state resolved over its new forward extremities, and the announcement
//! to local syncs and push.

use std::collections::{HashMap, HashSet};

use missive_core::{Pdu, event_builder::StateEvents, incoming, power_levels, state_resolution};
use missive_store::{
    EventStore, PersistOutcome, RemoteEventStore, RemoteWrite, StateEntry, StoreError, StreamPos,
};
use ruma::{
    OwnedEventId, events::StateEventType, events::TimelineEventType,
    room_version_rules::RoomVersionRules, state_res::StateMap,
};

use super::{MAX_BUILD_ATTEMPTS, Rooms, new_event, push, to_pdu};
use crate::error::{ApiError, ApiResult};

/// What became of a received event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// In the room's timeline at this position.
    Timeline(StreamPos),
    /// Allowed by the state before it but not by the room's current state:
    /// kept outside the timeline, as the spec says.
    SoftFailed,
    /// Refused by the authorization rules: kept as rejected.
    Rejected(String),
    /// Already known.
    Known,
    /// Some prev events are unknown here: the caller fetches them first.
    MissingPrevs(Vec<OwnedEventId>),
}

/// Whether a received event goes on to the room's other servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relay {
    /// Sent to us by the server that sends it to the others (a
    /// transaction's events).
    No,
    /// This server answers for it to the room (a join it accepted with
    /// `send_join`, an invite it built that the invitee's server signed).
    ToRoom,
}

/// Most events loaded to resolve a fork (a bound on memory and time).
const MAX_RESOLUTION_EVENTS: usize = 50_000;

impl Rooms {
    /// Writes `pdu`, received from another server and checked against its
    /// auth events, into its room (see the module docs).
    pub async fn receive(
        &self,
        pdu: &Pdu,
        rules: &RoomVersionRules,
        relay: Relay,
    ) -> ApiResult<Received> {
        let store = self.store().clone();
        let room_id = &pdu.room_id;
        let lock = self.room_lock(room_id);
        let _guard = lock.lock().await;
        if store.event(&pdu.event_id).await?.is_some() {
            return Ok(Received::Known);
        }
        let prev_ids: Vec<String> = pdu.prev_events.iter().map(ToString::to_string).collect();
        let prevs = store.events(&prev_ids).await?;
        if prevs.len() < prev_ids.len() {
            let found: HashSet<&str> = prevs.iter().map(|e| e.event_id.as_str()).collect();
            return Ok(Received::MissingPrevs(
                pdu.prev_events
                    .iter()
                    .filter(|id| !found.contains(id.as_str()))
                    .cloned()
                    .collect(),
            ));
        }
        for _ in 0..MAX_BUILD_ATTEMPTS {
            let extremities = store.forward_extremities(room_id).await?;
            let ext_ids: HashSet<&str> = extremities.iter().map(|e| e.event_id.as_str()).collect();
            let prev_set: HashSet<&str> = prev_ids.iter().map(String::as_str).collect();
            let outcome = if ext_ids == prev_set {
                self.receive_linear(pdu, rules, relay).await
            } else {
                let ext: Vec<String> = extremities.iter().map(|e| e.event_id.clone()).collect();
                let prev_groups: Vec<i64> = prevs.iter().map(|e| e.state_group).collect();
                let ext_groups: Vec<(String, i64)> = extremities
                    .iter()
                    .filter(|e| !prev_set.contains(e.event_id.as_str()))
                    .map(|e| (e.event_id.clone(), e.state_group))
                    .collect();
                self.receive_at_fork(pdu, rules, relay, &prev_groups, &ext, &ext_groups)
                    .await
            };
            match outcome? {
                Some(received) => return Ok(received),
                None => self.inner.heads.forget(room_id),
            }
        }
        Err(ApiError::Internal(format!(
            "room {room_id} kept changing; received event not written"
        )))
    }

    /// The event follows exactly the room's forward extremities: its state
    /// before is the current state, and it is written as a local event is.
    /// `None`: another writer moved the room first.
    async fn receive_linear(
        &self,
        pdu: &Pdu,
        rules: &RoomVersionRules,
        relay: Relay,
    ) -> ApiResult<Option<Received>> {
        let store = self.store();
        let keys = incoming::needed_state(pdu, rules).map_err(reject_reason)?;
        let wanted: Vec<(String, String)> = keys
            .iter()
            .map(|(ty, key)| (ty.to_string(), key.clone()))
            .collect();
        let state: StateEvents = store
            .current_state_events_for(&pdu.room_id, &wanted)
            .await?
            .iter()
            .map(|e| {
                let pdu = to_pdu(e)?;
                Ok((
                    (
                        pdu.event_type.to_string().into(),
                        e.state_key.clone().unwrap_or_default(),
                    ),
                    pdu,
                ))
            })
            .collect::<ApiResult<_>>()?;
        if let Err(e) = incoming::check_state(pdu, rules, |ty, key| {
            state.get(&(ty.clone(), key.to_owned()))
        }) {
            return self.reject(pdu, &e.to_string()).await.map(Some);
        }
        let target = self.stored_redaction_target(pdu).await?;
        let mut new = new_event(pdu, rules, target.as_ref())?;
        let recipients = push::recipients(store, &self.inner.rulesets, pdu, &state, rules).await?;
        new.push_actions = recipients.actions;
        new.federation_destinations = self.relay_destinations(pdu, relay).await?;
        let destinations = new.federation_destinations.clone();
        match store.persist_event(new).await {
            Ok(PersistOutcome::Persisted { stream_ordering }) => {
                self.inner.heads.advance(pdu);
                self.wake_sender(&destinations);
                self.after_receive(pdu, stream_ordering, &recipients.with_pushers, &[])
                    .await;
                Ok(Some(Received::Timeline(stream_ordering)))
            }
            Ok(PersistOutcome::DuplicateTxn { .. }) => Ok(Some(Received::Known)),
            Err(StoreError::RoomChanged(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The event does not follow exactly the room's forward extremities:
    /// its state before and the room's new current state are resolved.
    /// `None`: another writer moved the room first.
    async fn receive_at_fork(
        &self,
        pdu: &Pdu,
        rules: &RoomVersionRules,
        relay: Relay,
        prev_groups: &[i64],
        extremities: &[String],
        other_tips: &[(String, i64)],
    ) -> ApiResult<Option<Received>> {
        let store = self.store();
        let mut prev_states = Vec::with_capacity(prev_groups.len());
        for group in prev_groups {
            prev_states.push(state_map(store.state_at_group(*group).await?)?);
        }
        let mut tip_states = Vec::with_capacity(other_tips.len());
        for (_, group) in other_tips {
            tip_states.push(state_map(store.state_at_group(*group).await?)?);
        }
        let mut events = self
            .load_with_auth_chains(
                prev_states
                    .iter()
                    .chain(&tip_states)
                    .flat_map(|s| s.values()),
            )
            .await?;
        let before = state_resolution::resolve(rules, &prev_states, &events)
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        // The soft-fail check is against the room's current state as it
        // would be with this event's branch: the states at the other
        // forward extremities and at its prev events resolved together
        // (what Synapse checks, so that both sides of a healed partition
        // accept or soft-fail the same events).
        let current_states: Vec<_> = tip_states.iter().chain(&prev_states).cloned().collect();
        let current = state_resolution::resolve(rules, &current_states, &events)
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        let lookup = |state: &StateMap<OwnedEventId>, ty: &StateEventType, key: &str| {
            state
                .get(&(ty.clone(), key.to_owned()))
                .and_then(|id| events.get(id))
        };
        if let Err(e) = incoming::check_state(pdu, rules, |ty, key| lookup(&before, ty, key)) {
            return self.reject(pdu, &e.to_string()).await.map(Some);
        }
        if incoming::check_state(pdu, rules, |ty, key| lookup(&current, ty, key)).is_err() {
            // Kept outside the timeline, not an extremity.
            let outlier = new_event(pdu, rules, None)?;
            let written = store
                .persist_remote(RemoteWrite {
                    room_id: pdu.room_id.to_string(),
                    outliers: vec![outlier],
                    extremities_before: extremities.to_vec(),
                    ..Default::default()
                })
                .await;
            return match written {
                Ok(_) => Ok(Some(Received::SoftFailed)),
                Err(StoreError::RoomChanged(_)) => Ok(None),
                Err(e) => Err(e.into()),
            };
        }
        let mut after = before.clone();
        if let Some(key) = &pdu.state_key {
            after.insert(
                (pdu.event_type.to_string().into(), key.clone()),
                pdu.event_id.clone(),
            );
        }
        events.insert(pdu.event_id.clone(), pdu.clone());
        let mut tips = tip_states;
        tips.push(after);
        let resolved = state_resolution::resolve(rules, &tips, &events)
            .map_err(|e| ApiError::Internal(e.to_string()))?;

        let state: StateEvents = before
            .iter()
            .filter_map(|(k, id)| Some((k.clone(), events.get(id)?.clone())))
            .collect();
        let target = self.stored_redaction_target(pdu).await?;
        let mut new = new_event(pdu, rules, target.as_ref())?;
        let recipients = push::recipients(store, &self.inner.rulesets, pdu, &state, rules).await?;
        new.push_actions = recipients.actions;
        new.federation_destinations = self.relay_destinations(pdu, relay).await?;
        let destinations = new.federation_destinations.clone();
        let written = store
            .persist_remote(RemoteWrite {
                room_id: pdu.room_id.to_string(),
                event: Some(new),
                state_before: entries(&before, &events)?,
                current_state: entries(&resolved, &events)?,
                extremities_before: extremities.to_vec(),
                ..Default::default()
            })
            .await;
        let outcome = match written {
            Ok(outcome) => outcome,
            Err(StoreError::RoomChanged(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        self.inner.heads.forget(&pdu.room_id);
        self.wake_sender(&destinations);
        let pos = outcome
            .stream_ordering
            .ok_or_else(|| ApiError::Internal("a received event without a position".into()))?;
        let changed: Vec<&str> = outcome
            .membership_changes
            .iter()
            .map(String::as_str)
            .collect();
        self.after_receive(pdu, pos, &recipients.with_pushers, &changed)
            .await;
        Ok(Some(Received::Timeline(pos)))
    }

    /// Where a received event is sent on (see [`Relay`]).
    async fn relay_destinations(&self, pdu: &Pdu, relay: Relay) -> ApiResult<Vec<String>> {
        match relay {
            Relay::No => Ok(Vec::new()),
            Relay::ToRoom => {
                // Not back to the sender's server (a join, leave or knock
                // it signed and sent us): it has the event, and one not in
                // the room could not place it.
                let mut destinations = self.destinations(pdu, None).await?;
                destinations.retain(|d| d != pdu.sender.server_name().as_str());
                Ok(destinations)
            }
        }
    }

    fn wake_sender(&self, destinations: &[String]) {
        if let Some(outbound) = &self.inner.outbound
            && !destinations.is_empty()
        {
            outbound.wake(destinations);
        }
    }

    /// Keeps `pdu` as rejected.
    async fn reject(&self, pdu: &Pdu, reason: &str) -> ApiResult<Received> {
        tracing::info!(event_id = %pdu.event_id, reason, "received event rejected");
        self.store()
            .reject_event(
                pdu.room_id.as_str(),
                pdu.event_id.as_str(),
                &pdu.to_json_string(),
                reason,
            )
            .await?;
        Ok(Received::Rejected(reason.to_owned()))
    }

    /// A received redaction's target, when it is in the room and the
    /// redaction may apply to it: sent from the same server (the spec's
    /// rule for redacting one's own events) or by someone whose power
    /// allows it, which the authorization rules of older room versions
    /// checked and every version's clients expect.
    async fn stored_redaction_target(
        &self,
        pdu: &Pdu,
    ) -> ApiResult<Option<missive_store::StoredEvent>> {
        if pdu.event_type != TimelineEventType::RoomRedaction {
            return Ok(None);
        }
        let Some(target_id) = &pdu.redacts else {
            return Ok(None);
        };
        let Some(target) = self.store().event(target_id).await? else {
            return Ok(None);
        };
        if target.room_id != pdu.room_id.as_str() {
            return Ok(None);
        }
        let Ok(target_sender) = ruma::UserId::parse(&target.sender) else {
            return Ok(None);
        };
        let may_redact = target_sender.server_name() == pdu.sender.server_name()
            || self.may_redact(pdu, &target_sender).await?;
        Ok(may_redact.then_some(target))
    }

    /// Whether the redaction's sender may redact `target_sender`'s events
    /// by the room's current power levels.
    async fn may_redact(&self, pdu: &Pdu, target_sender: &ruma::UserId) -> ApiResult<bool> {
        let (_, rules) = self.room(&pdu.room_id).await?;
        let wanted = [
            ("m.room.power_levels".to_owned(), String::new()),
            ("m.room.create".to_owned(), String::new()),
        ];
        let found = self
            .store()
            .current_state_events_for(&pdu.room_id, &wanted)
            .await?;
        let pdus: Vec<Pdu> = found.iter().map(to_pdu).collect::<ApiResult<_>>()?;
        let of_type = |ty: TimelineEventType| pdus.iter().find(|p| p.event_type == ty);
        let levels = power_levels::effective(
            of_type(TimelineEventType::RoomPowerLevels),
            of_type(TimelineEventType::RoomCreate),
            &rules,
        );
        Ok(power_levels::can_redact(
            &levels,
            &pdu.sender,
            target_sender,
        ))
    }

    /// The events `ids`, with their auth chains, from the store.
    pub(super) async fn load_with_auth_chains<'a>(
        &self,
        ids: impl IntoIterator<Item = &'a OwnedEventId>,
    ) -> ApiResult<HashMap<OwnedEventId, Pdu>> {
        let mut events: HashMap<OwnedEventId, Pdu> = HashMap::new();
        let mut wanted: HashSet<OwnedEventId> = ids.into_iter().cloned().collect();
        while !wanted.is_empty() {
            if events.len() > MAX_RESOLUTION_EVENTS {
                return Err(ApiError::Internal(
                    "too many events to resolve the room's state".into(),
                ));
            }
            let ids: Vec<String> = wanted.drain().map(|id| id.to_string()).collect();
            for stored in self.store().events(&ids).await? {
                let pdu = to_pdu(&stored)?;
                for auth in &pdu.auth_events {
                    if !events.contains_key(auth) {
                        wanted.insert(auth.clone());
                    }
                }
                events.insert(pdu.event_id.clone(), pdu);
            }
            wanted.retain(|id| !events.contains_key(id));
        }
        Ok(events)
    }

    /// Tells local syncs and push about a received event.
    async fn after_receive(
        &self,
        pdu: &Pdu,
        pos: StreamPos,
        with_pushers: &[String],
        changed_members: &[&str],
    ) {
        if !with_pushers.is_empty() {
            self.inner
                .notifier
                .notify_pushes(with_pushers.iter().map(String::as_str));
        }
        let mut targets: Vec<&str> = changed_members.to_vec();
        if pdu.event_type == TimelineEventType::RoomMember
            && let Some(key) = pdu.state_key.as_deref()
            && !targets.contains(&key)
        {
            targets.push(key);
        }
        self.announce(pos, pdu.room_id.as_str(), &targets).await;
    }
}

fn reject_reason(e: incoming::Rejected) -> ApiError {
    ApiError::invalid_param(e.to_string())
}

/// A stored state map with typed keys and IDs.
pub(super) fn state_map(stored: missive_store::StateMap) -> ApiResult<StateMap<OwnedEventId>> {
    stored
        .into_iter()
        .map(|((ty, key), id)| {
            let id = OwnedEventId::try_from(id)
                .map_err(|e| ApiError::Internal(format!("stored event ID invalid: {e}")))?;
            Ok(((ty.as_str().into(), key), id))
        })
        .collect()
}

/// A state as the store keeps it, with what each member and join rules
/// event says.
fn entries(
    state: &StateMap<OwnedEventId>,
    events: &HashMap<OwnedEventId, Pdu>,
) -> ApiResult<Vec<StateEntry>> {
    state
        .iter()
        .map(|((ty, key), id)| match events.get(id) {
            Some(pdu) => Ok(state_entry(pdu)),
            None => Ok(StateEntry {
                event_type: ty.to_string(),
                state_key: key.clone(),
                event_id: id.to_string(),
                membership: None,
                join_rule: None,
            }),
        })
        .collect()
}

/// A state event as a store state entry, with what a member or join rules
/// event says.
pub fn state_entry(pdu: &Pdu) -> StateEntry {
    let field = |name: &str| {
        pdu.content_value()
            .get(name)
            .and_then(|v| v.as_str())
            .filter(|v| !v.contains('\0'))
            .map(str::to_owned)
    };
    StateEntry {
        event_type: pdu.event_type.to_string(),
        state_key: pdu.state_key.clone().unwrap_or_default(),
        event_id: pdu.event_id.to_string(),
        membership: (pdu.event_type == TimelineEventType::RoomMember)
            .then(|| field("membership"))
            .flatten(),
        join_rule: (pdu.event_type == TimelineEventType::RoomJoinRules)
            .then(|| field("join_rule"))
            .flatten(),
    }
}

/// A received event's store record, for events kept outside the timeline.
pub fn record_of(pdu: &Pdu, rules: &RoomVersionRules) -> ApiResult<missive_store::NewEvent> {
    new_event(pdu, rules, None)
}
