//! Building, hashing, signing and authorising a new local event.

use std::collections::HashMap;

use ruma::{
    CanonicalJsonObject, CanonicalJsonValue, EventId, MilliSecondsSinceUnixEpoch, OwnedEventId,
    OwnedServerName, RoomId, UserId,
    events::{StateEventType, TimelineEventType},
    room_version_rules::{
        EventIdFormatVersion, EventsReferenceFormatVersion, RoomIdFormatVersion, RoomVersionRules,
    },
    signatures::Ed25519KeyPair,
    state_res,
};
use serde_json::value::{RawValue, to_raw_value};

use crate::{CoreError, MAX_ID_BYTES, MAX_PDU_BYTES, Pdu, auth, local_rules};

/// State events the builder may consult, keyed by (type, state key). It
/// only needs the entries listed by [`required_state`].
pub type StateEvents = HashMap<(StateEventType, String), Pdu>;

/// What a client (or the server on its behalf) wants to send.
#[derive(Debug, Clone)]
pub struct EventTemplate {
    pub event_type: TimelineEventType,
    pub state_key: Option<String>,
    pub content: serde_json::Value,
    /// Target of a redaction.
    pub redacts: Option<OwnedEventId>,
}

impl EventTemplate {
    pub fn state(
        event_type: StateEventType,
        state_key: impl Into<String>,
        content: serde_json::Value,
    ) -> Self {
        Self {
            event_type: event_type.to_string().into(),
            state_key: Some(state_key.into()),
            content,
            redacts: None,
        }
    }

    pub fn message(event_type: TimelineEventType, content: serde_json::Value) -> Self {
        Self {
            event_type,
            state_key: None,
            content,
            redacts: None,
        }
    }

    /// The event a redaction redacts, wherever the client put it: the
    /// `redacts` field (`/redact`) or the content (room v11's place, and
    /// what `PUT /send/m.room.redaction` carries). `None` for any other
    /// event type; an error for a redaction without a valid target, or
    /// with two different ones.
    pub fn redaction_target(&self) -> Result<Option<OwnedEventId>, CoreError> {
        if self.event_type != TimelineEventType::RoomRedaction {
            return Ok(None);
        }
        let in_content = match self.content.get("redacts") {
            None => None,
            Some(serde_json::Value::String(id)) => Some(EventId::parse(id).map_err(|_| {
                CoreError::InvalidEvent(format!("redacts: {id} is not an event ID"))
            })?),
            Some(_) => {
                return Err(CoreError::InvalidEvent(
                    "redacts must be an event ID".into(),
                ));
            }
        };
        match (&self.redacts, in_content) {
            (Some(a), Some(b)) if *a != b => Err(CoreError::InvalidEvent(
                "the redaction names two different targets".into(),
            )),
            (Some(a), _) => Ok(Some(a.clone())),
            (None, Some(b)) => Ok(Some(b)),
            (None, None) => Err(CoreError::InvalidEvent(
                "a redaction needs the ID of the event it redacts".into(),
            )),
        }
    }
}

/// The server's identity for signing events.
pub struct Signer {
    pub server_name: OwnedServerName,
    pub key: Ed25519KeyPair,
}

/// Where the new event goes: the room and what it builds on.
pub struct RoomContext<'a> {
    /// The room; `None` only for the create event of a room version whose
    /// room ID is derived from that event (version 12).
    pub room_id: Option<&'a RoomId>,
    pub rules: &'a RoomVersionRules,
    /// The room's forward extremities (empty only for `m.room.create`).
    pub prev_events: &'a [Pdu],
    /// At least the entries of [`required_state`] present in the room.
    pub state: &'a StateEvents,
    /// For a redaction, the event it redacts (looked up in this room);
    /// [`build_event`] refuses a redaction built without it.
    pub redaction_target: Option<&'a Pdu>,
}

/// The state entries needed to build and authorise `template` from `sender`:
/// its auth events, the create event (which names the room's creators and,
/// from version 12, is no auth event but still decides who may do what),
/// plus the entry it replaces (for `unsigned.prev_content`).
pub fn required_state(
    template: &EventTemplate,
    sender: &UserId,
    rules: &RoomVersionRules,
) -> Result<Vec<(StateEventType, String)>, CoreError> {
    let content = content_raw(template)?;
    let mut keys = state_res::auth_types_for_event(
        &template.event_type,
        sender,
        template.state_key.as_deref(),
        &content,
        &rules.authorization,
    )
    .map_err(CoreError::InvalidEvent)?;
    if let Some(key) = &template.state_key {
        keys.push((template.event_type.to_string().into(), key.clone()));
    }
    keys.push((StateEventType::RoomCreate, String::new()));
    if template.event_type == TimelineEventType::RoomRedaction {
        // Who may redact is decided by the power levels and, in some room
        // versions, the creators (see `local_rules`).
        keys.push((StateEventType::RoomPowerLevels, String::new()));
    }
    keys.sort();
    keys.dedup();
    Ok(keys)
}

fn content_raw(template: &EventTemplate) -> Result<Box<RawValue>, CoreError> {
    if !template.content.is_object() {
        return Err(CoreError::InvalidEvent(
            "content must be a JSON object".into(),
        ));
    }
    to_raw_value(&template.content).map_err(|e| CoreError::InvalidEvent(e.to_string()))
}

/// Builds the event, hashes and signs it, computes its ID, and checks it
/// against the room's authorization rules. The returned PDU is ready to be
/// persisted; nothing is written.
pub fn build_event(
    mut template: EventTemplate,
    sender: &UserId,
    ctx: &RoomContext<'_>,
    signer: &Signer,
    now: MilliSecondsSinceUnixEpoch,
) -> Result<Pdu, CoreError> {
    template.redacts = template.redaction_target()?;
    if template.event_type.to_string().len() > MAX_ID_BYTES {
        return Err(CoreError::FieldTooLong("type"));
    }
    if template
        .state_key
        .as_ref()
        .is_some_and(|k| k.len() > MAX_ID_BYTES)
    {
        return Err(CoreError::FieldTooLong("state_key"));
    }
    let is_create = template.event_type == TimelineEventType::RoomCreate;
    if ctx.prev_events.is_empty() && !is_create {
        return Err(CoreError::InvalidEvent(
            "the room has no events to build on".into(),
        ));
    }
    let content_raw = content_raw(&template)?;
    let auth_types = state_res::auth_types_for_event(
        &template.event_type,
        sender,
        template.state_key.as_deref(),
        &content_raw,
        &ctx.rules.authorization,
    )
    .map_err(CoreError::InvalidEvent)?;
    let mut auth_events: Vec<&Pdu> = auth_types
        .iter()
        .filter_map(|key| ctx.state.get(key))
        .collect();
    auth_events.sort_by(|a, b| a.event_id.cmp(&b.event_id));
    auth_events.dedup_by(|a, b| a.event_id == b.event_id);
    // A version 12 room is named by its create event's hash, so that event
    // has no room ID; every other event has one.
    let room_id = match ctx.room_id {
        Some(id) => Some(id),
        None if is_create && ctx.rules.room_id_format == RoomIdFormatVersion::V2 => None,
        None => {
            return Err(CoreError::InvalidEvent(
                "the event has no room to go into".into(),
            ));
        }
    };

    let depth = ctx
        .prev_events
        .iter()
        .map(|p| u64::from(p.depth))
        .max()
        .unwrap_or(0)
        + 1;

    let mut object = CanonicalJsonObject::new();
    let mut content: CanonicalJsonValue = serde_json::from_value(template.content.clone())
        .map_err(|e| CoreError::InvalidEvent(format!("content is not canonical JSON: {e}")))?;
    if let Some(redacts) = &template.redacts {
        // Room v11 moved `redacts` into the content; older versions keep it
        // at the top level. Both places are filled for clients' sake.
        if ctx.rules.redaction.content_field_redacts
            && let CanonicalJsonValue::Object(c) = &mut content
        {
            c.insert(
                "redacts".into(),
                CanonicalJsonValue::String(redacts.to_string()),
            );
        }
        object.insert(
            "redacts".into(),
            CanonicalJsonValue::String(redacts.to_string()),
        );
    }
    object.insert("auth_events".into(), references(&auth_events, ctx.rules)?);
    object.insert("content".into(), content);
    object.insert("depth".into(), CanonicalJsonValue::Integer(int(depth)?));
    object.insert(
        "origin_server_ts".into(),
        CanonicalJsonValue::Integer(int(u64::from(now.get()))?),
    );
    let prev: Vec<&Pdu> = ctx.prev_events.iter().collect();
    object.insert("prev_events".into(), references(&prev, ctx.rules)?);
    if let Some(room_id) = room_id {
        object.insert(
            "room_id".into(),
            CanonicalJsonValue::String(room_id.to_string()),
        );
    }
    // Room versions 1 and 2 carry a random, server-scoped event ID in the
    // event itself (signed with it); later ones derive it from the hash.
    let carried_id = match ctx.rules.event_id_format {
        EventIdFormatVersion::V1 => {
            let id = EventId::new_v1(&signer.server_name);
            object.insert(
                "event_id".into(),
                CanonicalJsonValue::String(id.to_string()),
            );
            Some(id)
        }
        _ => None,
    };
    object.insert(
        "sender".into(),
        CanonicalJsonValue::String(sender.to_string()),
    );
    if let Some(key) = &template.state_key {
        object.insert("state_key".into(), CanonicalJsonValue::String(key.clone()));
    }
    object.insert(
        "type".into(),
        CanonicalJsonValue::String(template.event_type.to_string()),
    );

    let mut unsigned = CanonicalJsonObject::new();
    if let Some(key) = &template.state_key
        && let Some(previous) = ctx
            .state
            .get(&(template.event_type.to_string().into(), key.clone()))
    {
        unsigned.insert(
            "replaces_state".into(),
            CanonicalJsonValue::String(previous.event_id.to_string()),
        );
        if let Some(prev_content) = previous.json.get("content") {
            unsigned.insert("prev_content".into(), prev_content.clone());
        }
        unsigned.insert(
            "prev_sender".into(),
            CanonicalJsonValue::String(previous.sender.to_string()),
        );
    }

    // Refuse oversized events before spending a signature on them (the
    // hash and signature add under 200 bytes; the check below is exact).
    if serde_json::to_vec(&object).map_or(usize::MAX, |v| v.len()) > MAX_PDU_BYTES {
        return Err(CoreError::TooLarge);
    }
    ruma::signatures::hash_and_sign_event(
        signer.server_name.as_str(),
        &signer.key,
        &mut object,
        &ctx.rules.redaction,
    )
    .map_err(|e| match e {
        ruma::signatures::JsonError::PduTooLarge => CoreError::TooLarge,
        other => CoreError::InvalidEvent(format!("signing failed: {other}")),
    })?;

    let size = serde_json::to_vec(&object)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    if size > MAX_PDU_BYTES {
        return Err(CoreError::TooLarge);
    }
    let event_id = match carried_id {
        Some(id) => id,
        None => EventId::new_v2_or_v3(&reference_hash(&object, ctx.rules)?)
            .map_err(|e| CoreError::InvalidEvent(e.to_string()))?,
    };

    if !unsigned.is_empty() {
        object.insert("unsigned".into(), CanonicalJsonValue::Object(unsigned));
    }
    let pdu = Pdu::from_object(event_id, object)?;
    authorise(&pdu, ctx)?;
    local_rules::check(&pdu, ctx)?;
    Ok(pdu)
}

/// Applies the room version's authorization rules to a new event against
/// the state it is built on.
pub fn authorise(pdu: &Pdu, ctx: &RoomContext<'_>) -> Result<(), CoreError> {
    let by_id: HashMap<&EventId, &Pdu> = ctx
        .state
        .values()
        .map(|p| (p.event_id.as_ref(), p))
        .collect();
    auth::check(
        &ctx.rules.authorization,
        pdu,
        |id| by_id.get(id).copied(),
        |ty, key| ctx.state.get(&(ty.clone(), key.to_owned())),
    )
    .map_err(CoreError::Forbidden)
}

/// The reference hash of an event (its ID from room version 3 on; the
/// hash beside the ID in `prev_events` and `auth_events` before).
fn reference_hash(
    object: &CanonicalJsonObject,
    rules: &RoomVersionRules,
) -> Result<String, CoreError> {
    ruma::signatures::reference_hash(object, rules).map_err(|e| match e {
        ruma::signatures::JsonError::PduTooLarge => CoreError::TooLarge,
        other => CoreError::InvalidEvent(other.to_string()),
    })
}

/// `prev_events` or `auth_events` in the room version's shape: IDs, or
/// (versions 1 and 2) pairs of an ID and the event's reference hash.
pub(crate) fn references(
    events: &[&Pdu],
    rules: &RoomVersionRules,
) -> Result<CanonicalJsonValue, CoreError> {
    let mut out = Vec::with_capacity(events.len());
    for pdu in events {
        let id = CanonicalJsonValue::String(pdu.event_id.to_string());
        out.push(match rules.events_reference_format {
            EventsReferenceFormatVersion::V1 => {
                let mut hashes = CanonicalJsonObject::new();
                hashes.insert(
                    "sha256".into(),
                    CanonicalJsonValue::String(reference_hash(&pdu.json, rules)?),
                );
                CanonicalJsonValue::Array(vec![id, CanonicalJsonValue::Object(hashes)])
            }
            _ => id,
        });
    }
    Ok(CanonicalJsonValue::Array(out))
}

fn int(v: u64) -> Result<ruma::Int, CoreError> {
    ruma::Int::try_from(v).map_err(|_| CoreError::InvalidEvent("integer out of range".into()))
}

#[cfg(test)]
mod tests {
    use ruma::{RoomVersionId, user_id};
    use serde_json::json;

    use super::*;
    use crate::testing::{Room, member_of, room_with_bob_in, text};

    /// A room where bob (power 0) has joined alice's room.
    fn room_with_bob() -> (Room, &'static UserId) {
        room_with_bob_in(RoomVersionId::V11)
    }

    #[test]
    fn members_may_talk_and_events_are_signed_and_hashed() {
        let mut room = Room::new();
        let pdu = room
            .send(user_id!("@alice:example.org"), text("hello"))
            .unwrap();
        assert_eq!(u64::from(pdu.depth), 5);
        assert!(
            pdu.auth_events.len() >= 3,
            "create, power levels and sender's membership"
        );
        // The event ID is the reference hash of the signed event.
        let hash = ruma::signatures::reference_hash(&pdu.json, &room.rules).unwrap();
        assert_eq!(pdu.event_id.as_str(), format!("${hash}"));
        let public = room.signer.key.public_key();
        let mut keys = std::collections::BTreeMap::new();
        keys.insert(
            "ed25519:k1".to_owned(),
            ruma::serde::Base64::new(public.to_vec()),
        );
        let mut map = std::collections::BTreeMap::new();
        map.insert("example.org".to_owned(), keys);
        let verified = ruma::signatures::verify_event(&map, &pdu.json, &room.rules).unwrap();
        assert_eq!(verified, ruma::signatures::Verified::All);
    }

    #[test]
    fn every_version_builds_events_in_its_own_format() {
        for version in crate::room_versions::SUPPORTED_ROOM_VERSIONS {
            let (mut room, bob) = room_with_bob_in(version.clone());
            let alice = user_id!("@alice:example.org");
            let said = room.send(alice, text("hello")).unwrap();
            let id = said.event_id.as_str();
            let create = room.state[&(StateEventType::RoomCreate, String::new())].clone();
            match version.as_str() {
                // `$random:server`, carried in the event; references with hashes.
                "1" | "2" => {
                    assert!(id.ends_with(":example.org"), "{version}: {id}");
                    assert_eq!(said.json["event_id"], CanonicalJsonValue::String(id.into()));
                    let CanonicalJsonValue::Array(prev) = &said.json["prev_events"] else {
                        panic!("{version}: prev_events")
                    };
                    assert!(matches!(&prev[0], CanonicalJsonValue::Array(pair) if pair.len() == 2));
                }
                // Standard base64 hash IDs, then URL-safe ones.
                _ => {
                    assert!(
                        !id.contains(':') && !said.json.contains_key("event_id"),
                        "{version}"
                    );
                    let hash = ruma::signatures::reference_hash(&said.json, &room.rules).unwrap();
                    assert_eq!(id, format!("${hash}"), "{version}");
                    if version.as_str() != "3" {
                        assert!(!id.contains('+') && !id.contains('/'), "{version}: {id}");
                    }
                }
            }
            if version.as_str() == "12" {
                // The room is named after its create event, which names no room.
                assert!(!create.json.contains_key("room_id"));
                assert_eq!(
                    said.room_id.as_str(),
                    format!("!{}", &create.event_id.as_str()[1..])
                );
                assert!(!said.auth_events.contains(&create.event_id));
                let client = create.to_client_event(None);
                assert_eq!(client["room_id"], json!(said.room_id));
            } else {
                assert_eq!(said.room_id.as_str(), "!room:example.org");
                assert!(said.auth_events.contains(&create.event_id), "{version}");
            }
            // Redactions follow the version: v11 moved `redacts` into content.
            let own = room.send(bob, text("oops")).unwrap();
            let as_redact_endpoint = EventTemplate {
                redacts: Some(own.event_id.clone()),
                ..EventTemplate::message(TimelineEventType::RoomRedaction, json!({}))
            };
            let redaction = room.send(bob, as_redact_endpoint).unwrap();
            assert!(redaction.json.contains_key("redacts"), "{version}");
            let in_content = redaction.content_value().get("redacts").is_some();
            assert_eq!(
                in_content, room.rules.redaction.content_field_redacts,
                "{version}"
            );
            // A stored event parses back whatever its format.
            let again = Pdu::from_json(said.event_id.clone(), &said.to_json_string()).unwrap();
            assert_eq!(again.prev_events, said.prev_events, "{version}");
            assert_eq!(again.room_id, said.room_id, "{version}");
        }
    }

    #[test]
    fn version_12_creators_outrank_everyone() {
        let (mut room, bob) = room_with_bob_in(RoomVersionId::V12);
        let alice = user_id!("@alice:example.org");
        // Listing the creator in `users` is refused, whatever the level.
        let demote = EventTemplate::state(
            StateEventType::RoomPowerLevels,
            "",
            json!({"users": {"@alice:example.org": 0, "@bob:example.org": 100}}),
        );
        let err = room.send(alice, demote).unwrap_err();
        assert!(matches!(err, CoreError::Forbidden(_)), "{err:?}");
        // A user at 100 cannot kick the creator.
        room.send(
            alice,
            EventTemplate::state(
                StateEventType::RoomPowerLevels,
                "",
                json!({"users": {"@bob:example.org": 100}}),
            ),
        )
        .unwrap();
        let err = room
            .send(bob, member_of(alice.as_str(), "leave"))
            .unwrap_err();
        assert!(matches!(err, CoreError::Forbidden(_)), "{err:?}");
        let said = room.send(alice, text("mine")).unwrap();
        room.send(alice, redaction_in_content(&said.event_id))
            .unwrap();
    }

    #[test]
    fn outsiders_may_not_send() {
        let mut room = Room::new();
        let err = room
            .send(user_id!("@mallory:example.org"), text("spam"))
            .unwrap_err();
        assert!(matches!(err, CoreError::Forbidden(_)), "{err:?}");
    }

    #[test]
    fn invite_only_rooms_need_an_invite() {
        let mut room = Room::new();
        let bob = user_id!("@bob:example.org");
        let err = room.send(bob, member_of(bob.as_str(), "join")).unwrap_err();
        assert!(matches!(err, CoreError::Forbidden(_)), "{err:?}");
        room.send(
            user_id!("@alice:example.org"),
            member_of(bob.as_str(), "invite"),
        )
        .unwrap();
        room.send(bob, member_of(bob.as_str(), "join")).unwrap();
        room.send(bob, text("thanks")).unwrap();
    }

    #[test]
    fn power_levels_guard_state_changes() {
        let mut room = Room::new();
        let bob = user_id!("@bob:example.org");
        room.send(
            user_id!("@alice:example.org"),
            member_of(bob.as_str(), "invite"),
        )
        .unwrap();
        room.send(bob, member_of(bob.as_str(), "join")).unwrap();
        let rename = EventTemplate::state(StateEventType::RoomName, "", json!({"name": "mine"}));
        let err = room.send(bob, rename.clone()).unwrap_err();
        assert!(matches!(err, CoreError::Forbidden(_)), "{err:?}");
        room.send(user_id!("@alice:example.org"), rename).unwrap();
        // Bob cannot kick alice either.
        let err = room
            .send(bob, member_of("@alice:example.org", "leave"))
            .unwrap_err();
        assert!(matches!(err, CoreError::Forbidden(_)), "{err:?}");
    }

    #[test]
    fn oversized_events_are_refused() {
        let mut room = Room::new();
        let err = room
            .send(user_id!("@alice:example.org"), text(&"x".repeat(70_000)))
            .unwrap_err();
        assert!(matches!(err, CoreError::TooLarge), "{err:?}");
    }

    #[test]
    fn a_second_create_event_is_refused() {
        let mut room = Room::new();
        let again = EventTemplate::state(
            StateEventType::RoomCreate,
            "",
            json!({"room_version": "11"}),
        );
        assert!(room.send(user_id!("@alice:example.org"), again).is_err());
    }

    /// A redaction as `PUT /send/m.room.redaction` carries it.
    fn redaction_in_content(target: &EventId) -> EventTemplate {
        EventTemplate::message(
            TimelineEventType::RoomRedaction,
            json!({ "redacts": target }),
        )
    }

    #[test]
    fn redactions_need_power_whatever_form_they_take() {
        let (mut room, bob) = room_with_bob();
        let alice = user_id!("@alice:example.org");
        let said = room.send(alice, text("hello")).unwrap();
        let err = room
            .send(bob, redaction_in_content(&said.event_id))
            .unwrap_err();
        assert!(matches!(err, CoreError::Forbidden(_)), "{err:?}");
        let top_level = EventTemplate {
            redacts: Some(said.event_id.clone()),
            ..EventTemplate::message(TimelineEventType::RoomRedaction, json!({}))
        };
        let err = room.send(bob, top_level).unwrap_err();
        assert!(matches!(err, CoreError::Forbidden(_)), "{err:?}");
        // A redaction as a state event is still a redaction.
        let as_state = EventTemplate {
            state_key: Some(String::new()),
            ..redaction_in_content(&said.event_id)
        };
        let err = room.send(bob, as_state).unwrap_err();
        assert!(matches!(err, CoreError::Forbidden(_)), "{err:?}");

        let own = room.send(bob, text("oops")).unwrap();
        let redaction = room.send(bob, redaction_in_content(&own.event_id)).unwrap();
        assert_eq!(redaction.redacts.as_ref(), Some(&own.event_id));
        // Both places carry the target (room v11 reads the content).
        assert_eq!(
            redaction.json["redacts"],
            CanonicalJsonValue::String(own.event_id.to_string())
        );
        room.send(alice, redaction_in_content(&said.event_id))
            .unwrap();
    }

    #[test]
    fn encryption_and_create_events_are_never_redacted() {
        let mut room = Room::new();
        let alice = user_id!("@alice:example.org");
        let encryption = room
            .send(
                alice,
                EventTemplate::state(
                    StateEventType::RoomEncryption,
                    "",
                    json!({"algorithm": "m.megolm.v1.aes-sha2"}),
                ),
            )
            .unwrap();
        let create = room.state[&(StateEventType::RoomCreate, String::new())].clone();
        for target in [encryption.event_id, create.event_id] {
            let err = room.send(alice, redaction_in_content(&target)).unwrap_err();
            assert!(matches!(err, CoreError::Forbidden(_)), "{err:?}");
        }
    }

    #[test]
    fn redactions_without_a_known_target_are_invalid() {
        let mut room = Room::new();
        let alice = user_id!("@alice:example.org");
        let err = room
            .send(
                alice,
                EventTemplate::message(TimelineEventType::RoomRedaction, json!({})),
            )
            .unwrap_err();
        assert!(matches!(err, CoreError::InvalidEvent(_)), "{err:?}");
        let err = room
            .send(
                alice,
                EventTemplate::message(
                    TimelineEventType::RoomRedaction,
                    json!({"redacts": "not an event ID"}),
                ),
            )
            .unwrap_err();
        assert!(matches!(err, CoreError::InvalidEvent(_)), "{err:?}");
        // A target the caller did not look up is never taken on trust.
        let unknown = EventId::parse("$unknown").unwrap();
        let err = room
            .send(alice, redaction_in_content(&unknown))
            .unwrap_err();
        assert!(matches!(err, CoreError::InvalidEvent(_)), "{err:?}");
        // Two different targets.
        let said = room.send(alice, text("hello")).unwrap();
        let both = EventTemplate {
            redacts: Some(said.event_id),
            ..redaction_in_content(&unknown)
        };
        let err = room.send(alice, both).unwrap_err();
        assert!(matches!(err, CoreError::InvalidEvent(_)), "{err:?}");
    }

    #[test]
    fn encryption_stays_on_with_its_algorithm() {
        let mut room = Room::new();
        let alice = user_id!("@alice:example.org");
        let encrypt = |algorithm: serde_json::Value| {
            EventTemplate::state(StateEventType::RoomEncryption, "", algorithm)
        };
        room.send(alice, encrypt(json!({"algorithm": "m.megolm.v1.aes-sha2"})))
            .unwrap();
        for other in [json!({}), json!({"algorithm": "m.none"})] {
            let err = room.send(alice, encrypt(other)).unwrap_err();
            assert!(matches!(err, CoreError::Forbidden(_)), "{err:?}");
        }
        room.send(
            alice,
            encrypt(json!({"algorithm": "m.megolm.v1.aes-sha2", "rotation_period_ms": 1000})),
        )
        .unwrap();
    }
}
