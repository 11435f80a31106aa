//! Group commit for events: concurrent writers share one transaction, so one
//! disk flush acknowledges many messages instead of one each.
//!
//! A single task owns the write path for events. It takes the first waiting
//! request, then every other one already queued (up to [`MAX_BATCH`]), and
//! writes them in one transaction, each inside its own savepoint: a request
//! that fails (a concurrent change to its room, a bad row) is rolled back
//! alone and answered with its own error while the others commit. Nobody is
//! answered before the commit, so an acknowledged event is durable. Under
//! light load a batch is a single event and nothing waits for company.

use sqlx::{Any, Transaction};
use tokio::sync::{mpsc, oneshot};

use crate::{NewEvent, PersistOutcome, SqlStore, StoreError, StoreResult};

/// Most events written in one transaction.
const MAX_BATCH: usize = 256;

/// Requests waiting for the writer task beyond the batch being written.
const QUEUE: usize = 4096;

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
    while let Some(first) = requests.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match requests.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        store.write_batch(batch).await;
    }
}

impl SqlStore {
    async fn write_batch(&self, batch: Vec<Request>) {
        let (events, replies): (Vec<_>, Vec<_>) =
            batch.into_iter().map(|r| (r.event, r.reply)).unzip();
        let results = match self.write_events_in_savepoints(&events).await {
            Ok(results) => results,
            Err(e) => {
                let why = e.to_string();
                tracing::error!(error = %why, events = events.len(), "event batch failed");
                events
                    .iter()
                    .map(|_| Err(StoreError::BatchFailed(why.clone())))
                    .collect()
            }
        };
        for (reply, result) in replies.into_iter().zip(results) {
            // A writer that gave up waiting is no reason to stop.
            let _ = reply.send(result);
        }
    }

    /// Writes `events` in one transaction, one savepoint each, and commits.
    /// The outer error means nothing was committed.
    async fn write_events_in_savepoints(
        &self,
        events: &[NewEvent],
    ) -> StoreResult<Vec<StoreResult<PersistOutcome>>> {
        let mut tx = self.begin().await?;
        let mut results = Vec::with_capacity(events.len());
        for event in events {
            savepoint(&mut tx, "SAVEPOINT one_event").await?;
            let result = self.insert_event(&mut tx, event).await;
            if !matches!(result, Ok(PersistOutcome::Persisted { .. })) {
                // A duplicate or a failure leaves nothing behind.
                savepoint(&mut tx, "ROLLBACK TO SAVEPOINT one_event").await?;
            }
            savepoint(&mut tx, "RELEASE SAVEPOINT one_event").await?;
            results.push(result);
        }
        tx.commit().await?;
        Ok(results)
    }
}

async fn savepoint(tx: &mut Transaction<'static, Any>, statement: &'static str) -> StoreResult<()> {
    sqlx::query(statement).execute(&mut **tx).await?;
    Ok(())
}
