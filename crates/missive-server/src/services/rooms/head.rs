//! Each room's head as this process last saw it: its forward extremities
//! and the state events sends have looked up on top of them.
//!
//! Every send needs both, and reading them costs two queries per message.
//! A cached head is only ever a guess: the store writes an event only if
//! its `prev_events` are still the room's forward extremities, so a head
//! made stale by another writer (another server process, or an event
//! written outside [`super::Rooms::send`]) is caught there, dropped, and
//! read again. The state entries belong to the extremities they were read
//! under, so they go with them.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use missive_core::Pdu;
use ruma::{OwnedRoomId, RoomId, events::StateEventType};

/// Rooms kept at most; beyond that the cache starts again empty (a bound,
/// not an eviction policy: a missing head is simply read again).
const MAX_ROOMS: usize = 10_000;

/// State entries kept per room (each sender's membership is one): a room
/// where more members speak starts its entries again, read as needed.
const MAX_STATE_ENTRIES: usize = 256;

/// A room's forward extremities and the current state entries looked up
/// under them (`None`: the room has no such state).
#[derive(Clone, Default)]
pub struct Head {
    pub prev: Arc<Vec<Pdu>>,
    pub state: HashMap<(StateEventType, String), Option<Pdu>>,
}

#[derive(Default)]
pub struct Heads {
    rooms: Mutex<HashMap<OwnedRoomId, Head>>,
}

impl Heads {
    pub fn get(&self, room_id: &RoomId) -> Option<Head> {
        self.lock().get(room_id).cloned()
    }

    /// Records what was read from the store for a room.
    pub fn put(&self, room_id: &RoomId, mut head: Head) {
        if head.state.len() > MAX_STATE_ENTRIES {
            head.state.clear();
        }
        let mut rooms = self.lock();
        if rooms.len() >= MAX_ROOMS && !rooms.contains_key(room_id) {
            rooms.clear();
        }
        rooms.insert(room_id.to_owned(), head);
    }

    /// After `event` was written on top of the cached head: it is now the
    /// room's only extremity. A state event or a redaction can change what
    /// the state entries hold, so those are dropped and read again.
    pub fn advance(&self, event: &Pdu) {
        let mut rooms = self.lock();
        let Some(head) = rooms.get_mut(&event.room_id) else {
            return;
        };
        head.prev = Arc::new(vec![event.clone()]);
        if event.state_key.is_some() || event.redacts.is_some() {
            head.state.clear();
        }
    }

    /// Forgets a room's head (the store said the room moved on).
    pub fn forget(&self, room_id: &RoomId) {
        self.lock().remove(room_id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<OwnedRoomId, Head>> {
        self.rooms.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use ruma::{OwnedEventId, room_id};

    use super::*;

    fn pdu(id: &str, ty: &str, state_key: Option<&str>) -> Pdu {
        let mut json = serde_json::json!({
            "room_id": "!r:test", "sender": "@a:test", "type": ty, "content": {},
            "depth": 2, "origin_server_ts": 1,
        });
        if let Some(key) = state_key {
            json["state_key"] = key.into();
        }
        let id: OwnedEventId = id.try_into().unwrap();
        Pdu::from_json(id, &json.to_string()).unwrap()
    }

    fn head_with_state() -> Head {
        let mut state = HashMap::new();
        state.insert(
            (StateEventType::RoomPowerLevels, String::new()),
            Some(pdu("$pl", "m.room.power_levels", Some(""))),
        );
        Head {
            prev: Arc::new(vec![pdu("$a", "m.room.message", None)]),
            state,
        }
    }

    #[test]
    fn a_message_moves_the_extremity_and_keeps_the_state() {
        let heads = Heads::default();
        let room = room_id!("!r:test");
        heads.put(room, head_with_state());
        heads.advance(&pdu("$b", "m.room.message", None));
        let head = heads.get(room).unwrap();
        assert_eq!(head.prev[0].event_id.as_str(), "$b");
        assert_eq!(head.state.len(), 1);
    }

    #[test]
    fn a_state_event_drops_the_looked_up_state() {
        let heads = Heads::default();
        let room = room_id!("!r:test");
        heads.put(room, head_with_state());
        heads.advance(&pdu("$m", "m.room.member", Some("@b:test")));
        let head = heads.get(room).unwrap();
        assert_eq!(head.prev[0].event_id.as_str(), "$m");
        assert!(head.state.is_empty());
    }

    #[test]
    fn a_forgotten_room_is_read_again_and_big_state_is_not_kept() {
        let heads = Heads::default();
        let room = room_id!("!r:test");
        heads.put(room, head_with_state());
        heads.forget(room);
        assert!(heads.get(room).is_none());

        let mut big = head_with_state();
        for i in 0..=MAX_STATE_ENTRIES {
            big.state
                .insert((StateEventType::RoomMember, format!("@u{i}:test")), None);
        }
        heads.put(room, big);
        assert!(heads.get(room).unwrap().state.is_empty());
    }
}
