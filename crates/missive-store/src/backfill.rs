//! History from before this server joined a room, fetched from other
//! servers with `/backfill`: kept as outliers (readable by ID) and ordered
//! in `backfilled_events` below the room's timeline, so that paginating
//! backward goes on into it.

use async_trait::async_trait;
use sqlx::Row;

use crate::{
    NewEvent, SqlStore, StoreResult, StoredEvent,
    events::{EVENT_COLUMNS, event_from_row},
};

#[async_trait]
pub trait BackfillStore: Send + Sync {
    /// Appends `events` (newest first, each older than those already
    /// backfilled in the room) below the room's backfilled history; those
    /// already in it or in the timeline are skipped, outliers already
    /// held are placed in it. Returns how many were placed.
    async fn add_backfilled(&self, room_id: &str, events: &[NewEvent]) -> StoreResult<usize>;

    /// Up to `limit` backfilled events of the room at positions below
    /// `before` (0: from the newest), newest first, with their positions.
    async fn backfilled(
        &self,
        room_id: &str,
        before: i64,
        limit: i64,
    ) -> StoreResult<Vec<(i64, StoredEvent)>>;

    /// The oldest backfilled event of the room, if any.
    async fn oldest_backfilled(&self, room_id: &str) -> StoreResult<Option<StoredEvent>>;
}

#[async_trait]
impl BackfillStore for SqlStore {
    async fn add_backfilled(&self, room_id: &str, events: &[NewEvent]) -> StoreResult<usize> {
        let mut tx = self.begin().await?;
        // New events are stored as outliers; outliers already held (the
        // state a join brought) only take their place in the history;
        // timeline events and history already placed are left alone.
        let mut new: Vec<&NewEvent> = Vec::new();
        let mut placed: Vec<&str> = Vec::new();
        for event in events {
            if placed.contains(&event.event_id.as_str()) {
                continue;
            }
            let position: Option<i64> =
                sqlx::query_scalar("SELECT stream_ordering FROM events WHERE event_id = $1")
                    .bind(&event.event_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            let in_history: Option<String> =
                sqlx::query_scalar("SELECT event_id FROM backfilled_events WHERE event_id = $1")
                    .bind(&event.event_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            match position {
                _ if in_history.is_some() => continue,
                Some(pos) if pos > 0 => continue,
                Some(_) => {}
                None => new.push(event),
            }
            placed.push(&event.event_id);
        }
        self.insert_outliers(&mut tx, &new, 0).await?;
        let lowest: i64 = sqlx::query_scalar(
            "SELECT COALESCE(MIN(position), 0) FROM backfilled_events WHERE room_id = $1",
        )
        .bind(room_id)
        .fetch_one(&mut *tx)
        .await?;
        for (i, event_id) in placed.iter().enumerate() {
            sqlx::query(
                "INSERT INTO backfilled_events (room_id, position, event_id) VALUES ($1, $2, $3)",
            )
            .bind(room_id)
            .bind(lowest - 1 - i as i64)
            .bind(*event_id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(placed.len())
    }

    async fn backfilled(
        &self,
        room_id: &str,
        before: i64,
        limit: i64,
    ) -> StoreResult<Vec<(i64, StoredEvent)>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {EVENT_COLUMNS}, b.position AS backfill_position FROM backfilled_events b \
             JOIN events e ON e.event_id = b.event_id \
             WHERE b.room_id = $1 AND b.position < $2 ORDER BY b.position DESC LIMIT $3"
        )))
        .bind(room_id)
        .bind(before)
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("backfill_position")?, event_from_row(row)?)))
            .collect()
    }

    async fn oldest_backfilled(&self, room_id: &str) -> StoreResult<Option<StoredEvent>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {EVENT_COLUMNS} FROM backfilled_events b JOIN events e ON e.event_id = b.event_id \
             WHERE b.room_id = $1 ORDER BY b.position ASC LIMIT 1"
        )))
        .bind(room_id)
        .fetch_optional(&self.read)
        .await?;
        row.as_ref().map(event_from_row).transpose()
    }
}
