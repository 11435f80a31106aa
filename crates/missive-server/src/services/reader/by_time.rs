//! `/timestamp_to_event`: the event nearest to a time that the user may
//! see (a client's "jump to date").

use missive_store::{EventTimeStore, TimelineDirection};
use ruma::{RoomId, UserId, api::Direction};

use super::{Reader, Visible, gate};
use crate::error::{ApiError, ApiResult};

/// Events nearest the time looked at for one the user may see: past them,
/// the user's view of the room starts later (or ended earlier).
const CANDIDATES: i64 = 50;

impl Reader {
    /// The first event at or after `ts` (forward) or at or before it
    /// (backward) that the user may see, in a room they are in or that is
    /// world-readable; `M_NOT_FOUND` when there is none.
    pub async fn event_near_time(
        &self,
        room_id: &RoomId,
        user: &UserId,
        ts: i64,
        dir: Direction,
    ) -> ApiResult<Visible> {
        self.read_scope(room_id, user).await?;
        let direction = match dir {
            Direction::Forward => TimelineDirection::Forward,
            Direction::Backward => TimelineDirection::Backward,
        };
        let candidates = self
            .store
            .events_near_time(room_id, ts, direction, CANDIDATES)
            .await?;
        let history = self.history(room_id, user).await?;
        gate(&history, candidates)
            .into_iter()
            .next()
            .ok_or_else(|| {
                let dir = match dir {
                    Direction::Forward => "f",
                    Direction::Backward => "b",
                };
                ApiError::not_found(format!("Unable to find event from {ts} in direction {dir}"))
            })
    }
}
