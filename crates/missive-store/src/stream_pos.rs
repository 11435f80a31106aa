//! [`StreamPos`], a position in the server-wide stream.
//!
//! Positions were once a bare `i64`, which mixed silently with counts,
//! limits, timestamps and depths (all `i64` too). As a newtype a position
//! can only be compared with another position, moved one step with a named
//! method, or turned into a number deliberately (for a sync token or a
//! notification payload). sqlx binds and decodes it as the `BIGINT` it is
//! stored as, so SQL code binds it directly.

use std::fmt;
use std::str::FromStr;

/// A position in the server-wide stream. Every change a client can sync on
/// (an event, account data, a receipt, typing, presence) gets the next one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, sqlx::Type)]
#[sqlx(transparent)]
pub struct StreamPos(i64);

impl StreamPos {
    /// Before everything: the position of a stream with nothing in it yet.
    pub const ZERO: StreamPos = StreamPos(0);

    /// After everything: an open upper bound for a range read.
    pub const END: StreamPos = StreamPos(i64::MAX);

    /// A position from its stored or transmitted number.
    pub const fn new(pos: i64) -> Self {
        Self(pos)
    }

    /// The number, for a token, a log line or a notification payload.
    pub const fn get(self) -> i64 {
        self.0
    }

    /// The position right after this one.
    #[must_use]
    pub const fn next(self) -> Self {
        Self(self.0 + 1)
    }

    /// The position right before this one.
    #[must_use]
    pub const fn prev(self) -> Self {
        Self(self.0 - 1)
    }

    /// The `count` positions that end at `last`, oldest first: those a
    /// batch took with one update of the stream counter.
    pub fn run_ending_at(last: StreamPos, count: usize) -> impl Iterator<Item = StreamPos> {
        let count = i64::try_from(count).expect("a batch is far smaller than the stream");
        (last.0 - count + 1..=last.0).map(StreamPos)
    }
}

impl fmt::Display for StreamPos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for StreamPos {
    type Err = std::num::ParseIntError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_and_order() {
        let p = StreamPos::new(7);
        assert_eq!(p.next().get(), 8);
        assert_eq!(p.prev().get(), 6);
        assert!(p.prev() < p && p < p.next());
        assert_eq!(StreamPos::ZERO.get(), 0);
        assert!(StreamPos::END > p);
    }

    #[test]
    fn a_run_ends_at_its_last_position() {
        let run: Vec<i64> = StreamPos::run_ending_at(StreamPos::new(10), 3)
            .map(StreamPos::get)
            .collect();
        assert_eq!(run, [8, 9, 10]);
        assert_eq!(StreamPos::run_ending_at(StreamPos::new(10), 0).count(), 0);
    }

    #[test]
    fn text_round_trip() {
        let p: StreamPos = "42".parse().unwrap();
        assert_eq!(p, StreamPos::new(42));
        assert_eq!(p.to_string(), "42");
        assert!("x".parse::<StreamPos>().is_err());
    }
}
