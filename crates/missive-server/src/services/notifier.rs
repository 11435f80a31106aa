//! Wakes long-polling syncs when the stream moves.
//!
//! Writers call [`Notifier::notify`] with the position they committed. On
//! PostgreSQL the store also relays positions committed by other server
//! processes (LISTEN/NOTIFY), so a sync waiting here wakes whichever process
//! handled the write.

use std::time::Duration;

use missive_store::StreamPos;
use tokio::sync::{mpsc, watch};

#[derive(Clone)]
pub struct Notifier {
    position: watch::Sender<StreamPos>,
}

impl Notifier {
    pub fn new(current: StreamPos) -> Self {
        Self {
            position: watch::Sender::new(current),
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

    /// Announces that everything up to `pos` is committed.
    pub fn notify(&self, pos: StreamPos) {
        self.position.send_if_modified(|current| {
            if pos > *current {
                *current = pos;
                true
            } else {
                false
            }
        });
    }

    pub fn current(&self) -> StreamPos {
        *self.position.borrow()
    }

    /// Waits until the stream moves past `since` or `timeout` elapses.
    /// Returns whether it moved.
    pub async fn wait_past(&self, since: StreamPos, timeout: Duration) -> bool {
        let mut rx = self.position.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|pos| *pos > since))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_waiting_sync_wakes_on_notify() {
        let n = Notifier::new(5);
        let waiter = {
            let n = n.clone();
            tokio::spawn(async move { n.wait_past(5, Duration::from_secs(3600)).await })
        };
        tokio::task::yield_now().await;
        n.notify(6);
        assert!(waiter.await.unwrap());
        assert_eq!(n.current(), 6);
    }

    #[tokio::test]
    async fn positions_never_go_back() {
        let n = Notifier::new(10);
        n.notify(3);
        assert_eq!(n.current(), 10);
        assert!(n.wait_past(9, Duration::from_secs(3600)).await);
    }

    #[tokio::test(start_paused = true)]
    async fn a_quiet_stream_times_out() {
        let n = Notifier::new(1);
        assert!(!n.wait_past(1, Duration::from_secs(30)).await);
    }
}
