//! Which kinds of stream data changed since a position, known without a
//! query.
//!
//! A sync asks for account data, presence, receipts, typing, device-list
//! changes and membership changes "since" its last position; most of the
//! time none of them moved, and each question is a round trip to the
//! database. Every stream position is taken through
//! [`SqlStore::next_positions`](crate::SqlStore), which records here the
//! newest position of each kind, so those questions can be answered "none"
//! without asking.
//!
//! Only where this process sees every write: on SQLite (one process owns
//! the file). On PostgreSQL other processes write too, so every kind counts
//! as changed and the queries always run. A position is recorded when it is
//! taken, before its transaction commits: a sync may then ask in vain, but
//! never skips a change.

use std::sync::atomic::{AtomicI64, Ordering};

use crate::StreamPos;

/// The kinds of data a stream position can be taken for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    Events,
    /// Membership events (also recorded as [`StreamKind::Events`]).
    Memberships,
    AccountData,
    Presence,
    Receipts,
    Typing,
    ToDevice,
    DeviceLists,
}

const KINDS: usize = 8;

pub(crate) struct StreamChanges {
    /// Whether this process sees every write (see the module comment).
    complete: bool,
    newest: [AtomicI64; KINDS],
}

impl StreamChanges {
    /// `start`: the stream's position when the store opened; everything
    /// before it counts as changed at it.
    pub(crate) fn new(start: StreamPos, complete: bool) -> Self {
        Self {
            complete,
            newest: std::array::from_fn(|_| AtomicI64::new(start.get())),
        }
    }

    pub(crate) fn record(&self, kind: StreamKind, pos: StreamPos) {
        self.newest[kind as usize].fetch_max(pos.get(), Ordering::AcqRel);
    }

    /// Whether data of `kind` may have changed after `since`.
    pub(crate) fn changed_since(&self, kind: StreamKind, since: StreamPos) -> bool {
        !self.complete || self.newest[kind as usize].load(Ordering::Acquire) > since.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(n: i64) -> StreamPos {
        StreamPos::new(n)
    }

    #[test]
    fn everything_before_the_start_counts_as_changed() {
        let c = StreamChanges::new(p(10), true);
        assert!(c.changed_since(StreamKind::Receipts, p(9)));
        assert!(!c.changed_since(StreamKind::Receipts, p(10)));
    }

    #[test]
    fn a_recorded_position_changes_only_its_kind() {
        let c = StreamChanges::new(p(10), true);
        c.record(StreamKind::Typing, p(12));
        assert!(c.changed_since(StreamKind::Typing, p(11)));
        assert!(!c.changed_since(StreamKind::Typing, p(12)));
        assert!(!c.changed_since(StreamKind::Presence, p(11)));
        // Positions never go back.
        c.record(StreamKind::Typing, p(11));
        assert!(c.changed_since(StreamKind::Typing, p(11)));
    }

    #[test]
    fn an_incomplete_view_always_says_changed() {
        let c = StreamChanges::new(p(10), false);
        assert!(c.changed_since(StreamKind::AccountData, p(100)));
    }
}
