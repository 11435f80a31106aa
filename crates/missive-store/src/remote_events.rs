//! Events from other servers that do not extend the room's current state
//! the way a local event does: the first event of a room joined over
//! federation (with the state and auth chain the join brought), an event
//! on a fork of the room's graph (its state and the room's resolved by the
//! caller), outliers, rejected events, and inbound transactions.
//!
//! A local event (or a remote one built on exactly the room's forward
//! extremities) goes through [`crate::EventStore::persist_event`] instead.
//!
//! State groups: a remote write stores the state before its event as a
//! full snapshot whose group ID is a position of zero or less (taken with
//! the outliers' positions), the event's own group on top of it, and the
//! room's resolved current state as a third snapshot when it differs from
//! the state after the event. Outliers point at the snapshot before the
//! event they came with, so the state before a joined room's first
//! timeline event is found as for any other event.

use std::collections::{BTreeMap, HashSet};

use async_trait::async_trait;
use sqlx::{Any, Row, Transaction};

use crate::message_batch::{placeholders, row_chunks};
use crate::{
    NewEvent, RoomRecord, SqlStore, StateMap, StoreError, StoreResult, StreamKind, StreamPos,
};

/// One entry of a state the caller computed, with what the store derives
/// from the event for its room tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateEntry {
    pub event_type: String,
    pub state_key: String,
    pub event_id: String,
    /// `content.membership` of an `m.room.member` event.
    pub membership: Option<String>,
    /// `content.join_rule` of an `m.room.join_rules` event.
    pub join_rule: Option<String>,
}

/// A write of events from another server (see the module docs).
#[derive(Debug, Default)]
pub struct RemoteWrite {
    pub room_id: String,
    /// The room, when this write is the first the server knows of it.
    pub new_room: Option<RoomRecord>,
    /// Events written outside the timeline, before `event`.
    pub outliers: Vec<NewEvent>,
    /// The timeline event (`None`: outliers alone). Its `prev_events` are
    /// its own, which need not be the room's forward extremities.
    pub event: Option<NewEvent>,
    /// The full state before `event`.
    pub state_before: Vec<StateEntry>,
    /// The room's full current state once `event` is written (resolved
    /// over the new forward extremities by the caller).
    pub current_state: Vec<StateEntry>,
    /// The room's forward extremities the caller computed from: the write
    /// fails with [`StoreError::RoomChanged`] if they changed meanwhile.
    pub extremities_before: Vec<String>,
    /// Without `event`: memberships the outliers give local users of a
    /// room this server is not in (an invite), at a new stream position.
    pub memberships: Vec<StateEntry>,
}

/// What [`RemoteEventStore::persist_remote`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteOutcome {
    /// The timeline event's position, or that of the outliers'
    /// memberships; `None` when neither was written.
    pub stream_ordering: Option<StreamPos>,
    /// Users whose membership in the room changed (the write's event
    /// included, and any the resolution changed).
    pub membership_changes: Vec<String>,
}

#[async_trait]
pub trait RemoteEventStore: Send + Sync {
    /// Writes `write` in one transaction. Outliers already known are
    /// skipped; a timeline event already known fails with
    /// [`StoreError::AlreadyExists`].
    async fn persist_remote(&self, write: RemoteWrite) -> StoreResult<RemoteOutcome>;

    /// Keeps an event that failed the authorization rules.
    async fn reject_event(
        &self,
        room_id: &str,
        event_id: &str,
        json: &str,
        reason: &str,
    ) -> StoreResult<()>;

    /// Which of `event_ids` were rejected.
    async fn rejected_among(&self, event_ids: &[String]) -> StoreResult<HashSet<String>>;

    /// The answer given to `origin`'s transaction `txn_id`, if it came
    /// before.
    async fn inbound_txn(&self, origin: &str, txn_id: &str) -> StoreResult<Option<String>>;

    /// Records the answer to a transaction; a repeat keeps the first.
    async fn record_inbound_txn(
        &self,
        origin: &str,
        txn_id: &str,
        response: &str,
        now_ms: i64,
    ) -> StoreResult<()>;
}

/// The counter row of outlier positions (zero and below, downwards).
const OUTLIER_COUNTER: i64 = 2;

/// Most state entries per INSERT (four parameters each).
const SNAPSHOT_ROWS_PER_STATEMENT: usize = 128;

#[async_trait]
impl RemoteEventStore for SqlStore {
    async fn persist_remote(&self, write: RemoteWrite) -> StoreResult<RemoteOutcome> {
        let mut tx = self.begin().await?;
        let outcome = self.write_remote(&mut tx, &write).await?;
        tx.commit().await?;
        // What was cached of the room's members and their memberships.
        self.caches.push_targets.forget(write.room_id.as_str());
        for user in &outcome.membership_changes {
            self.caches.memberships.forget(user.as_str());
        }
        Ok(outcome)
    }

    async fn reject_event(
        &self,
        room_id: &str,
        event_id: &str,
        json: &str,
        reason: &str,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO rejected_events (event_id, room_id, json, reason) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (event_id) DO NOTHING",
        )
        .bind(event_id)
        .bind(room_id)
        .bind(json)
        .bind(reason)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn rejected_among(&self, event_ids: &[String]) -> StoreResult<HashSet<String>> {
        let mut out = HashSet::new();
        for chunk in event_ids.chunks(200) {
            let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT event_id FROM rejected_events WHERE event_id IN ({})",
                placeholders.join(", ")
            );
            let mut query = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                query = query.bind(id);
            }
            out.extend(query.fetch_all(&self.read).await?);
        }
        Ok(out)
    }

    async fn inbound_txn(&self, origin: &str, txn_id: &str) -> StoreResult<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT response FROM federation_inbound_txns WHERE origin = $1 AND txn_id = $2",
        )
        .bind(origin)
        .bind(txn_id)
        .fetch_optional(&self.read)
        .await?)
    }

    async fn record_inbound_txn(
        &self,
        origin: &str,
        txn_id: &str,
        response: &str,
        now_ms: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO federation_inbound_txns (origin, txn_id, response, received_ts) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (origin, txn_id) DO NOTHING",
        )
        .bind(origin)
        .bind(txn_id)
        .bind(response)
        .bind(now_ms)
        .execute(&self.write)
        .await?;
        Ok(())
    }
}

impl SqlStore {
    async fn write_remote(
        &self,
        tx: &mut Transaction<'static, Any>,
        write: &RemoteWrite,
    ) -> StoreResult<RemoteOutcome> {
        if let Some(room) = &write.new_room {
            sqlx::query(
                "INSERT INTO rooms (room_id, room_version, creator, published, join_rule, created_ts) \
                 VALUES ($1, $2, $3, 0, $4, $5) ON CONFLICT (room_id) DO NOTHING",
            )
            .bind(&room.room_id)
            .bind(&room.room_version)
            .bind(&room.creator)
            .bind(&room.join_rule)
            .bind(write.event.as_ref().map_or(0, |e| e.origin_server_ts))
            .execute(&mut **tx)
            .await?;
        }
        // Queue on the room's row, as local writers do, before reading the
        // extremities.
        let current_group: Option<Option<i64>> = sqlx::query_scalar(
            "UPDATE rooms SET created_ts = created_ts WHERE room_id = $1 RETURNING current_state_group",
        )
        .bind(&write.room_id)
        .fetch_optional(&mut **tx)
        .await?;
        if current_group.is_none() {
            return Err(StoreError::Corrupt(format!(
                "room {} does not exist",
                write.room_id
            )));
        }
        let extremities: Vec<String> =
            sqlx::query_scalar("SELECT event_id FROM forward_extremities WHERE room_id = $1")
                .bind(&write.room_id)
                .fetch_all(&mut **tx)
                .await?;
        let expected: HashSet<&String> = write.extremities_before.iter().collect();
        if extremities.len() != expected.len() || !extremities.iter().all(|e| expected.contains(e))
        {
            return Err(StoreError::RoomChanged(write.room_id.clone()));
        }

        let known = self.known_ids(tx, write).await?;
        let outliers: Vec<&NewEvent> = write
            .outliers
            .iter()
            .filter(|e| !known.contains(&e.event_id))
            .collect();
        let Some(event) = &write.event else {
            self.insert_outliers(tx, &outliers, 0).await?;
            if write.memberships.is_empty() {
                return Ok(RemoteOutcome {
                    stream_ordering: None,
                    membership_changes: Vec::new(),
                });
            }
            let pos = self.next_positions(tx, 1, StreamKind::Memberships).await?;
            let mut changed = Vec::new();
            for entry in &write.memberships {
                if let Some(membership) = &entry.membership {
                    self.set_membership_row(tx, &write.room_id, entry, membership, pos)
                        .await?;
                    changed.push(entry.state_key.clone());
                }
            }
            return Ok(RemoteOutcome {
                stream_ordering: Some(pos),
                membership_changes: changed,
            });
        };
        if known.contains(&event.event_id) {
            return Err(StoreError::AlreadyExists(event.event_id.clone()));
        }

        // The snapshot groups' IDs, below zero like the outliers'.
        let lowest = self.next_outlier_positions(tx, 2).await?;
        let before_group = lowest.get();
        let current_snapshot_group = lowest.next().get();
        self.insert_outliers(tx, &outliers, before_group).await?;
        self.insert_snapshot(tx, &write.room_id, before_group, &write.state_before)
            .await?;

        let pos = self.next_positions(tx, 1, StreamKind::Events).await?;
        let event_group = match &event.state_key {
            Some(state_key) => {
                sqlx::query(
                    "INSERT INTO state_groups (group_id, room_id, prev_group, chain_len) VALUES ($1, $2, $3, 1)",
                )
                .bind(pos.get())
                .bind(&write.room_id)
                .bind(before_group)
                .execute(&mut **tx)
                .await?;
                sqlx::query(
                    "INSERT INTO state_group_entries (group_id, event_type, state_key, event_id) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(pos.get())
                .bind(&event.event_type)
                .bind(state_key)
                .bind(&event.event_id)
                .execute(&mut **tx)
                .await?;
                pos.get()
            }
            None => before_group,
        };
        self.insert_event_rows(tx, &[(event, pos, event_group)])
            .await?;
        self.insert_push_actions(tx, &[(event, pos)]).await?;
        self.queue_for_search(tx, &[(event, pos)]).await?;

        // The forward extremities: those the event does not follow, and
        // the event.
        let prevs: HashSet<&String> = event.prev_events.iter().collect();
        sqlx::query("DELETE FROM forward_extremities WHERE room_id = $1")
            .bind(&write.room_id)
            .execute(&mut **tx)
            .await?;
        for id in extremities
            .iter()
            .filter(|e| !prevs.contains(e))
            .chain([&event.event_id])
        {
            sqlx::query("INSERT INTO forward_extremities (room_id, event_id) VALUES ($1, $2)")
                .bind(&write.room_id)
                .bind(id)
                .execute(&mut **tx)
                .await?;
        }

        // The room's current state: the state after the event, or the
        // caller's resolution when it differs.
        let mut after: BTreeMap<(&str, &str), &str> = write
            .state_before
            .iter()
            .map(|s| ((&*s.event_type, &*s.state_key), &*s.event_id))
            .collect();
        if let Some(state_key) = &event.state_key {
            after.insert((&event.event_type, state_key), &event.event_id);
        }
        let current: BTreeMap<(&str, &str), &str> = write
            .current_state
            .iter()
            .map(|s| ((&*s.event_type, &*s.state_key), &*s.event_id))
            .collect();
        let current_group = if current == after {
            event_group
        } else {
            self.insert_snapshot(
                tx,
                &write.room_id,
                current_snapshot_group,
                &write.current_state,
            )
            .await?;
            current_snapshot_group
        };
        sqlx::query("UPDATE rooms SET current_state_group = $1 WHERE room_id = $2")
            .bind(current_group)
            .bind(&write.room_id)
            .execute(&mut **tx)
            .await?;
        let membership_changes = self
            .replace_current_state(tx, &write.room_id, &write.current_state, pos)
            .await?;
        if !membership_changes.is_empty() {
            self.changes.record(StreamKind::Memberships, pos);
        }
        Ok(RemoteOutcome {
            stream_ordering: Some(pos),
            membership_changes,
        })
    }

    /// The IDs among the write's events that are already stored.
    async fn known_ids(
        &self,
        tx: &mut Transaction<'static, Any>,
        write: &RemoteWrite,
    ) -> StoreResult<HashSet<String>> {
        let ids: Vec<&String> = write
            .outliers
            .iter()
            .chain(write.event.as_ref())
            .map(|e| &e.event_id)
            .collect();
        let mut known = HashSet::new();
        for chunk in ids.chunks(200) {
            let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT event_id FROM events WHERE event_id IN ({})",
                placeholders.join(", ")
            );
            let mut query = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                query = query.bind(*id);
            }
            known.extend(query.fetch_all(&mut **tx).await?);
        }
        Ok(known)
    }

    /// Takes `n` outlier positions and returns the lowest (the others are
    /// the `n - 1` above it).
    async fn next_outlier_positions(
        &self,
        tx: &mut Transaction<'static, Any>,
        n: usize,
    ) -> StoreResult<StreamPos> {
        let n = i64::try_from(n).map_err(|_| StoreError::corrupt("too many outliers"))?;
        Ok(sqlx::query_scalar(
            "UPDATE stream_counter SET position = position - $1 WHERE id = $2 RETURNING position",
        )
        .bind(n)
        .bind(OUTLIER_COUNTER)
        .fetch_one(&mut **tx)
        .await?)
    }

    /// Writes outliers at positions below zero, each pointing at `group`.
    pub(crate) async fn insert_outliers(
        &self,
        tx: &mut Transaction<'static, Any>,
        outliers: &[&NewEvent],
        group: i64,
    ) -> StoreResult<()> {
        if outliers.is_empty() {
            return Ok(());
        }
        let lowest = self.next_outlier_positions(tx, outliers.len()).await?;
        let positions = StreamPos::run_ending_at(
            StreamPos::new(lowest.get() + outliers.len() as i64 - 1),
            outliers.len(),
        );
        let rows: Vec<(&NewEvent, StreamPos, i64)> = outliers
            .iter()
            .zip(positions)
            .map(|(e, pos)| (*e, pos, group))
            .collect();
        // Outliers are not in the timeline: no relation, push action or
        // search entry.
        self.insert_plain_event_rows(tx, &rows).await
    }

    /// A full snapshot of `entries` as state group `group`.
    async fn insert_snapshot(
        &self,
        tx: &mut Transaction<'static, Any>,
        room_id: &str,
        group: i64,
        entries: &[StateEntry],
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO state_groups (group_id, room_id, prev_group, chain_len) VALUES ($1, $2, NULL, 0)",
        )
        .bind(group)
        .bind(room_id)
        .execute(&mut **tx)
        .await?;
        // Many rows per statement: a joined room's state holds a member
        // event per member.
        for range in row_chunks(entries.len(), SNAPSHOT_ROWS_PER_STATEMENT) {
            let chunk = &entries[range];
            let sql = format!(
                "INSERT INTO state_group_entries (group_id, event_type, state_key, event_id) VALUES {}",
                placeholders(chunk.len(), 4)
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for entry in chunk {
                query = query
                    .bind(group)
                    .bind(&entry.event_type)
                    .bind(&entry.state_key)
                    .bind(&entry.event_id);
            }
            query.execute(&mut **tx).await?;
        }
        Ok(())
    }

    async fn set_membership_row(
        &self,
        tx: &mut Transaction<'static, Any>,
        room_id: &str,
        entry: &StateEntry,
        membership: &str,
        pos: StreamPos,
    ) -> StoreResult<()> {
        crate::event_writes::upsert_membership(
            tx,
            room_id,
            &entry.state_key,
            membership,
            &entry.event_id,
            pos,
        )
        .await
    }

    /// Makes `entries` the room's current state, with the memberships and
    /// join rule they imply; returns the users whose membership changed.
    async fn replace_current_state(
        &self,
        tx: &mut Transaction<'static, Any>,
        room_id: &str,
        entries: &[StateEntry],
        pos: StreamPos,
    ) -> StoreResult<Vec<String>> {
        let rows = sqlx::query(
            "SELECT event_type, state_key, event_id FROM current_state WHERE room_id = $1",
        )
        .bind(room_id)
        .fetch_all(&mut **tx)
        .await?;
        let mut old = StateMap::new();
        for r in &rows {
            old.insert((r.try_get(0)?, r.try_get(1)?), r.try_get(2)?);
        }
        let mut changed_members = Vec::new();
        for entry in entries {
            let key = (entry.event_type.clone(), entry.state_key.clone());
            if old.remove(&key).as_deref() == Some(entry.event_id.as_str()) {
                continue;
            }
            sqlx::query(
                "INSERT INTO current_state (room_id, event_type, state_key, event_id) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (room_id, event_type, state_key) DO UPDATE SET event_id = excluded.event_id",
            )
            .bind(room_id)
            .bind(&entry.event_type)
            .bind(&entry.state_key)
            .bind(&entry.event_id)
            .execute(&mut **tx)
            .await?;
            if let Some(membership) = &entry.membership {
                self.set_membership_row(tx, room_id, entry, membership, pos)
                    .await?;
                changed_members.push(entry.state_key.clone());
            }
            if let Some(join_rule) = &entry.join_rule {
                sqlx::query("UPDATE rooms SET join_rule = $1 WHERE room_id = $2")
                    .bind(join_rule)
                    .bind(room_id)
                    .execute(&mut **tx)
                    .await?;
            }
        }
        // A state resolution never drops a key; entries left in `old` are
        // kept as they are.
        Ok(changed_members)
    }
}
