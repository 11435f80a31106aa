//! Which member events each device was sent, for lazy-loading filters:
//! an incremental sync sends a sender's member event only to a device that
//! has not had it (as Synapse's per-device cache does). Kept in memory: a
//! restart or an evicted device only costs redundant member events, which
//! clients accept.
//!
//! An entry remembers the answer (its `next_batch` position) that carried
//! it, and counts as sent only to a sync whose token is that answer or a
//! later one: a client retrying after a lost answer gets it again.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use missive_store::StreamPos;
use ruma::{DeviceId, OwnedDeviceId, OwnedUserId, UserId};

/// The most devices remembered; past it the memory starts over.
const MAX_DEVICES: usize = 50_000;

/// room → member → (member event ID, position of the answer that sent it).
type Rooms = HashMap<String, HashMap<String, (String, StreamPos)>>;

#[derive(Clone, Default)]
pub(super) struct SentMembers {
    devices: Arc<Mutex<HashMap<(OwnedUserId, OwnedDeviceId), Rooms>>>,
}

impl SentMembers {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<(OwnedUserId, OwnedDeviceId), Rooms>) -> T) -> T {
        // A panic while holding the lock leaves plain data behind: go on.
        let mut devices = self
            .devices
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut devices)
    }

    /// Forgets what the device was sent (an initial sync starts over).
    pub(super) fn reset(&self, user: &UserId, device: &DeviceId) {
        self.with(|d| d.remove(&(user.to_owned(), device.to_owned())));
    }

    /// Whether the device has `event_id` as `member`'s member event in
    /// `room`, from an answer at or before `since`.
    pub(super) fn has(
        &self,
        user: &UserId,
        device: &DeviceId,
        room: &str,
        member: &str,
        event_id: &str,
        since: StreamPos,
    ) -> bool {
        self.with(|d| {
            d.get(&(user.to_owned(), device.to_owned()))
                .and_then(|rooms| rooms.get(room))
                .and_then(|members| members.get(member))
                .is_some_and(|(sent, at)| sent == event_id && *at <= since)
        })
    }

    /// Whether the device has some member event of `member` in `room`,
    /// from an answer at or before `since`.
    pub(super) fn knows(
        &self,
        user: &UserId,
        device: &DeviceId,
        room: &str,
        member: &str,
        since: StreamPos,
    ) -> bool {
        self.with(|d| {
            d.get(&(user.to_owned(), device.to_owned()))
                .and_then(|rooms| rooms.get(room))
                .and_then(|members| members.get(member))
                .is_some_and(|(_, at)| *at <= since)
        })
    }

    /// Records member events sent to the device in the answer at `upto`.
    pub(super) fn record<'a>(
        &self,
        user: &UserId,
        device: &DeviceId,
        room: &str,
        sent: impl IntoIterator<Item = (&'a str, &'a str)>,
        upto: StreamPos,
    ) {
        self.with(|d| {
            let key = (user.to_owned(), device.to_owned());
            if !d.contains_key(&key) && d.len() >= MAX_DEVICES {
                d.clear();
            }
            let members = d
                .entry(key)
                .or_default()
                .entry(room.to_owned())
                .or_default();
            for (member, event_id) in sent {
                members.insert(member.to_owned(), (event_id.to_owned(), upto));
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use ruma::{device_id, user_id};

    use super::*;

    #[test]
    fn sent_counts_from_the_answer_that_carried_it() {
        let sent = SentMembers::default();
        let (u, d) = (user_id!("@a:x"), device_id!("D"));
        let at = StreamPos::new(10);
        sent.record(u, d, "!r:x", [("@b:x", "$1")], at);
        assert!(sent.has(u, d, "!r:x", "@b:x", "$1", at));
        assert!(sent.knows(u, d, "!r:x", "@b:x", at));
        assert!(!sent.has(u, d, "!r:x", "@b:x", "$1", at.prev()), "a retry");
        assert!(!sent.has(u, d, "!r:x", "@b:x", "$2", at), "a newer event");
        assert!(!sent.has(u, device_id!("E"), "!r:x", "@b:x", "$1", at));
        sent.reset(u, d);
        assert!(!sent.has(u, d, "!r:x", "@b:x", "$1", at));
    }
}
