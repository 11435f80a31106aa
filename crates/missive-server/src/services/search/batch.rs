//! `next_batch` tokens of `/search`: where the next page starts (an offset
//! into rank order, `r<n>`, or a stream position in recent order,
//! `s<pos>`), and for a group's token the room it goes on in (`s<pos>`
//! followed by the room ID, which starts with `!`).

use std::fmt;

use missive_store::{SearchFrom, StreamPos};
use ruma::OwnedRoomId;

use crate::error::{ApiError, ApiResult};

/// A parsed `next_batch`.
pub(super) struct Batch {
    pub from: SearchFrom,
    pub room: Option<OwnedRoomId>,
}

impl Batch {
    pub fn parse(token: &str) -> ApiResult<Self> {
        let invalid = || ApiError::invalid_param(format!("invalid next_batch {token:?}"));
        let (head, room) = match token.find('!') {
            Some(at) => (
                &token[..at],
                Some(OwnedRoomId::try_from(&token[at..]).map_err(|_| invalid())?),
            ),
            None => (token, None),
        };
        let number = |n: &str| n.parse::<i64>().ok().filter(|n| *n >= 0);
        let from = if let Some(n) = head.strip_prefix('r').and_then(number) {
            SearchFrom::Offset(n)
        } else if let Some(n) = head.strip_prefix('s').and_then(number) {
            SearchFrom::Before(StreamPos::new(n))
        } else {
            return Err(invalid());
        };
        Ok(Self { from, room })
    }
}

impl fmt::Display for Batch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.from {
            SearchFrom::Offset(n) => write!(f, "r{n}")?,
            SearchFrom::Before(pos) => write!(f, "s{}", pos.get())?,
            SearchFrom::Start => write!(f, "r0")?,
        }
        match &self.room {
            Some(room) => write!(f, "{room}"),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_bad_ones_are_refused() {
        for token in ["r20", "s1234", "s99!room:example.org"] {
            assert_eq!(Batch::parse(token).unwrap().to_string(), token);
        }
        for bad in ["", "x1", "r-1", "s", "r1x", "s1x!room:example.org"] {
            assert!(Batch::parse(bad).is_err(), "{bad}");
        }
    }
}
