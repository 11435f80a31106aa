//! Events by the time their sender's server gave them
//! (`/timestamp_to_event`, a client's "jump to date").

use async_trait::async_trait;
use ruma::RoomId;

use crate::events::{EVENT_COLUMNS, event_from_row};
use crate::{SqlStore, StoreResult, StoredEvent, TimelineDirection};

#[async_trait]
pub trait EventTimeStore: Send + Sync {
    /// Up to `limit` events of the room nearest to `ts` in `direction`:
    /// forward, those at or after it, oldest first; backward, those at or
    /// before it, newest first (ties by stream position). Reads the room's
    /// events without a time index: jumping to a date is rare, and an
    /// index would cost every write.
    async fn events_near_time(
        &self,
        room_id: &RoomId,
        ts: i64,
        direction: TimelineDirection,
        limit: i64,
    ) -> StoreResult<Vec<StoredEvent>>;
}

#[async_trait]
impl EventTimeStore for SqlStore {
    async fn events_near_time(
        &self,
        room_id: &RoomId,
        ts: i64,
        direction: TimelineDirection,
        limit: i64,
    ) -> StoreResult<Vec<StoredEvent>> {
        let (window, order) = match direction {
            TimelineDirection::Forward => ("e.origin_server_ts >= $2", "ASC"),
            TimelineDirection::Backward => ("e.origin_server_ts <= $2", "DESC"),
        };
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events e WHERE e.room_id = $1 AND {window} \
             AND e.stream_ordering > 0 \
             ORDER BY e.origin_server_ts {order}, e.stream_ordering {order} LIMIT $3"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(room_id.as_str())
            .bind(ts)
            .bind(limit)
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(event_from_row).collect()
    }
}
