//! Building, hashing, signing and authorising a new local event.

use std::collections::HashMap;

use ruma::{
    CanonicalJsonObject, CanonicalJsonValue, EventId, MilliSecondsSinceUnixEpoch, OwnedEventId,
    OwnedServerName, RoomId, UserId,
    events::{StateEventType, TimelineEventType},
    room_version_rules::RoomVersionRules,
    signatures::Ed25519KeyPair,
    state_res,
};
use serde_json::value::{RawValue, to_raw_value};

use crate::{CoreError, MAX_PDU_BYTES, Pdu};

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
}

/// The server's identity for signing events.
pub struct Signer {
    pub server_name: OwnedServerName,
    pub key: Ed25519KeyPair,
}

/// Where the new event goes: the room and what it builds on.
pub struct RoomContext<'a> {
    pub room_id: &'a RoomId,
    pub rules: &'a RoomVersionRules,
    /// The room's forward extremities (empty only for `m.room.create`).
    pub prev_events: &'a [Pdu],
    /// At least the entries of [`required_state`] present in the room.
    pub state: &'a StateEvents,
}

/// The state entries needed to build and authorise `template` from `sender`:
/// its auth events, plus the entry it replaces (for `unsigned.prev_content`).
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
    template: EventTemplate,
    sender: &UserId,
    ctx: &RoomContext<'_>,
    signer: &Signer,
    now: MilliSecondsSinceUnixEpoch,
) -> Result<Pdu, CoreError> {
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
    let mut auth_events: Vec<OwnedEventId> = auth_types
        .iter()
        .filter_map(|key| ctx.state.get(key).map(|pdu| pdu.event_id.clone()))
        .collect();
    auth_events.sort();
    auth_events.dedup();

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
    object.insert("auth_events".into(), ids(&auth_events));
    object.insert("content".into(), content);
    object.insert("depth".into(), CanonicalJsonValue::Integer(int(depth)?));
    object.insert(
        "origin_server_ts".into(),
        CanonicalJsonValue::Integer(int(u64::from(now.get()))?),
    );
    let prev_ids: Vec<OwnedEventId> = ctx.prev_events.iter().map(|p| p.event_id.clone()).collect();
    object.insert("prev_events".into(), ids(&prev_ids));
    object.insert(
        "room_id".into(),
        CanonicalJsonValue::String(ctx.room_id.to_string()),
    );
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
    let hash = ruma::signatures::reference_hash(&object, ctx.rules).map_err(|e| match e {
        ruma::signatures::JsonError::PduTooLarge => CoreError::TooLarge,
        other => CoreError::InvalidEvent(other.to_string()),
    })?;
    let event_id =
        EventId::parse(format!("${hash}")).map_err(|e| CoreError::InvalidEvent(e.to_string()))?;

    if !unsigned.is_empty() {
        object.insert("unsigned".into(), CanonicalJsonValue::Object(unsigned));
    }
    let pdu = Pdu::from_object(event_id, object)?;
    authorise(&pdu, ctx)?;
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
    state_res::check_state_independent_auth_rules(&ctx.rules.authorization, pdu, |id| {
        by_id.get(id).copied()
    })
    .map_err(CoreError::Forbidden)?;
    state_res::check_state_dependent_auth_rules(&ctx.rules.authorization, pdu, |ty, key| {
        ctx.state.get(&(ty.clone(), key.to_owned()))
    })
    .map_err(CoreError::Forbidden)
}

fn ids(ids: &[OwnedEventId]) -> CanonicalJsonValue {
    CanonicalJsonValue::Array(
        ids.iter()
            .map(|id| CanonicalJsonValue::String(id.to_string()))
            .collect(),
    )
}

fn int(v: u64) -> Result<ruma::Int, CoreError> {
    ruma::Int::try_from(v).map_err(|_| CoreError::InvalidEvent("integer out of range".into()))
}

#[cfg(test)]
mod tests {
    use ruma::{
        RoomVersionId, owned_server_name, room_id, room_version_rules::RoomVersionRules, user_id,
    };
    use serde_json::json;

    use super::*;

    fn signer() -> Signer {
        let doc = Ed25519KeyPair::generate();
        Signer {
            server_name: owned_server_name!("example.org"),
            key: Ed25519KeyPair::from_der(&doc, "k1".into()).unwrap(),
        }
    }

    /// A room built event by event in memory, as the server does.
    struct Room {
        rules: RoomVersionRules,
        signer: Signer,
        state: StateEvents,
        prev: Vec<Pdu>,
    }

    impl Room {
        fn new() -> Self {
            let mut room = Room {
                rules: RoomVersionId::V11.rules().unwrap(),
                signer: signer(),
                state: StateEvents::new(),
                prev: Vec::new(),
            };
            let alice = user_id!("@alice:example.org");
            room.send(
                alice,
                EventTemplate::state(
                    StateEventType::RoomCreate,
                    "",
                    json!({"room_version": "11"}),
                ),
            )
            .unwrap();
            room.send(alice, member("join")).map(|_| ()).unwrap();
            room.send(
                alice,
                EventTemplate::state(
                    StateEventType::RoomPowerLevels,
                    "",
                    json!({"users": {"@alice:example.org": 100}, "state_default": 50, "events_default": 0}),
                ),
            )
            .unwrap();
            room.send(
                alice,
                EventTemplate::state(
                    StateEventType::RoomJoinRules,
                    "",
                    json!({"join_rule": "invite"}),
                ),
            )
            .unwrap();
            room
        }

        fn send(&mut self, sender: &UserId, template: EventTemplate) -> Result<Pdu, CoreError> {
            let ctx = RoomContext {
                room_id: room_id!("!room:example.org"),
                rules: &self.rules,
                prev_events: &self.prev,
                state: &self.state,
            };
            let pdu = build_event(
                template,
                sender,
                &ctx,
                &self.signer,
                MilliSecondsSinceUnixEpoch::now(),
            )?;
            if let Some(key) = &pdu.state_key {
                self.state.insert(
                    (pdu.event_type.to_string().into(), key.clone()),
                    pdu.clone(),
                );
            }
            self.prev = vec![pdu.clone()];
            Ok(pdu)
        }
    }

    fn member(membership: &str) -> EventTemplate {
        EventTemplate::state(
            StateEventType::RoomMember,
            "@alice:example.org",
            json!({"membership": membership}),
        )
    }

    fn member_of(user: &str, membership: &str) -> EventTemplate {
        EventTemplate::state(
            StateEventType::RoomMember,
            user,
            json!({"membership": membership}),
        )
    }

    fn text(body: &str) -> EventTemplate {
        EventTemplate::message(
            TimelineEventType::RoomMessage,
            json!({"msgtype": "m.text", "body": body}),
        )
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
}
