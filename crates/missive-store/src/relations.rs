//! Relations between events (`m.relates_to`): writing them with their
//! event, forgetting them on redaction, and the reads `/relations`,
//! `/threads` and bundled aggregations need.

use std::collections::HashMap;

use async_trait::async_trait;
use ruma::{EventId, OwnedRoomId, RoomId, UserId};
use sqlx::{Any, Row, Transaction};

use crate::events::{EVENT_COLUMNS, event_from_row};
use crate::{NewEvent, SqlStore, StoreResult, StoredEvent, StreamPos, TimelineDirection};

/// How deep `/relations?recurse=true` follows relations of relations (as
/// Synapse's default `relations_max_depth`).
pub const MAX_RELATION_DEPTH: i64 = 3;

/// Which relations of a parent to read (see [`RelationStore::relations`]).
#[derive(Debug, Clone, Copy)]
pub struct RelationQuery<'a> {
    pub room_id: &'a RoomId,
    pub parent: &'a EventId,
    pub rel_type: Option<&'a str>,
    pub event_type: Option<&'a str>,
    /// Backward: at or before this position; forward: after it.
    pub from: StreamPos,
    /// Backward: after this position; forward: at or before it.
    pub bound: Option<StreamPos>,
    pub direction: TimelineDirection,
    pub limit: i64,
    /// Also relations of relations, up to [`MAX_RELATION_DEPTH`].
    pub recurse: bool,
}

/// Unread (notifications, highlights) per thread of a room: `main` for
/// the main timeline, a root's event ID for its thread.
pub type ThreadUnread = HashMap<String, (i64, i64)>;

/// A thread of a room: its root and its latest activity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadRecord {
    pub root: StoredEvent,
    /// The stream position of the thread's latest reply.
    pub latest_pos: StreamPos,
}

/// A thread's summary for bundling into its root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadSummary {
    pub latest: StoredEvent,
    pub count: i64,
    /// The reader replied in the thread (the root's sender is the caller's
    /// to check).
    pub replied: bool,
}

/// What relates to one event, for its bundled aggregations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RelationAggregate {
    pub thread: Option<ThreadSummary>,
    /// The latest edit by the original's sender, of the original's type.
    pub edit: Option<StoredEvent>,
    /// The events referencing it, oldest first.
    pub references: Vec<StoredEvent>,
}

#[async_trait]
pub trait RelationStore: Send + Sync {
    /// Events relating to `query.parent` in its room (with `recurse`, to
    /// its relations too), by stream position in `query.direction`.
    async fn relations(&self, query: RelationQuery<'_>) -> StoreResult<Vec<StoredEvent>>;
    /// The relations of `rel_type` that `sender` made to `parent` (one
    /// user's: few), to refuse a repeated reaction.
    async fn relations_by_sender(
        &self,
        parent: &EventId,
        sender: &UserId,
        rel_type: &str,
    ) -> StoreResult<Vec<StoredEvent>>;
    /// The room's threads, latest activity first, whose latest activity is
    /// at or before `before`; with `participant`, only those the user
    /// started or replied in.
    async fn threads(
        &self,
        room_id: &RoomId,
        participant: Option<&UserId>,
        before: StreamPos,
        limit: i64,
    ) -> StoreResult<Vec<ThreadRecord>>;
    /// The aggregations of each of `parents` that has any, in one read
    /// (`user` for whether they replied in threads).
    async fn relation_aggregates(
        &self,
        user: &UserId,
        parents: &[String],
    ) -> StoreResult<HashMap<String, RelationAggregate>>;
    /// Unread (notifications, highlights) of the user in each of the
    /// rooms, per thread: `main` for events in no thread, the root's ID
    /// for a thread's replies, each counted after the later of the user's
    /// unthreaded receipt (or membership, without one) and their receipt
    /// in that thread, up to `upto`. Threads with nothing unread are left
    /// out. Read only for clients asking for per-thread counts.
    async fn thread_unread_counts(
        &self,
        user: &UserId,
        room_ids: &[OwnedRoomId],
        upto: StreamPos,
    ) -> StoreResult<HashMap<String, ThreadUnread>>;
}

impl SqlStore {
    /// Indexes the relations of `events` (each at its position), inside
    /// their write transaction.
    pub(crate) async fn insert_relations(
        &self,
        tx: &mut Transaction<'static, Any>,
        events: &[(&NewEvent, StreamPos, i64)],
    ) -> StoreResult<()> {
        for (event, pos, _) in events {
            let Some(relation) = &event.relation else {
                continue;
            };
            sqlx::query(
                "INSERT INTO event_relations (event_id, room_id, relates_to, rel_type, event_type, \
                 sender, stream_ordering) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (event_id) DO NOTHING",
            )
            .bind(&event.event_id)
            .bind(&event.room_id)
            .bind(&relation.relates_to)
            .bind(&relation.rel_type)
            .bind(&event.event_type)
            .bind(&event.sender)
            .bind(*pos)
            .execute(&mut **tx)
            .await?;
            if relation.rel_type == "m.thread" {
                sqlx::query(
                    "INSERT INTO threads (thread_id, room_id, latest_event_id, latest_pos, reply_count) \
                     VALUES ($1, $2, $3, $4, 1) ON CONFLICT (thread_id) DO UPDATE SET \
                     latest_event_id = excluded.latest_event_id, latest_pos = excluded.latest_pos, \
                     reply_count = threads.reply_count + 1",
                )
                .bind(&relation.relates_to)
                .bind(&event.room_id)
                .bind(&event.event_id)
                .bind(*pos)
                .execute(&mut **tx)
                .await?;
            }
        }
        Ok(())
    }

    /// Forgets the relation of a redacted event (and, for a thread reply,
    /// recounts its thread), inside the redaction's transaction.
    pub(crate) async fn remove_relation(
        &self,
        tx: &mut Transaction<'static, Any>,
        redacted: &str,
    ) -> StoreResult<()> {
        let parent: Option<(String, String)> = sqlx::query_as(
            "DELETE FROM event_relations WHERE event_id = $1 RETURNING relates_to, rel_type",
        )
        .bind(redacted)
        .fetch_optional(&mut **tx)
        .await?;
        let Some((thread, rel_type)) = parent else {
            return Ok(());
        };
        if rel_type != "m.thread" {
            return Ok(());
        }
        let latest: Option<(String, StreamPos)> = sqlx::query_as(
            "SELECT event_id, stream_ordering FROM event_relations \
             WHERE relates_to = $1 AND rel_type = 'm.thread' ORDER BY stream_ordering DESC LIMIT 1",
        )
        .bind(&thread)
        .fetch_optional(&mut **tx)
        .await?;
        match latest {
            Some((event_id, pos)) => {
                sqlx::query(
                    "UPDATE threads SET latest_event_id = $1, latest_pos = $2, \
                     reply_count = reply_count - 1 WHERE thread_id = $3",
                )
                .bind(event_id)
                .bind(pos)
                .bind(&thread)
                .execute(&mut **tx)
                .await?;
            }
            None => {
                sqlx::query("DELETE FROM threads WHERE thread_id = $1")
                    .bind(&thread)
                    .execute(&mut **tx)
                    .await?;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl RelationStore for SqlStore {
    async fn relations(&self, q: RelationQuery<'_>) -> StoreResult<Vec<StoredEvent>> {
        // Only placeholders and fixed text are formatted in.
        let mut filters = String::new();
        let mut next = 7;
        if q.rel_type.is_some() {
            filters.push_str(&format!(" AND x.rel_type = ${next}"));
            next += 1;
        }
        if q.event_type.is_some() {
            filters.push_str(&format!(" AND x.event_type = ${next}"));
        }
        let (window, order) = match q.direction {
            TimelineDirection::Backward => {
                ("e.stream_ordering <= $5 AND e.stream_ordering > $6", "DESC")
            }
            TimelineDirection::Forward => {
                ("e.stream_ordering > $5 AND e.stream_ordering <= $6", "ASC")
            }
        };
        let sql = format!(
            "WITH RECURSIVE rel(event_id, depth) AS ( \
                 SELECT event_id, 1 FROM event_relations WHERE relates_to = $1 AND room_id = $2 \
                 UNION ALL \
                 SELECT r.event_id, rel.depth + 1 FROM event_relations r \
                 JOIN rel ON r.relates_to = rel.event_id WHERE rel.depth < $3) \
             SELECT {EVENT_COLUMNS} FROM rel JOIN event_relations x ON x.event_id = rel.event_id \
             JOIN events e ON e.event_id = rel.event_id \
             WHERE e.room_id = $2 AND {window}{filters} \
             ORDER BY e.stream_ordering {order} LIMIT $4"
        );
        let bound = q.bound.unwrap_or(match q.direction {
            TimelineDirection::Backward => StreamPos::ZERO,
            TimelineDirection::Forward => StreamPos::END,
        });
        let depth = if q.recurse { MAX_RELATION_DEPTH } else { 1 };
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(q.parent.as_str())
            .bind(q.room_id.as_str())
            .bind(depth)
            .bind(q.limit)
            .bind(q.from)
            .bind(bound);
        if let Some(rel_type) = q.rel_type {
            query = query.bind(rel_type);
        }
        if let Some(event_type) = q.event_type {
            query = query.bind(event_type);
        }
        let rows = query.fetch_all(&self.read).await?;
        rows.iter().map(event_from_row).collect()
    }

    async fn relations_by_sender(
        &self,
        parent: &EventId,
        sender: &UserId,
        rel_type: &str,
    ) -> StoreResult<Vec<StoredEvent>> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM event_relations x JOIN events e ON e.event_id = x.event_id \
             WHERE x.relates_to = $1 AND x.sender = $2 AND x.rel_type = $3 \
             ORDER BY e.stream_ordering"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(parent.as_str())
            .bind(sender.as_str())
            .bind(rel_type)
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(event_from_row).collect()
    }

    async fn threads(
        &self,
        room_id: &RoomId,
        participant: Option<&UserId>,
        before: StreamPos,
        limit: i64,
    ) -> StoreResult<Vec<ThreadRecord>> {
        let mine = if participant.is_some() {
            " AND (e.sender = $4 OR EXISTS (SELECT 1 FROM event_relations m \
               WHERE m.relates_to = t.thread_id AND m.sender = $4 AND m.rel_type = 'm.thread'))"
        } else {
            ""
        };
        let sql = format!(
            "SELECT {EVENT_COLUMNS}, t.latest_pos FROM threads t JOIN events e ON e.event_id = t.thread_id \
             WHERE t.room_id = $1 AND t.latest_pos <= $2 AND e.room_id = $1{mine} \
             ORDER BY t.latest_pos DESC LIMIT $3"
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(room_id.as_str())
            .bind(before)
            .bind(limit);
        if let Some(user) = participant {
            query = query.bind(user.as_str());
        }
        let rows = query.fetch_all(&self.read).await?;
        rows.iter()
            .map(|r| {
                Ok(ThreadRecord {
                    root: event_from_row(r)?,
                    latest_pos: r.try_get(12)?,
                })
            })
            .collect()
    }

    async fn relation_aggregates(
        &self,
        user: &UserId,
        parents: &[String],
    ) -> StoreResult<HashMap<String, RelationAggregate>> {
        let mut out: HashMap<String, RelationAggregate> = HashMap::new();
        for chunk in parents.chunks(200) {
            // Most events have no relation at all: one index probe each
            // finds those that do, and only they pay for the full read.
            let chunk = self.parents_with_relations(chunk).await?;
            if chunk.is_empty() {
                continue;
            }
            let ids: Vec<String> = (2..chunk.len() + 2).map(|i| format!("${i}")).collect();
            let ids = ids.join(", ");
            // Three reads in one statement: thread summaries (one row per
            // root), the latest valid edit of each original (same sender
            // and type, newest by timestamp then ID, as Synapse picks it),
            // and references. Only placeholders are formatted in.
            let sql = format!(
                "SELECT 't', t.thread_id, t.reply_count, \
                   (SELECT COUNT(*) FROM event_relations m WHERE m.relates_to = t.thread_id \
                    AND m.sender = $1 AND m.rel_type = 'm.thread'), {EVENT_COLUMNS} \
                 FROM threads t JOIN events e ON e.event_id = t.latest_event_id \
                 WHERE t.thread_id IN ({ids}) \
                 UNION ALL \
                 SELECT 'e', x.relates_to, CAST(0 AS BIGINT), CAST(0 AS BIGINT), {EVENT_COLUMNS} FROM ( \
                   SELECT r.relates_to, r.event_id, ROW_NUMBER() OVER ( \
                     PARTITION BY r.relates_to ORDER BY ed.origin_server_ts DESC, ed.event_id DESC) AS n \
                   FROM event_relations r JOIN events ed ON ed.event_id = r.event_id \
                   JOIN events o ON o.event_id = r.relates_to \
                   WHERE r.relates_to IN ({ids}) AND r.rel_type = 'm.replace' \
                   AND r.sender = o.sender AND r.event_type = o.event_type \
                   AND r.room_id = o.room_id) x \
                 JOIN events e ON e.event_id = x.event_id WHERE x.n = 1 \
                 UNION ALL \
                 SELECT 'r', r.relates_to, CAST(0 AS BIGINT), CAST(0 AS BIGINT), {EVENT_COLUMNS} \
                 FROM event_relations r JOIN events e ON e.event_id = r.event_id \
                 WHERE r.relates_to IN ({ids}) AND r.rel_type = 'm.reference'"
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(user.as_str());
            for id in &chunk {
                query = query.bind(id);
            }
            for row in query.fetch_all(&self.read).await? {
                let kind: String = row.try_get(0)?;
                let parent: String = row.try_get(1)?;
                let count: i64 = row.try_get(2)?;
                let replied: i64 = row.try_get(3)?;
                let event = event_from_offset(&row)?;
                let entry = out.entry(parent).or_default();
                match kind.as_str() {
                    "t" => {
                        entry.thread = Some(ThreadSummary {
                            latest: event,
                            count,
                            replied: replied > 0,
                        });
                    }
                    "e" => entry.edit = Some(event),
                    _ => entry.references.push(event),
                }
            }
        }
        for aggregate in out.values_mut() {
            aggregate.references.sort_by_key(|e| e.stream_ordering);
        }
        Ok(out)
    }

    async fn thread_unread_counts(
        &self,
        user: &UserId,
        room_ids: &[OwnedRoomId],
        upto: StreamPos,
    ) -> StoreResult<HashMap<String, ThreadUnread>> {
        let mut out: HashMap<String, ThreadUnread> = HashMap::new();
        for chunk in room_ids.chunks(200) {
            for row in self.thread_unread_rows(user, chunk, upto).await? {
                let room: String = row.try_get(0)?;
                let thread: String = row.try_get(1)?;
                out.entry(room)
                    .or_default()
                    .insert(thread, (row.try_get(2)?, row.try_get(3)?));
            }
        }
        Ok(out)
    }
}

impl SqlStore {
    /// Those of `parents` that some event relates to.
    async fn parents_with_relations(&self, parents: &[String]) -> StoreResult<Vec<String>> {
        let ids: Vec<String> = (1..=parents.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT DISTINCT relates_to FROM event_relations WHERE relates_to IN ({})",
            ids.join(", ")
        );
        let mut query = sqlx::query_scalar(sqlx::AssertSqlSafe(sql));
        for id in parents {
            query = query.bind(id);
        }
        Ok(query.fetch_all(&self.read).await?)
    }

    async fn thread_unread_rows(
        &self,
        user: &UserId,
        rooms: &[OwnedRoomId],
        upto: StreamPos,
    ) -> StoreResult<Vec<sqlx::any::AnyRow>> {
        let ids: Vec<String> = (3..rooms.len() + 3).map(|i| format!("${i}")).collect();
        // Per room, where the unthreaded count would start (b); each push
        // action after it with its thread (c); then those after the
        // receipt in their thread too. Only placeholders are formatted in.
        let sql = format!(
            "WITH b AS MATERIALIZED (SELECT m.room_id, COALESCE((SELECT MAX(r.event_order) \
                 FROM receipts r WHERE r.room_id = m.room_id AND r.user_id = $1 \
                 AND r.receipt_type IN ('m.read', 'm.read.private') AND r.thread_id = ''), \
                 m.stream_ordering) AS base \
               FROM memberships m WHERE m.user_id = $1 AND m.room_id IN ({ids})), \
             c AS MATERIALIZED (SELECT a.room_id, a.stream_ordering, a.highlight, b.base, \
                 COALESCE(x.relates_to, 'main') AS thread \
               FROM b JOIN event_push_actions a ON a.user_id = $1 AND a.room_id = b.room_id \
                 AND a.stream_ordering > b.base AND a.stream_ordering <= $2 \
               JOIN events e ON e.stream_ordering = a.stream_ordering \
               LEFT JOIN event_relations x ON x.event_id = e.event_id AND x.rel_type = 'm.thread') \
             SELECT c.room_id, c.thread, COUNT(*), COUNT(CASE WHEN c.highlight = 1 THEN 1 END) \
             FROM c WHERE c.stream_ordering > COALESCE((SELECT MAX(r.event_order) FROM receipts r \
               WHERE r.room_id = c.room_id AND r.user_id = $1 \
               AND r.receipt_type IN ('m.read', 'm.read.private') AND r.thread_id = c.thread), c.base) \
             GROUP BY c.room_id, c.thread",
            ids = ids.join(", ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(user.as_str())
            .bind(upto);
        for room in rooms {
            query = query.bind(room.as_str());
        }
        Ok(query.fetch_all(&self.read).await?)
    }
}

/// An event read after the four leading columns of an aggregate row.
fn event_from_offset(row: &sqlx::any::AnyRow) -> StoreResult<StoredEvent> {
    Ok(StoredEvent {
        stream_ordering: row.try_get(4)?,
        event_id: row.try_get(5)?,
        room_id: row.try_get(6)?,
        sender: row.try_get(7)?,
        event_type: row.try_get(8)?,
        state_key: row.try_get(9)?,
        membership: row.try_get(10)?,
        depth: row.try_get(11)?,
        origin_server_ts: row.try_get(12)?,
        state_group: row.try_get(13)?,
        json: row.try_get(14)?,
        redacted_by: row.try_get(15)?,
    })
}
