//! Reads a sync makes for many rooms at once. A sync touching 200 rooms
//! would otherwise make several queries per room, and every query is a
//! round trip to a database thread or server: these take one per kind.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use ruma::{DeviceId, OwnedRoomId, UserId};
use sqlx::Row;

use crate::{
    Membership, ReceiptRecord, SqlStore, StoreResult, StoredEvent, StreamPos,
    events::{EVENT_COLUMNS, event_from_row, membership_from_row},
};

/// Rooms per query: far below both backends' limits on bound parameters.
const ROOMS_PER_QUERY: usize = 500;

/// Rooms per timeline query: each is its own indexed subquery in one
/// statement, which the database compiles anew for every count of rooms.
const TIMELINES_PER_QUERY: usize = 50;

/// Push actions a count may walk one by one before it is folded into
/// `push_summaries`: few enough that a room nobody reads costs each sync
/// little, many enough that folding (a write) is rare.
const FOLD_UNREAD_AFTER: i64 = 100;

/// What every sync reports about the syncing device, read together.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceSyncCounts {
    /// One-time keys left per algorithm.
    pub one_time_keys: BTreeMap<String, i64>,
    /// Algorithms whose fallback key is unused (sorted).
    pub unused_fallback_keys: Vec<String>,
    /// To-device messages queued for the device (delivered or not).
    pub queued_to_device: i64,
}

#[async_trait]
pub trait SyncBatchStore: Send + Sync {
    /// The device's key counts and queued to-device messages, in one read
    /// (three otherwise, on every sync).
    async fn device_sync_counts(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
    ) -> StoreResult<DeviceSyncCounts>;
    /// In each room, the user's membership events and the
    /// `m.room.history_visibility` events, oldest first: what decides which
    /// of the room's events the user may see.
    async fn visibility_events_in(
        &self,
        room_ids: &[OwnedRoomId],
        user_id: &UserId,
    ) -> StoreResult<Vec<StoredEvent>>;
    /// Rooms whose typing changed after `since`, with who types now
    /// (sorted; empty when everyone stopped).
    async fn typing_in(
        &self,
        room_ids: &[OwnedRoomId],
        since: StreamPos,
        now_ts: i64,
    ) -> StoreResult<HashMap<String, Vec<String>>>;
    /// Receipts set after `since` in these rooms, in stream order.
    async fn receipts_in(
        &self,
        room_ids: &[OwnedRoomId],
        since: StreamPos,
    ) -> StoreResult<Vec<ReceiptRecord>>;
    /// Per room, the user's (notifications, highlights) after their read
    /// receipt (public or private), or without one after their current
    /// membership event (as Synapse counts: the invite that brought them
    /// in is not unread once they joined), up to `upto` included. Rooms
    /// with none are absent.
    ///
    /// Counts that took many rows are folded into `push_summaries` (a
    /// write), so the next count of the room starts from there.
    async fn unread_counts_in(
        &self,
        user_id: &UserId,
        room_ids: &[OwnedRoomId],
        upto: StreamPos,
    ) -> StoreResult<HashMap<String, (i64, i64)>>;
    /// Per room, its newest `limit` events after `since` (from the start
    /// when `None`) up to `upto` included, newest first: one
    /// `room_events(room, upto + 1, since, Backward, limit)` for each room.
    /// Rooms without such events are absent.
    async fn timelines_in(
        &self,
        room_ids: &[OwnedRoomId],
        since: Option<StreamPos>,
        upto: StreamPos,
        limit: i64,
    ) -> StoreResult<HashMap<String, Vec<StoredEvent>>>;
    /// Memberships in these rooms that changed after `since`.
    async fn members_changed_in(
        &self,
        room_ids: &[OwnedRoomId],
        since: StreamPos,
    ) -> StoreResult<Vec<Membership>>;
}

/// `$from, $from+1, ...` for `n` parameters.
fn placeholders(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A parameter bound before the rooms of a [`SqlStore::rows_in_rooms`] query.
enum Lead<'a> {
    Text(&'a str),
    Int(i64),
    Pos(StreamPos),
}

impl SqlStore {
    /// The rows of a query over many rooms, run once per chunk of
    /// [`ROOMS_PER_QUERY`] rooms. `sql` gets the chunk's room placeholders
    /// (numbered after the `lead` parameters) to put in an `IN (...)`.
    async fn rows_in_rooms(
        &self,
        sql: impl Fn(&str) -> String,
        lead: &[Lead<'_>],
        room_ids: &[OwnedRoomId],
    ) -> StoreResult<Vec<sqlx::any::AnyRow>> {
        let mut rows = Vec::new();
        for chunk in room_ids.chunks(ROOMS_PER_QUERY) {
            let text = sql(&placeholders(lead.len() + 1, chunk.len()));
            let mut query = sqlx::query(sqlx::AssertSqlSafe(text));
            for value in lead {
                query = match value {
                    Lead::Text(v) => query.bind(*v),
                    Lead::Int(v) => query.bind(*v),
                    Lead::Pos(v) => query.bind(*v),
                };
            }
            for room in chunk {
                query = query.bind(room.as_str());
            }
            rows.extend(query.fetch_all(&self.read).await?);
        }
        Ok(rows)
    }

    /// Records that the user's push actions in the room in
    /// (`unread_from`, `upto`] are these counts. A row for a later position
    /// of the same start is kept (two syncs may race).
    async fn fold_unread(
        &self,
        user_id: &str,
        room_id: &str,
        unread_from: StreamPos,
        upto: StreamPos,
        notifications: i64,
        highlights: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO push_summaries \
               (user_id, room_id, counted_from, counted_upto, notifications, highlights) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (user_id, room_id) DO UPDATE SET counted_from = excluded.counted_from, \
               counted_upto = excluded.counted_upto, notifications = excluded.notifications, \
               highlights = excluded.highlights \
             WHERE push_summaries.counted_from <> excluded.counted_from \
               OR push_summaries.counted_upto < excluded.counted_upto",
        )
        .bind(user_id)
        .bind(room_id)
        .bind(unread_from)
        .bind(upto)
        .bind(notifications)
        .bind(highlights)
        .execute(&self.write)
        .await?;
        Ok(())
    }
}

#[async_trait]
impl SyncBatchStore for SqlStore {
    async fn visibility_events_in(
        &self,
        room_ids: &[OwnedRoomId],
        user_id: &UserId,
    ) -> StoreResult<Vec<StoredEvent>> {
        // Two lookups on the (room, type, state key) index: with one `OR` of
        // both the planner walked each room's whole history.
        let rows = self
            .rows_in_rooms(
                |rooms| {
                    format!(
                        "SELECT {EVENT_COLUMNS} FROM events e WHERE e.room_id IN ({rooms}) \
                         AND e.event_type = 'm.room.member' AND e.state_key = $1 \
                         UNION ALL SELECT {EVENT_COLUMNS} FROM events e WHERE e.room_id IN ({rooms}) \
                         AND e.event_type = 'm.room.history_visibility' AND e.state_key = '' \
                         ORDER BY stream_ordering"
                    )
                },
                &[Lead::Text(user_id.as_str())],
                room_ids,
            )
            .await?;
        rows.iter().map(event_from_row).collect()
    }

    async fn device_sync_counts(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
    ) -> StoreResult<DeviceSyncCounts> {
        let rows = sqlx::query(
            "SELECT 'otk', algorithm, COUNT(*) FROM one_time_keys \
             WHERE user_id = $1 AND device_id = $2 GROUP BY algorithm \
             UNION ALL SELECT 'fallback', algorithm, 0 FROM fallback_keys \
             WHERE user_id = $1 AND device_id = $2 AND used = 0 \
             UNION ALL SELECT 'to_device', '', COUNT(*) FROM to_device \
             WHERE recipient_user = $1 AND recipient_device = $2",
        )
        .bind(user_id.as_str())
        .bind(device_id.as_str())
        .fetch_all(&self.read)
        .await?;
        let mut out = DeviceSyncCounts::default();
        for row in rows {
            let kind: String = row.try_get(0)?;
            let algorithm: String = row.try_get(1)?;
            let n: i64 = row.try_get(2)?;
            match kind.as_str() {
                "otk" => {
                    out.one_time_keys.insert(algorithm, n);
                }
                "fallback" => out.unused_fallback_keys.push(algorithm),
                _ => out.queued_to_device = n,
            }
        }
        out.unused_fallback_keys.sort();
        Ok(out)
    }

    async fn typing_in(
        &self,
        room_ids: &[OwnedRoomId],
        since: StreamPos,
        now_ts: i64,
    ) -> StoreResult<HashMap<String, Vec<String>>> {
        let mut out: HashMap<String, Vec<String>> = HashMap::new();
        if !self.changed_since(crate::StreamKind::Typing, since) {
            return Ok(out);
        }
        // The rooms that changed, each with its current typers (a NULL user
        // for a room where nobody types any more).
        let rows = self
            .rows_in_rooms(
                |rooms| {
                    format!(
                        "SELECT r.room_id, t.user_id FROM typing_rooms r \
                         LEFT JOIN typing t ON t.room_id = r.room_id AND t.expires_ts > $2 \
                         WHERE r.stream_pos > $1 AND r.room_id IN ({rooms}) ORDER BY r.room_id, t.user_id"
                    )
                },
                &[Lead::Pos(since), Lead::Int(now_ts)],
                room_ids,
            )
            .await?;
        for row in rows {
            let users = out.entry(row.try_get(0)?).or_default();
            if let Some(user) = row.try_get::<Option<String>, _>(1)? {
                users.push(user);
            }
        }
        Ok(out)
    }

    async fn receipts_in(
        &self,
        room_ids: &[OwnedRoomId],
        since: StreamPos,
    ) -> StoreResult<Vec<ReceiptRecord>> {
        let mut out = Vec::new();
        if !self.changed_since(crate::StreamKind::Receipts, since) {
            return Ok(out);
        }
        let rows = self
            .rows_in_rooms(
                |rooms| {
                    format!(
                        "SELECT room_id, user_id, receipt_type, thread_id, event_id, event_order, ts \
                         FROM receipts WHERE stream_pos > $1 AND room_id IN ({rooms}) ORDER BY stream_pos"
                    )
                },
                &[Lead::Pos(since)],
                room_ids,
            )
            .await?;
        for r in &rows {
            out.push(crate::receipts::receipt_from_row(r)?);
        }
        Ok(out)
    }

    async fn unread_counts_in(
        &self,
        user_id: &UserId,
        room_ids: &[OwnedRoomId],
        upto: StreamPos,
    ) -> StoreResult<HashMap<String, (i64, i64)>> {
        // Per room: where unread starts (b), what a still valid summary
        // already counted (s), and the push actions after that counted one
        // by one. MATERIALIZED: inlined, the receipt lookup would be
        // repeated for every push action counted.
        let rows = self
            .rows_in_rooms(
                |rooms| {
                    format!(
                        "WITH b AS MATERIALIZED (SELECT m.room_id, COALESCE((SELECT MAX(r.event_order) \
                             FROM receipts r WHERE r.room_id = m.room_id AND r.user_id = $1 \
                             AND r.receipt_type IN ('m.read', 'm.read.private')), \
                             m.stream_ordering) AS unread_from \
                           FROM memberships m WHERE m.user_id = $1 AND m.room_id IN ({rooms})), \
                         s AS MATERIALIZED (SELECT b.room_id, b.unread_from, \
                             CASE WHEN p.counted_from = b.unread_from THEN p.counted_upto \
                               ELSE b.unread_from END AS counted_upto, \
                             CASE WHEN p.counted_from = b.unread_from THEN p.notifications \
                               ELSE 0 END AS base_n, \
                             CASE WHEN p.counted_from = b.unread_from THEN p.highlights \
                               ELSE 0 END AS base_h \
                           FROM b LEFT JOIN push_summaries p \
                             ON p.user_id = $1 AND p.room_id = b.room_id) \
                         SELECT s.room_id, s.unread_from, s.base_n, s.base_h, \
                           COUNT(a.stream_ordering), COUNT(CASE WHEN a.highlight = 1 THEN 1 END) \
                         FROM s LEFT JOIN event_push_actions a ON a.user_id = $1 \
                           AND a.room_id = s.room_id AND a.stream_ordering > s.counted_upto \
                           AND a.stream_ordering <= $2 \
                         GROUP BY s.room_id, s.unread_from, s.base_n, s.base_h"
                    )
                },
                &[Lead::Text(user_id.as_str()), Lead::Pos(upto)],
                room_ids,
            )
            .await?;
        let mut out = HashMap::new();
        let mut folds = Vec::new();
        for row in rows {
            let room: String = row.try_get(0)?;
            let unread_from: StreamPos = row.try_get(1)?;
            let (base_n, base_h): (i64, i64) = (row.try_get(2)?, row.try_get(3)?);
            let (counted_n, counted_h): (i64, i64) = (row.try_get(4)?, row.try_get(5)?);
            let total = (base_n + counted_n, base_h + counted_h);
            if counted_n >= FOLD_UNREAD_AFTER {
                folds.push((room.clone(), unread_from, total));
            }
            if total.0 > 0 {
                out.insert(room, total);
            }
        }
        for (room, unread_from, (notifications, highlights)) in folds {
            // Only a shortcut for later counts: a failure costs nothing but
            // the next count's time.
            if let Err(e) = self
                .fold_unread(
                    user_id.as_str(),
                    &room,
                    unread_from,
                    upto,
                    notifications,
                    highlights,
                )
                .await
            {
                tracing::warn!(error = %e, "could not fold an unread count");
            }
        }
        Ok(out)
    }

    async fn timelines_in(
        &self,
        room_ids: &[OwnedRoomId],
        since: Option<StreamPos>,
        upto: StreamPos,
        limit: i64,
    ) -> StoreResult<HashMap<String, Vec<StoredEvent>>> {
        let mut out: HashMap<String, Vec<StoredEvent>> = HashMap::new();
        for chunk in room_ids.chunks(TIMELINES_PER_QUERY) {
            // One index range scan per room, all in one round trip (a window
            // function over all the rooms would read their whole history).
            let sql = (0..chunk.len())
                .map(|i| {
                    format!(
                        "SELECT * FROM (SELECT {EVENT_COLUMNS} FROM events e \
                         WHERE e.room_id = ${} AND e.stream_ordering <= $1 \
                         AND e.stream_ordering > $2 ORDER BY e.stream_ordering DESC LIMIT $3) t{i}",
                        4 + i
                    )
                })
                .collect::<Vec<_>>()
                .join(" UNION ALL ");
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(upto)
                .bind(since.unwrap_or(StreamPos::ZERO))
                .bind(limit);
            for room in chunk {
                query = query.bind(room.as_str());
            }
            for row in query.fetch_all(&self.read).await? {
                let e = event_from_row(&row)?;
                out.entry(e.room_id.clone()).or_default().push(e);
            }
        }
        for events in out.values_mut() {
            events.sort_by_key(|e| std::cmp::Reverse(e.stream_ordering));
        }
        Ok(out)
    }

    async fn members_changed_in(
        &self,
        room_ids: &[OwnedRoomId],
        since: StreamPos,
    ) -> StoreResult<Vec<Membership>> {
        let mut out = Vec::new();
        if !self.changed_since(crate::StreamKind::Memberships, since) {
            return Ok(out);
        }
        let rows = self
            .rows_in_rooms(
                |rooms| {
                    format!(
                        "SELECT room_id, user_id, membership, event_id, stream_ordering FROM memberships \
                         WHERE stream_ordering > $1 AND room_id IN ({rooms}) ORDER BY room_id, user_id"
                    )
                },
                &[Lead::Pos(since)],
                room_ids,
            )
            .await?;
        for row in rows {
            out.push(membership_from_row(&row)?);
        }
        Ok(out)
    }
}
