//! The federation sender: one background task (in one server process; on
//! PostgreSQL the others wait on a database lock to take over) that
//! delivers each destination's queue (`FederationOutboxStore`) in order,
//! one transaction in flight per destination, several destinations at
//! once.
//!
//! A destination is worked on when a writer wakes the task for it
//! ([`Outbound::wake`], after the commit), when its retry time comes, and
//! at every sweep (at start, which resumes whatever a previous run left,
//! then now and then, which finds what other processes queued). Its worker
//! sends transactions until the queue is empty. A transaction the
//! destination answered (2xx) is removed, whatever it said of each PDU
//! (those errors are logged: sending the PDU again would not change
//! them); one that failed (network, non-2xx) stays in flight and is sent
//! again, same ID and content, after an exponential backoff kept in the
//! database, so a restart keeps it too. A destination the domain
//! allowlist refuses loses its queue.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::{Duration, Instant},
};

use async_trait::async_trait;
use missive_federation::{FederationClient, FederationError};
use missive_store::{FederationOutboxStore, OutboundTxn, SqlStore, StoreError, StreamPos};
use ruma::{
    MilliSecondsSinceUnixEpoch, OwnedTransactionId, ServerName,
    api::federation::transactions::send_transaction_message, serde::Raw,
};
use serde_json::value::RawValue;
use tokio::sync::{Semaphore, mpsc, watch};

use super::outbound::Outbound;
use crate::time;

/// The first retry's delay; each failure doubles it, up to [`MAX_RETRY`].
const FIRST_RETRY: Duration = Duration::from_secs(5);
const MAX_RETRY: Duration = Duration::from_secs(60 * 60);
/// How often every destination with something queued is looked at (a
/// safety net locally; how another process's writes are found).
const SWEEP_EVERY: Duration = Duration::from_secs(30);
/// Sweeps prompted by other processes' writes are at least this far apart.
const SWEEP_GAP: Duration = Duration::from_secs(1);
/// Destinations sent to at once.
const CONCURRENT_DESTINATIONS: usize = 32;
/// After a failed database read, the loop waits this long.
const STORE_RETRY: Duration = Duration::from_secs(5);

/// Why a transaction was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// We may not send to the destination (the domain allowlist): its
    /// queue is dropped.
    #[error("refused: {0}")]
    Refused(String),
    /// The destination was not reached or answered an error: sent again
    /// after a backoff.
    #[error("{0}")]
    Failed(String),
}

/// Sends one transaction to one destination: the network, behind a trait
/// so the sender's logic is tested without a second server.
#[async_trait]
pub trait TransactionSink: Send + Sync + 'static {
    /// `Ok`: the destination accepted the transaction (2xx), with the
    /// errors it reported for some PDUs, (event ID, error).
    async fn send(
        &self,
        destination: &ServerName,
        txn: &OutboundTxn,
    ) -> Result<Vec<(String, String)>, SendError>;
}

/// The real sink: `PUT /_matrix/federation/v1/send/{txnId}`.
pub struct ClientSink {
    client: FederationClient,
}

impl ClientSink {
    pub fn new(client: FederationClient) -> Self {
        Self { client }
    }
}

#[async_trait]
impl TransactionSink for ClientSink {
    async fn send(
        &self,
        destination: &ServerName,
        txn: &OutboundTxn,
    ) -> Result<Vec<(String, String)>, SendError> {
        let mut request = send_transaction_message::v1::Request::new(
            OwnedTransactionId::from(txn.txn_id.as_str()),
            self.client.origin().to_owned(),
            MilliSecondsSinceUnixEpoch::now(),
        );
        // Stored JSON that no longer parses (it was checked when written)
        // is left out rather than blocking the queue forever.
        request.pdus = txn
            .pdus
            .iter()
            .filter_map(|pdu| RawValue::from_string(pdu.clone()).ok())
            .collect();
        request.edus = txn
            .edus
            .iter()
            .filter_map(|edu| RawValue::from_string(edu.clone()).ok())
            .map(Raw::from_json)
            .collect();
        match self.client.send(destination, request).await {
            Ok(response) => Ok(response
                .pdus
                .into_iter()
                .filter_map(|(id, result)| result.err().map(|e| (id.to_string(), e)))
                .collect()),
            Err(e @ FederationError::NotAllowed(_)) => Err(SendError::Refused(e.to_string())),
            Err(e) => Err(SendError::Failed(e.to_string())),
        }
    }
}

/// The delay before the next try after `failures` consecutive failures
/// (at least one): 5 s doubling up to an hour.
pub fn backoff(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(20);
    FIRST_RETRY.saturating_mul(1 << doublings).min(MAX_RETRY)
}

/// A destination's retry state, as the loop knows it.
#[derive(Debug, Clone, Copy)]
struct Retry {
    failures: u32,
    /// ms since the epoch.
    at: i64,
}

/// How a worker left its destination.
struct Finished {
    destination: String,
    /// `Some`: it failed; try again then.
    retry: Option<Retry>,
}

/// The sender task's handles.
pub struct Sender<K: TransactionSink> {
    store: Arc<SqlStore>,
    sink: Arc<K>,
    outbound: Outbound,
    /// Wall-clock ms (a parameter so tests can move time).
    clock: Arc<dyn Fn() -> i64 + Send + Sync>,
}

impl<K: TransactionSink> Sender<K> {
    pub fn new(outbound: Outbound, sink: K) -> Self {
        Self {
            store: outbound.store().clone(),
            sink: Arc::new(sink),
            outbound,
            clock: Arc::new(time::now_ms),
        }
    }

    #[cfg(test)]
    fn with_clock(mut self, clock: Arc<dyn Fn() -> i64 + Send + Sync>) -> Self {
        self.clock = clock;
        self
    }

    /// Runs until the process ends. `positions` follows the committed
    /// stream position (which other processes' writes move): a sweep then
    /// finds what they queued.
    pub fn spawn(
        self,
        positions: Option<watch::Receiver<StreamPos>>,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            // One process sends; the others wait to take over.
            let _lock = loop {
                match self.store.try_lock_federation_sender().await {
                    Ok(Some(lock)) => break lock,
                    Ok(None) => {}
                    Err(e) => tracing::warn!(error = %e, "cannot take the federation sender lock"),
                }
                tokio::time::sleep(SWEEP_EVERY).await;
            };
            self.run(positions).await;
        })
    }

    async fn run(self, mut positions: Option<watch::Receiver<StreamPos>>) {
        let mut state = LoopState::new();
        let mut sweep = true;
        // Another process wrote since the last sweep: sweep once the gap
        // since the last one has passed.
        let mut sweep_soon = false;
        let mut last_sweep = Instant::now();
        loop {
            if sweep {
                last_sweep = Instant::now();
                sweep_soon = false;
            }
            let now = (self.clock)();
            // A failed round (the database) is done again in full.
            let (next_retry, failed) = match self.round(&mut state, sweep, now).await {
                Ok(()) => (state.next_retry(now), false),
                Err(e) => {
                    tracing::warn!(error = %e, "federation sender round failed");
                    (Some(now + STORE_RETRY.as_millis() as i64), true)
                }
            };
            let mut wake_at = last_sweep + SWEEP_EVERY;
            if sweep_soon {
                wake_at = wake_at.min(last_sweep + SWEEP_GAP);
            }
            if let Some(at) = next_retry {
                let wait = u64::try_from(at - now).unwrap_or(0);
                wake_at = wake_at.min(Instant::now() + Duration::from_millis(wait));
            }
            let moved = async {
                match positions.as_mut() {
                    Some(p) => p.changed().await.is_ok(),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = self.outbound.woken() => {}
                Some(done) = state.finished.1.recv() => state.finish(done),
                true = moved => sweep_soon = true,
                () = tokio::time::sleep_until(wake_at.into()) => {}
            }
            let since = last_sweep.elapsed();
            sweep = failed || since >= SWEEP_EVERY || (sweep_soon && since >= SWEEP_GAP);
        }
    }

    /// Starts a worker for every destination that needs one (every one
    /// with something queued if `sweep`, else those woken for and those
    /// due for a retry).
    async fn round(&self, state: &mut LoopState, sweep: bool, now: i64) -> Result<(), StoreError> {
        let mut candidates: HashSet<String> = self.outbound.take_woken();
        for destination in self.outbound.take_revived() {
            // Up again: retried now, its failures forgotten.
            state.retry.remove(&destination);
            candidates.insert(destination);
        }
        if sweep {
            for pending in self.store.pending_destinations().await? {
                if pending.failures > 0 {
                    state.retry.insert(
                        pending.destination.clone(),
                        Retry {
                            failures: pending.failures,
                            at: pending.retry_at,
                        },
                    );
                }
                candidates.insert(pending.destination);
            }
        }
        candidates.extend(
            state
                .retry
                .iter()
                .filter(|(_, r)| r.at <= now)
                .map(|(d, _)| d.clone()),
        );
        for destination in candidates {
            if state.active.contains(&destination) {
                // Whatever was queued meanwhile is looked at once it ends.
                state.again.insert(destination);
                continue;
            }
            let retry = state.retry.get(&destination).copied();
            if retry.is_some_and(|r| r.at > now) {
                // Backing off: the queue waits (it is kept in the database).
                continue;
            }
            self.start_worker(state, destination, retry.map_or(0, |r| r.failures));
        }
        self.outbound.set_backing_off(
            state
                .retry
                .iter()
                .filter(|(_, r)| r.failures > 0)
                .map(|(d, _)| d.clone()),
        );
        Ok(())
    }

    fn start_worker(&self, state: &mut LoopState, destination: String, failures: u32) {
        state.active.insert(destination.clone());
        let worker = Worker {
            store: self.store.clone(),
            sink: self.sink.clone(),
            clock: self.clock.clone(),
        };
        let permits = state.permits.clone();
        let done = state.finished.0.clone();
        tokio::spawn(async move {
            // Bounded: a permit per destination in flight.
            let _permit = permits.acquire_owned().await;
            let retry = worker.drain(&destination, failures).await;
            let _ = done.send(Finished { destination, retry });
        });
    }
}

/// The loop's view of destinations: those being worked on, those woken for
/// while being worked on, and those backing off.
struct LoopState {
    active: HashSet<String>,
    again: HashSet<String>,
    retry: HashMap<String, Retry>,
    permits: Arc<Semaphore>,
    finished: (
        mpsc::UnboundedSender<Finished>,
        mpsc::UnboundedReceiver<Finished>,
    ),
}

impl LoopState {
    fn new() -> Self {
        Self {
            active: HashSet::new(),
            again: HashSet::new(),
            retry: HashMap::new(),
            permits: Arc::new(Semaphore::new(CONCURRENT_DESTINATIONS)),
            finished: mpsc::unbounded_channel(),
        }
    }

    /// When the next destination backing off is due (ms).
    fn next_retry(&self, now: i64) -> Option<i64> {
        self.retry
            .values()
            .map(|r| r.at)
            .filter(|at| *at > now)
            .min()
    }

    /// A worker ended: a failed destination backs off; one woken for
    /// meanwhile is looked at again.
    fn finish(&mut self, done: Finished) {
        self.active.remove(&done.destination);
        let again = self.again.remove(&done.destination);
        match done.retry {
            Some(retry) => {
                self.retry.insert(done.destination, retry);
            }
            None => {
                self.retry.remove(&done.destination);
                if again {
                    // Due now: the next round starts it.
                    self.retry
                        .insert(done.destination, Retry { failures: 0, at: 0 });
                }
            }
        }
    }
}

/// Sends one destination's queue.
struct Worker<K: TransactionSink> {
    store: Arc<SqlStore>,
    sink: Arc<K>,
    clock: Arc<dyn Fn() -> i64 + Send + Sync>,
}

impl<K: TransactionSink> Worker<K> {
    /// Sends transactions until the queue is empty (`None`) or one fails
    /// (when to try again). `failures`: the destination's failures so far.
    async fn drain(&self, destination: &str, failures: u32) -> Option<Retry> {
        match self.try_drain(destination, failures).await {
            Ok(retry) => retry,
            Err(e) => {
                // The database: the same backoff as a failed send, without
                // counting it against the destination.
                tracing::warn!(destination, error = %e, "federation queue unreadable");
                Some(Retry {
                    failures,
                    at: (self.clock)() + STORE_RETRY.as_millis() as i64,
                })
            }
        }
    }

    async fn try_drain(
        &self,
        destination: &str,
        mut failures: u32,
    ) -> Result<Option<Retry>, StoreError> {
        let Ok(server) = ServerName::parse(destination) else {
            tracing::warn!(
                destination,
                "not a server name; its federation queue is dropped"
            );
            self.store.drop_destination(destination).await?;
            return Ok(None);
        };
        while let Some(txn) = self
            .store
            .next_transaction(destination, (self.clock)())
            .await?
        {
            match self.sink.send(&server, &txn).await {
                Ok(rejected) => {
                    for (event_id, error) in rejected {
                        tracing::info!(destination, event_id, error, "a PDU was refused");
                    }
                    self.store
                        .transaction_sent(destination, &txn.txn_id)
                        .await?;
                    failures = 0;
                }
                Err(SendError::Refused(why)) => {
                    tracing::warn!(
                        destination,
                        why,
                        "may not send; its federation queue is dropped"
                    );
                    self.store.drop_destination(destination).await?;
                    return Ok(None);
                }
                Err(SendError::Failed(why)) => {
                    let failures = failures.saturating_add(1);
                    let delay = backoff(failures);
                    let at = (self.clock)() + delay.as_millis() as i64;
                    tracing::info!(
                        destination,
                        txn_id = txn.txn_id,
                        failures,
                        retry_in_secs = delay.as_secs(),
                        why,
                        "federation transaction failed"
                    );
                    self.store
                        .transaction_failed(destination, failures, at)
                        .await?;
                    return Ok(Some(Retry { failures, at }));
                }
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests;
