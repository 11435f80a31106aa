//! The records the event store reads and writes.

use std::collections::BTreeMap;

use ruma::events::room::member::MembershipState;

use crate::StreamPos;

/// State of a room: (event type, state key) → event ID.
pub type StateMap = BTreeMap<(String, String), String>;

/// A room's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomRecord {
    pub room_id: String,
    pub room_version: String,
    pub creator: String,
    pub published: bool,
    pub join_rule: String,
}

/// A stored event as it is served (redacted once redacted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub stream_ordering: StreamPos,
    pub event_id: String,
    pub room_id: String,
    pub sender: String,
    pub event_type: String,
    pub state_key: Option<String>,
    pub membership: Option<String>,
    pub depth: i64,
    pub origin_server_ts: i64,
    pub state_group: i64,
    /// The full PDU JSON.
    pub json: String,
    pub redacted_by: Option<String>,
}

/// A user's current membership in a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub room_id: String,
    pub user_id: String,
    pub membership: MembershipState,
    pub event_id: String,
    pub stream_ordering: StreamPos,
}

/// An event ready to be persisted, with everything derived from it.
#[derive(Debug, Clone, Default)]
pub struct NewEvent {
    pub event_id: String,
    pub room_id: String,
    pub sender: String,
    pub event_type: String,
    pub state_key: Option<String>,
    /// `content.membership` for `m.room.member` events.
    pub membership: Option<String>,
    /// `content.join_rule` for `m.room.join_rules` events.
    pub join_rule: Option<String>,
    pub depth: i64,
    pub origin_server_ts: i64,
    pub json: String,
    /// Must equal the room's forward extremities when the event is written;
    /// otherwise [`StoreError::RoomChanged`] is returned and nothing is written.
    pub prev_events: Vec<String>,
    /// For `m.room.create`: the room to create with the event.
    pub create_room: Option<RoomRecord>,
    /// For redactions: the target event and its redacted JSON.
    pub redaction: Option<(String, String)>,
    /// (user, device, transaction ID) for idempotent client sends.
    pub txn: Option<(String, String, String)>,
    /// Local users this event notifies: (user ID, highlight).
    pub push_actions: Vec<(String, bool)>,
    /// For searchable events: their search terms, from
    /// `missive_core::search::index_terms`, indexed with the event.
    pub search_terms: Option<String>,
    /// The event's relation (`content["m.relates_to"]` with a `rel_type`).
    pub relation: Option<NewRelation>,
    /// Other servers this local event is sent to: its PDU is queued for
    /// each in the transaction that writes it (see
    /// [`crate::FederationOutboxStore`]). Empty for remote events and when
    /// federation is off.
    pub federation_destinations: Vec<String>,
}

/// What an event relates to, as its content says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRelation {
    /// The parent event's ID.
    pub relates_to: String,
    /// `m.thread`, `m.replace`, `m.reference`, `m.annotation` or another.
    pub rel_type: String,
}

/// What [`EventStore::persist_event`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PersistOutcome {
    Persisted {
        stream_ordering: StreamPos,
    },
    /// The client's transaction ID was already used: this is its event.
    DuplicateTxn {
        event_id: String,
    },
}

/// Order of a timeline read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimelineDirection {
    /// Newest first, strictly before the `from` position.
    Backward,
    /// Oldest first, strictly after the `from` position.
    Forward,
}
