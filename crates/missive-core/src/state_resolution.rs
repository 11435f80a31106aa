//! State resolution at a fork of a room's graph, with ruma's state-res
//! (version 2, and the revised rules of room version 12), as a pure
//! function: the caller loads the states to resolve and every event they
//! and their auth chains name, and stores the answer.

use std::collections::{HashMap, HashSet};

use ruma::{
    EventId, OwnedEventId,
    room_version_rules::{RoomVersionRules, StateResolutionVersion},
    state_res::{self, StateMap, utils::event_id_set::EventIdSet},
};
use thiserror::Error;

use crate::Pdu;

#[derive(Debug, Error)]
pub enum ResolveError {
    /// Room version 1 resolves with the first algorithm, which ruma does not
    /// implement; no current server creates such rooms.
    #[error("state resolution of room version 1 is not supported")]
    UnsupportedVersion,
    #[error("state resolution failed: {0}")]
    Failed(String),
}

/// Resolves `states` (each the state after one forward extremity) with
/// the events of `events`, which must hold every event the states name and
/// the auth chains of those (an event missing is left out, as the spec
/// says of events that cannot be verified).
pub fn resolve(
    rules: &RoomVersionRules,
    states: &[StateMap<OwnedEventId>],
    events: &HashMap<OwnedEventId, Pdu>,
) -> Result<StateMap<OwnedEventId>, ResolveError> {
    let StateResolutionVersion::V2(state_res_rules) = &rules.state_res else {
        return Err(ResolveError::UnsupportedVersion);
    };
    match states {
        [] => return Ok(StateMap::new()),
        [only] => return Ok(only.clone()),
        _ => {}
    }
    let chains = AuthChains::new(events);
    let auth_chains: Vec<HashSet<OwnedEventId>> = states
        .iter()
        .map(|state| chains.of_all(state.values()))
        .collect();
    state_res::resolve(
        &rules.authorization,
        state_res_rules,
        states,
        auth_chains
            .into_iter()
            .map(|c| c.into_iter().collect())
            .collect(),
        |id| events.get(id).cloned(),
        |conflicted| Some(chains.conflicted_subgraph(conflicted.values().flatten())),
    )
    .map_err(|e| ResolveError::Failed(e.to_string()))
}

/// Auth chains read from an event map.
struct AuthChains<'a> {
    events: &'a HashMap<OwnedEventId, Pdu>,
}

impl<'a> AuthChains<'a> {
    fn new(events: &'a HashMap<OwnedEventId, Pdu>) -> Self {
        Self { events }
    }

    /// The auth chain of each of `ids` together (the events themselves
    /// left out).
    fn of_all<'i>(&self, ids: impl IntoIterator<Item = &'i OwnedEventId>) -> HashSet<OwnedEventId> {
        let mut seen = HashSet::new();
        let mut todo: Vec<&EventId> = ids
            .into_iter()
            .filter_map(|id| self.events.get(id))
            .flat_map(|pdu| pdu.auth_events.iter().map(|a| &**a))
            .collect();
        while let Some(id) = todo.pop() {
            if !seen.insert(id.to_owned()) {
                continue;
            }
            if let Some(pdu) = self.events.get(id) {
                todo.extend(pdu.auth_events.iter().map(|a| &**a));
            }
        }
        seen
    }

    /// The conflicted state subgraph (room version 12): the events on a
    /// path of auth events from one conflicted state event to another,
    /// those ends included.
    fn conflicted_subgraph<'i>(
        &self,
        conflicted: impl IntoIterator<Item = &'i OwnedEventId>,
    ) -> EventIdSet<OwnedEventId> {
        let conflicted: HashSet<&EventId> = conflicted.into_iter().map(|id| &**id).collect();
        let ancestors = self.of_all(
            conflicted
                .iter()
                .filter_map(|id| self.events.get(*id).map(|pdu| &pdu.event_id)),
        );
        // Whether an event leads (through auth events) to a conflicted one.
        let mut leads: HashMap<OwnedEventId, bool> = HashMap::new();
        let mut out: EventIdSet<OwnedEventId> =
            conflicted.iter().map(|id| (*id).to_owned()).collect();
        for id in &ancestors {
            if self.leads_to(id, &conflicted, &mut leads) {
                out.insert(id.clone());
            }
        }
        out
    }

    /// Whether `id`'s auth chain holds a conflicted event, memoised in
    /// `memo`; iterative, so a long chain cannot overflow the stack.
    fn leads_to(
        &self,
        id: &EventId,
        conflicted: &HashSet<&EventId>,
        memo: &mut HashMap<OwnedEventId, bool>,
    ) -> bool {
        // Depth-first, an event's auth events before it. Event IDs named
        // by a sender (room versions 1 and 2) can form a cycle: an event
        // met again while open counts as leading nowhere.
        let mut open: HashSet<OwnedEventId> = HashSet::new();
        let mut stack: Vec<(OwnedEventId, bool)> = vec![(id.to_owned(), false)];
        while let Some((current, expanded)) = stack.pop() {
            if memo.contains_key(&current) || (!expanded && !open.insert(current.clone())) {
                continue;
            }
            let auth = self
                .events
                .get(&current)
                .map(|pdu| pdu.auth_events.as_slice())
                .unwrap_or_default();
            if expanded {
                let leads = auth
                    .iter()
                    .any(|a| conflicted.contains(&**a) || memo.get(a).copied().unwrap_or(false));
                open.remove(&current);
                memo.insert(current, leads);
            } else {
                stack.push((current.clone(), true));
                for a in auth {
                    if !memo.contains_key(a) {
                        stack.push((a.clone(), false));
                    }
                }
            }
        }
        memo.get(id).copied().unwrap_or(false)
    }
}

#[cfg(test)]
mod tests;
