//! Membership events made by two servers (`make_join`/`send_join`, and
//! the leave and knock dances): the resident server builds the event on
//! its view of the room and hands it over unsigned ([`template_of`]); the
//! joining server checks it is the membership it asked for, signs it and
//! computes its event ID ([`sign_template`]). A membership no resident
//! server answers for (an invite rejected while the inviting server is
//! down) is built on the invite alone ([`out_of_band`]).

use ruma::{
    CanonicalJsonObject, CanonicalJsonValue, EventId, MilliSecondsSinceUnixEpoch, UserId,
    room_version_rules::{EventIdFormatVersion, RoomVersionRules},
};

use crate::{
    CoreError, MAX_PDU_BYTES, Pdu,
    event_builder::{Signer, references},
};

/// The fields no template carries: the resident server's signature and
/// hashes (the joining server signs), and what no signature covers.
const NOT_IN_TEMPLATE: [&str; 4] = ["signatures", "hashes", "unsigned", "event_id"];

/// `pdu`, built by the resident server for another server's user, as the
/// template handed to that server.
pub fn template_of(pdu: &Pdu) -> CanonicalJsonObject {
    let mut object = pdu.json.clone();
    for field in NOT_IN_TEMPLATE {
        object.remove(field);
    }
    object
}

/// Checks that `template` is `user`'s membership event with `membership`
/// in a room of `rules`, then hashes, signs and names it as `signer`'s
/// server. Anything else a resident server put in the template is refused:
/// this server signs only the membership its user asked for.
pub fn sign_template(
    mut template: CanonicalJsonObject,
    user: &UserId,
    membership: &str,
    signer: &Signer,
    rules: &RoomVersionRules,
) -> Result<Pdu, CoreError> {
    let text = |object: &CanonicalJsonObject, key: &str| match object.get(key) {
        Some(CanonicalJsonValue::String(s)) => Some(s.clone()),
        _ => None,
    };
    let wrong = |what: &str| CoreError::InvalidEvent(format!("membership template: {what}"));
    if text(&template, "type").as_deref() != Some("m.room.member") {
        return Err(wrong("not a membership event"));
    }
    if text(&template, "sender").as_deref() != Some(user.as_str())
        || text(&template, "state_key").as_deref() != Some(user.as_str())
    {
        return Err(wrong("not the user's own membership"));
    }
    let Some(CanonicalJsonValue::Object(content)) = template.get("content") else {
        return Err(wrong("no content"));
    };
    if text(content, "membership").as_deref() != Some(membership) {
        return Err(wrong("another membership than the one asked for"));
    }
    for field in NOT_IN_TEMPLATE {
        template.remove(field);
    }
    let carried_id = (rules.event_id_format == EventIdFormatVersion::V1).then(|| {
        let id = EventId::new_v1(&signer.server_name);
        template.insert(
            "event_id".into(),
            CanonicalJsonValue::String(id.to_string()),
        );
        id
    });
    if serde_json::to_vec(&template).map_or(usize::MAX, |v| v.len()) > MAX_PDU_BYTES {
        return Err(CoreError::TooLarge);
    }
    ruma::signatures::hash_and_sign_event(
        signer.server_name.as_str(),
        &signer.key,
        &mut template,
        &rules.redaction,
    )
    .map_err(|e| CoreError::InvalidEvent(format!("cannot sign the event: {e}")))?;
    let event_id = match carried_id {
        Some(id) => id,
        None => {
            let hash = ruma::signatures::reference_hash(&template, rules)
                .map_err(|e| CoreError::InvalidEvent(e.to_string()))?;
            EventId::new_v2_or_v3(&hash).map_err(|e| CoreError::InvalidEvent(e.to_string()))?
        }
    };
    Pdu::from_object(event_id, template)
}

/// A restricted join `signer`'s server authorises: another server built
/// and signed `join`, naming one of our users in
/// `join_authorised_via_users_server`; the room's rules want that user's
/// server to sign it too. Only a join naming a user of `signer`'s server
/// is signed, and nothing else of it changes (the event ID, a hash of the
/// event without its signatures, stays the same).
pub fn countersign(
    join: &mut CanonicalJsonObject,
    signer: &Signer,
    rules: &RoomVersionRules,
) -> Result<(), CoreError> {
    let wrong = |what: &str| CoreError::InvalidEvent(format!("restricted join: {what}"));
    let authoriser = match join.get("content") {
        Some(CanonicalJsonValue::Object(content)) => {
            match content.get("join_authorised_via_users_server") {
                Some(CanonicalJsonValue::String(user)) => UserId::parse(user)
                    .map_err(|_| wrong("the authorising user is not a user ID"))?,
                _ => return Err(wrong("no authorising user")),
            }
        }
        _ => return Err(wrong("no content")),
    };
    if authoriser.server_name() != &*signer.server_name {
        return Err(wrong("the authorising user is not of this server"));
    }
    ruma::signatures::sign_event(
        signer.server_name.as_str(),
        &signer.key,
        join,
        &rules.redaction,
    )
    .map_err(|e| CoreError::InvalidEvent(format!("cannot sign the event: {e}")))
}

/// `user`'s membership event with `content` built on `follows` (the
/// user's invite or knock) alone, its only prev and auth event, and signed
/// by `signer`'s server. Synapse's out-of-band membership: when no server
/// in the room can be reached to reject an invite, the rejection is kept
/// here so the user is not left with an invite they cannot dismiss. No
/// other server would accept it, and it is never sent.
pub fn out_of_band(
    follows: &Pdu,
    user: &UserId,
    content: serde_json::Value,
    now: MilliSecondsSinceUnixEpoch,
    signer: &Signer,
    rules: &RoomVersionRules,
) -> Result<Pdu, CoreError> {
    let membership = content
        .get("membership")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| CoreError::InvalidEvent("a membership event names its membership".into()))?
        .to_owned();
    let string = |s: &str| CanonicalJsonValue::String(s.to_owned());
    let int = |v: u64| {
        ruma::Int::try_from(v)
            .map(CanonicalJsonValue::Integer)
            .map_err(|_| CoreError::InvalidEvent("integer out of range".into()))
    };
    let follows_ref = references(&[follows], rules)?;
    let mut template = CanonicalJsonObject::new();
    template.insert("type".into(), string("m.room.member"));
    template.insert("sender".into(), string(user.as_str()));
    template.insert("state_key".into(), string(user.as_str()));
    template.insert("room_id".into(), string(follows.room_id.as_str()));
    template.insert(
        "content".into(),
        serde_json::from_value(content)
            .map_err(|e| CoreError::InvalidEvent(format!("content is not canonical JSON: {e}")))?,
    );
    template.insert("prev_events".into(), follows_ref.clone());
    template.insert("auth_events".into(), follows_ref);
    template.insert("depth".into(), int(u64::from(follows.depth) + 1)?);
    template.insert("origin_server_ts".into(), int(u64::from(now.get()))?);
    sign_template(template, user, &membership, signer, rules)
}

#[cfg(test)]
mod tests {
    use ruma::{RoomVersionId, user_id};

    use super::*;
    use crate::{
        incoming,
        testing::{Room, member_of, signer},
    };

    /// The public keys of `signers`' servers, to verify what they signed.
    fn keys_of(signers: &[&Signer]) -> ruma::signatures::PublicKeyMap {
        signers
            .iter()
            .map(|s| {
                let key = (
                    format!("ed25519:{}", s.key.version()),
                    ruma::serde::Base64::new(s.key.public_key().to_vec()),
                );
                (s.server_name.to_string(), [key].into())
            })
            .collect()
    }

    /// A public room of `version` and the join Bob, of another server,
    /// gets built there.
    fn public_room_joined_by_bob(version: RoomVersionId) -> (Room, Pdu) {
        let mut room = Room::of_version(version);
        room.send(
            user_id!("@alice:example.org"),
            crate::event_builder::EventTemplate::state(
                ruma::events::StateEventType::RoomJoinRules,
                "",
                serde_json::json!({"join_rule": "public"}),
            ),
        )
        .unwrap();
        let bob = user_id!("@bob:other.example");
        let built = room.send(bob, member_of(bob.as_str(), "join")).unwrap();
        (room, built)
    }

    /// A template built by one server and signed by another passes the
    /// receiving checks with the second server's key; a template for
    /// another user, or another membership, is refused.
    #[test]
    fn a_signed_template_verifies_and_only_the_asked_membership_is_signed() {
        for version in [RoomVersionId::V11, RoomVersionId::V12] {
            let (room, built) = public_room_joined_by_bob(version.clone());
            let bob = user_id!("@bob:other.example");
            let template = template_of(&built);
            assert!(!template.contains_key("signatures"));

            let other = Signer {
                server_name: ruma::owned_server_name!("other.example"),
                ..signer()
            };
            let signed = sign_template(template.clone(), bob, "join", &other, &room.rules).unwrap();
            let raw = serde_json::value::to_raw_value(&signed.json).unwrap();
            let parsed = incoming::parse(&raw, &version, &signed.room_id).unwrap();
            assert_eq!(parsed.event_id(), &*signed.event_id);
            let keys = keys_of(&[&other]);
            assert!(matches!(
                parsed.verify(&keys).unwrap(),
                incoming::Received::Accepted(_)
            ));

            let carol = user_id!("@carol:other.example");
            assert!(sign_template(template.clone(), carol, "join", &other, &room.rules).is_err());
            assert!(sign_template(template, bob, "leave", &other, &room.rules).is_err());
        }
    }

    /// A restricted join signed by the joining server and countersigned
    /// by the authorising user's keeps its event ID and verifies only with
    /// both servers' keys; a join naming another server's user, or none,
    /// is not countersigned.
    #[test]
    fn a_countersigned_join_needs_both_signatures() {
        let (room, built) = public_room_joined_by_bob(RoomVersionId::V11);
        let bob = user_id!("@bob:other.example");
        let mut template = template_of(&built);
        let Some(CanonicalJsonValue::Object(content)) = template.get_mut("content") else {
            panic!("no content");
        };
        content.insert(
            "join_authorised_via_users_server".into(),
            CanonicalJsonValue::String("@alice:example.org".into()),
        );
        let other = Signer {
            server_name: ruma::owned_server_name!("other.example"),
            ..signer()
        };
        let ours = signer();
        let signed = sign_template(template.clone(), bob, "join", &other, &room.rules).unwrap();
        let keys = keys_of(&[&other, &ours]);
        let check = |json: &CanonicalJsonObject| {
            let raw = serde_json::value::to_raw_value(json).unwrap();
            let parsed = incoming::parse(&raw, &RoomVersionId::V11, &signed.room_id).unwrap();
            assert_eq!(parsed.event_id(), &*signed.event_id);
            parsed.required_keys().and_then(|_| parsed.verify(&keys))
        };
        assert!(
            check(&signed.json).is_err(),
            "the authoriser's signature is required"
        );

        let mut countersigned = signed.json.clone();
        countersign(&mut countersigned, &ours, &room.rules).unwrap();
        assert!(matches!(
            check(&countersigned).unwrap(),
            incoming::Received::Accepted(_)
        ));

        let mut not_ours = signed.json.clone();
        assert!(countersign(&mut not_ours, &other, &room.rules).is_err());
        let plain = sign_template(template_of(&built), bob, "join", &other, &room.rules).unwrap();
        assert!(countersign(&mut plain.json.clone(), &ours, &room.rules).is_err());
    }

    /// A rejection built on the invite alone follows it (its only prev and
    /// auth event, one deeper), is the user's leave signed by their server,
    /// and verifies with that server's key; content without a membership
    /// is refused.
    #[test]
    fn an_out_of_band_leave_follows_the_invite_alone() {
        for version in [RoomVersionId::V1, RoomVersionId::V12] {
            let mut room = Room::of_version(version.clone());
            let bob = user_id!("@bob:other.example");
            let alice = user_id!("@alice:example.org");
            let invite = room.send(alice, member_of(bob.as_str(), "invite")).unwrap();
            let other = Signer {
                server_name: ruma::owned_server_name!("other.example"),
                ..signer()
            };
            let now = MilliSecondsSinceUnixEpoch::now();
            let leave = out_of_band(
                &invite,
                bob,
                serde_json::json!({"membership": "leave", "reason": "no thanks"}),
                now,
                &other,
                &room.rules,
            )
            .unwrap();
            assert_eq!(leave.prev_events, vec![invite.event_id.clone()]);
            assert_eq!(leave.auth_events, vec![invite.event_id.clone()]);
            assert_eq!(u64::from(leave.depth), u64::from(invite.depth) + 1);
            assert_eq!(leave.sender, bob);
            assert_eq!(leave.content_value()["reason"], "no thanks");
            let raw = serde_json::value::to_raw_value(&leave.json).unwrap();
            let parsed = incoming::parse(&raw, &version, &leave.room_id).unwrap();
            assert_eq!(parsed.event_id(), &*leave.event_id);
            let keys = keys_of(&[&other]);
            assert!(matches!(
                parsed.verify(&keys).unwrap(),
                incoming::Received::Accepted(_)
            ));
            assert!(
                out_of_band(
                    &invite,
                    bob,
                    serde_json::json!({}),
                    now,
                    &other,
                    &room.rules
                )
                .is_err()
            );
        }
    }
}
