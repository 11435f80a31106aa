//! The outbound federation queue (`FederationOutboxStore`): one ordered
//! queue of PDUs and EDUs per destination server, sent in transactions of
//! at most [`MAX_TXN_PDUS`] PDUs and [`MAX_TXN_EDUS`] EDUs.
//!
//! A local event's PDU rows are written in the transaction that writes the
//! event ([`SqlStore::queue_for_federation`], from `NewEvent::
//! federation_destinations`), so a crash never loses an acknowledged
//! message for another server. The rows of a destination's transaction in
//! flight are marked with its ID until the destination acknowledges it:
//! after a failure, or a restart, the same ID is sent again with the same
//! rows, which the receiver dedupes by origin and transaction ID. Retry
//! state (failures, next try) is kept per destination so backoff survives
//! restarts.

use async_trait::async_trait;
use sqlx::{Any, Row, Transaction};

use crate::message_batch::{placeholders, row_chunks};
use crate::{NewEvent, PushTargetStore, SqlStore, StoreResult, StreamPos};

/// Most PDUs in one transaction (the spec's limit).
pub const MAX_TXN_PDUS: i64 = 50;
/// Most EDUs in one transaction (the spec's limit).
pub const MAX_TXN_EDUS: i64 = 100;

/// Most outbox rows per INSERT (two parameters each).
const ROWS_PER_STATEMENT: usize = 256;

/// The advisory lock key of the federation sender (any constant of our own).
const SENDER_LOCK: i64 = 0x6d69_7373_6665_6473; // "missfeds"

/// Held by the one server process that sends federation transactions (see
/// [`SqlStore::try_lock_federation_sender`]); released when dropped.
pub struct FederationSenderLock {
    /// On PostgreSQL, the session holding the advisory lock, out of the
    /// pool (see `PushDeliveryLock`).
    _session: Option<sqlx::AnyConnection>,
}

/// A transaction to send to one destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundTxn {
    /// Stays the same until the destination acknowledges it.
    pub txn_id: String,
    /// The PDUs' JSON, oldest first.
    pub pdus: Vec<String>,
    /// The EDUs' JSON (`{"edu_type": ..., "content": ...}`), oldest first.
    pub edus: Vec<String>,
}

/// A destination with something queued, and its retry state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingDestination {
    pub destination: String,
    /// Consecutive failed attempts (0: none since the last success).
    pub failures: u32,
    /// Not before this time (ms since the epoch; 0: now).
    pub retry_at: i64,
}

#[async_trait]
pub trait FederationOutboxStore: Send + Sync {
    /// Queues `edu` (its JSON) for each of `destinations`, after what they
    /// have queued already.
    async fn queue_edu(&self, destinations: &[String], edu: &str) -> StoreResult<()>;
    /// The destination's next transaction: the one in flight if there is
    /// one (same ID, same content), else a new one of its oldest queued
    /// PDUs and EDUs, with a new ID made from `now_ms`. `None`: nothing
    /// queued.
    async fn next_transaction(
        &self,
        destination: &str,
        now_ms: i64,
    ) -> StoreResult<Option<OutboundTxn>>;
    /// The destination acknowledged `txn_id`: its rows are removed and its
    /// retry state reset.
    async fn transaction_sent(&self, destination: &str, txn_id: &str) -> StoreResult<()>;
    /// A send to the destination failed: its retry state becomes
    /// `failures` and `retry_at` (ms since the epoch). The transaction in
    /// flight stays as it is.
    async fn transaction_failed(
        &self,
        destination: &str,
        failures: u32,
        retry_at: i64,
    ) -> StoreResult<()>;
    /// Every destination with something queued, with its retry state, by
    /// name.
    async fn pending_destinations(&self) -> StoreResult<Vec<PendingDestination>>;
    /// Drops everything queued for the destination and its state (a
    /// server we may no longer send to).
    async fn drop_destination(&self, destination: &str) -> StoreResult<()>;
    /// The distinct server names of the room's joined members, sorted
    /// (read with the push targets, so cached where they are).
    async fn room_servers(&self, room_id: &str) -> StoreResult<Vec<String>>;
}

impl SqlStore {
    /// Makes this process the one that sends to other servers, if no other
    /// is: one transaction in flight per destination needs one sender. On
    /// PostgreSQL a session advisory lock held as long as the guard; on
    /// SQLite (one process) always granted. `None`: another process sends.
    pub async fn try_lock_federation_sender(&self) -> StoreResult<Option<FederationSenderLock>> {
        if self.backend() == crate::Backend::Sqlite {
            return Ok(Some(FederationSenderLock { _session: None }));
        }
        let mut session = self.write.acquire().await?;
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(SENDER_LOCK)
            .fetch_one(&mut *session)
            .await?;
        Ok(locked.then(|| FederationSenderLock {
            _session: Some(session.detach()),
        }))
    }

    /// Queues the PDUs of `events` (each at its position) for their
    /// `federation_destinations`, inside the transaction writing them.
    pub(crate) async fn queue_for_federation(
        &self,
        tx: &mut Transaction<'static, Any>,
        events: &[(&NewEvent, StreamPos)],
    ) -> StoreResult<()> {
        let rows: Vec<(&String, StreamPos)> = events
            .iter()
            .flat_map(|(e, pos)| e.federation_destinations.iter().map(move |d| (d, *pos)))
            .collect();
        for range in row_chunks(rows.len(), ROWS_PER_STATEMENT) {
            let chunk = &rows[range];
            let sql = format!(
                "INSERT INTO federation_outbox (destination, stream_ordering) VALUES {}",
                placeholders(chunk.len(), 2)
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (destination, pos) in chunk {
                query = query.bind(*destination).bind(*pos);
            }
            query.execute(&mut **tx).await?;
        }
        Ok(())
    }

    /// The rows of the destination's transaction `txn_id`, oldest first:
    /// (PDUs, EDUs). A PDU whose event is gone is left out.
    async fn transaction_rows(
        tx: &mut Transaction<'static, Any>,
        destination: &str,
        txn_id: &str,
    ) -> StoreResult<(Vec<String>, Vec<String>)> {
        let rows = sqlx::query(
            "SELECT o.edu, e.json FROM federation_outbox o \
             LEFT JOIN events e ON e.stream_ordering = o.stream_ordering \
             WHERE o.destination = $1 AND o.txn_id = $2 ORDER BY o.seq",
        )
        .bind(destination)
        .bind(txn_id)
        .fetch_all(&mut **tx)
        .await?;
        let (mut pdus, mut edus) = (Vec::new(), Vec::new());
        for row in rows {
            let edu: Option<String> = row.try_get(0)?;
            let pdu: Option<String> = row.try_get(1)?;
            match (edu, pdu) {
                (Some(edu), _) => edus.push(edu),
                (None, Some(pdu)) => pdus.push(pdu),
                (None, None) => {}
            }
        }
        Ok((pdus, edus))
    }

    /// Marks the destination's oldest free rows of one kind (`is_edu`) as
    /// part of `txn_id`, at most `limit`; how many it marked.
    async fn take_rows(
        tx: &mut Transaction<'static, Any>,
        destination: &str,
        txn_id: &str,
        is_edu: bool,
        limit: i64,
    ) -> StoreResult<u64> {
        let kind = if is_edu {
            "edu IS NOT NULL"
        } else {
            "stream_ordering IS NOT NULL"
        };
        let sql = format!(
            "UPDATE federation_outbox SET txn_id = $2 WHERE seq IN \
             (SELECT seq FROM federation_outbox WHERE destination = $1 AND txn_id IS NULL \
              AND {kind} ORDER BY seq LIMIT $3)"
        );
        let taken = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(destination)
            .bind(txn_id)
            .bind(limit)
            .execute(&mut **tx)
            .await?;
        Ok(taken.rows_affected())
    }
}

#[async_trait]
impl FederationOutboxStore for SqlStore {
    async fn queue_edu(&self, destinations: &[String], edu: &str) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        for range in row_chunks(destinations.len(), ROWS_PER_STATEMENT) {
            let chunk = &destinations[range];
            let sql = format!(
                "INSERT INTO federation_outbox (destination, edu) VALUES {}",
                placeholders(chunk.len(), 2)
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for destination in chunk {
                query = query.bind(destination).bind(edu);
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn next_transaction(
        &self,
        destination: &str,
        now_ms: i64,
    ) -> StoreResult<Option<OutboundTxn>> {
        let mut tx = self.begin().await?;
        let current: Option<(Option<String>, i64)> = sqlx::query_as(
            "SELECT txn_id, txn_counter FROM federation_destinations WHERE destination = $1",
        )
        .bind(destination)
        .fetch_optional(&mut *tx)
        .await?;
        let (in_flight, counter) = current.unwrap_or((None, 0));
        if let Some(txn_id) = in_flight {
            let (pdus, edus) = Self::transaction_rows(&mut tx, destination, &txn_id).await?;
            if !pdus.is_empty() || !edus.is_empty() {
                tx.commit().await?;
                return Ok(Some(OutboundTxn { txn_id, pdus, edus }));
            }
            // Nothing of it is left (its events are gone): its rows would
            // otherwise keep the destination pending forever.
            sqlx::query("DELETE FROM federation_outbox WHERE destination = $1 AND txn_id = $2")
                .bind(destination)
                .bind(&txn_id)
                .execute(&mut *tx)
                .await?;
        }
        // A new ID: the time makes it unique even if the counter started
        // over (a restored database), the counter within one millisecond.
        let counter = counter + 1;
        let txn_id = format!("{now_ms}.{counter}");
        let pdus = Self::take_rows(&mut tx, destination, &txn_id, false, MAX_TXN_PDUS).await?;
        let edus = Self::take_rows(&mut tx, destination, &txn_id, true, MAX_TXN_EDUS).await?;
        if pdus == 0 && edus == 0 {
            tx.rollback().await?;
            return Ok(None);
        }
        sqlx::query(
            "INSERT INTO federation_destinations (destination, txn_id, txn_counter) \
             VALUES ($1, $2, $3) ON CONFLICT (destination) DO UPDATE SET \
             txn_id = excluded.txn_id, txn_counter = excluded.txn_counter",
        )
        .bind(destination)
        .bind(&txn_id)
        .bind(counter)
        .execute(&mut *tx)
        .await?;
        let (pdus, edus) = Self::transaction_rows(&mut tx, destination, &txn_id).await?;
        tx.commit().await?;
        Ok(Some(OutboundTxn { txn_id, pdus, edus }))
    }

    async fn transaction_sent(&self, destination: &str, txn_id: &str) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query("DELETE FROM federation_outbox WHERE destination = $1 AND txn_id = $2")
            .bind(destination)
            .bind(txn_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE federation_destinations SET txn_id = NULL, failures = 0, retry_at = 0 \
             WHERE destination = $1 AND txn_id = $2",
        )
        .bind(destination)
        .bind(txn_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn transaction_failed(
        &self,
        destination: &str,
        failures: u32,
        retry_at: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO federation_destinations (destination, failures, retry_at) \
             VALUES ($1, $2, $3) ON CONFLICT (destination) DO UPDATE SET \
             failures = excluded.failures, retry_at = excluded.retry_at",
        )
        .bind(destination)
        .bind(i64::from(failures))
        .bind(retry_at)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn pending_destinations(&self) -> StoreResult<Vec<PendingDestination>> {
        let rows = sqlx::query(
            "SELECT q.destination, COALESCE(d.failures, 0), COALESCE(d.retry_at, 0) \
             FROM (SELECT DISTINCT destination FROM federation_outbox) q \
             LEFT JOIN federation_destinations d ON d.destination = q.destination \
             ORDER BY q.destination",
        )
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                let failures: i64 = r.try_get(1)?;
                Ok(PendingDestination {
                    destination: r.try_get(0)?,
                    failures: u32::try_from(failures).unwrap_or(u32::MAX),
                    retry_at: r.try_get(2)?,
                })
            })
            .collect()
    }

    async fn drop_destination(&self, destination: &str) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query("DELETE FROM federation_outbox WHERE destination = $1")
            .bind(destination)
            .execute(&mut *tx)
            .await?;
        // The counter stays: a later transaction must not reuse an ID.
        sqlx::query(
            "UPDATE federation_destinations SET txn_id = NULL, failures = 0, retry_at = 0 \
             WHERE destination = $1",
        )
        .bind(destination)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn room_servers(&self, room_id: &str) -> StoreResult<Vec<String>> {
        let members = self.push_targets(room_id).await?;
        let mut servers: Vec<String> = members
            .iter()
            .filter_map(|m| {
                m.user_id
                    .split_once(':')
                    .map(|(_, server)| server.to_owned())
            })
            .collect();
        servers.sort_unstable();
        servers.dedup();
        Ok(servers)
    }
}
