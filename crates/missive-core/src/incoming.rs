//! The checks a server makes on a PDU received over federation (Server-Server
//! API, "Checks performed on receipt of a PDU"), as pure functions: the
//! caller fetches keys and events, and stores what comes out.
//!
//! In the spec's order:
//! 1. [`parse`]: the PDU has its room version's format, fits the size limit
//!    and is in the room the caller expects; its event ID is computed (room
//!    version 3 on) or read from it (1 and 2). Failure: drop it.
//! 2. [`Incoming::required_keys`]: the signing keys to fetch for step 3.
//! 3. [`Incoming::verify`]: the signatures (failure: drop it) and the content
//!    hash (a mismatch: keep the event redacted, [`Received::Redacted`]).
//! 4. [`check_auth_events`]: the authorization rules against the event's own
//!    auth events. Failure: the event is rejected (stored as rejected).
//! 5. and 6. [`check_state`]: the state-dependent rules against the state
//!    before the event (failure: rejected) and the room's current state
//!    (failure: soft-failed); the caller knows which state it passes.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use ruma::{
    CanonicalJsonObject, CanonicalJsonValue, EventId, MilliSecondsSinceUnixEpoch, OwnedEventId,
    OwnedRoomId, OwnedServerName, OwnedServerSigningKeyId, RoomId, RoomVersionId, ServerName,
    SigningKeyAlgorithm,
    canonical_json::redact,
    events::{StateEventType, TimelineEventType},
    room_version_rules::{EventIdFormatVersion, RoomVersionRules},
    signatures::{JsonError, PublicKeyMap, VerificationError, Verified},
    state_res,
};
use serde_json::value::RawValue;
use thiserror::Error;

use crate::{MAX_PDU_BYTES, Pdu, auth, room_versions};

/// Why a received PDU was refused. [`Rejected::AuthFailed`] from
/// [`check_auth_events`] or [`check_state`] against the state before the
/// event means "rejected" in the spec's sense (kept, marked rejected); every
/// other variant means the PDU is dropped.
#[derive(Debug, Error)]
pub enum Rejected {
    /// Larger than [`MAX_PDU_BYTES`] of canonical JSON.
    #[error("PDU larger than {MAX_PDU_BYTES} bytes")]
    TooLarge,
    /// Not valid JSON, or not in the room version's event format.
    #[error("malformed PDU: {0}")]
    Format(String),
    /// The room version is unknown or not supported here.
    #[error("unsupported room version {0}")]
    UnsupportedRoomVersion(String),
    /// The PDU belongs to another room than the one it was received for.
    #[error("PDU of room {found} received for room {expected}")]
    WrongRoom {
        expected: OwnedRoomId,
        found: OwnedRoomId,
    },
    /// The caller supplied no public key of a server that must have signed
    /// the PDU (see [`Incoming::required_keys`]).
    #[error("no public keys of {0} to verify the PDU with")]
    KeysUnavailable(String),
    /// A required signature is missing, unreadable or wrong.
    #[error("bad signature: {0}")]
    Signature(String),
    /// The authorization rules do not allow the event.
    #[error("not allowed by the authorization rules: {0}")]
    AuthFailed(String),
}

/// A PDU that passed the format checks (step 1), awaiting its signatures.
#[derive(Debug)]
pub struct Incoming {
    rules: RoomVersionRules,
    pdu: Pdu,
}

/// A PDU whose signatures are valid (step 3).
#[derive(Debug, Clone)]
pub enum Received {
    /// The content hash matches: the event as sent.
    Accepted(Pdu),
    /// The content hash does not match: the event redacted by the room
    /// version's rules, which the spec says to keep and process in place
    /// of the original.
    Redacted(Pdu),
}

impl Received {
    pub fn pdu(&self) -> &Pdu {
        match self {
            Self::Accepted(pdu) | Self::Redacted(pdu) => pdu,
        }
    }

    pub fn into_pdu(self) -> Pdu {
        match self {
            Self::Accepted(pdu) | Self::Redacted(pdu) => pdu,
        }
    }
}

/// The room a received PDU names, read before anything else so the caller
/// can look up the room's version for [`parse`]. `None` when it names none
/// (a version 12 create event, whose room the caller already knows) or
/// names no valid room ID; nothing else is checked.
pub fn claimed_room_id(json: &RawValue) -> Option<OwnedRoomId> {
    #[derive(serde::Deserialize)]
    struct RoomOnly {
        room_id: Option<OwnedRoomId>,
    }
    serde_json::from_str::<RoomOnly>(json.get()).ok()?.room_id
}

/// Step 1: parses `json`, a PDU received for `room_id` in a room of
/// `version`, checks its format and size, and computes its event ID.
///
/// A version 12 create event carries no room ID: its room is the one its
/// event ID names, which must be `room_id`.
pub fn parse(
    json: &RawValue,
    version: &RoomVersionId,
    room_id: &RoomId,
) -> Result<Incoming, Rejected> {
    let rules = room_versions::rules(version)
        .map_err(|_| Rejected::UnsupportedRoomVersion(version.to_string()))?;
    let object: CanonicalJsonObject = serde_json::from_str(json.get())
        .map_err(|e| Rejected::Format(format!("not canonical JSON: {e}")))?;
    // The limit is on the canonical form with signatures, whatever
    // whitespace the sender added.
    if serde_json::to_vec(&object).map_or(usize::MAX, |v| v.len()) > MAX_PDU_BYTES {
        return Err(Rejected::TooLarge);
    }
    state_res::check_pdu_format(&object, &rules.event_format).map_err(Rejected::Format)?;
    if !matches!(object.get("content"), Some(CanonicalJsonValue::Object(_))) {
        return Err(Rejected::Format("content must be an object".into()));
    }
    let event_id = event_id(&object, &rules)?;
    let pdu = Pdu::from_object(event_id, object).map_err(|e| Rejected::Format(e.to_string()))?;
    if *pdu.room_id != *room_id {
        return Err(Rejected::WrongRoom {
            expected: room_id.to_owned(),
            found: pdu.room_id,
        });
    }
    if pdu.event_type == TimelineEventType::RoomCreate {
        check_create_version(&pdu, version)?;
    }
    Ok(Incoming { rules, pdu })
}

/// The event ID: carried in the event in room versions 1 and 2, the
/// reference hash of the event as received from version 3 on.
fn event_id(
    object: &CanonicalJsonObject,
    rules: &RoomVersionRules,
) -> Result<OwnedEventId, Rejected> {
    if rules.event_id_format == EventIdFormatVersion::V1 {
        let Some(CanonicalJsonValue::String(id)) = object.get("event_id") else {
            return Err(Rejected::Format("no event_id".into()));
        };
        return EventId::parse(id).map_err(|e| Rejected::Format(format!("event_id: {e}")));
    }
    let hash = ruma::signatures::reference_hash(object, rules).map_err(|e| match e {
        JsonError::PduTooLarge => Rejected::TooLarge,
        other => Rejected::Format(other.to_string()),
    })?;
    EventId::new_v2_or_v3(&hash).map_err(|e| Rejected::Format(e.to_string()))
}

/// A create event must create a room of the version the caller processes
/// it under (`room_version` defaults to "1").
fn check_create_version(pdu: &Pdu, version: &RoomVersionId) -> Result<(), Rejected> {
    let content = pdu.content_value();
    let claimed = match content.get("room_version") {
        None => "1",
        Some(serde_json::Value::String(v)) => v.as_str(),
        Some(_) => return Err(Rejected::Format("room_version must be a string".into())),
    };
    if claimed != version.as_str() {
        return Err(Rejected::Format(format!(
            "create event of room version {claimed} received as version {version}"
        )));
    }
    Ok(())
}

impl Incoming {
    pub fn event_id(&self) -> &EventId {
        &self.pdu.event_id
    }

    /// The event's depth, to process fetched events oldest first.
    pub fn depth(&self) -> ruma::UInt {
        self.pdu.depth
    }

    /// When the sender says the event was sent: the caller uses keys valid
    /// at that time.
    pub fn origin_server_ts(&self) -> MilliSecondsSinceUnixEpoch {
        self.pdu.origin_server_ts
    }

    /// Step 2: the servers whose signatures the event needs (the sender's;
    /// in room versions 1 and 2 the event ID's; for a restricted join, the
    /// authorising user's), each with the ed25519 key IDs it signed with.
    /// The caller fetches those keys and passes them to [`Self::verify`].
    /// A required server that signed with no ed25519 key is refused here.
    pub fn required_keys(
        &self,
    ) -> Result<BTreeMap<OwnedServerName, BTreeSet<OwnedServerSigningKeyId>>, Rejected> {
        let servers = ruma::signatures::required_server_signatures_to_verify_event(
            &self.pdu.json,
            &self.rules.signatures,
        )
        .map_err(signature_error)?;
        let signatures = match self.pdu.json.get("signatures") {
            Some(CanonicalJsonValue::Object(s)) => s,
            _ => return Err(Rejected::Format("no signatures".into())),
        };
        let mut out = BTreeMap::new();
        for server in servers {
            let keys = signed_keys(signatures, &server);
            if keys.is_empty() {
                return Err(Rejected::Signature(format!(
                    "no ed25519 signature of {server}"
                )));
            }
            out.insert(server, keys);
        }
        Ok(out)
    }

    /// Step 3: checks the signatures with the caller's public keys, then
    /// the content hash. The returned PDU's JSON has no `unsigned` object:
    /// no signature covers it, so nothing the sender put there is kept.
    pub fn verify(self, keys: &PublicKeyMap) -> Result<Received, Rejected> {
        let Incoming { rules, mut pdu } = self;
        let verified =
            ruma::signatures::verify_event(keys, &pdu.json, &rules).map_err(signature_error)?;
        pdu.json.remove("unsigned");
        match verified {
            Verified::All => Ok(Received::Accepted(pdu)),
            Verified::Signatures => {
                let redacted = redact(pdu.json, &rules.redaction, None)
                    .map_err(|e| Rejected::Format(e.to_string()))?;
                let pdu = Pdu::from_object(pdu.event_id, redacted)
                    .map_err(|e| Rejected::Format(e.to_string()))?;
                Ok(Received::Redacted(pdu))
            }
        }
    }
}

/// The ed25519 key IDs `server` signed with.
fn signed_keys(
    signatures: &CanonicalJsonObject,
    server: &ServerName,
) -> BTreeSet<OwnedServerSigningKeyId> {
    let Some(CanonicalJsonValue::Object(by_key)) = signatures.get(server.as_str()) else {
        return BTreeSet::new();
    };
    by_key
        .keys()
        .filter_map(|id| OwnedServerSigningKeyId::try_from(id.as_str()).ok())
        .filter(|id| id.algorithm() == SigningKeyAlgorithm::Ed25519)
        .collect()
}

fn signature_error(e: VerificationError) -> Rejected {
    match e {
        VerificationError::NoPublicKeysForEntity(server) => Rejected::KeysUnavailable(server),
        VerificationError::Json(JsonError::PduTooLarge) => Rejected::TooLarge,
        VerificationError::Json(other) => Rejected::Format(other.to_string()),
        other => Rejected::Signature(other.to_string()),
    }
}

/// Step 4: the authorization rules against the event's own auth events.
///
/// `events` holds the event's auth events that were not rejected (a
/// rejected one must be left out: the event then fails, as the rules say)
/// and, in room version 12, the room's create event, which is no auth event
/// but decides who created the room. Other events in `events` are ignored.
pub fn check_auth_events(
    pdu: &Pdu,
    rules: &RoomVersionRules,
    events: &[Pdu],
) -> Result<(), Rejected> {
    let by_id: HashMap<&EventId, &Pdu> = events.iter().map(|p| (&*p.event_id, p)).collect();
    let create_id = if rules.authorization.room_create_event_id_as_room_id {
        // The room ID is `!` and the create event's reference hash.
        EventId::parse(format!("${}", pdu.room_id.strip_sigil())).ok()
    } else {
        None
    };
    // The state the rules read is that of the auth events alone.
    let state: HashMap<(StateEventType, String), &Pdu> = pdu
        .auth_events
        .iter()
        .chain(create_id.as_ref())
        .filter_map(|id| by_id.get(&**id).copied())
        .filter_map(|p| {
            let key = p.state_key.clone()?;
            Some(((p.event_type.to_string().into(), key), p))
        })
        .collect();
    auth::check(
        &rules.authorization,
        pdu,
        |id| by_id.get(id).copied(),
        |ty, key| state.get(&(ty.clone(), key.to_owned())).copied(),
    )
    .map_err(Rejected::AuthFailed)
}

/// The state entries [`check_state`] reads for `pdu`, and the create and
/// power levels events (which push rules and redactions read too).
pub fn needed_state(
    pdu: &Pdu,
    rules: &RoomVersionRules,
) -> Result<Vec<(StateEventType, String)>, Rejected> {
    let mut keys = state_res::auth_types_for_event(
        &pdu.event_type,
        &pdu.sender,
        pdu.state_key.as_deref(),
        &pdu.content,
        &rules.authorization,
    )
    .map_err(|e| Rejected::Format(e.to_string()))?;
    keys.push((StateEventType::RoomCreate, String::new()));
    keys.push((StateEventType::RoomPowerLevels, String::new()));
    keys.sort();
    keys.dedup();
    Ok(keys)
}

/// Steps 5 and 6: the state-dependent rules against a state the caller
/// reads: the state before the event (failure: rejected) or the room's
/// current state (failure: soft-failed). The state must include the
/// create event, power levels, join rules and the memberships the event
/// involves, where they exist.
pub fn check_state<'a>(
    pdu: &Pdu,
    rules: &RoomVersionRules,
    fetch_state: impl Fn(&StateEventType, &str) -> Option<&'a Pdu>,
) -> Result<(), Rejected> {
    auth::check_state(&rules.authorization, pdu, fetch_state).map_err(Rejected::AuthFailed)
}

#[cfg(test)]
mod tests;
