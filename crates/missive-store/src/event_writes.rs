//! Writing one event inside a transaction: the general path (any event,
//! any number of forward extremities) and the fast path for a message on
//! the room's one extremity; its row, push actions, transaction ID and
//! state group. [`crate::group_commit`] and `EventStore::persist_event(s)`
//! call [`SqlStore::insert_event`].

use std::collections::HashSet;

use sqlx::{Any, Transaction};

use crate::message_batch::{placeholders, row_chunks};
use crate::{NewEvent, PersistOutcome, SqlStore, StoreError, StoreResult, StreamPos};

/// After this many deltas a state group is written as a full snapshot, which
/// bounds the chain walked to load any state.
const STATE_SNAPSHOT_INTERVAL: i64 = 100;

/// Most push action rows per INSERT (four parameters each, far below the
/// limits).
const PUSH_ACTIONS_PER_STATEMENT: usize = 256;

/// Most event rows per INSERT (eleven parameters each).
const EVENT_ROWS_PER_STATEMENT: usize = 64;

impl SqlStore {
    /// Inserts one event inside `tx` (see [`EventStore::persist_event`]).
    ///
    /// The ways an event is turned away (its room changed, its transaction
    /// was already used, its room already exists) are all found before it
    /// writes anything, and without an SQL error (which would abort a
    /// PostgreSQL transaction): the group commit relies on this to write
    /// many events in one transaction without a savepoint each. Any other
    /// error may leave the event half written.
    ///
    /// `pos` is the event's stream position, taken by the caller in `tx`
    /// (one statement for a whole batch); an event turned away leaves its
    /// position unused, a harmless gap in the stream.
    pub(crate) async fn insert_event(
        &self,
        tx: &mut Transaction<'static, Any>,
        event: &NewEvent,
        pos: StreamPos,
    ) -> StoreResult<PersistOutcome> {
        if let Some(outcome) = self.insert_message(tx, event, pos).await? {
            return Ok(outcome);
        }
        if let Some(room) = &event.create_room {
            let inserted = sqlx::query(
                "INSERT INTO rooms (room_id, room_version, creator, published, join_rule, created_ts) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (room_id) DO NOTHING",
            )
            .bind(&room.room_id)
            .bind(&room.room_version)
            .bind(&room.creator)
            .bind(i64::from(room.published))
            .bind(&room.join_rule)
            .bind(event.origin_server_ts)
            .execute(&mut **tx)
            .await?;
            if inserted.rows_affected() == 0 {
                return Err(StoreError::AlreadyExists(room.room_id.clone()));
            }
        }

        // Touching the room row first makes concurrent writers to one room
        // queue on its row lock (PostgreSQL) before comparing extremities.
        let current_group: Option<Option<i64>> = sqlx::query_scalar(
            "UPDATE rooms SET created_ts = created_ts WHERE room_id = $1 RETURNING current_state_group",
        )
        .bind(&event.room_id)
        .fetch_optional(&mut **tx)
        .await?;
        let Some(current_group) = current_group else {
            return Err(StoreError::Corrupt(format!(
                "room {} does not exist",
                event.room_id
            )));
        };

        let extremities: Vec<String> =
            sqlx::query_scalar("SELECT event_id FROM forward_extremities WHERE room_id = $1")
                .bind(&event.room_id)
                .fetch_all(&mut **tx)
                .await?;
        let expected: HashSet<&String> = event.prev_events.iter().collect();
        if extremities.len() != expected.len() || !extremities.iter().all(|e| expected.contains(e))
        {
            return Err(StoreError::RoomChanged(event.room_id.clone()));
        }

        // Claiming the transaction ID first finds a repeat in the same
        // statement, before anything of the event is written.
        if let Some(event_id) = self.claim_txn(tx, event).await? {
            return Ok(PersistOutcome::DuplicateTxn { event_id });
        }

        if event.membership.is_some() {
            self.changes.record(crate::StreamKind::Memberships, pos);
        }
        let state_group = match &event.state_key {
            Some(state_key) => {
                self.write_state(tx, event, state_key, pos, current_group)
                    .await?
            }
            None => current_group.ok_or_else(|| {
                StoreError::Corrupt(format!("room {} has no state", event.room_id))
            })?,
        };

        self.insert_event_row(tx, event, pos, state_group).await?;

        if let [only] = extremities.as_slice() {
            // The usual case, one extremity replaced by the new event: one
            // statement instead of two.
            sqlx::query(
                "UPDATE forward_extremities SET event_id = $1 WHERE room_id = $2 AND event_id = $3",
            )
            .bind(&event.event_id)
            .bind(&event.room_id)
            .bind(only)
            .execute(&mut **tx)
            .await?;
        } else {
            sqlx::query("DELETE FROM forward_extremities WHERE room_id = $1")
                .bind(&event.room_id)
                .execute(&mut **tx)
                .await?;
            sqlx::query("INSERT INTO forward_extremities (room_id, event_id) VALUES ($1, $2)")
                .bind(&event.room_id)
                .bind(&event.event_id)
                .execute(&mut **tx)
                .await?;
        }
        if let Some((target, redacted_json)) = &event.redaction {
            self.remove_relation(tx, target).await?;
            sqlx::query(
                "UPDATE events SET json = $1, redacted_by = $2 WHERE event_id = $3 AND room_id = $4",
            )
            .bind(redacted_json)
            .bind(&event.event_id)
            .bind(target)
            .bind(&event.room_id)
            .execute(&mut **tx)
            .await?;
            self.unindex_redacted(tx, target).await?;
        }
        self.insert_push_actions(tx, &[(event, pos)]).await?;
        self.queue_for_search(tx, &[(event, pos)]).await?;
        self.queue_for_federation(tx, &[(event, pos)]).await?;

        Ok(PersistOutcome::Persisted {
            stream_ordering: pos,
        })
    }

    /// After committing `events`: what they changed is no longer cached
    /// (a membership changes its room's push targets and its user's
    /// memberships).
    pub(crate) fn events_committed<'a>(&self, events: impl IntoIterator<Item = &'a NewEvent>) {
        for event in events {
            if event.membership.is_some() {
                self.caches.push_targets.forget(event.room_id.as_str());
                if let Some(user) = &event.state_key {
                    self.caches.memberships.forget(user.as_str());
                }
            }
        }
    }

    /// The common case, a message (no state, no redaction) on top of the
    /// room's one forward extremity, with the extremity checked and
    /// replaced in one statement: four statements instead of seven on
    /// SQLite, five instead of six on PostgreSQL. `None`: not such an
    /// event, or its room has several extremities; the general path
    /// handles it, still without anything written but the room-row lock.
    async fn insert_message(
        &self,
        tx: &mut Transaction<'static, Any>,
        event: &NewEvent,
        pos: StreamPos,
    ) -> StoreResult<Option<PersistOutcome>> {
        let [prev] = event.prev_events.as_slice() else {
            return Ok(None);
        };
        if event.state_key.is_some() || event.redaction.is_some() || event.create_room.is_some() {
            return Ok(None);
        }
        const REPLACE_ONLY_EXTREMITY: &str = "UPDATE forward_extremities SET event_id = $1 \
             WHERE room_id = $2 AND event_id = $3 \
             AND NOT EXISTS (SELECT 1 FROM forward_extremities o WHERE o.room_id = $2 AND o.event_id <> $3)";
        let group: Option<i64> = match self.backend {
            // One write connection runs transactions one after another:
            // the check, the update and reading the room's state group
            // (which a message keeps) can be one statement.
            crate::Backend::Sqlite => {
                let group: Option<Option<i64>> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                    "{REPLACE_ONLY_EXTREMITY} \
                     RETURNING (SELECT current_state_group FROM rooms WHERE room_id = $2)"
                )))
                .bind(&event.event_id)
                .bind(&event.room_id)
                .bind(prev)
                .fetch_optional(&mut **tx)
                .await?;
                let Some(group) = group else {
                    return Ok(None);
                };
                group
            }
            // Concurrent processes queue on the room row first (as in the
            // general path); the next statement then reads the extremity
            // with a snapshot taken after the lock, so sees theirs.
            crate::Backend::Postgres => {
                let group: Option<Option<i64>> = sqlx::query_scalar(
                    "UPDATE rooms SET created_ts = created_ts WHERE room_id = $1 RETURNING current_state_group",
                )
                .bind(&event.room_id)
                .fetch_optional(&mut **tx)
                .await?;
                let Some(group) = group else {
                    return Ok(None);
                };
                let replaced = sqlx::query(REPLACE_ONLY_EXTREMITY)
                    .bind(&event.event_id)
                    .bind(&event.room_id)
                    .bind(prev)
                    .execute(&mut **tx)
                    .await?;
                if replaced.rows_affected() != 1 {
                    return Ok(None);
                }
                group
            }
        };
        if let Some(event_id) = self.claim_txn(tx, event).await? {
            // A repeat: answer with the first event.
            self.restore_extremity(tx, event).await?;
            return Ok(Some(PersistOutcome::DuplicateTxn { event_id }));
        }
        let group = group
            .ok_or_else(|| StoreError::Corrupt(format!("room {} has no state", event.room_id)))?;
        self.insert_event_row(tx, event, pos, group).await?;
        self.insert_push_actions(tx, &[(event, pos)]).await?;
        self.queue_for_search(tx, &[(event, pos)]).await?;
        self.queue_for_federation(tx, &[(event, pos)]).await?;
        Ok(Some(PersistOutcome::Persisted {
            stream_ordering: pos,
        }))
    }

    /// Claims the event's client transaction ID, if it has one. `Some`:
    /// the ID was already used, by this event ID.
    async fn claim_txn(
        &self,
        tx: &mut Transaction<'static, Any>,
        event: &NewEvent,
    ) -> StoreResult<Option<String>> {
        let Some((user, device, txn_id)) = &event.txn else {
            return Ok(None);
        };
        let claimed = sqlx::query(
            "INSERT INTO event_txns (user_id, device_id, txn_id, event_id) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (user_id, device_id, txn_id) DO NOTHING",
        )
        .bind(user)
        .bind(device)
        .bind(txn_id)
        .bind(&event.event_id)
        .execute(&mut **tx)
        .await?;
        if claimed.rows_affected() > 0 {
            return Ok(None);
        }
        Ok(Some(self.txn_first_event(tx, event).await?))
    }

    /// The event a repeated transaction ID was first used for.
    pub(crate) async fn txn_first_event(
        &self,
        tx: &mut Transaction<'static, Any>,
        event: &NewEvent,
    ) -> StoreResult<String> {
        let Some((user, device, txn_id)) = &event.txn else {
            return Err(StoreError::corrupt("a repeat without a transaction ID"));
        };
        Ok(sqlx::query_scalar(
            "SELECT event_id FROM event_txns WHERE user_id = $1 AND device_id = $2 AND txn_id = $3",
        )
        .bind(user)
        .bind(device)
        .bind(txn_id)
        .fetch_one(&mut **tx)
        .await?)
    }

    /// Puts back the extremity a message replaced, for a message found to
    /// be a repeat after that: it leaves nothing behind.
    pub(crate) async fn restore_extremity(
        &self,
        tx: &mut Transaction<'static, Any>,
        event: &NewEvent,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE forward_extremities SET event_id = $1 WHERE room_id = $2 AND event_id = $3",
        )
        .bind(&event.prev_events[0])
        .bind(&event.room_id)
        .bind(&event.event_id)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    async fn insert_event_row(
        &self,
        tx: &mut Transaction<'static, Any>,
        event: &NewEvent,
        pos: StreamPos,
        state_group: i64,
    ) -> StoreResult<()> {
        self.insert_event_rows(tx, &[(event, pos, state_group)])
            .await
    }

    /// Inserts event rows, (event, position, state group) each, many per
    /// statement, and their relations.
    pub(crate) async fn insert_event_rows(
        &self,
        tx: &mut Transaction<'static, Any>,
        rows: &[(&NewEvent, StreamPos, i64)],
    ) -> StoreResult<()> {
        self.insert_plain_event_rows(tx, rows).await?;
        // A relation is indexed with its event, whichever path wrote it.
        self.insert_relations(tx, rows).await?;
        Ok(())
    }

    /// Inserts event rows alone (outliers have no relations indexed).
    pub(crate) async fn insert_plain_event_rows(
        &self,
        tx: &mut Transaction<'static, Any>,
        rows: &[(&NewEvent, StreamPos, i64)],
    ) -> StoreResult<()> {
        for range in row_chunks(rows.len(), EVENT_ROWS_PER_STATEMENT) {
            let chunk = &rows[range];
            let sql = format!(
                "INSERT INTO events (stream_ordering, event_id, room_id, sender, event_type, state_key, \
                 membership, depth, origin_server_ts, state_group, json) VALUES {}",
                placeholders(chunk.len(), 11)
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (e, pos, group) in chunk {
                query = query
                    .bind(*pos)
                    .bind(&e.event_id)
                    .bind(&e.room_id)
                    .bind(&e.sender)
                    .bind(&e.event_type)
                    .bind(&e.state_key)
                    .bind(&e.membership)
                    .bind(e.depth)
                    .bind(e.origin_server_ts)
                    .bind(*group)
                    .bind(&e.json);
            }
            query.execute(&mut **tx).await?;
        }
        Ok(())
    }

    /// Inserts the push actions of `events` (each at its position), many
    /// rows per statement: a message to a room of 1,000 members notifies up
    /// to 999 of them, and each statement is a round trip.
    pub(crate) async fn insert_push_actions(
        &self,
        tx: &mut Transaction<'static, Any>,
        events: &[(&NewEvent, StreamPos)],
    ) -> StoreResult<()> {
        let rows: Vec<(&NewEvent, StreamPos, &(String, bool))> = events
            .iter()
            .flat_map(|(e, pos)| e.push_actions.iter().map(move |a| (*e, *pos, a)))
            .collect();
        for range in row_chunks(rows.len(), PUSH_ACTIONS_PER_STATEMENT) {
            let chunk = &rows[range];
            let sql = format!(
                "INSERT INTO event_push_actions (room_id, stream_ordering, user_id, highlight) VALUES {}",
                placeholders(chunk.len(), 4)
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (e, pos, (user, highlight)) in chunk {
                query = query
                    .bind(&e.room_id)
                    .bind(*pos)
                    .bind(user)
                    .bind(i64::from(*highlight));
            }
            query.execute(&mut **tx).await?;
        }
        Ok(())
    }

    async fn write_state(
        &self,
        tx: &mut Transaction<'static, Any>,
        event: &NewEvent,
        state_key: &str,
        pos: StreamPos,
        prev_group: Option<i64>,
    ) -> StoreResult<i64> {
        // A state event opens a new state group whose ID is its stream
        // position: unique, and no separate counter to keep.
        let group = pos.get();
        sqlx::query(
            "INSERT INTO current_state (room_id, event_type, state_key, event_id) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (room_id, event_type, state_key) DO UPDATE SET event_id = excluded.event_id",
        )
        .bind(&event.room_id)
        .bind(&event.event_type)
        .bind(state_key)
        .bind(&event.event_id)
        .execute(&mut **tx)
        .await?;

        let prev_len: Option<i64> = match prev_group {
            Some(g) => {
                sqlx::query_scalar("SELECT chain_len FROM state_groups WHERE group_id = $1")
                    .bind(g)
                    .fetch_optional(&mut **tx)
                    .await?
            }
            None => None,
        };
        let chain_len = prev_len.map_or(0, |l| l + 1);
        if prev_group.is_none() || chain_len >= STATE_SNAPSHOT_INTERVAL {
            sqlx::query(
                "INSERT INTO state_groups (group_id, room_id, prev_group, chain_len) VALUES ($1, $2, NULL, 0)",
            )
            .bind(group)
            .bind(&event.room_id)
            .execute(&mut **tx)
            .await?;
            sqlx::query(
                "INSERT INTO state_group_entries (group_id, event_type, state_key, event_id) \
                 SELECT $1, event_type, state_key, event_id FROM current_state WHERE room_id = $2",
            )
            .bind(group)
            .bind(&event.room_id)
            .execute(&mut **tx)
            .await?;
        } else {
            sqlx::query(
                "INSERT INTO state_groups (group_id, room_id, prev_group, chain_len) VALUES ($1, $2, $3, $4)",
            )
            .bind(group)
            .bind(&event.room_id)
            .bind(prev_group)
            .bind(chain_len)
            .execute(&mut **tx)
            .await?;
            sqlx::query(
                "INSERT INTO state_group_entries (group_id, event_type, state_key, event_id) VALUES ($1, $2, $3, $4)",
            )
            .bind(group)
            .bind(&event.event_type)
            .bind(state_key)
            .bind(&event.event_id)
            .execute(&mut **tx)
            .await?;
        }
        sqlx::query("UPDATE rooms SET current_state_group = $1 WHERE room_id = $2")
            .bind(group)
            .bind(&event.room_id)
            .execute(&mut **tx)
            .await?;

        if let Some(membership) = &event.membership {
            upsert_membership(
                tx,
                &event.room_id,
                state_key,
                membership,
                &event.event_id,
                pos,
            )
            .await?;
        }
        if let Some(join_rule) = &event.join_rule {
            sqlx::query("UPDATE rooms SET join_rule = $1 WHERE room_id = $2")
                .bind(join_rule)
                .bind(&event.room_id)
                .execute(&mut **tx)
                .await?;
        }
        Ok(group)
    }
}

/// Sets `user`'s membership in the room to `membership` by `event_id` at
/// `pos` (a forgotten room is remembered again).
pub(crate) async fn upsert_membership(
    tx: &mut Transaction<'static, Any>,
    room_id: &str,
    user: &str,
    membership: &str,
    event_id: &str,
    pos: StreamPos,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO memberships (room_id, user_id, membership, event_id, stream_ordering, forgotten) \
         VALUES ($1, $2, $3, $4, $5, 0) ON CONFLICT (room_id, user_id) DO UPDATE SET \
         membership = excluded.membership, event_id = excluded.event_id, \
         stream_ordering = excluded.stream_ordering, forgotten = 0",
    )
    .bind(room_id)
    .bind(user)
    .bind(membership)
    .bind(event_id)
    .bind(pos)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
