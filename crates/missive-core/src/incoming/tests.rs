//! Events built and signed by the real event builder, received back as a
//! remote server would send them, some after tampering.

use ruma::{
    CanonicalJsonObject, CanonicalJsonValue, EventId, RoomVersionId,
    events::StateEventType,
    room_id,
    room_version_rules::{EventsReferenceFormatVersion, RoomVersionRules},
    serde::Base64,
    signatures::{Ed25519KeyPair, PublicKeyMap},
    user_id,
};
use serde_json::value::to_raw_value;

use super::*;
use crate::testing::{Room, member_of, room_with_bob_in, text};

const VERSIONS: [RoomVersionId; 3] = [RoomVersionId::V1, RoomVersionId::V10, RoomVersionId::V12];

fn version_of(room: &Room) -> RoomVersionId {
    let create = &room.state[&(StateEventType::RoomCreate, String::new())];
    let v = create.content_value()["room_version"]
        .as_str()
        .unwrap()
        .to_owned();
    RoomVersionId::try_from(v).unwrap()
}

fn room_id_of(room: &Room) -> &RoomId {
    room.room_id.as_deref().unwrap()
}

fn key_pair(version: &str) -> Ed25519KeyPair {
    Ed25519KeyPair::from_der(&Ed25519KeyPair::generate(), version.into()).unwrap()
}

/// The public keys of `(server, key)` pairs, as the caller fetches them.
fn key_map(entries: &[(&str, &Ed25519KeyPair)]) -> PublicKeyMap {
    let mut map = PublicKeyMap::new();
    for (server, key) in entries {
        map.entry((*server).to_owned()).or_default().insert(
            format!("ed25519:{}", key.version()),
            Base64::new(key.public_key().to_vec()),
        );
    }
    map
}

fn room_keys(room: &Room) -> PublicKeyMap {
    key_map(&[("example.org", &room.signer.key)])
}

/// Steps 1 to 3 on `json` as received for `room`.
fn receive(room: &Room, json: &CanonicalJsonObject) -> Result<Received, Rejected> {
    receive_with(room, json, &room_keys(room))
}

fn receive_with(
    room: &Room,
    json: &CanonicalJsonObject,
    keys: &PublicKeyMap,
) -> Result<Received, Rejected> {
    let raw = to_raw_value(json).unwrap();
    parse(&raw, &version_of(room), room_id_of(room))?.verify(keys)
}

/// `json` hashed and signed afresh by `server` with `key`, as a malicious
/// (or buggy) server would send it. Version 1 and 2 events get a new ID.
fn resign(
    json: &CanonicalJsonObject,
    rules: &RoomVersionRules,
    server: &str,
    key: &Ed25519KeyPair,
) -> CanonicalJsonObject {
    let mut object = json.clone();
    for field in ["hashes", "signatures", "unsigned"] {
        object.remove(field);
    }
    if object.contains_key("event_id") {
        let id = EventId::new_v1(server.try_into().unwrap());
        object.insert(
            "event_id".into(),
            CanonicalJsonValue::String(id.to_string()),
        );
    }
    ruma::signatures::hash_and_sign_event(server, key, &mut object, &rules.redaction).unwrap();
    object
}

/// `auth_events` naming `events` in the room version's format.
fn references(room: &Room, events: &[&Pdu]) -> CanonicalJsonValue {
    let refs = events.iter().map(|pdu| {
        let id = CanonicalJsonValue::String(pdu.event_id.to_string());
        match room.rules.events_reference_format {
            EventsReferenceFormatVersion::V1 => {
                let hash = ruma::signatures::reference_hash(&pdu.json, &room.rules).unwrap();
                let mut hashes = CanonicalJsonObject::new();
                hashes.insert("sha256".into(), CanonicalJsonValue::String(hash));
                CanonicalJsonValue::Array(vec![id, CanonicalJsonValue::Object(hashes)])
            }
            _ => id,
        }
    });
    CanonicalJsonValue::Array(refs.collect())
}

fn state<'a>(room: &'a Room, ty: StateEventType, key: &str) -> &'a Pdu {
    &room.state[&(ty, key.to_owned())]
}

/// The create event, among the auth events of room versions before 12.
fn create_ref(room: &Room) -> Option<&Pdu> {
    let create = state(room, StateEventType::RoomCreate, "");
    (!room.rules.authorization.room_create_event_id_as_room_id).then_some(create)
}

fn all_events(room: &Room) -> Vec<Pdu> {
    room.events.values().cloned().collect()
}

fn signature_of<'a>(
    json: &'a mut CanonicalJsonObject,
    server: &str,
) -> &'a mut CanonicalJsonObject {
    let Some(CanonicalJsonValue::Object(sigs)) = json.get_mut("signatures") else {
        panic!("no signatures")
    };
    let Some(CanonicalJsonValue::Object(by_key)) = sigs.get_mut(server) else {
        panic!("no signature of {server}")
    };
    by_key
}

#[test]
fn good_events_are_accepted_under_their_own_ids() {
    for version in VERSIONS {
        let (mut room, bob) = room_with_bob_in(version.clone());
        let said = room.send(bob, text("hello")).unwrap();
        let received = receive(&room, &said.json).unwrap();
        let Received::Accepted(pdu) = received else {
            panic!("{version}: {received:?}")
        };
        assert_eq!(pdu.event_id, said.event_id, "{version}");
        assert_eq!(pdu.content_value(), said.content_value(), "{version}");
        // Nothing unsigned is taken from the sender.
        assert!(!pdu.json.contains_key("unsigned"), "{version}");
        let id = pdu.event_id.as_str();
        if version == RoomVersionId::V1 {
            // Given by the event, scoped to its server.
            assert_eq!(pdu.json["event_id"], CanonicalJsonValue::String(id.into()));
            assert!(id.ends_with(":example.org"), "{id}");
        } else {
            let hash = ruma::signatures::reference_hash(&said.json, &room.rules).unwrap();
            assert_eq!(id, format!("${hash}"), "{version}");
        }
        // Its auth events allow it, and so does the room's state.
        check_auth_events(&pdu, &room.rules, &all_events(&room)).unwrap();
        check_state(&pdu, &room.rules, |ty, key| {
            room.state.get(&(ty.clone(), key.to_owned()))
        })
        .unwrap();
    }
}

#[test]
fn a_v3_and_later_event_id_is_the_hash_whatever_the_event_says() {
    for version in [RoomVersionId::V10, RoomVersionId::V12] {
        let (mut room, bob) = room_with_bob_in(version.clone());
        let said = room.send(bob, text("hello")).unwrap();
        let raw = to_raw_value(&said.json).unwrap();
        let incoming = parse(&raw, &version, room_id_of(&room)).unwrap();
        assert_eq!(incoming.event_id(), &*said.event_id, "{version}");
        assert_eq!(incoming.origin_server_ts(), said.origin_server_ts);
    }
}

#[test]
fn create_events_name_their_room() {
    for version in VERSIONS {
        let room = Room::of_version(version.clone());
        let create = state(&room, StateEventType::RoomCreate, "").clone();
        let Received::Accepted(pdu) = receive(&room, &create.json).unwrap() else {
            panic!("{version}")
        };
        assert_eq!(pdu.room_id, room_id_of(&room), "{version}");
        check_auth_events(&pdu, &room.rules, &[]).unwrap();
        let raw = to_raw_value(&create.json).unwrap();
        if version == RoomVersionId::V12 {
            assert_eq!(claimed_room_id(&raw), None);
            // The room ID is the create event's reference hash.
            assert!(!pdu.json.contains_key("room_id"));
            assert_eq!(&pdu.room_id.as_str()[1..], &pdu.event_id.as_str()[1..]);
        }
        // Received for another room, or as another room version, it is
        // refused.
        let other = room_id!("!other:example.org");
        let err = parse(&raw, &version, other).unwrap_err();
        assert!(
            matches!(err, Rejected::WrongRoom { .. }),
            "{version}: {err:?}"
        );
        let err = parse(&raw, &RoomVersionId::V11, room_id_of(&room)).unwrap_err();
        assert!(matches!(err, Rejected::Format(_)), "{version}: {err:?}");
    }
}

#[test]
fn events_of_another_room_are_refused() {
    for version in VERSIONS {
        let (mut room, bob) = room_with_bob_in(version.clone());
        let said = room.send(bob, text("hello")).unwrap();
        let raw = to_raw_value(&said.json).unwrap();
        assert_eq!(claimed_room_id(&raw).as_deref(), Some(room_id_of(&room)));
        let err = parse(&raw, &version, room_id!("!elsewhere:example.org")).unwrap_err();
        assert!(
            matches!(err, Rejected::WrongRoom { .. }),
            "{version}: {err:?}"
        );
    }
}

#[test]
fn forged_signatures_are_rejected() {
    for version in VERSIONS {
        let (mut room, bob) = room_with_bob_in(version.clone());
        let said = room.send(bob, text("hello")).unwrap();
        let other = room.send(bob, text("another")).unwrap();
        // A valid signature, of another event.
        let mut forged = said.json.clone();
        let stolen = signature_of(&mut other.json.clone(), "example.org")["ed25519:k1"].clone();
        signature_of(&mut forged, "example.org").insert("ed25519:k1".into(), stolen);
        let err = receive(&room, &forged).unwrap_err();
        assert!(matches!(err, Rejected::Signature(_)), "{version}: {err:?}");
        // Not even base64.
        signature_of(&mut forged, "example.org")
            .insert("ed25519:k1".into(), CanonicalJsonValue::String("!!".into()));
        let err = receive(&room, &forged).unwrap_err();
        assert!(matches!(err, Rejected::Signature(_)), "{version}: {err:?}");
        // A signed field changed after signing.
        let mut moved = said.json.clone();
        moved.insert(
            "origin_server_ts".into(),
            CanonicalJsonValue::Integer(1u32.into()),
        );
        let err = receive(&room, &moved).unwrap_err();
        assert!(matches!(err, Rejected::Signature(_)), "{version}: {err:?}");
    }
}

#[test]
fn signatures_by_another_key_are_rejected() {
    for version in VERSIONS {
        let (mut room, bob) = room_with_bob_in(version.clone());
        let said = room.send(bob, text("hello")).unwrap();
        // Another key under the server's key ID.
        let impostor = key_pair("k1");
        let json = resign(&said.json, &room.rules, "example.org", &impostor);
        let err = receive(&room, &json).unwrap_err();
        assert!(matches!(err, Rejected::Signature(_)), "{version}: {err:?}");
        // A key ID the server does not have.
        let unknown = key_pair("k2");
        let json = resign(&said.json, &room.rules, "example.org", &unknown);
        let raw = to_raw_value(&json).unwrap();
        let incoming = parse(&raw, &version, room_id_of(&room)).unwrap();
        let needed = incoming.required_keys().unwrap();
        let ids: Vec<String> = needed.values().flatten().map(ToString::to_string).collect();
        assert_eq!(ids, ["ed25519:k2"], "{version}");
        let err = incoming.verify(&room_keys(&room)).unwrap_err();
        assert!(matches!(err, Rejected::Signature(_)), "{version}: {err:?}");
    }
}

#[test]
fn the_senders_server_must_sign() {
    for version in VERSIONS {
        let (mut room, bob) = room_with_bob_in(version.clone());
        let said = room.send(bob, text("hello")).unwrap();
        // Signed by another server only.
        let elsewhere = key_pair("e1");
        let json = resign(&said.json, &room.rules, "elsewhere.org", &elsewhere);
        let json = {
            let mut json = json;
            if version == RoomVersionId::V1 {
                // Keep the event ID on the sender's server: only the
                // sender's signature is missing.
                json.insert("event_id".into(), said.json["event_id"].clone());
            }
            json
        };
        let raw = to_raw_value(&json).unwrap();
        let incoming = parse(&raw, &version, room_id_of(&room)).unwrap();
        let err = incoming.required_keys().unwrap_err();
        assert!(matches!(err, Rejected::Signature(_)), "{version}: {err:?}");
        let keys = key_map(&[
            ("example.org", &room.signer.key),
            ("elsewhere.org", &elsewhere),
        ]);
        let err = incoming.verify(&keys).unwrap_err();
        assert!(matches!(err, Rejected::Signature(_)), "{version}: {err:?}");

        // Correctly signed, the keys needed are the sender's server's.
        let raw = to_raw_value(&said.json).unwrap();
        let incoming = parse(&raw, &version, room_id_of(&room)).unwrap();
        let needed = incoming.required_keys().unwrap();
        assert_eq!(needed.len(), 1, "{version}: {needed:?}");
        assert_eq!(
            needed[&ruma::server_name!("example.org").to_owned()]
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            ["ed25519:k1"]
        );
        // Without the keys the caller was told to fetch, nothing passes.
        let err = incoming.verify(&PublicKeyMap::new()).unwrap_err();
        assert!(
            matches!(err, Rejected::KeysUnavailable(_)),
            "{version}: {err:?}"
        );
    }
}

#[test]
fn a_changed_content_comes_back_redacted() {
    for version in VERSIONS {
        let (mut room, bob) = room_with_bob_in(version.clone());
        let said = room.send(bob, text("hello")).unwrap();
        let mut changed = said.json.clone();
        let Some(CanonicalJsonValue::Object(content)) = changed.get_mut("content") else {
            panic!("content")
        };
        content.insert("body".into(), CanonicalJsonValue::String("evil".into()));
        let received = receive(&room, &changed).unwrap();
        let Received::Redacted(pdu) = received else {
            panic!("{version}: {received:?}")
        };
        // Same event (the ID covers the redacted form), without content.
        assert_eq!(pdu.event_id, said.event_id, "{version}");
        assert_eq!(pdu.content_value(), serde_json::json!({}), "{version}");
        assert_eq!(
            pdu.json["content"],
            CanonicalJsonValue::Object(Default::default())
        );
        assert_eq!(pdu.sender, said.sender);
        // A redacted event is still checked like any other.
        check_auth_events(&pdu, &room.rules, &all_events(&room)).unwrap();
    }
}

#[test]
fn a_message_from_a_non_member_fails_auth() {
    for version in VERSIONS {
        let mut room = Room::of_version(version.clone());
        let alice = user_id!("@alice:example.org");
        let said = room.send(alice, text("hello")).unwrap();
        let mut json = said.json.clone();
        json.insert(
            "sender".into(),
            CanonicalJsonValue::String("@mallory:example.org".into()),
        );
        let power = state(&room, StateEventType::RoomPowerLevels, "");
        let auth: Vec<&Pdu> = create_ref(&room).into_iter().chain([power]).collect();
        json.insert("auth_events".into(), references(&room, &auth));
        let json = resign(&json, &room.rules, "example.org", &room.signer.key);
        let pdu = receive(&room, &json).unwrap().into_pdu();
        let err = check_auth_events(&pdu, &room.rules, &all_events(&room)).unwrap_err();
        assert!(matches!(err, Rejected::AuthFailed(_)), "{version}: {err:?}");
        let err = check_state(&pdu, &room.rules, |ty, key| {
            room.state.get(&(ty.clone(), key.to_owned()))
        })
        .unwrap_err();
        assert!(matches!(err, Rejected::AuthFailed(_)), "{version}: {err:?}");
    }
}

#[test]
fn a_power_level_change_without_power_fails_auth() {
    for version in VERSIONS {
        let (room, bob) = room_with_bob_in(version.clone());
        let power = state(&room, StateEventType::RoomPowerLevels, "");
        let member = state(&room, StateEventType::RoomMember, bob.as_str());
        let mut json = power.json.clone();
        json.insert("sender".into(), CanonicalJsonValue::String(bob.to_string()));
        let content = serde_json::json!({"users": {bob.as_str(): 100}, "state_default": 50});
        json.insert("content".into(), serde_json::from_value(content).unwrap());
        let auth: Vec<&Pdu> = create_ref(&room)
            .into_iter()
            .chain([power, member])
            .collect();
        json.insert("auth_events".into(), references(&room, &auth));
        let json = resign(&json, &room.rules, "example.org", &room.signer.key);
        let Received::Accepted(pdu) = receive(&room, &json).unwrap() else {
            panic!("{version}")
        };
        let err = check_auth_events(&pdu, &room.rules, &all_events(&room)).unwrap_err();
        assert!(matches!(err, Rejected::AuthFailed(_)), "{version}: {err:?}");
    }
}

#[test]
fn missing_or_wrong_auth_events_fail_auth() {
    for version in VERSIONS {
        let (mut room, bob) = room_with_bob_in(version.clone());
        let said = room.send(bob, text("hello")).unwrap();
        let pdu = receive(&room, &said.json).unwrap().into_pdu();
        // Bob's membership left out (unknown, or rejected): fails.
        let member = &state(&room, StateEventType::RoomMember, bob.as_str()).event_id;
        let without: Vec<Pdu> = all_events(&room)
            .into_iter()
            .filter(|p| p.event_id != *member)
            .collect();
        let err = check_auth_events(&pdu, &room.rules, &without).unwrap_err();
        assert!(matches!(err, Rejected::AuthFailed(_)), "{version}: {err:?}");
        // An auth event the rules do not select for it (the join rules).
        let join_rules = state(&room, StateEventType::RoomJoinRules, "");
        let mut json = said.json.clone();
        let mut auth: Vec<&Pdu> = pdu.auth_events.iter().map(|id| &room.events[id]).collect();
        auth.push(join_rules);
        json.insert("auth_events".into(), references(&room, &auth));
        let json = resign(&json, &room.rules, "example.org", &room.signer.key);
        let pdu = receive(&room, &json).unwrap().into_pdu();
        let err = check_auth_events(&pdu, &room.rules, &all_events(&room)).unwrap_err();
        assert!(matches!(err, Rejected::AuthFailed(_)), "{version}: {err:?}");
    }
}

#[test]
fn the_state_before_decides_too() {
    // Bob's message is allowed by its auth events, but not by a state in
    // which bob has left: the caller rejects or soft-fails it.
    for version in VERSIONS {
        let (mut room, bob) = room_with_bob_in(version.clone());
        let said = room.send(bob, text("hello")).unwrap();
        let pdu = receive(&room, &said.json).unwrap().into_pdu();
        room.send(bob, member_of(bob.as_str(), "leave")).unwrap();
        let err = check_state(&pdu, &room.rules, |ty, key| {
            room.state.get(&(ty.clone(), key.to_owned()))
        })
        .unwrap_err();
        assert!(matches!(err, Rejected::AuthFailed(_)), "{version}: {err:?}");
        check_auth_events(&pdu, &room.rules, &all_events(&room)).unwrap();
    }
}

#[test]
fn oversized_events_are_rejected() {
    for version in VERSIONS {
        let (mut room, bob) = room_with_bob_in(version.clone());
        let said = room.send(bob, text("hello")).unwrap();
        let mut json = said.json.clone();
        json.insert(
            "padding".into(),
            CanonicalJsonValue::String("x".repeat(MAX_PDU_BYTES)),
        );
        let err = receive(&room, &json).unwrap_err();
        assert!(matches!(err, Rejected::TooLarge), "{version}: {err:?}");
    }
}

#[test]
fn malformed_events_are_rejected() {
    let (mut room, bob) = room_with_bob_in(RoomVersionId::V12);
    let said = room.send(bob, text("hello")).unwrap();
    let version = version_of(&room);
    let room_id = room_id_of(&room);
    for field in ["depth", "sender", "auth_events", "type", "room_id"] {
        let mut json = said.json.clone();
        json.remove(field);
        let raw = to_raw_value(&json).unwrap();
        let err = parse(&raw, &version, room_id).unwrap_err();
        assert!(matches!(err, Rejected::Format(_)), "{field}: {err:?}");
    }
    let mut json = said.json.clone();
    json.insert("content".into(), CanonicalJsonValue::String("text".into()));
    let raw = to_raw_value(&json).unwrap();
    let err = parse(&raw, &version, room_id).unwrap_err();
    assert!(matches!(err, Rejected::Format(_)), "{err:?}");
    let raw = RawValue::from_string(r#"{"depth": 1.5}"#.into()).unwrap();
    let err = parse(&raw, &version, room_id).unwrap_err();
    assert!(matches!(err, Rejected::Format(_)), "{err:?}");
    // Room version 1 events must carry their ID.
    let (mut room, bob) = room_with_bob_in(RoomVersionId::V1);
    let said = room.send(bob, text("hello")).unwrap();
    let mut json = said.json.clone();
    json.remove("event_id");
    let raw = to_raw_value(&json).unwrap();
    let err = parse(&raw, &RoomVersionId::V1, room_id_of(&room)).unwrap_err();
    assert!(matches!(err, Rejected::Format(_)), "{err:?}");
    let unknown = RoomVersionId::try_from("org.example.v99").unwrap();
    let err = parse(&raw, &unknown, room_id_of(&room)).unwrap_err();
    assert!(
        matches!(err, Rejected::UnsupportedRoomVersion(_)),
        "{err:?}"
    );
}
