//! Choosing a room's timeline for a sync: the newest `limit` events after
//! the last sync that the user may see and the filter selects. A filter
//! selects before the limit applies, so a `types` filter finds its events
//! behind any number of others.

use missive_core::visibility::RoomHistory;
use missive_store::{EventStore, StreamPos, TimelineDirection};
use ruma::{RoomId, api::client::filter::RoomEventFilter};

use super::{Syncer, prefetch::Prefetched};
use crate::{
    error::ApiResult,
    services::reader::{PageScan, Visible, gate, is_selective},
};

/// Timeline events per room when the filter sets no limit.
const DEFAULT_TIMELINE_LIMIT: i64 = 10;
/// The most timeline events a filter may ask for per room.
const MAX_TIMELINE_LIMIT: i64 = 100;

/// A room's timeline in a sync answer.
pub(super) struct Timeline {
    /// Oldest first.
    pub events: Vec<Visible>,
    /// Events between the last sync and these were not sent.
    pub limited: bool,
    /// Every event between the last sync and the answer's position is in
    /// `events`: none was held back by the limit, the filter or visibility.
    pub complete: bool,
}

impl Timeline {
    /// Where the timeline starts (after the answer's position when empty).
    pub(super) fn start(&self, upto: StreamPos) -> StreamPos {
        self.events
            .first()
            .map_or(upto.next(), |e| e.stream_ordering)
    }
}

/// Timeline events per room the filter asks for (`0`: none).
pub(super) fn timeline_limit(filter: &RoomEventFilter) -> i64 {
    filter
        .limit
        .map(|l| i64::try_from(u64::from(l)).unwrap_or(MAX_TIMELINE_LIMIT))
        .unwrap_or(DEFAULT_TIMELINE_LIMIT)
        .clamp(0, MAX_TIMELINE_LIMIT)
}

impl Syncer {
    /// The timeline of `room_id` between `since` and `upto`, as `history`
    /// lets the user see it.
    pub(super) async fn timeline(
        &self,
        filter: &RoomEventFilter,
        pre: &Prefetched,
        room_id: &RoomId,
        history: &RoomHistory,
        since: Option<StreamPos>,
        upto: StreamPos,
    ) -> ApiResult<Timeline> {
        let limit = timeline_limit(filter);
        if limit > 0 && is_selective(filter) {
            let page = self
                .reader
                .matching_page(
                    room_id,
                    history,
                    PageScan {
                        from: upto,
                        bound: since,
                        direction: TimelineDirection::Backward,
                        limit,
                        filter,
                        ignored: pre.ignored(),
                    },
                )
                .await?;
            let complete = page.exhausted && page.scanned == page.events.len();
            let mut events = page.events;
            events.reverse();
            return Ok(Timeline {
                events,
                limited: !page.exhausted,
                complete,
            });
        }
        // The newest `limit + 1` events (read for all rooms at once), the
        // extra one telling whether more came.
        let mut raw = match pre.timeline(room_id.as_str()) {
            Some(events) => events,
            None => {
                self.store
                    .room_events(
                        room_id,
                        upto.next(),
                        since,
                        TimelineDirection::Backward,
                        limit + 1,
                    )
                    .await?
            }
        };
        let limited = raw.len() as i64 > limit;
        raw.truncate(usize::try_from(limit).unwrap_or_default());
        raw.reverse();
        let read = raw.len();
        let mut events = gate(history, raw);
        events.retain(|e| !pre.ignored().hides(e));
        Ok(Timeline {
            complete: !limited && events.len() == read,
            events,
            limited,
        })
    }
}
