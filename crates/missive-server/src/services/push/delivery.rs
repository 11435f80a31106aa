//! Push delivery: one background task (in one server process: the others
//! wait on a database lock to take over) takes each HTTP
//! pusher's notified events after its stored position, posts each to the
//! pusher's gateway in order, and moves the position past it once it is
//! done. The send path only pings the task (`Notifier::notify_pushes`).
//!
//! Done means delivered, or given up on: a gateway that refuses it (4xx),
//! an address outside the push IP allowlist, an event the user may no
//! longer see, or a gateway failing for over a day (as Synapse gives up).
//! A gateway that is down (network error, 429, 5xx) is tried again with
//! exponential backoff, the position unmoved, so a restart resumes there:
//! nothing is lost and nothing acknowledged is sent twice. A pushkey the
//! gateway rejects deletes its pusher.

use futures::StreamExt;
use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::{Duration, Instant},
};

use missive_store::{NotifiedEvent, PusherRecord, PusherStore, SqlStore};
use ruma::{OwnedEventId, OwnedRoomId, OwnedUserId, push::HttpPusherData};

use super::{
    gateway::{Gateway, SendError},
    payload::{self, Notified},
    room_facts::Facts,
};
use crate::services::{notifier::Notifier, reader::Reader};

/// Notified events read per round trip.
const BATCH: i64 = 50;
const FIRST_RETRY: Duration = Duration::from_secs(1);
const MAX_RETRY: Duration = Duration::from_secs(10 * 60);
/// A gateway failing for longer loses the notifications it failed on.
const GIVE_UP_AFTER: Duration = Duration::from_secs(24 * 60 * 60);
/// How often every pusher is looked at (a safety net: every commit of
/// push actions wakes the task for its users).
const IDLE_ROUND: Duration = Duration::from_secs(60);
/// Pushers delivered to at once.
const CONCURRENT_GATEWAYS: usize = 16;

/// A pusher's key: user, app ID, pushkey.
type Key = (String, String, String);

/// A failing pusher: when to try again, and since when it fails.
struct Backoff {
    next_try: Instant,
    delay: Duration,
    failing_since: Instant,
}

/// The delivery task's handles.
pub struct Delivery {
    store: Arc<SqlStore>,
    reader: Reader,
    notifier: Notifier,
    gateway: Gateway,
    facts: Facts,
    backoff: HashMap<Key, Backoff>,
}

/// How one pusher's round ended.
enum Outcome {
    /// Nothing left to send (or the pusher is gone).
    Done,
    /// The gateway is down: try again later.
    Failed(String),
}

impl Delivery {
    pub fn new(store: Arc<SqlStore>, reader: Reader, notifier: Notifier, gateway: Gateway) -> Self {
        Self {
            facts: Facts::new(store.clone()),
            store,
            reader,
            notifier,
            gateway,
            backoff: HashMap::new(),
        }
    }

    /// Runs until the process ends.
    pub fn spawn(mut self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            // One process delivers; the others wait to take over.
            let _lock = loop {
                match self.store.try_lock_push_delivery().await {
                    Ok(Some(lock)) => break lock,
                    Ok(None) => {}
                    Err(e) => tracing::warn!(error = %e, "cannot take the push delivery lock"),
                }
                tokio::time::sleep(IDLE_ROUND).await;
            };
            let mut positions = self.notifier.positions();
            // Every pusher is looked at first (a restart resumes them all),
            // then those of the users woken for, those due for a retry, and
            // all again now and then and when another process wrote.
            let mut sweep = true;
            let mut last_sweep = Instant::now();
            loop {
                let woken = self.notifier.take_push_users();
                if sweep {
                    last_sweep = Instant::now();
                }
                // A failed round (the database) is done again in full.
                let (next, failed) = match self.round(sweep, woken).await {
                    Ok(next) => (next, false),
                    Err(e) => {
                        tracing::warn!(error = %e, "push delivery round failed");
                        (Some(Instant::now() + FIRST_RETRY), true)
                    }
                };
                let sweep_at = last_sweep + IDLE_ROUND;
                let wake_at = next.map_or(sweep_at, |at| at.min(sweep_at));
                sweep = tokio::select! {
                    moved = self.notifier.wait_for_pushes(&mut positions) => moved,
                    _ = tokio::time::sleep_until(wake_at.into()) => false,
                } || failed
                    || last_sweep.elapsed() >= IDLE_ROUND;
            }
        })
    }

    /// Delivers what the pushers looked at have pending (every pusher if
    /// `sweep`, else those of `woken` users and those due for a retry);
    /// returns when the next backing-off pusher is due.
    async fn round(
        &mut self,
        sweep: bool,
        woken: HashSet<String>,
    ) -> Result<Option<Instant>, missive_store::StoreError> {
        let now = Instant::now();
        let pushers = if sweep {
            let all = self.store.all_pushers().await?;
            let keys: HashSet<Key> = all.iter().map(key).collect();
            self.backoff.retain(|k, _| keys.contains(k));
            all
        } else {
            let due = self
                .backoff
                .iter()
                .filter(|(_, b)| b.next_try <= now)
                .map(|(k, _)| k.0.clone());
            let users: HashSet<String> = woken.into_iter().chain(due).collect();
            let mut pushers = Vec::new();
            for user in users {
                if let Ok(user) = OwnedUserId::try_from(user) {
                    pushers.extend(self.store.pushers(&user).await?);
                }
            }
            pushers
        };
        let ready: Vec<(Key, PusherRecord, Option<Instant>)> = pushers
            .into_iter()
            .filter(|p| p.kind == "http")
            .filter_map(|p| {
                let k = key(&p);
                let backoff = self.backoff.get(&k);
                if backoff.is_some_and(|b| b.next_try > now) {
                    return None;
                }
                let failing_since = backoff.map(|b| b.failing_since);
                Some((k, p, failing_since))
            })
            .collect();
        // Gateways are independent: a slow one must not hold up the others.
        let this = &*self;
        let outcomes: Vec<(Key, Outcome)> = futures::stream::iter(ready)
            .map(|(k, p, failing_since)| async move { (k, this.deliver(p, failing_since).await) })
            .buffer_unordered(CONCURRENT_GATEWAYS)
            .collect()
            .await;
        for (k, outcome) in outcomes {
            match outcome {
                Outcome::Done => {
                    self.backoff.remove(&k);
                }
                Outcome::Failed(why) => {
                    let now = Instant::now();
                    let b = self.backoff.entry(k.clone()).or_insert(Backoff {
                        next_try: now,
                        delay: FIRST_RETRY / 2,
                        failing_since: now,
                    });
                    b.delay = (b.delay * 2).min(MAX_RETRY);
                    b.next_try = now + b.delay;
                    tracing::info!(
                        user = %k.0, app_id = %k.1, error = %why,
                        retry_in_ms = b.delay.as_millis() as u64,
                        "push gateway failed; will retry"
                    );
                }
            }
        }
        Ok(self.backoff.values().map(|b| b.next_try).min())
    }

    /// Sends the pusher's pending notifications in order.
    async fn deliver(&self, mut pusher: PusherRecord, failing_since: Option<Instant>) -> Outcome {
        let data: HttpPusherData = match serde_json::from_str(&pusher.data) {
            Ok(data) => data,
            Err(e) => {
                tracing::warn!(user = %pusher.user_id, error = %e, "unreadable pusher data");
                return Outcome::Done;
            }
        };
        loop {
            let batch = match self
                .store
                .notified_after(&pusher.user_id, pusher.last_pushed, BATCH)
                .await
            {
                Ok(batch) => batch,
                Err(e) => return Outcome::Failed(e.to_string()),
            };
            if batch.is_empty() {
                return Outcome::Done;
            }
            for notified in batch {
                let pos = notified.event.stream_ordering;
                match self.send_one(&pusher, &data, notified).await {
                    Ok(rejected) if rejected.contains(&pusher.pushkey) => {
                        tracing::info!(
                            user = %pusher.user_id, app_id = %pusher.app_id,
                            "push gateway rejected the pushkey; pusher deleted"
                        );
                        if let Err(e) = self
                            .store
                            .delete_pusher(&pusher.user_id, &pusher.app_id, &pusher.pushkey)
                            .await
                        {
                            return Outcome::Failed(e.to_string());
                        }
                        return Outcome::Done;
                    }
                    Ok(_) => {}
                    Err(SendError::Permanent(why)) => {
                        tracing::warn!(
                            user = %pusher.user_id, app_id = %pusher.app_id, error = %why,
                            "notification dropped"
                        );
                    }
                    Err(SendError::Transient(why)) => {
                        if failing_since.is_none_or(|since| since.elapsed() < GIVE_UP_AFTER) {
                            return Outcome::Failed(why);
                        }
                        tracing::warn!(
                            user = %pusher.user_id, app_id = %pusher.app_id, error = %why,
                            "push gateway failing for a day; notification dropped"
                        );
                    }
                }
                if let Err(e) = self
                    .store
                    .advance_pusher(&pusher.user_id, &pusher.app_id, &pusher.pushkey, pos)
                    .await
                {
                    return Outcome::Failed(e.to_string());
                }
                pusher.last_pushed = pos;
            }
        }
    }

    /// Builds and posts one notification; the pushkeys rejected.
    async fn send_one(
        &self,
        pusher: &PusherRecord,
        data: &HttpPusherData,
        notified: NotifiedEvent,
    ) -> Result<Vec<String>, SendError> {
        let transient = |e: crate::error::ApiError| SendError::Transient(e.to_string());
        let room_id = OwnedRoomId::try_from(notified.event.room_id.as_str())
            .map_err(|e| SendError::Permanent(e.to_string()))?;
        let event_id = OwnedEventId::try_from(notified.event.event_id.as_str())
            .map_err(|e| SendError::Permanent(e.to_string()))?;
        let user = &pusher.user_id;
        // Only what the user may see leaves the server.
        let visible = self
            .reader
            .filter_visible(&room_id, user, vec![notified.event])
            .await
            .map_err(transient)?;
        let Some(event) = visible.into_iter().next() else {
            return Err(SendError::Permanent(
                "the event is hidden from its user".into(),
            ));
        };
        let client_event = event.to_client();
        let facts = self
            .facts
            .about(&room_id, &event.sender)
            .await
            .map_err(transient)?;
        let actions = self
            .facts
            .actions(user, &room_id, &client_event)
            .await
            .map_err(transient)?;
        let unread_rooms = self.facts.unread_rooms(user).await.map_err(transient)?;
        let notified = Notified {
            event: &client_event,
            room_id,
            event_id,
            highlight: notified.highlight,
            actions: &actions,
            unread_rooms,
            user_is_target: event.event_type == "m.room.member"
                && event.state_key.as_deref() == Some(user.as_str()),
        };
        let notification = payload::notification(pusher, data.clone(), &notified, &facts);
        let url = data.url.clone();
        self.gateway.send(&url, notification).await
    }
}

fn key(p: &PusherRecord) -> Key {
    (p.user_id.to_string(), p.app_id.clone(), p.pushkey.clone())
}
