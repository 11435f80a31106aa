//! The `state` of a room in a sync answer: what the client must know at the
//! start of the timeline that it did not know from its last sync. No limit
//! or filter may make it miss state: a state change the filter kept out of
//! the timeline is sent here, and with lazy loading each sender's member
//! event is sent once per device (every time with
//! `include_redundant_members`).

use std::collections::{BTreeMap, BTreeSet, HashSet};

use missive_core::{filter::event_matches, visibility::RoomHistory};
use missive_store::{EventStore, StateMap, StreamPos};
use ruma::{
    RoomId,
    api::client::filter::{LazyLoadOptions, RoomEventFilter},
};
use serde_json::Value;

use super::{SyncRequest, Syncer, timeline::Timeline};
use crate::{
    error::ApiResult,
    services::reader::{EventFormat, Visible, gate, is_selective},
};

/// A state entry's key: (event type, state key).
type Key = (String, String);

/// The state events to send, by event ID: for each key the client may not
/// know, the newest event the timeline does not carry. `start` is the
/// state before the timeline, `gap` the keys changed between the last sync
/// and the timeline (`None`: the client knows nothing yet), `later` the
/// newest visible event of each key changed since the timeline's start.
fn choose_state(
    start: &StateMap,
    gap: Option<&HashSet<Key>>,
    later: &BTreeMap<Key, String>,
    in_timeline: &HashSet<&str>,
) -> BTreeMap<Key, String> {
    let mut out = BTreeMap::new();
    let changed_before = start.keys().filter(|k| gap.is_none_or(|g| g.contains(*k)));
    let keys: BTreeSet<&Key> = changed_before.chain(later.keys()).collect();
    for key in keys {
        if let Some(id) = later.get(key)
            && !in_timeline.contains(id.as_str())
        {
            // Changed after the timeline's start, filtered out of it.
            out.insert(key.clone(), id.clone());
        } else if let Some(id) = start.get(key)
            && gap.is_none_or(|g| g.contains(key))
        {
            out.insert(key.clone(), id.clone());
        }
    }
    out
}

impl Syncer {
    /// The `state` of a room section (see the module doc).
    pub(super) async fn room_state_section(
        &self,
        req: &SyncRequest<'_>,
        room_id: &RoomId,
        history: &RoomHistory,
        since: Option<StreamPos>,
        upto: StreamPos,
        timeline: &Timeline,
    ) -> ApiResult<Vec<Value>> {
        let filter = &req.filter.room.state;
        let redundant = match filter.lazy_load_options {
            LazyLoadOptions::Disabled => None,
            LazyLoadOptions::Enabled {
                include_redundant_members,
            } => Some(include_redundant_members),
        };
        let timeline_start = timeline.start(upto);
        let in_timeline: HashSet<&str> = timeline
            .events
            .iter()
            .map(|e| e.event_id.as_str())
            .collect();
        let senders: BTreeSet<&str> = timeline.events.iter().map(|e| e.sender.as_str()).collect();

        let mut chosen: BTreeMap<Key, String> = BTreeMap::new();
        let mut start = StateMap::new();
        if since.is_none() || !timeline.complete {
            start = match self
                .store
                .state_group_before(room_id, timeline_start)
                .await?
            {
                Some(group) => self.store.state_at_group(group).await?,
                None => BTreeMap::new(),
            };
            let gap = match since {
                Some(s) if s < timeline_start.prev() => Some(
                    self.store
                        .state_events_between(room_id, s, timeline_start.prev())
                        .await?
                        .into_iter()
                        .map(|e| (e.event_type, e.state_key.unwrap_or_default()))
                        .collect(),
                ),
                Some(_) => Some(HashSet::new()),
                None => None,
            };
            let later = self
                .later_state(
                    &req.filter.room.timeline,
                    room_id,
                    history,
                    timeline_start,
                    upto,
                )
                .await?;
            chosen = choose_state(&start, gap.as_ref(), &later, &in_timeline);
        }

        if let Some(redundant) = redundant {
            // Lazy loading: of the members, only the senders (and the user,
            // initially), each once per device unless asked again.
            let own = req.user.as_str();
            chosen.retain(|(ty, key), _| {
                ty != "m.room.member" || senders.contains(key.as_str()) || key == own
            });
            // Senders whose member event is neither chosen nor in the
            // timeline, nor (incrementally) known to the device already:
            // a change since would be in the gap or the timeline.
            let known_since = since.filter(|_| !redundant);
            let member_key = |s: &str| ("m.room.member".to_owned(), s.to_owned());
            let in_timeline_members: BTreeSet<&str> = timeline
                .events
                .iter()
                .filter(|e| e.event_type == "m.room.member")
                .filter_map(|e| e.state_key.as_deref())
                .collect();
            let mut lookup = Vec::new();
            for sender in senders.iter().copied() {
                if in_timeline_members.contains(sender)
                    || chosen.contains_key(&member_key(sender))
                    || known_since.is_some_and(|since| {
                        self.sent_members.knows(
                            req.user,
                            req.device_id,
                            room_id.as_str(),
                            sender,
                            since,
                        )
                    })
                {
                    continue;
                }
                match start.get(&member_key(sender)) {
                    Some(id) => {
                        chosen.insert(member_key(sender), id.clone());
                    }
                    // The state at the start was not read (nothing was
                    // held back): look the member up alone.
                    None if start.is_empty() => lookup.push(sender),
                    None => {}
                }
            }
            if !lookup.is_empty() {
                for e in self
                    .reader
                    .members_at(room_id, &lookup, timeline_start.prev())
                    .await?
                {
                    let key = member_key(e.state_key.as_deref().unwrap_or_default());
                    chosen.insert(key, e.event_id.clone());
                }
            }
            if let Some(since) = known_since {
                chosen.retain(|(ty, key), id| {
                    ty != "m.room.member"
                        || !self.sent_members.has(
                            req.user,
                            req.device_id,
                            room_id.as_str(),
                            key,
                            id,
                            since,
                        )
                });
            }
        }

        let ids: Vec<String> = chosen
            .into_values()
            .filter(|id| !in_timeline.contains(id.as_str()))
            .collect();
        let events = Visible::all_checked(self.store.events(&ids).await?);
        let events: Vec<&Visible> = events
            .iter()
            .filter(|e| event_matches(filter, &e.event_type, &e.sender, room_id.as_str()))
            .collect();
        if redundant.is_some() {
            let members = events
                .iter()
                .copied()
                .chain(timeline.events.iter())
                .filter(|e| e.event_type == "m.room.member")
                .filter_map(|e| Some((e.state_key.as_deref()?, e.event_id.as_str())));
            self.sent_members
                .record(req.user, req.device_id, room_id.as_str(), members, upto);
        }
        let format = event_format(req);
        Ok(events.iter().map(|e| e.serve(format)).collect())
    }

    /// The newest visible state event of each key changed since the
    /// timeline's start, when the timeline filter may have left some out
    /// (otherwise the timeline carries them all).
    async fn later_state(
        &self,
        timeline_filter: &RoomEventFilter,
        room_id: &RoomId,
        history: &RoomHistory,
        timeline_start: StreamPos,
        upto: StreamPos,
    ) -> ApiResult<BTreeMap<Key, String>> {
        if !is_selective(timeline_filter) || timeline_start > upto {
            return Ok(BTreeMap::new());
        }
        let events = self
            .store
            .state_events_between(room_id, timeline_start.prev(), upto)
            .await?;
        let mut later = BTreeMap::new();
        // In stream order: the newest of a key comes last.
        for e in gate(history, events) {
            later.insert(
                (
                    e.event_type.clone(),
                    e.state_key.clone().unwrap_or_default(),
                ),
                e.event_id.clone(),
            );
        }
        Ok(later)
    }
}

/// The format the sync's filter asks events in.
pub(super) fn event_format(req: &SyncRequest<'_>) -> EventFormat {
    match req.filter.event_format {
        ruma::api::client::filter::EventFormat::Federation => EventFormat::Federation,
        _ => EventFormat::Client,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(ty: &str, k: &str) -> Key {
        (ty.to_owned(), k.to_owned())
    }

    #[test]
    fn initial_sends_the_start_and_what_the_filter_kept_out() {
        let start: StateMap = [(key("m.room.create", ""), "$c".to_owned())].into();
        let later = [(key("m.room.topic", ""), "$t".to_owned())].into();
        let chosen = choose_state(&start, None, &later, &HashSet::new());
        assert_eq!(chosen.len(), 2);
        // A change the timeline carries is not state.
        let chosen = choose_state(&start, None, &later, &["$t"].into());
        assert_eq!(chosen.values().collect::<Vec<_>>(), vec!["$c"]);
    }

    #[test]
    fn incremental_sends_only_the_gap_and_falls_back_to_the_start() {
        let start: StateMap = [
            (key("m.room.create", ""), "$c".to_owned()),
            (key("m.room.name", ""), "$n1".to_owned()),
        ]
        .into();
        let gap = [key("m.room.name", "")].into();
        // The name changed in the gap and again in the timeline: the state
        // holds the gap's change, the timeline the newer one.
        let later = [(key("m.room.name", ""), "$n2".to_owned())].into();
        let chosen = choose_state(&start, Some(&gap), &later, &["$n2"].into());
        assert_eq!(chosen.values().collect::<Vec<_>>(), vec!["$n1"]);
        let chosen = choose_state(
            &start,
            Some(&HashSet::new()),
            &BTreeMap::new(),
            &HashSet::new(),
        );
        assert!(chosen.is_empty());
    }
}
