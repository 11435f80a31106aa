//! Plain messages of one group-commit batch written together: each step
//! (replace the room's extremity, claim the transaction ID, insert the row,
//! insert the push actions, index the text for search) is one statement
//! for many messages instead of one per message. Every statement is a round trip to the database (its
//! worker thread on SQLite, its server on PostgreSQL), and under load the
//! writer's batches grew with their round trips: four per message made a
//! batch of ten wait for forty.
//!
//! On PostgreSQL other server processes write too: the batch first locks
//! its rooms' rows in room ID order, as every batch does, so two batches
//! never wait for each other in a cycle over the same rooms (a cycle with
//! events written one by one can still occur; the database breaks it and
//! the group commit writes the batch again).

use std::{collections::HashMap, ops::Range};

use sqlx::{Any, Transaction};

use crate::{NewEvent, PersistOutcome, SqlStore, StoreResult, StreamPos};

/// Largest number of rows in one of the batch's own statements. Statement texts differ by
/// their row count; counts are powers of two up to this, so a connection's
/// statement cache holds a few shapes instead of one per batch size.
const MAX_ROWS: usize = 64;

/// A message taken by the batch: where it is in the caller's list and its
/// stream position.
#[derive(Clone, Copy)]
struct Taken {
    at: usize,
    pos: StreamPos,
}

impl SqlStore {
    /// Writes the plain messages among `events` (the batch's pending events
    /// with their stream positions) whose room has no other event in the
    /// batch. Returns the outcome of each message it wrote or found to be a
    /// repeat, by index into `events`; the caller writes the others one by
    /// one. On error the transaction may hold part of the batch: the caller
    /// must roll back.
    pub(crate) async fn insert_messages(
        &self,
        tx: &mut Transaction<'static, Any>,
        events: &[(&NewEvent, StreamPos)],
    ) -> StoreResult<Vec<(usize, PersistOutcome)>> {
        let mut per_room: HashMap<&str, usize> = HashMap::new();
        for (event, _) in events {
            *per_room.entry(event.room_id.as_str()).or_default() += 1;
        }
        let mut candidates: Vec<Taken> = events
            .iter()
            .enumerate()
            .filter(|(_, (e, _))| is_plain_message(e) && per_room[e.room_id.as_str()] == 1)
            .map(|(at, (_, pos))| Taken { at, pos: *pos })
            .collect();
        // One message alone is as cheap on the general path.
        if candidates.len() < 2 {
            return Ok(Vec::new());
        }
        let ev = |t: &Taken| events[t.at].0;
        // Room order: the order PostgreSQL row locks are taken in.
        candidates.sort_by(|a, b| ev(a).room_id.cmp(&ev(b).room_id));

        // 0. PostgreSQL: lock the rooms' rows, so the extremities read next
        //    are not changing under another process's transaction.
        if self.backend == crate::Backend::Postgres {
            for range in row_chunks(candidates.len(), MAX_ROWS) {
                let chunk = &candidates[range];
                let sql = format!(
                    "SELECT room_id FROM rooms WHERE room_id IN ({}) ORDER BY room_id FOR UPDATE",
                    (1..=chunk.len())
                        .map(|i| format!("${i}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                for t in chunk {
                    query = query.bind(&ev(t).room_id);
                }
                query.fetch_all(&mut **tx).await?;
            }
        }

        // 1. Replace each room's one extremity; a room whose extremities
        //    are not what its message expects is left to the general path.
        let mut groups: HashMap<String, i64> = HashMap::new();
        for range in row_chunks(candidates.len(), MAX_ROWS) {
            let chunk = &candidates[range];
            let values = placeholders(chunk.len(), 3);
            let sql = format!(
                "WITH v(new_id, room, prev) AS (VALUES {values}) \
                 UPDATE forward_extremities SET event_id = v.new_id FROM v \
                 WHERE forward_extremities.room_id = v.room AND forward_extremities.event_id = v.prev \
                 AND NOT EXISTS (SELECT 1 FROM forward_extremities o \
                                 WHERE o.room_id = v.room AND o.event_id <> v.prev) \
                 RETURNING forward_extremities.room_id, \
                 (SELECT current_state_group FROM rooms r WHERE r.room_id = forward_extremities.room_id)"
            );
            let mut query = sqlx::query_as::<_, (String, Option<i64>)>(sqlx::AssertSqlSafe(sql));
            for t in chunk {
                let e = ev(t);
                query = query
                    .bind(&e.event_id)
                    .bind(&e.room_id)
                    .bind(&e.prev_events[0]);
            }
            for (room, group) in query.fetch_all(&mut **tx).await? {
                let group = group.ok_or_else(|| {
                    crate::StoreError::Corrupt(format!("room {room} has no state"))
                })?;
                groups.insert(room, group);
            }
        }
        let placed: Vec<Taken> = candidates
            .into_iter()
            .filter(|t| groups.contains_key(&ev(t).room_id))
            .collect();

        // 2. Claim the transaction IDs; a message whose ID was used before
        //    (or earlier in this batch) is a repeat and writes nothing.
        let with_txn: Vec<Taken> = placed
            .iter()
            .copied()
            .filter(|t| ev(t).txn.is_some())
            .collect();
        let mut claimed: Vec<String> = Vec::new();
        for range in row_chunks(with_txn.len(), MAX_ROWS) {
            let chunk = &with_txn[range];
            let sql = format!(
                "INSERT INTO event_txns (user_id, device_id, txn_id, event_id) VALUES {} \
                 ON CONFLICT (user_id, device_id, txn_id) DO NOTHING RETURNING event_id",
                placeholders(chunk.len(), 4)
            );
            let mut query = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql));
            for t in chunk {
                let e = ev(t);
                let (user, device, txn_id) = e.txn.as_ref().expect("filtered on txn");
                query = query.bind(user).bind(device).bind(txn_id).bind(&e.event_id);
            }
            claimed.extend(query.fetch_all(&mut **tx).await?);
        }
        let mut outcomes = Vec::with_capacity(placed.len());
        let mut written = Vec::with_capacity(placed.len());
        for t in placed {
            let e = ev(&t);
            if e.txn.is_some() && !claimed.contains(&e.event_id) {
                // A repeat (rare, so one at a time): answer with the first.
                self.restore_extremity(tx, e).await?;
                let first = self.txn_first_event(tx, e).await?;
                outcomes.push((t.at, PersistOutcome::DuplicateTxn { event_id: first }));
            } else {
                written.push(t);
            }
        }

        // 3. The rows, then 4. whom they notify.
        let rows: Vec<(&NewEvent, StreamPos, i64)> = written
            .iter()
            .map(|t| (ev(t), t.pos, groups[&ev(t).room_id]))
            .collect();
        self.insert_event_rows(tx, &rows).await?;
        let notified: Vec<(&NewEvent, StreamPos)> =
            written.iter().map(|t| (ev(t), t.pos)).collect();
        self.insert_push_actions(tx, &notified).await?;
        // 5. Their search terms (one statement for the batch's messages).
        self.queue_for_search(tx, &notified).await?;
        // 6. Their PDUs for other servers, committed with them.
        self.queue_for_federation(tx, &notified).await?;
        outcomes.extend(written.iter().map(|t| {
            (
                t.at,
                PersistOutcome::Persisted {
                    stream_ordering: t.pos,
                },
            )
        }));
        Ok(outcomes)
    }
}

/// A message on one extremity that changes nothing but the timeline.
fn is_plain_message(event: &NewEvent) -> bool {
    event.prev_events.len() == 1
        && event.state_key.is_none()
        && event.redaction.is_none()
        && event.create_room.is_none()
}

/// `($1, $2), ($3, $4), ...`: `rows` tuples of `width` parameters.
pub(crate) fn placeholders(rows: usize, width: usize) -> String {
    (0..rows)
        .map(|r| {
            let params: Vec<String> = (1..=width).map(|c| format!("${}", r * width + c)).collect();
            format!("({})", params.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Splits `0..len` into consecutive ranges whose lengths are powers of two
/// no larger than `max` (a power of two), largest first.
pub(crate) fn row_chunks(len: usize, max: usize) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < len {
        let left = len - start;
        let size = if left >= max {
            max
        } else {
            1 << (usize::BITS - 1 - left.leading_zeros())
        };
        out.push(start..start + size);
        start += size;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_powers_of_two_covering_everything() {
        assert!(row_chunks(0, 64).is_empty());
        assert_eq!(row_chunks(1, 64), vec![Range { start: 0, end: 1 }]);
        assert_eq!(row_chunks(13, 64), [0..8, 8..12, 12..13]);
        assert_eq!(row_chunks(64, 64), vec![Range { start: 0, end: 64 }]);
        assert_eq!(row_chunks(130, 64), [0..64, 64..128, 128..130]);
    }

    #[test]
    fn placeholders_number_every_parameter_once() {
        assert_eq!(placeholders(2, 3), "($1, $2, $3), ($4, $5, $6)");
    }
}
