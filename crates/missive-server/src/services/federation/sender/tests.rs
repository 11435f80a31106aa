//! The sender's logic with a recording sink in place of the network, on a
//! SQLite store in a temporary directory.
#![allow(clippy::unwrap_used)]

use std::sync::{
    Mutex,
    atomic::{AtomicI64, Ordering},
};

use missive_federation::Policy;
use missive_store::{EventStore, NewEvent, PendingDestination, RoomRecord, StoreOptions};
use ruma::server_name;

use super::*;

/// What the sink was sent, and what it answers.
#[derive(Default)]
struct Recording {
    sent: Mutex<Vec<(String, OutboundTxn)>>,
    /// Destinations that fail, and those refused.
    failing: Mutex<HashSet<String>>,
    refused: Mutex<HashSet<String>>,
    /// PDU errors every answer reports.
    pdu_errors: Mutex<Vec<(String, String)>>,
}

#[derive(Clone, Default)]
struct RecordingSink(Arc<Recording>);

#[async_trait]
impl TransactionSink for RecordingSink {
    async fn send(
        &self,
        destination: &ServerName,
        txn: &OutboundTxn,
    ) -> Result<Vec<(String, String)>, SendError> {
        let d = destination.to_string();
        self.0.sent.lock().unwrap().push((d.clone(), txn.clone()));
        if self.0.refused.lock().unwrap().contains(&d) {
            return Err(SendError::Refused("not allowed".into()));
        }
        if self.0.failing.lock().unwrap().contains(&d) {
            return Err(SendError::Failed("503".into()));
        }
        Ok(self.0.pdu_errors.lock().unwrap().clone())
    }
}

impl RecordingSink {
    fn take(&self) -> Vec<(String, OutboundTxn)> {
        std::mem::take(&mut *self.0.sent.lock().unwrap())
    }
    fn fail(&self, destination: &str, failing: bool) {
        let mut set = self.0.failing.lock().unwrap();
        if failing {
            set.insert(destination.into());
        } else {
            set.remove(destination);
        }
    }
}

struct Harness {
    store: Arc<SqlStore>,
    sender: Sender<RecordingSink>,
    state: LoopState,
    sink: RecordingSink,
    clock: Arc<AtomicI64>,
}

async fn open(dir: &tempfile::TempDir) -> Arc<SqlStore> {
    Arc::new(
        SqlStore::open(&StoreOptions {
            database_url: None,
            data_dir: dir.path().to_owned(),
            max_connections: 2,
        })
        .await
        .unwrap(),
    )
}

impl Harness {
    /// A sender (as after a start) on the store in `dir`.
    async fn start(dir: &tempfile::TempDir) -> Self {
        let store = open(dir).await;
        let outbound = Outbound::new(
            store.clone(),
            server_name!("here.example").to_owned(),
            Policy::new(Vec::new(), Vec::new()),
        );
        let sink = RecordingSink::default();
        let clock = Arc::new(AtomicI64::new(1_000_000));
        let c = clock.clone();
        let sender = Sender::new(outbound, sink.clone())
            .with_clock(Arc::new(move || c.load(Ordering::SeqCst)));
        Self {
            store,
            sender,
            state: LoopState::new(),
            sink,
            clock,
        }
    }

    fn now(&self) -> i64 {
        self.clock.load(Ordering::SeqCst)
    }

    fn advance(&self, by: Duration) {
        self.clock
            .fetch_add(by.as_millis() as i64, Ordering::SeqCst);
    }

    /// One round of the loop, then every worker it started ends; when
    /// the next retry is due.
    async fn settle(&mut self, sweep: bool) -> Option<i64> {
        let now = self.now();
        self.sender
            .round(&mut self.state, sweep, now)
            .await
            .unwrap();
        while !self.state.active.is_empty() {
            let done = self.state.finished.1.recv().await.unwrap();
            self.state.finish(done);
        }
        self.state.next_retry(now)
    }

    async fn edus(&self, destinations: &[&str], range: std::ops::Range<usize>) {
        let destinations: Vec<String> = destinations.iter().map(|d| d.to_string()).collect();
        for i in range {
            self.store.queue_edu(&destinations, &edu(i)).await.unwrap();
        }
        self.sender.outbound.wake(&destinations);
    }
}

fn edu(i: usize) -> String {
    format!(r#"{{"edu_type":"m.typing","content":{{"n":{i}}}}}"#)
}

fn pdu(i: usize) -> String {
    format!(r#"{{"type":"m.room.message","n":{i}}}"#)
}

/// A room with `count` messages queued for `destinations`.
async fn messages(store: &SqlStore, destinations: &[&str], count: usize) {
    let create = NewEvent {
        event_id: "$create".into(),
        room_id: "!r:here.example".into(),
        sender: "@a:here.example".into(),
        event_type: "m.room.create".into(),
        state_key: Some(String::new()),
        json: "{}".into(),
        create_room: Some(RoomRecord {
            room_id: "!r:here.example".into(),
            room_version: "11".into(),
            creator: "@a:here.example".into(),
            published: false,
            join_rule: "invite".into(),
        }),
        ..Default::default()
    };
    let mut events = vec![create];
    for i in 0..count {
        events.push(NewEvent {
            event_id: format!("$m{i}"),
            room_id: "!r:here.example".into(),
            sender: "@a:here.example".into(),
            event_type: "m.room.message".into(),
            json: pdu(i),
            prev_events: vec![events[events.len() - 1].event_id.clone()],
            federation_destinations: destinations.iter().map(|d| d.to_string()).collect(),
            ..Default::default()
        });
    }
    store.persist_events(events).await.unwrap();
}

#[test]
fn backoff_doubles_from_five_seconds_to_an_hour() {
    assert_eq!(backoff(1), Duration::from_secs(5));
    assert_eq!(backoff(2), Duration::from_secs(10));
    assert_eq!(backoff(3), Duration::from_secs(20));
    assert_eq!(backoff(10), Duration::from_secs(2560));
    assert_eq!(backoff(11), Duration::from_secs(3600));
    assert_eq!(backoff(u32::MAX), Duration::from_secs(3600));
}

#[tokio::test]
async fn queues_are_sent_in_order_in_batches_and_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::start(&dir).await;
    messages(&h.store, &["a.example"], 60).await;
    h.edus(&["a.example"], 0..250).await;
    h.edus(&["b.example"], 0..3).await;
    assert_eq!(h.settle(false).await, None);

    let sent = h.sink.take();
    let to = |d: &str| -> Vec<OutboundTxn> {
        sent.iter()
            .filter(|(x, _)| x == d)
            .map(|(_, t)| t.clone())
            .collect()
    };
    let a = to("a.example");
    assert_eq!(a.len(), 3);
    assert_eq!(a[0].pdus, (0..50).map(pdu).collect::<Vec<_>>());
    assert_eq!(a[0].edus, (0..100).map(edu).collect::<Vec<_>>());
    assert_eq!(a[1].pdus, (50..60).map(pdu).collect::<Vec<_>>());
    assert_eq!(a[1].edus, (100..200).map(edu).collect::<Vec<_>>());
    assert!(a[2].pdus.is_empty());
    assert_eq!(a[2].edus, (200..250).map(edu).collect::<Vec<_>>());
    let ids: HashSet<&String> = a.iter().map(|t| &t.txn_id).collect();
    assert_eq!(ids.len(), 3);
    let b = to("b.example");
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].edus, (0..3).map(edu).collect::<Vec<_>>());
    assert!(h.store.pending_destinations().await.unwrap().is_empty());

    // Nothing left: another round sends nothing.
    h.settle(true).await;
    assert!(h.sink.take().is_empty());
}

#[tokio::test]
async fn a_failed_transaction_is_sent_again_after_backoff() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::start(&dir).await;
    h.sink.fail("a.example", true);
    h.edus(&["a.example", "b.example"], 0..5).await;
    let start = h.now();
    assert_eq!(h.settle(false).await, Some(start + 5_000));
    let sent = h.sink.take();
    // b was delivered; a failed once.
    assert_eq!(sent.len(), 2);
    let first = sent
        .iter()
        .find(|(d, _)| d == "a.example")
        .unwrap()
        .1
        .clone();
    assert_eq!(
        h.store.pending_destinations().await.unwrap(),
        [PendingDestination {
            destination: "a.example".into(),
            failures: 1,
            retry_at: start + 5_000,
        }]
    );

    // Woken before its time (something new queued): it waits.
    h.edus(&["a.example"], 5..6).await;
    h.advance(Duration::from_secs(1));
    h.settle(false).await;
    assert!(h.sink.take().is_empty());

    // Due, still failing: the same transaction, then a doubled delay.
    h.advance(Duration::from_secs(4));
    assert_eq!(h.settle(false).await, Some(h.now() + 10_000));
    let again = h.sink.take();
    assert_eq!(again, [("a.example".to_owned(), first.clone())]);

    // Back up: the same transaction, then what was queued since; the
    // retry state is reset.
    h.sink.fail("a.example", false);
    h.advance(Duration::from_secs(10));
    assert_eq!(h.settle(false).await, None);
    let sent = h.sink.take();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].1, first);
    assert_eq!(sent[1].1.edus, [edu(5)]);
    assert!(h.store.pending_destinations().await.unwrap().is_empty());

    // A later failure starts again from the first delay.
    h.sink.fail("a.example", true);
    h.edus(&["a.example"], 6..7).await;
    assert_eq!(h.settle(false).await, Some(h.now() + 5_000));
}

#[tokio::test]
async fn a_request_from_a_destination_backing_off_ends_its_backoff() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::start(&dir).await;
    h.sink.fail("a.example", true);
    h.edus(&["a.example"], 0..3).await;
    let start = h.now();
    assert_eq!(h.settle(false).await, Some(start + 5_000));
    h.advance(Duration::from_secs(5));
    assert_eq!(h.settle(false).await, Some(h.now() + 10_000));
    h.sink.take();

    // A request from another server that is not backing off changes nothing.
    h.sender.outbound.server_up(server_name!("b.example"));
    h.settle(false).await;
    assert!(h.sink.take().is_empty());

    // a.example restarted and sent us a request: its queue goes at once,
    // long before the 10 s backoff is over.
    h.sink.fail("a.example", false);
    h.sender.outbound.server_up(server_name!("a.example"));
    h.advance(Duration::from_secs(1));
    assert_eq!(h.settle(false).await, None);
    let sent = h.sink.take();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].1.edus, [edu(0), edu(1), edu(2)]);
    assert!(h.store.pending_destinations().await.unwrap().is_empty());

    // Marked up once: a second request finds nothing backing off.
    h.sender.outbound.server_up(server_name!("a.example"));
    h.settle(false).await;
    assert!(h.sink.take().is_empty());
}

#[tokio::test]
async fn a_restart_resumes_the_transaction_in_flight_and_its_backoff() {
    let dir = tempfile::tempdir().unwrap();
    let first = {
        let mut h = Harness::start(&dir).await;
        messages(&h.store, &["a.example"], 3).await;
        h.edus(&["a.example"], 0..2).await;
        h.sink.fail("a.example", true);
        h.settle(false).await;
        let sent = h.sink.take();
        assert_eq!(sent.len(), 1);
        h.store.close().await;
        sent[0].1.clone()
    };
    assert_eq!(first.pdus, (0..3).map(pdu).collect::<Vec<_>>());

    // A new process: the sweep at start finds the queue, which waits for
    // its retry time, then sends the same transaction.
    let mut h = Harness::start(&dir).await;
    assert_eq!(h.settle(true).await, Some(h.now() + 5_000));
    assert!(h.sink.take().is_empty());
    h.advance(Duration::from_secs(5));
    assert_eq!(h.settle(false).await, None);
    assert_eq!(h.sink.take(), [("a.example".to_owned(), first)]);
    assert!(h.store.pending_destinations().await.unwrap().is_empty());
}

#[tokio::test]
async fn refused_destinations_lose_their_queue_and_pdu_errors_are_not_retried() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::start(&dir).await;
    h.sink.0.refused.lock().unwrap().insert("no.example".into());
    *h.sink.0.pdu_errors.lock().unwrap() = vec![("$m0".into(), "bad".into())];
    messages(&h.store, &["no.example", "a.example"], 2).await;
    h.sender
        .outbound
        .wake(&["no.example".into(), "a.example".into()]);
    assert_eq!(h.settle(false).await, None);
    assert_eq!(h.sink.take().len(), 2);
    assert!(h.store.pending_destinations().await.unwrap().is_empty());
    h.settle(true).await;
    assert!(h.sink.take().is_empty());
}

#[tokio::test]
async fn destinations_leave_out_this_server_and_refused_ones() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let outbound = Outbound::new(
        store,
        server_name!("here.example").to_owned(),
        Policy::new(
            vec![
                server_name!("a.example").to_owned(),
                server_name!("here.example").to_owned(),
            ],
            Vec::new(),
        ),
    );
    assert_eq!(
        outbound.destinations_of_members(
            [
                "@x:here.example",
                "@y:a.example",
                "@z:a.example",
                "@w:b.example",
            ],
            Some("@v:a.example"),
        ),
        ["a.example"]
    );
    assert!(
        outbound
            .destinations_of_members(["@x:here.example"], None)
            .is_empty()
    );
}
