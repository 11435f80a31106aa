//! Wakes long-polling syncs when the stream moves for their user.
//!
//! Writers call [`Notifier::notify_users`] with the position they committed
//! and the users the write concerns (a room's members, a to-device
//! message's recipients, the owner of account data; see `audience`): only
//! those users' syncs wake. Every idle client holds a sync open, so waking
//! all of them for each message made the server assemble thousands of empty
//! answers per message. [`Notifier::notify`] wakes every sync: for writes
//! whose audience is not known, and on PostgreSQL for positions committed by
//! other server processes (relayed through LISTEN/NOTIFY).

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::Duration,
};

use missive_store::StreamPos;
use tokio::sync::{Notify, mpsc, watch};

#[derive(Clone)]
pub struct Notifier {
    inner: Arc<Inner>,
}

struct Inner {
    /// The committed position. A send wakes every sync; positions announced
    /// to some users only update it silently.
    position: watch::Sender<StreamPos>,
    /// Per user with syncs waiting: the user's wake, and how many wait.
    waiting: Mutex<HashMap<String, (watch::Sender<()>, usize)>>,
    /// Set when the server shuts down: waits end at once.
    closing: watch::Sender<bool>,
    /// Pinged when new push actions are committed: push delivery waits on
    /// it (a stored permit means a ping during a delivery round is not
    /// lost), then takes the users they are for.
    pushes: Notify,
    push_users: Mutex<HashSet<String>>,
}

impl Notifier {
    pub fn new(current: StreamPos) -> Self {
        Self {
            inner: Arc::new(Inner {
                position: watch::Sender::new(current),
                waiting: Mutex::new(HashMap::new()),
                closing: watch::Sender::new(false),
                pushes: Notify::new(),
                push_users: Mutex::new(HashSet::new()),
            }),
        }
    }

    /// Relays positions from another source (the database's channel).
    pub fn follow(&self, mut positions: mpsc::Receiver<StreamPos>) {
        let this = self.clone();
        tokio::spawn(async move {
            while let Some(pos) = positions.recv().await {
                this.notify(pos);
            }
        });
    }

    /// Announces that everything up to `pos` is committed, and wakes every
    /// sync if that is news.
    pub fn notify(&self, pos: StreamPos) {
        self.inner.position.send_if_modified(|current| {
            if pos > *current {
                *current = pos;
                true
            } else {
                false
            }
        });
    }

    /// Announces that everything up to `pos` is committed, and wakes the
    /// syncs of `users`, whom the write at `pos` concerns.
    pub fn notify_users<'a>(&self, pos: StreamPos, users: impl IntoIterator<Item = &'a str>) {
        // The position first: a woken sync reads it to know what to send.
        self.inner.position.send_if_modified(|current| {
            *current = pos.max(*current);
            false
        });
        let waiting = self.inner.waiting.lock().unwrap_or_else(|e| e.into_inner());
        if waiting.is_empty() {
            return;
        }
        for user in users {
            if let Some((wake, _)) = waiting.get(user) {
                wake.send_replace(());
            }
        }
    }

    /// Tells push delivery that notifications for `users` were committed.
    pub fn notify_pushes<'a>(&self, users: impl IntoIterator<Item = &'a str>) {
        let mut pending = self
            .inner
            .push_users
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        pending.extend(users.into_iter().map(str::to_owned));
        drop(pending);
        self.inner.pushes.notify_one();
    }

    /// The users announced by [`Notifier::notify_pushes`] since the last
    /// call.
    pub fn take_push_users(&self) -> HashSet<String> {
        std::mem::take(
            &mut *self
                .inner
                .push_users
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        )
    }

    /// Waits until [`Notifier::notify_pushes`] is called (or was, since
    /// the last wait ended), or the committed position moves for everyone
    /// (`position` follows it: positions from other processes, whose
    /// users are not known here); `true` in that second case.
    pub async fn wait_for_pushes(&self, position: &mut watch::Receiver<StreamPos>) -> bool {
        tokio::select! {
            _ = self.inner.pushes.notified() => false,
            _ = position.changed() => true,
        }
    }

    /// Follows the committed position: it changes when every sync is woken
    /// (positions relayed from other processes, housekeeping).
    pub fn positions(&self) -> watch::Receiver<StreamPos> {
        self.inner.position.subscribe()
    }

    pub fn current(&self) -> StreamPos {
        *self.inner.position.borrow()
    }

    /// Ends every wait, now and later: the server is shutting down, and a
    /// held long poll answered now lets its connection close at once.
    pub fn close(&self) {
        self.inner.closing.send_replace(true);
    }

    pub fn is_closing(&self) -> bool {
        *self.inner.closing.borrow()
    }

    /// Starts listening for news for `user`. Take it before reading the
    /// position an answer is based on: what is announced after that read
    /// then ends the wait.
    pub fn listen(&self, user: &str) -> Listener {
        let mut waiting = self.inner.waiting.lock().unwrap_or_else(|e| e.into_inner());
        let (wake, count) = waiting
            .entry(user.to_owned())
            .or_insert_with(|| (watch::Sender::new(()), 0));
        *count += 1;
        Listener {
            closing: self.inner.closing.subscribe(),
            everyone: self.inner.position.subscribe(),
            mine: wake.subscribe(),
            user: user.to_owned(),
            notifier: self.clone(),
        }
    }
}

/// A sync's registration for wakes (see [`Notifier::listen`]).
pub struct Listener {
    closing: watch::Receiver<bool>,
    everyone: watch::Receiver<StreamPos>,
    mine: watch::Receiver<()>,
    user: String,
    notifier: Notifier,
}

impl Listener {
    /// Waits until a write announced since [`Notifier::listen`] concerns
    /// the user (or everyone), or `timeout` elapses. Returns whether one
    /// did.
    pub async fn wait(&mut self, timeout: Duration) -> bool {
        let woken = async {
            tokio::select! {
                r = self.everyone.changed() => r.is_ok(),
                r = self.mine.changed() => r.is_ok(),
                r = self.closing.wait_for(|closing| *closing) => r.is_ok(),
            }
        };
        let woken = tokio::time::timeout(timeout, woken).await.unwrap_or(false);
        // The next wait is for what comes after this one.
        self.everyone.mark_unchanged();
        self.mine.mark_unchanged();
        woken
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let mut waiting = self
            .notifier
            .inner
            .waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some((_, count)) = waiting.get_mut(&self.user) {
            *count -= 1;
            if *count == 0 {
                waiting.remove(&self.user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(n: i64) -> StreamPos {
        StreamPos::new(n)
    }

    #[tokio::test]
    async fn a_waiting_sync_wakes_on_notify() {
        let n = Notifier::new(p(5));
        let mut listener = n.listen("@a:x");
        let waiter = tokio::spawn(async move { listener.wait(Duration::from_secs(3600)).await });
        tokio::task::yield_now().await;
        n.notify(p(6));
        assert!(waiter.await.unwrap());
        assert_eq!(n.current(), p(6));
    }

    #[tokio::test]
    async fn positions_never_go_back() {
        let n = Notifier::new(p(10));
        n.notify(p(3));
        n.notify_users(p(4), ["@a:x"]);
        assert_eq!(n.current(), p(10));
    }

    /// A write for some users wakes their syncs and no one else's, and
    /// still moves the position every sync reads.
    #[tokio::test(start_paused = true)]
    async fn only_the_concerned_users_wake() {
        let n = Notifier::new(p(1));
        let mut alice = n.listen("@alice:x");
        let mut bob = n.listen("@bob:x");
        n.notify_users(p(2), ["@alice:x", "@carol:x"]);
        assert!(alice.wait(Duration::from_secs(30)).await);
        assert!(!bob.wait(Duration::from_secs(30)).await);
        assert_eq!(n.current(), p(2));
    }

    /// What was announced between `listen` and `wait` is not missed, and a
    /// wait after it waits for something new.
    #[tokio::test(start_paused = true)]
    async fn news_before_the_wait_counts_once() {
        let n = Notifier::new(p(1));
        let mut alice = n.listen("@alice:x");
        n.notify_users(p(2), ["@alice:x"]);
        assert!(alice.wait(Duration::from_secs(30)).await);
        assert!(!alice.wait(Duration::from_secs(30)).await);
        n.notify(p(3));
        assert!(alice.wait(Duration::from_secs(30)).await);
    }

    #[tokio::test]
    async fn listeners_are_forgotten_when_dropped() {
        let n = Notifier::new(p(1));
        let first = n.listen("@alice:x");
        let second = n.listen("@alice:x");
        drop(first);
        assert_eq!(n.inner.waiting.lock().unwrap().len(), 1);
        drop(second);
        assert!(n.inner.waiting.lock().unwrap().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn closing_ends_every_wait() {
        let n = Notifier::new(p(1));
        let mut alice = n.listen("@alice:x");
        n.close();
        assert!(alice.wait(Duration::from_secs(3600)).await);
        assert!(n.listen("@bob:x").wait(Duration::from_secs(3600)).await);
    }

    #[tokio::test(start_paused = true)]
    async fn a_quiet_stream_times_out() {
        let n = Notifier::new(p(1));
        assert!(!n.listen("@a:x").wait(Duration::from_secs(30)).await);
    }
}
