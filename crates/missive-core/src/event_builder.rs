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

    ruma::signatures::hash_and_sign_event(
        signer.server_name.as_str(),
        &signer.key,
        &mut object,
        &ctx.rules.redaction,
    )
    .map_err(|e| CoreError::InvalidEvent(format!("signing failed: {e}")))?;

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
