//! What a sync reads for all the rooms it assembles at once: who may see
//! what, typing, receipts, unread counts, room account data and (where a
//! summary is due) memberships. One query per kind instead of one per room
//! keeps a sync over many rooms from being a long series of round trips.

use std::collections::{BTreeMap, HashMap, HashSet};

use missive_core::visibility::RoomHistory;
use missive_store::{
    Membership, ReceiptRecord, RelationAggregate, RelationStore, SqlStore, StoredEvent, StreamPos,
    SyncBatchStore, ThreadUnread,
};
use ruma::{OwnedRoomId, UserId};

use crate::{
    error::ApiResult,
    services::reader::{Ignored, Visible, history_from},
    time::now_ms,
};

#[derive(Default)]
pub(super) struct Prefetched {
    histories: HashMap<String, RoomHistory>,
    typing: HashMap<String, Vec<String>>,
    receipts: HashMap<String, Vec<ReceiptRecord>>,
    unread: HashMap<String, (i64, i64)>,
    /// Room account data changed since the last sync: (type, content).
    account_data: HashMap<String, Vec<(String, String)>>,
    /// Every membership of the rooms whose summary is sure to be sent.
    members: HashMap<String, Vec<Membership>>,
    /// Joined rooms' newest events (up to the limit plus one), newest first.
    timelines: HashMap<String, Vec<StoredEvent>>,
    /// Whom the user ignores.
    ignored: Ignored,
    /// The bundled aggregations of the prefetched timelines' events (read
    /// for all of them at once), and which events they were read for.
    aggregates: HashMap<String, RelationAggregate>,
    aggregated: HashSet<String>,
    /// Unread counts per thread (`main` for the main timeline), for
    /// clients that ask for them.
    thread_unread: Option<HashMap<String, ThreadUnread>>,
}

/// Which rooms a sync assembles, and how.
pub(super) struct Plan<'a> {
    /// Joined rooms: ephemeral events and unread counts are read for these.
    pub joined: Vec<OwnedRoomId>,
    /// Rooms left since the last sync (their timeline up to the leave).
    pub left: Vec<OwnedRoomId>,
    /// Rooms sent from their start, which always carry a summary.
    pub from_start: Vec<OwnedRoomId>,
    pub since: Option<StreamPos>,
    /// The stream position the sync answers up to.
    pub upto: StreamPos,
    /// Timeline events read per joined room.
    pub timeline_limit: i64,
    /// All account data changed since the last sync: (room, type, content).
    pub account_data: &'a [(Option<String>, String, String)],
    /// Unread counts per thread (the filter's `unread_thread_notifications`).
    pub thread_unread: bool,
}

impl Prefetched {
    pub(super) async fn load(store: &SqlStore, user: &UserId, plan: Plan<'_>) -> ApiResult<Self> {
        let since = plan.since.unwrap_or(StreamPos::ZERO);
        let mut all = plan.joined.clone();
        all.extend(plan.left.iter().cloned());
        if all.is_empty() {
            return Ok(Self::default());
        }
        let mut by_room: HashMap<String, Vec<_>> = HashMap::new();
        for e in store.visibility_events_in(&all, user).await? {
            by_room.entry(e.room_id.clone()).or_default().push(e);
        }
        let histories = by_room
            .into_iter()
            .map(|(room, events)| (room, history_from(events)))
            .collect();
        let mut receipts: HashMap<String, Vec<ReceiptRecord>> = HashMap::new();
        let mut members: HashMap<String, Vec<Membership>> = HashMap::new();
        let mut timelines: HashMap<String, Vec<StoredEvent>> = HashMap::new();
        let (typing, unread) = if plan.joined.is_empty() {
            Default::default()
        } else {
            for r in store.receipts_in(&plan.joined, since).await? {
                receipts.entry(r.room_id.clone()).or_default().push(r);
            }
            if !plan.from_start.is_empty() {
                // Every position is above the one before zero: all
                // memberships of the rooms.
                let before_all = StreamPos::ZERO.prev();
                for m in store
                    .members_changed_in(&plan.from_start, before_all)
                    .await?
                {
                    members.entry(m.room_id.clone()).or_default().push(m);
                }
            }
            // Rooms sent from their start have no lower bound, the others
            // start after the last sync.
            let (from_start, after_since): (Vec<OwnedRoomId>, Vec<OwnedRoomId>) = plan
                .joined
                .iter()
                .cloned()
                .partition(|r| plan.from_start.contains(r));
            for (rooms, bound) in [(from_start, None), (after_since, plan.since)] {
                if !rooms.is_empty() {
                    timelines.extend(
                        store
                            .timelines_in(&rooms, bound, plan.upto, plan.timeline_limit)
                            .await?,
                    );
                }
            }
            for room in &plan.joined {
                timelines.entry(room.to_string()).or_default();
            }
            (
                store.typing_in(&plan.joined, since, now_ms()).await?,
                store
                    .unread_counts_in(user, &plan.joined, plan.upto)
                    .await?,
            )
        };
        let thread_unread = if plan.thread_unread && !plan.joined.is_empty() {
            Some(
                store
                    .thread_unread_counts(user, &plan.joined, plan.upto)
                    .await?,
            )
        } else {
            None
        };
        let aggregated: HashSet<String> = timelines
            .values()
            .flatten()
            .filter(|e| e.state_key.is_none())
            .map(|e| e.event_id.clone())
            .collect();
        let aggregates = if aggregated.is_empty() {
            HashMap::new()
        } else {
            let ids: Vec<String> = aggregated.iter().cloned().collect();
            store.relation_aggregates(user, &ids).await?
        };
        let mut account_data: HashMap<String, Vec<(String, String)>> = HashMap::new();
        for (room, ty, content) in plan.account_data {
            if let Some(room) = room {
                account_data
                    .entry(room.clone())
                    .or_default()
                    .push((ty.clone(), content.clone()));
            }
        }
        Ok(Self {
            histories,
            typing,
            receipts,
            unread,
            account_data,
            members,
            timelines,
            ignored: Ignored::default(),
            aggregates,
            aggregated,
            thread_unread,
        })
    }

    /// Adds whom the user ignores (read before the rest).
    pub(super) fn with_ignored(mut self, ignored: Ignored) -> Self {
        self.ignored = ignored;
        self
    }

    /// Whom the user ignores.
    pub(super) fn ignored(&self) -> &Ignored {
        &self.ignored
    }

    /// The user's view of the room's history (empty if never a member).
    pub(super) fn history(&self, room: &str) -> Option<&RoomHistory> {
        self.histories.get(room)
    }

    /// Who types now, if that changed since the last sync.
    pub(super) fn typing(&self, room: &str) -> Option<&[String]> {
        self.typing.get(room).map(Vec::as_slice)
    }

    pub(super) fn receipts(&self, room: &str) -> &[ReceiptRecord] {
        self.receipts.get(room).map_or(&[], Vec::as_slice)
    }

    /// (notifications, highlights) after the user's read receipt; of the
    /// main timeline alone when counted per thread.
    pub(super) fn unread(&self, room: &str) -> (i64, i64) {
        match &self.thread_unread {
            Some(counts) => counts
                .get(room)
                .and_then(|threads| threads.get("main"))
                .copied()
                .unwrap_or((0, 0)),
            None => self.unread.get(room).copied().unwrap_or((0, 0)),
        }
    }

    /// Unread counts of the room's threads (root → counts), when counted
    /// per thread.
    pub(super) fn thread_unread(&self, room: &str) -> BTreeMap<String, (i64, i64)> {
        self.thread_unread
            .as_ref()
            .and_then(|counts| counts.get(room))
            .map(|threads| {
                threads
                    .iter()
                    .filter(|(thread, _)| thread.as_str() != "main")
                    .map(|(thread, n)| (thread.clone(), *n))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub(super) fn account_data(&self, room: &str) -> &[(String, String)] {
        self.account_data.get(room).map_or(&[], Vec::as_slice)
    }

    /// A joined room's newest events, newest first, if read in advance.
    pub(super) fn timeline(&self, room: &str) -> Option<Vec<StoredEvent>> {
        self.timelines.get(room).cloned()
    }

    /// The bundled aggregations read in advance, if they cover `events`
    /// (any event that is no state event).
    pub(super) fn aggregates_for(
        &self,
        events: &[Visible],
    ) -> Option<&HashMap<String, RelationAggregate>> {
        events
            .iter()
            .all(|e| e.state_key.is_some() || self.aggregated.contains(&e.event_id))
            .then_some(&self.aggregates)
    }

    /// The room's memberships, if read in advance.
    pub(super) fn members(&self, room: &str) -> Option<&[Membership]> {
        self.members.get(room).map(Vec::as_slice)
    }
}
