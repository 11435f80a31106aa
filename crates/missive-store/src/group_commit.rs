//! Group commit for events: concurrent writers share one transaction, so one
//! disk flush acknowledges many messages instead of one each.
//!
//! A single task owns the write path for events. It takes the first waiting
//! request, then every other one already queued (up to [`MAX_BATCH`]), and
//! writes them in one transaction. A request turned away (a concurrent
//! change to its room, a used transaction ID) is found before it writes
//! anything and answered with its own error while the others commit; one
//! that fails mid-write (a bad row) aborts the transaction, is answered
//! with its error, and the others are written again without it. Nobody is
//! answered before the commit, so an acknowledged event is durable. Under
//! light load a batch is a single event and nothing waits for company.
//! The batch's plain messages share their statements (`message_batch`);
//! if a shared statement fails, the batch is written again one event at a
//! time, which finds the event at fault. A batch the database aborted to
//! break a deadlock with another process is written again as it was.
//!
//! Once no writer has come for [`IDLE_BEFORE_INDEXING`] (or after
//! [`INDEX_EVERY`] batches, so that a steady load cannot starve it), the
//! task moves the events its batches queued for search into the full-text
//! index, many at a time: off the path of the sends waiting for their
//! commit, and one FTS5 segment for many messages instead of one each.

use tokio::sync::{mpsc, oneshot};

use crate::{NewEvent, PersistOutcome, SqlStore, StoreError, StoreResult, StreamPos};

/// Most events written in one transaction.
const MAX_BATCH: usize = 256;

/// Times a batch is written again after the database aborted it to break
/// a deadlock with another process.
const MAX_CONFLICT_RETRIES: usize = 5;

/// Requests waiting for the writer task beyond the batch being written.
const QUEUE: usize = 4096;

/// Batches written before the writer moves their events into the search
/// index even though writers keep coming.
const INDEX_EVERY: usize = 16;

/// How long the writer waits for the next batch before it moves the events
/// written so far into the search index: one index transaction for every
/// burst of messages, and none between a send and the next one of a
/// conversation.
const IDLE_BEFORE_INDEXING: std::time::Duration = std::time::Duration::from_millis(250);

pub(crate) struct Request {
    event: NewEvent,
    reply: oneshot::Sender<StoreResult<PersistOutcome>>,
}

/// The handle writers send their events through.
#[derive(Clone)]
pub(crate) struct GroupCommit {
    queue: mpsc::Sender<Request>,
}

impl GroupCommit {
    /// Starts the writer task on `writer`, a store without a committer of
    /// its own: the task ends when every handle is dropped.
    pub(crate) fn start(writer: SqlStore) -> Self {
        let (queue, requests) = mpsc::channel(QUEUE);
        tokio::spawn(run(writer, requests));
        Self { queue }
    }

    pub(crate) async fn persist(&self, event: NewEvent) -> StoreResult<PersistOutcome> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Request { event, reply })
            .await
            .map_err(|_| StoreError::WriterGone)?;
        answer.await.map_err(|_| StoreError::WriterGone)?
    }
}

async fn run(store: SqlStore, mut requests: mpsc::Receiver<Request>) {
    // Batches written since their events were last moved into the index.
    let mut unindexed = 0;
    loop {
        let first = if unindexed == 0 {
            requests.recv().await
        } else {
            match tokio::time::timeout(IDLE_BEFORE_INDEXING, requests.recv()).await {
                Ok(next) => next,
                Err(_) => {
                    store.index_queued_events().await;
                    unindexed = 0;
                    continue;
                }
            }
        };
        let Some(first) = first else { break };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match requests.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        // Batch sizes and times (MISSIVE_LOG=missive_store=debug) show
        // whether the writer keeps up: under load its batches grow.
        let (events, started) = (batch.len(), std::time::Instant::now());
        store.write_batch(batch).await;
        tracing::debug!(
            events,
            micros = started.elapsed().as_micros() as u64,
            "event batch written"
        );
        unindexed += 1;
        if unindexed >= INDEX_EVERY {
            store.index_queued_events().await;
            unindexed = 0;
        }
    }
    store.index_queued_events().await;
}

impl SqlStore {
    /// Moves every event queued for search into the index. A failure
    /// leaves them queued: the next round, or the next search, indexes
    /// them.
    async fn index_queued_events(&self) {
        if let Err(e) = self.index_all_queued().await {
            tracing::warn!(error = %e, "indexing new events for search failed");
        }
    }

    async fn write_batch(&self, batch: Vec<Request>) {
        let (events, replies): (Vec<_>, Vec<_>) =
            batch.into_iter().map(|r| (r.event, r.reply)).unzip();
        let mut results: Vec<Option<StoreResult<PersistOutcome>>> =
            events.iter().map(|_| None).collect();
        // Events to write in the next attempt (indexes into `events`).
        let mut pending: Vec<usize> = (0..events.len()).collect();
        // Plain messages share statements until a batch fails that way.
        let mut together = true;
        let mut conflicts = 0;
        while !pending.is_empty() {
            let written = self.write_events(&events, &pending, together).await;
            if let Err(Failure::Together(e) | Failure::Event(_, e) | Failure::Batch(e)) = &written
                && crate::error::is_transient(e)
                && conflicts < MAX_CONFLICT_RETRIES
            {
                // Another process's transaction and this one waited for each
                // other; the database aborted this one. Nothing is wrong
                // with the events: write them again.
                conflicts += 1;
                tracing::warn!(error = %e, "event batch aborted by a conflict; writing it again");
                continue;
            }
            match written {
                Ok(outcomes) => {
                    for (i, outcome) in pending.iter().zip(outcomes) {
                        results[*i] = Some(outcome);
                    }
                    pending.clear();
                }
                Err(Failure::Together(e)) => {
                    // Which message broke a shared statement is unknown:
                    // write them again one by one, which finds it.
                    tracing::warn!(error = %e, "batched message write failed; writing one by one");
                    together = false;
                }
                Err(Failure::Event(at, e)) => {
                    // That event may be half written and the transaction
                    // is gone: it fails alone, the others are written again.
                    tracing::warn!(error = %e, "event write failed; writing the rest again");
                    results[pending.remove(at)] = Some(Err(e));
                }
                Err(Failure::Batch(e)) => {
                    let why = e.to_string();
                    tracing::error!(error = %why, events = pending.len(), "event batch failed");
                    for i in pending.drain(..) {
                        results[i] = Some(Err(StoreError::BatchFailed(why.clone())));
                    }
                }
            }
        }
        for (reply, result) in replies.into_iter().zip(results) {
            let result = result.unwrap_or_else(|| Err(StoreError::WriterGone));
            // A writer that gave up waiting is no reason to stop.
            let _ = reply.send(result);
        }
    }

    /// Writes the `pending` events in one transaction and commits. An event
    /// turned away (see [`SqlStore::insert_event`]) has written nothing, so
    /// it needs no savepoint of its own: one statement fewer each way.
    /// `together`: plain messages first share statements (see
    /// `message_batch`), the rest are written one by one.
    async fn write_events(
        &self,
        events: &[NewEvent],
        pending: &[usize],
        together: bool,
    ) -> Result<Vec<StoreResult<PersistOutcome>>, Failure> {
        let mut tx = self.begin().await.map_err(Failure::Batch)?;
        // Positions for the whole batch in one statement; an event turned
        // away leaves its own unused.
        let last = self
            .next_positions(&mut tx, pending.len(), crate::StreamKind::Events)
            .await
            .map_err(Failure::Batch)?;
        let batch: Vec<(&NewEvent, StreamPos)> = pending
            .iter()
            .zip(StreamPos::run_ending_at(last, pending.len()))
            .map(|(&i, pos)| (&events[i], pos))
            .collect();
        let mut results: Vec<Option<StoreResult<PersistOutcome>>> =
            pending.iter().map(|_| None).collect();
        if together {
            let written = self
                .insert_messages(&mut tx, &batch)
                .await
                .map_err(Failure::Together)?;
            for (at, outcome) in written {
                results[at] = Some(Ok(outcome));
            }
        }
        for (at, (event, pos)) in batch.iter().enumerate() {
            if results[at].is_some() {
                continue;
            }
            match self.insert_event(&mut tx, event, *pos).await {
                Ok(outcome) => results[at] = Some(Ok(outcome)),
                Err(e @ (StoreError::RoomChanged(_) | StoreError::AlreadyExists(_))) => {
                    results[at] = Some(Err(e))
                }
                Err(e) => return Err(Failure::Event(at, e)),
            }
        }
        tx.commit().await.map_err(|e| Failure::Batch(e.into()))?;
        self.events_committed(pending.iter().map(|&i| &events[i]));
        Ok(results
            .into_iter()
            .map(|r| r.unwrap_or(Err(StoreError::WriterGone)))
            .collect())
    }
}

/// Why a batch's transaction did not commit.
enum Failure {
    /// A statement shared by several messages failed: nothing committed.
    Together(StoreError),
    /// The event at this index of the pending list failed mid-write.
    Event(usize, StoreError),
    /// Beginning or committing failed: nothing was written.
    Batch(StoreError),
}
