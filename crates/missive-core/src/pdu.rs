//! A persistent data unit (a room event) as the server holds it.

use ruma::{
    CanonicalJsonObject, MilliSecondsSinceUnixEpoch, OwnedEventId, OwnedRoomId, OwnedUserId,
    RoomId, UInt, UserId, events::TimelineEventType,
};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::CoreError;

/// A PDU: its parsed fields, for the rules, plus its exact JSON.
#[derive(Debug, Clone)]
pub struct Pdu {
    pub event_id: OwnedEventId,
    pub room_id: OwnedRoomId,
    pub sender: OwnedUserId,
    pub event_type: TimelineEventType,
    pub state_key: Option<String>,
    pub content: Box<RawValue>,
    pub prev_events: Vec<OwnedEventId>,
    pub auth_events: Vec<OwnedEventId>,
    pub depth: UInt,
    pub origin_server_ts: MilliSecondsSinceUnixEpoch,
    pub redacts: Option<OwnedEventId>,
    /// The PDU as signed. It carries `event_id` in room versions 1 and 2
    /// only, and no `room_id` when it is a version 12 create event.
    pub json: CanonicalJsonObject,
    /// Whether the JSON names the room (all events but a v12 create event,
    /// whose event ID is the room's ID; the authorization rules tell them
    /// apart).
    has_room_id: bool,
}

/// An entry of `prev_events` or `auth_events`: the ID alone (room
/// versions 3 and later) or the ID with the event's hashes (1 and 2).
#[derive(Deserialize)]
#[serde(untagged)]
enum EventRef {
    Id(OwnedEventId),
    WithHashes(OwnedEventId, serde::de::IgnoredAny),
}

impl EventRef {
    fn into_id(self) -> OwnedEventId {
        match self {
            Self::Id(id) | Self::WithHashes(id, _) => id,
        }
    }
}

#[derive(Deserialize)]
struct PduFields {
    room_id: Option<OwnedRoomId>,
    sender: OwnedUserId,
    #[serde(rename = "type")]
    event_type: TimelineEventType,
    state_key: Option<String>,
    content: Box<RawValue>,
    #[serde(default)]
    prev_events: Vec<EventRef>,
    #[serde(default)]
    auth_events: Vec<EventRef>,
    depth: UInt,
    origin_server_ts: MilliSecondsSinceUnixEpoch,
    redacts: Option<OwnedEventId>,
}

impl Pdu {
    /// Parses a PDU's JSON (as stored) given its event ID.
    pub fn from_json(event_id: OwnedEventId, json: &str) -> Result<Self, CoreError> {
        let object: CanonicalJsonObject = serde_json::from_str(json)
            .map_err(|e| CoreError::InvalidEvent(format!("not canonical JSON: {e}")))?;
        Self::from_object(event_id, object)
    }

    /// Parses a PDU from its canonical JSON object.
    pub fn from_object(
        event_id: OwnedEventId,
        json: CanonicalJsonObject,
    ) -> Result<Self, CoreError> {
        let text =
            serde_json::to_string(&json).map_err(|e| CoreError::InvalidEvent(e.to_string()))?;
        let f: PduFields = serde_json::from_str(&text)
            .map_err(|e| CoreError::InvalidEvent(format!("malformed PDU: {e}")))?;
        // Room v11 moved `redacts` into the content; read either place.
        let is_redaction = f.event_type == TimelineEventType::RoomRedaction;
        let redacts = f.redacts.or_else(|| {
            #[derive(Deserialize)]
            struct C {
                redacts: Option<OwnedEventId>,
            }
            serde_json::from_str::<C>(f.content.get())
                .ok()
                .and_then(|c| c.redacts)
        });
        let has_room_id = f.room_id.is_some();
        let room_id = match f.room_id {
            Some(id) => id,
            None if f.event_type == TimelineEventType::RoomCreate => {
                create_event_room_id(&event_id).ok_or_else(|| {
                    CoreError::InvalidEvent("a create event without a room ID".into())
                })?
            }
            None => return Err(CoreError::InvalidEvent("malformed PDU: no room_id".into())),
        };
        Ok(Self {
            event_id,
            room_id,
            sender: f.sender,
            event_type: f.event_type,
            state_key: f.state_key,
            content: f.content,
            prev_events: f.prev_events.into_iter().map(EventRef::into_id).collect(),
            auth_events: f.auth_events.into_iter().map(EventRef::into_id).collect(),
            depth: f.depth,
            origin_server_ts: f.origin_server_ts,
            redacts: if is_redaction { redacts } else { None },
            json,
            has_room_id,
        })
    }

    /// The PDU JSON as stored and sent over federation.
    pub fn to_json_string(&self) -> String {
        serde_json::to_string(&self.json).expect("canonical JSON always serialises")
    }

    /// The event as a client sees it (client event format), with
    /// `unsigned` extras merged in.
    pub fn to_client_event(&self, unsigned_extra: Option<serde_json::Value>) -> serde_json::Value {
        client_event(&self.event_id, &self.json, unsigned_extra)
    }

    /// The event's content as JSON.
    pub fn content_value(&self) -> serde_json::Value {
        serde_json::from_str(self.content.get()).unwrap_or(serde_json::Value::Null)
    }

    pub fn is_state(&self) -> bool {
        self.state_key.is_some()
    }
}

/// The room a create event without `room_id` creates (room version 12):
/// `!` and the event ID's hash, with no server name.
pub fn create_event_room_id(event_id: &ruma::EventId) -> Option<OwnedRoomId> {
    let hash = event_id.as_str().strip_prefix('$')?;
    if hash.contains(':') {
        return None;
    }
    RoomId::new_v2(hash).ok()
}

/// The fields of a PDU that the client event format keeps. Read straight
/// from a stored event's JSON, the others (hashes, signatures, auth and
/// previous events) are skipped unparsed: serving an event costs what it
/// serves.
#[derive(Debug, Default, serde::Deserialize)]
pub struct ClientFields {
    content: Option<serde_json::Value>,
    origin_server_ts: Option<serde_json::Value>,
    room_id: Option<serde_json::Value>,
    sender: Option<serde_json::Value>,
    state_key: Option<serde_json::Value>,
    #[serde(rename = "type")]
    kind: Option<serde_json::Value>,
    redacts: Option<serde_json::Value>,
    unsigned: Option<serde_json::Map<String, serde_json::Value>>,
}

impl ClientFields {
    /// The kept fields of a PDU held as canonical JSON.
    pub fn of(json: &CanonicalJsonObject) -> Self {
        let field = |key: &str| json.get(key).cloned().map(serde_json::Value::from);
        Self {
            content: field("content"),
            origin_server_ts: field("origin_server_ts"),
            room_id: field("room_id"),
            sender: field("sender"),
            state_key: field("state_key"),
            kind: field("type"),
            redacts: field("redacts"),
            unsigned: match field("unsigned") {
                Some(serde_json::Value::Object(map)) => Some(map),
                _ => None,
            },
        }
    }

    /// The event in the client format: the kept fields and `event_id`
    /// (and `room_id` on a room version 12 create event, which names its
    /// room by its own ID, as Synapse serves it: clients expect every event
    /// to carry its room), with `unsigned_extra`'s keys added to `unsigned`.
    pub fn into_client(
        self,
        event_id: &ruma::EventId,
        unsigned_extra: impl IntoIterator<Item = (String, serde_json::Value)>,
    ) -> serde_json::Value {
        let mut out = serde_json::Map::new();
        let is_create =
            self.kind.as_ref().and_then(serde_json::Value::as_str) == Some("m.room.create");
        for (key, value) in [
            ("content", self.content),
            ("origin_server_ts", self.origin_server_ts),
            ("room_id", self.room_id),
            ("sender", self.sender),
            ("state_key", self.state_key),
            ("type", self.kind),
            ("redacts", self.redacts),
        ] {
            if let Some(value) = value {
                out.insert(key.to_owned(), value);
            }
        }
        out.insert(
            "event_id".to_owned(),
            serde_json::Value::String(event_id.to_string()),
        );
        if !out.contains_key("room_id")
            && is_create
            && let Some(room_id) = create_event_room_id(event_id)
        {
            out.insert(
                "room_id".to_owned(),
                serde_json::Value::String(room_id.to_string()),
            );
        }
        let mut unsigned = self.unsigned.unwrap_or_default();
        unsigned.extend(unsigned_extra);
        if !unsigned.is_empty() {
            out.insert("unsigned".to_owned(), serde_json::Value::Object(unsigned));
        }
        serde_json::Value::Object(out)
    }
}

/// Converts a PDU JSON object to the client event format (see
/// [`ClientFields::into_client`]).
pub fn client_event(
    event_id: &ruma::EventId,
    json: &CanonicalJsonObject,
    unsigned_extra: Option<serde_json::Value>,
) -> serde_json::Value {
    let extra = match unsigned_extra {
        Some(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    ClientFields::of(json).into_client(event_id, extra)
}

impl ruma::state_res::Event for Pdu {
    type Id = OwnedEventId;

    fn event_id(&self) -> &Self::Id {
        &self.event_id
    }

    fn room_id(&self) -> Option<&RoomId> {
        self.has_room_id.then_some(&*self.room_id)
    }

    fn sender(&self) -> &UserId {
        &self.sender
    }

    fn origin_server_ts(&self) -> MilliSecondsSinceUnixEpoch {
        self.origin_server_ts
    }

    fn event_type(&self) -> &TimelineEventType {
        &self.event_type
    }

    fn content(&self) -> &RawValue {
        &self.content
    }

    fn state_key(&self) -> Option<&str> {
        self.state_key.as_deref()
    }

    fn prev_events(&self) -> Box<dyn DoubleEndedIterator<Item = &Self::Id> + '_> {
        Box::new(self.prev_events.iter())
    }

    fn auth_events(&self) -> Box<dyn DoubleEndedIterator<Item = &Self::Id> + '_> {
        Box::new(self.auth_events.iter())
    }

    fn redacts(&self) -> Option<&Self::Id> {
        self.redacts.as_ref()
    }

    fn rejected(&self) -> bool {
        false
    }
}
