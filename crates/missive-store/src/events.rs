//! Rooms, their events, their state and their members.

use std::collections::{BTreeMap, HashSet};

use async_trait::async_trait;
use ruma::{DeviceId, EventId, RoomId, UserId, events::room::member::MembershipState};
use sqlx::Row;

pub use crate::event_types::*;
use crate::{SqlStore, StoreResult, StreamPos};

#[async_trait]
pub trait EventStore: Send + Sync {
    /// Writes an event and everything it changes (state, memberships,
    /// extremities, redaction target, push actions) atomically.
    async fn persist_event(&self, event: NewEvent) -> StoreResult<PersistOutcome>;
    /// Writes several events of one room in order, all or none (a new
    /// room's initial events).
    async fn persist_events(&self, events: Vec<NewEvent>) -> StoreResult<Vec<PersistOutcome>>;
    /// Every event of one (type, state key) in the room, oldest first: the
    /// history of a membership or setting.
    async fn state_history(
        &self,
        room_id: &RoomId,
        event_type: &str,
        state_key: &str,
    ) -> StoreResult<Vec<StoredEvent>>;

    async fn room(&self, room_id: &RoomId) -> StoreResult<Option<RoomRecord>>;
    async fn set_room_published(&self, room_id: &RoomId, published: bool) -> StoreResult<()>;
    /// Published rooms, oldest first, with offset pagination.
    async fn published_rooms(&self, offset: i64, limit: i64) -> StoreResult<Vec<String>>;
    async fn count_published_rooms(&self) -> StoreResult<i64>;

    async fn event(&self, event_id: &EventId) -> StoreResult<Option<StoredEvent>>;
    async fn events(&self, event_ids: &[String]) -> StoreResult<Vec<StoredEvent>>;
    async fn txn_event(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        txn_id: &str,
    ) -> StoreResult<Option<String>>;

    /// Transaction IDs the device used for the given events (event ID →
    /// transaction ID), so clients can match their local echoes.
    async fn txn_ids_for_events(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        event_ids: &[String],
    ) -> StoreResult<BTreeMap<String, String>>;

    async fn forward_extremities(&self, room_id: &RoomId) -> StoreResult<Vec<StoredEvent>>;
    async fn current_state(&self, room_id: &RoomId) -> StoreResult<StateMap>;
    async fn current_state_events(&self, room_id: &RoomId) -> StoreResult<Vec<StoredEvent>>;
    async fn current_state_event(
        &self,
        room_id: &RoomId,
        event_type: &str,
        state_key: &str,
    ) -> StoreResult<Option<StoredEvent>>;
    /// Several current state events of a room in one read (the ones that
    /// exist), e.g. the auth events an event about to be built needs.
    async fn current_state_events_for(
        &self,
        room_id: &RoomId,
        keys: &[(String, String)],
    ) -> StoreResult<Vec<StoredEvent>>;
    /// The state after the events of a state group.
    async fn state_at_group(&self, group: i64) -> StoreResult<StateMap>;
    /// The state group in force just before `stream_ordering` in the room.
    async fn state_group_before(
        &self,
        room_id: &RoomId,
        stream_ordering: StreamPos,
    ) -> StoreResult<Option<i64>>;
    /// The state group after the event at or just before `pos` in the room.
    async fn event_state_group_at(
        &self,
        room_id: &RoomId,
        pos: StreamPos,
    ) -> StoreResult<Option<i64>>;
    /// The latest state event of a type and key at or before a position.
    async fn state_event_at(
        &self,
        room_id: &RoomId,
        event_type: &str,
        state_key: &str,
        at: StreamPos,
    ) -> StoreResult<Option<StoredEvent>>;

    /// Events of a room strictly beyond `from` in `direction`, up to `limit`,
    /// never past `bound` (exclusive lower bound going backward, inclusive
    /// upper bound going forward).
    async fn room_events(
        &self,
        room_id: &RoomId,
        from: StreamPos,
        bound: Option<StreamPos>,
        direction: TimelineDirection,
        limit: i64,
    ) -> StoreResult<Vec<StoredEvent>>;
    /// State events of the room with stream ordering in (after, upto].
    async fn state_events_between(
        &self,
        room_id: &RoomId,
        after: StreamPos,
        upto: StreamPos,
    ) -> StoreResult<Vec<StoredEvent>>;

    async fn user_memberships(&self, user_id: &UserId) -> StoreResult<Vec<Membership>>;
    async fn membership(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
    ) -> StoreResult<Option<Membership>>;
    async fn room_members(&self, room_id: &RoomId) -> StoreResult<Vec<Membership>>;
    async fn forget_room(&self, room_id: &RoomId, user_id: &UserId) -> StoreResult<()>;
    /// Rooms in which both users are joined.
    async fn shared_rooms(&self, user_a: &UserId, user_b: &UserId) -> StoreResult<Vec<String>>;
    /// Everyone joined to a room the user is joined to, the user included
    /// (who sees their presence and device changes), in one read.
    async fn users_sharing_rooms_with(&self, user_id: &UserId) -> StoreResult<Vec<String>>;

    /// Rooms of the user's memberships with anything new after `since`
    /// (events, receipts, typing or room account data): the only rooms an
    /// incremental sync needs to look at.
    async fn rooms_active_since(
        &self,
        user_id: &UserId,
        since: StreamPos,
    ) -> StoreResult<HashSet<String>>;

    /// (notifications, highlights) for the user in the room after a position.
    async fn unread_counts(
        &self,
        user_id: &UserId,
        room_id: &RoomId,
        after: StreamPos,
    ) -> StoreResult<(i64, i64)>;
}

pub(crate) const EVENT_COLUMNS: &str = "e.stream_ordering, e.event_id, e.room_id, e.sender, e.event_type, \
    e.state_key, e.membership, e.depth, e.origin_server_ts, e.state_group, e.json, e.redacted_by";

pub(crate) fn event_from_row(row: &sqlx::any::AnyRow) -> StoreResult<StoredEvent> {
    Ok(StoredEvent {
        stream_ordering: row.try_get(0)?,
        event_id: row.try_get(1)?,
        room_id: row.try_get(2)?,
        sender: row.try_get(3)?,
        event_type: row.try_get(4)?,
        state_key: row.try_get(5)?,
        membership: row.try_get(6)?,
        depth: row.try_get(7)?,
        origin_server_ts: row.try_get(8)?,
        state_group: row.try_get(9)?,
        json: row.try_get(10)?,
        redacted_by: row.try_get(11)?,
    })
}

pub(crate) fn membership_from_row(row: &sqlx::any::AnyRow) -> StoreResult<Membership> {
    Ok(Membership {
        room_id: row.try_get(0)?,
        user_id: row.try_get(1)?,
        membership: MembershipState::from(row.try_get::<String, _>(2)?),
        event_id: row.try_get(3)?,
        stream_ordering: row.try_get(4)?,
    })
}

#[async_trait]
impl EventStore for SqlStore {
    async fn persist_event(&self, event: NewEvent) -> StoreResult<PersistOutcome> {
        if let Some(writer) = &self.events_writer {
            return writer.persist(event).await;
        }
        let mut tx = self.begin().await?;
        let pos = self
            .next_positions(&mut tx, 1, crate::StreamKind::Events)
            .await?;
        let outcome = self.insert_event(&mut tx, &event, pos).await?;
        if matches!(outcome, PersistOutcome::Persisted { .. }) {
            tx.commit().await?;
            self.events_committed([&event]);
        }
        Ok(outcome)
    }

    async fn persist_events(&self, events: Vec<NewEvent>) -> StoreResult<Vec<PersistOutcome>> {
        let mut tx = self.begin().await?;
        let last = self
            .next_positions(&mut tx, events.len(), crate::StreamKind::Events)
            .await?;
        let mut outcomes = Vec::with_capacity(events.len());
        for (pos, event) in StreamPos::run_ending_at(last, events.len()).zip(&events) {
            outcomes.push(self.insert_event(&mut tx, event, pos).await?);
        }
        tx.commit().await?;
        self.events_committed(&events);
        Ok(outcomes)
    }

    async fn state_history(
        &self,
        room_id: &RoomId,
        event_type: &str,
        state_key: &str,
    ) -> StoreResult<Vec<StoredEvent>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {EVENT_COLUMNS} FROM events e WHERE e.room_id = $1 AND e.event_type = $2 \
             AND e.state_key = $3 ORDER BY e.stream_ordering"
        )))
        .bind(room_id.as_str())
        .bind(event_type)
        .bind(state_key)
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(event_from_row).collect()
    }

    async fn room(&self, room_id: &RoomId) -> StoreResult<Option<RoomRecord>> {
        let row = sqlx::query(
            "SELECT room_id, room_version, creator, published, join_rule FROM rooms WHERE room_id = $1",
        )
        .bind(room_id.as_str())
        .fetch_optional(&self.read)
        .await?;
        row.map(|r| {
            Ok(RoomRecord {
                room_id: r.try_get(0)?,
                room_version: r.try_get(1)?,
                creator: r.try_get(2)?,
                published: r.try_get::<i64, _>(3)? != 0,
                join_rule: r.try_get(4)?,
            })
        })
        .transpose()
    }

    async fn set_room_published(&self, room_id: &RoomId, published: bool) -> StoreResult<()> {
        sqlx::query("UPDATE rooms SET published = $1 WHERE room_id = $2")
            .bind(i64::from(published))
            .bind(room_id.as_str())
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn published_rooms(&self, offset: i64, limit: i64) -> StoreResult<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT room_id FROM rooms WHERE published = 1 ORDER BY created_ts, room_id LIMIT $1 OFFSET $2",
        )
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.read)
        .await?)
    }

    async fn count_published_rooms(&self) -> StoreResult<i64> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM rooms WHERE published = 1")
                .fetch_one(&self.read)
                .await?,
        )
    }

    async fn event(&self, event_id: &EventId) -> StoreResult<Option<StoredEvent>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {EVENT_COLUMNS} FROM events e WHERE e.event_id = $1"
        )))
        .bind(event_id.as_str())
        .fetch_optional(&self.read)
        .await?;
        row.as_ref().map(event_from_row).transpose()
    }

    async fn events(&self, event_ids: &[String]) -> StoreResult<Vec<StoredEvent>> {
        let mut out = Vec::with_capacity(event_ids.len());
        for chunk in event_ids.chunks(200) {
            let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT {EVENT_COLUMNS} FROM events e WHERE e.event_id IN ({}) ORDER BY e.stream_ordering",
                placeholders.join(", ")
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()));
            for id in chunk {
                query = query.bind(id);
            }
            for row in query.fetch_all(&self.read).await? {
                out.push(event_from_row(&row)?);
            }
        }
        out.sort_by_key(|e| e.stream_ordering);
        Ok(out)
    }

    async fn txn_event(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        txn_id: &str,
    ) -> StoreResult<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT event_id FROM event_txns WHERE user_id = $1 AND device_id = $2 AND txn_id = $3",
        )
        .bind(user_id.as_str())
        .bind(device_id.as_str())
        .bind(txn_id)
        .fetch_optional(&self.read)
        .await?)
    }

    async fn txn_ids_for_events(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        event_ids: &[String],
    ) -> StoreResult<BTreeMap<String, String>> {
        let mut out = BTreeMap::new();
        for chunk in event_ids.chunks(200) {
            let placeholders: Vec<String> = (3..chunk.len() + 3).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT event_id, txn_id FROM event_txns WHERE user_id = $1 AND device_id = $2 \
                 AND event_id IN ({})",
                placeholders.join(", ")
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(user_id.as_str())
                .bind(device_id.as_str());
            for id in chunk {
                query = query.bind(id);
            }
            for row in query.fetch_all(&self.read).await? {
                out.insert(row.try_get(0)?, row.try_get(1)?);
            }
        }
        Ok(out)
    }

    async fn forward_extremities(&self, room_id: &RoomId) -> StoreResult<Vec<StoredEvent>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {EVENT_COLUMNS} FROM forward_extremities f JOIN events e ON e.event_id = f.event_id \
             WHERE f.room_id = $1"
        )))
        .bind(room_id.as_str())
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(event_from_row).collect()
    }

    async fn current_state(&self, room_id: &RoomId) -> StoreResult<StateMap> {
        let rows = sqlx::query(
            "SELECT event_type, state_key, event_id FROM current_state WHERE room_id = $1",
        )
        .bind(room_id.as_str())
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| Ok(((r.try_get(0)?, r.try_get(1)?), r.try_get(2)?)))
            .collect()
    }

    async fn current_state_events(&self, room_id: &RoomId) -> StoreResult<Vec<StoredEvent>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {EVENT_COLUMNS} FROM current_state c JOIN events e ON e.event_id = c.event_id \
             WHERE c.room_id = $1 ORDER BY e.stream_ordering"
        )))
        .bind(room_id.as_str())
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(event_from_row).collect()
    }

    async fn current_state_event(
        &self,
        room_id: &RoomId,
        event_type: &str,
        state_key: &str,
    ) -> StoreResult<Option<StoredEvent>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {EVENT_COLUMNS} FROM current_state c JOIN events e ON e.event_id = c.event_id \
             WHERE c.room_id = $1 AND c.event_type = $2 AND c.state_key = $3"
        )))
        .bind(room_id.as_str())
        .bind(event_type)
        .bind(state_key)
        .fetch_optional(&self.read)
        .await?;
        row.as_ref().map(event_from_row).transpose()
    }

    async fn current_state_events_for(
        &self,
        room_id: &RoomId,
        keys: &[(String, String)],
    ) -> StoreResult<Vec<StoredEvent>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        // Only placeholders are formatted in; every value is bound.
        let wanted: Vec<String> = (0..keys.len())
            .map(|i| {
                format!(
                    "(c.event_type = ${} AND c.state_key = ${})",
                    2 * i + 2,
                    2 * i + 3
                )
            })
            .collect();
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM current_state c JOIN events e ON e.event_id = c.event_id \
             WHERE c.room_id = $1 AND ({})",
            wanted.join(" OR ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(room_id.as_str());
        for (event_type, state_key) in keys {
            query = query.bind(event_type).bind(state_key);
        }
        let rows = query.fetch_all(&self.read).await?;
        rows.iter().map(event_from_row).collect()
    }

    async fn state_at_group(&self, group: i64) -> StoreResult<StateMap> {
        let rows = sqlx::query(
            "WITH RECURSIVE chain(group_id, prev_group, lvl) AS ( \
                 SELECT group_id, prev_group, 0 FROM state_groups WHERE group_id = $1 \
                 UNION ALL \
                 SELECT g.group_id, g.prev_group, c.lvl + 1 FROM state_groups g \
                 JOIN chain c ON g.group_id = c.prev_group) \
             SELECT s.event_type, s.state_key, s.event_id FROM state_group_entries s \
             JOIN chain c ON s.group_id = c.group_id ORDER BY c.lvl DESC",
        )
        .bind(group)
        .fetch_all(&self.read)
        .await?;
        let mut state = StateMap::new();
        // Oldest delta first, so newer entries overwrite older ones.
        for r in &rows {
            state.insert((r.try_get(0)?, r.try_get(1)?), r.try_get(2)?);
        }
        Ok(state)
    }

    async fn state_group_before(
        &self,
        room_id: &RoomId,
        stream_ordering: StreamPos,
    ) -> StoreResult<Option<i64>> {
        // The state after the timeline event before it; outliers (at
        // positions below zero) are outside the timeline.
        let before: Option<i64> = sqlx::query_scalar(
            "SELECT state_group FROM events WHERE room_id = $1 AND stream_ordering < $2 \
             AND stream_ordering > 0 ORDER BY stream_ordering DESC LIMIT 1",
        )
        .bind(room_id.as_str())
        .bind(stream_ordering)
        .fetch_optional(&self.read)
        .await?;
        if before.is_some() {
            return Ok(before);
        }
        // The room's first timeline event (its creation, or the join to a
        // room of another server): the state before it, that is its own
        // group without it (a state event's group sits on the one before).
        Ok(sqlx::query_scalar(
            "SELECT CASE WHEN e.state_key IS NULL THEN e.state_group ELSE g.prev_group END \
             FROM events e LEFT JOIN state_groups g ON g.group_id = e.state_group \
             WHERE e.room_id = $1 AND e.stream_ordering >= $2 \
             ORDER BY e.stream_ordering ASC LIMIT 1",
        )
        .bind(room_id.as_str())
        .bind(stream_ordering.max(StreamPos::ZERO.next()))
        .fetch_optional(&self.read)
        .await?
        .flatten())
    }

    async fn event_state_group_at(
        &self,
        room_id: &RoomId,
        pos: StreamPos,
    ) -> StoreResult<Option<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT state_group FROM events WHERE room_id = $1 AND stream_ordering <= $2 \
             AND stream_ordering > 0 ORDER BY stream_ordering DESC LIMIT 1",
        )
        .bind(room_id.as_str())
        .bind(pos)
        .fetch_optional(&self.read)
        .await?)
    }

    async fn state_event_at(
        &self,
        room_id: &RoomId,
        event_type: &str,
        state_key: &str,
        at: StreamPos,
    ) -> StoreResult<Option<StoredEvent>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {EVENT_COLUMNS} FROM events e WHERE e.room_id = $1 AND e.event_type = $2 \
             AND e.state_key = $3 AND e.stream_ordering <= $4 ORDER BY e.stream_ordering DESC LIMIT 1"
        )))
        .bind(room_id.as_str())
        .bind(event_type)
        .bind(state_key)
        .bind(at)
        .fetch_optional(&self.read)
        .await?;
        row.as_ref().map(event_from_row).transpose()
    }

    async fn room_events(
        &self,
        room_id: &RoomId,
        from: StreamPos,
        bound: Option<StreamPos>,
        direction: TimelineDirection,
        limit: i64,
    ) -> StoreResult<Vec<StoredEvent>> {
        let sql = match direction {
            TimelineDirection::Backward => format!(
                "SELECT {EVENT_COLUMNS} FROM events e WHERE e.room_id = $1 AND e.stream_ordering < $2 \
                 AND e.stream_ordering > $3 ORDER BY e.stream_ordering DESC LIMIT $4"
            ),
            TimelineDirection::Forward => format!(
                "SELECT {EVENT_COLUMNS} FROM events e WHERE e.room_id = $1 AND e.stream_ordering > $2 \
                 AND e.stream_ordering <= $3 ORDER BY e.stream_ordering ASC LIMIT $4"
            ),
        };
        let bound = bound.unwrap_or(match direction {
            TimelineDirection::Backward => StreamPos::ZERO,
            TimelineDirection::Forward => StreamPos::END,
        });
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(room_id.as_str())
            .bind(from)
            .bind(bound)
            .bind(limit)
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(event_from_row).collect()
    }

    async fn state_events_between(
        &self,
        room_id: &RoomId,
        after: StreamPos,
        upto: StreamPos,
    ) -> StoreResult<Vec<StoredEvent>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {EVENT_COLUMNS} FROM events e WHERE e.room_id = $1 AND e.state_key IS NOT NULL \
             AND e.stream_ordering > $2 AND e.stream_ordering <= $3 ORDER BY e.stream_ordering"
        )))
        .bind(room_id.as_str())
        .bind(after)
        .bind(upto)
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(event_from_row).collect()
    }

    async fn user_memberships(&self, user_id: &UserId) -> StoreResult<Vec<Membership>> {
        let read = async {
            let rows = sqlx::query(
                "SELECT room_id, user_id, membership, event_id, stream_ordering FROM memberships \
                 WHERE user_id = $1 AND forgotten = 0 ORDER BY stream_ordering",
            )
            .bind(user_id.as_str())
            .fetch_all(&self.read)
            .await?;
            rows.iter()
                .map(membership_from_row)
                .collect::<StoreResult<_>>()
                .map(Some)
        };
        let memberships = self
            .caches
            .memberships
            .read_through(user_id.as_str(), read)
            .await?;
        Ok(memberships.unwrap_or_default())
    }

    async fn membership(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
    ) -> StoreResult<Option<Membership>> {
        let row = sqlx::query(
            "SELECT room_id, user_id, membership, event_id, stream_ordering FROM memberships \
             WHERE room_id = $1 AND user_id = $2",
        )
        .bind(room_id.as_str())
        .bind(user_id.as_str())
        .fetch_optional(&self.read)
        .await?;
        row.as_ref().map(membership_from_row).transpose()
    }

    async fn room_members(&self, room_id: &RoomId) -> StoreResult<Vec<Membership>> {
        let rows = sqlx::query(
            "SELECT room_id, user_id, membership, event_id, stream_ordering FROM memberships \
             WHERE room_id = $1 ORDER BY user_id",
        )
        .bind(room_id.as_str())
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(membership_from_row).collect()
    }

    async fn forget_room(&self, room_id: &RoomId, user_id: &UserId) -> StoreResult<()> {
        sqlx::query("UPDATE memberships SET forgotten = 1 WHERE room_id = $1 AND user_id = $2")
            .bind(room_id.as_str())
            .bind(user_id.as_str())
            .execute(&self.write)
            .await?;
        self.caches.memberships.forget(user_id.as_str());
        Ok(())
    }

    async fn shared_rooms(&self, user_a: &UserId, user_b: &UserId) -> StoreResult<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT a.room_id FROM memberships a JOIN memberships b ON a.room_id = b.room_id \
             WHERE a.user_id = $1 AND b.user_id = $2 AND a.membership = 'join' AND b.membership = 'join'",
        )
        .bind(user_a.as_str())
        .bind(user_b.as_str())
        .fetch_all(&self.read)
        .await?)
    }

    async fn users_sharing_rooms_with(&self, user_id: &UserId) -> StoreResult<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT DISTINCT o.user_id FROM memberships m JOIN memberships o ON o.room_id = m.room_id \
             WHERE m.user_id = $1 AND m.membership = 'join' AND o.membership = 'join'",
        )
        .bind(user_id.as_str())
        .fetch_all(&self.read)
        .await?)
    }

    async fn rooms_active_since(
        &self,
        user_id: &UserId,
        since: StreamPos,
    ) -> StoreResult<HashSet<String>> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT m.room_id FROM memberships m WHERE m.user_id = $1 AND m.forgotten = 0 AND ( \
                 EXISTS (SELECT 1 FROM events e WHERE e.room_id = m.room_id AND e.stream_ordering > $2) \
              OR EXISTS (SELECT 1 FROM receipts r WHERE r.room_id = m.room_id AND r.stream_pos > $2) \
              OR EXISTS (SELECT 1 FROM typing_rooms t WHERE t.room_id = m.room_id AND t.stream_pos > $2) \
              OR EXISTS (SELECT 1 FROM account_data a WHERE a.user_id = $1 AND a.room_id = m.room_id \
                         AND a.stream_pos > $2))",
        )
        .bind(user_id.as_str())
        .bind(since)
        .fetch_all(&self.read)
        .await?;
        Ok(rows.into_iter().collect())
    }

    async fn unread_counts(
        &self,
        user_id: &UserId,
        room_id: &RoomId,
        after: StreamPos,
    ) -> StoreResult<(i64, i64)> {
        let row = sqlx::query(
            "SELECT COUNT(*), COUNT(CASE WHEN highlight = 1 THEN 1 END) FROM event_push_actions \
             WHERE user_id = $1 AND room_id = $2 AND stream_ordering > $3",
        )
        .bind(user_id.as_str())
        .bind(room_id.as_str())
        .bind(after)
        .fetch_one(&self.read)
        .await?;
        Ok((row.try_get(0)?, row.try_get(1)?))
    }
}
