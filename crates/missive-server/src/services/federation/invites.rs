//! Invites across servers (`/invite` v2), both halves.
//!
//! Inviting a user of another server: the invite is built on the room's
//! current state, sent to the invitee's server with what the invitee is
//! shown of the room, and written once that server has signed it.
//!
//! Being invited: the invite from another server is checked (a local user,
//! the sender's signature), signed by this server, and, when this server
//! is not in the room, kept outside the timeline with the room's stripped
//! state in its `unsigned.invite_room_state`, so the invitee's sync shows
//! it; joining then goes through [`Inbound::join`].

use missive_core::{Pdu, incoming, room_versions};
use missive_store::{AccountStore, EventStore, RemoteEventStore, RemoteWrite, RoomRecord};
use ruma::{
    CanonicalJsonObject, CanonicalJsonValue, OwnedEventId, RoomId, RoomVersionId, ServerName,
    UserId,
    api::federation::membership::{RawStrippedState, create_invite},
    events::TimelineEventType,
};
use serde_json::{Value, value::RawValue};

use super::{inbound::Inbound, joins::raw};
use crate::{
    error::{ApiError, ApiResult},
    services::rooms::{Received, Relay, record_of, state_entry},
};

impl Inbound {
    /// Local `sender` invites `target` (see the module docs for a user of
    /// another server).
    pub async fn invite(
        &self,
        room_id: &RoomId,
        sender: &UserId,
        target: &UserId,
        reason: Option<&str>,
        is_direct: bool,
    ) -> ApiResult<OwnedEventId> {
        let rooms = self.rooms();
        if target.server_name() == rooms.server_name() {
            return rooms
                .invite(room_id, sender, target, reason, is_direct)
                .await;
        }
        let template = rooms
            .invite_template(room_id, target, reason, is_direct)
            .await?;
        self.invite_remote(room_id, sender, target, template).await
    }

    /// Local `sender` invites `target`, a user of another server, with the
    /// invite `template` (see the module docs).
    pub(super) async fn invite_remote(
        &self,
        room_id: &RoomId,
        sender: &UserId,
        target: &UserId,
        template: missive_core::event_builder::EventTemplate,
    ) -> ApiResult<OwnedEventId> {
        let rooms = self.rooms();
        let client = self.federation().client()?;
        let invite = rooms.build_unsent(room_id, sender, template).await?;
        let (room, rules) = rooms.room(room_id).await?;
        let (version, _) = room_versions::parse(&room.room_version)?;
        let shown = rooms
            .invite_room_state(room_id, sender)
            .await?
            .iter()
            .map(|p| raw(&p.json).map(RawStrippedState::Pdu))
            .collect::<ApiResult<Vec<_>>>()?;
        let request = create_invite::v2::Request::new(
            room_id.to_owned(),
            invite.event_id.clone(),
            version.clone(),
            raw(&invite.json)?,
            shown,
        );
        let answer = client.send(target.server_name(), request).await?;
        let parsed = incoming::parse(&answer.event, &version, room_id)
            .map_err(|e| ApiError::BadGateway(format!("the invite came back unusable: {e}")))?;
        if parsed.event_id() != &*invite.event_id {
            return Err(ApiError::BadGateway(
                "the invitee's server changed the invite".into(),
            ));
        }
        let signed = self.verify_pdu(parsed).await?;
        if !signed_by(&signed, target.server_name()) {
            return Err(ApiError::BadGateway(
                "the invitee's server did not sign the invite".into(),
            ));
        }
        match rooms.receive(&signed, &rules, Relay::ToRoom).await? {
            Received::Timeline(_) | Received::Known => Ok(invite.event_id),
            other => Err(ApiError::forbidden(format!(
                "the invite was not written: {other:?}"
            ))),
        }
    }

    /// `PUT /invite` (v2) from `origin`: checks, signs and keeps the invite
    /// of a local user; answers with the signed event.
    pub async fn receive_invite(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
        event_id: &OwnedEventId,
        version: &RoomVersionId,
        event: &RawValue,
        invite_room_state: &[RawStrippedState],
    ) -> ApiResult<Box<RawValue>> {
        let (_, rules) = room_versions::parse(version.as_str())
            .map_err(|_| ApiError::IncompatibleRoomVersion(version.clone()))?;
        self.check_acl(origin, room_id).await?;
        let parsed = incoming::parse(event, version, room_id)
            .map_err(|e| ApiError::bad_json(e.to_string()))?;
        if parsed.event_id() != &**event_id {
            return Err(ApiError::invalid_param(
                "the event ID does not match the event",
            ));
        }
        let invite = self.verify_pdu(parsed).await?;
        let invitee = invite
            .state_key
            .as_deref()
            .and_then(|k| UserId::parse(k).ok())
            .ok_or_else(|| ApiError::invalid_param("an invite names its invitee"))?;
        let is_invite = invite.event_type == TimelineEventType::RoomMember
            && invite
                .content_value()
                .get("membership")
                .and_then(Value::as_str)
                == Some("invite");
        if !is_invite || invite.sender.server_name() != origin {
            return Err(ApiError::invalid_param(
                "not an invite by a user of the requesting server",
            ));
        }
        let rooms = self.rooms();
        if invitee.server_name() != rooms.server_name()
            || self
                .store()
                .user(&invitee)
                .await?
                .is_none_or(|u| u.deactivated)
        {
            return Err(ApiError::not_found("no such user here"));
        }
        let mut object: CanonicalJsonObject = invite.json.clone();
        ruma::signatures::hash_and_sign_event(
            rooms.server_name().as_str(),
            &self.signer().key,
            &mut object,
            &rules.redaction,
        )
        .map_err(|e| ApiError::Internal(format!("cannot sign the invite: {e}")))?;
        let signed = raw(&object)?;

        // A room this server is in gets the invite as any event, through
        // the inviting server's transaction; otherwise it is kept here.
        let resident =
            self.store().room(room_id).await?.is_some() && rooms.is_resident(room_id).await?;
        if !resident {
            self.keep_invite(room_id, version, &invite, object, invite_room_state)
                .await?;
        }
        Ok(signed)
    }

    /// Keeps an invite to a room this server is not in, with what the
    /// invitee is shown of the room, and tells the invitee's syncs.
    async fn keep_invite(
        &self,
        room_id: &RoomId,
        version: &RoomVersionId,
        invite: &Pdu,
        object: CanonicalJsonObject,
        invite_room_state: &[RawStrippedState],
    ) -> ApiResult<()> {
        self.keep_outlier_membership(
            room_id,
            version,
            invite,
            object,
            Some(("invite_room_state", invite_room_state)),
        )
        .await
    }

    /// Keeps local user `pdu`'s membership of a room this server is not in
    /// (an invite, a knock, their rejection) outside the timeline, with
    /// what the user is shown of the room in `unsigned` (`shown`: the
    /// field and the stripped state), and tells the user's syncs.
    /// `object` is the event as kept (the PDU, signed by this server too
    /// for an invite).
    pub(super) async fn keep_outlier_membership(
        &self,
        room_id: &RoomId,
        version: &RoomVersionId,
        pdu: &Pdu,
        mut object: CanonicalJsonObject,
        shown: Option<(&str, &[RawStrippedState])>,
    ) -> ApiResult<()> {
        let (_, rules) = room_versions::parse(version.as_str())?;
        let stripped: Vec<Value> = shown
            .map(|(_, state)| state.iter().filter_map(stripped).collect())
            .unwrap_or_default();
        let creator = stripped
            .iter()
            .find(|e| e["type"] == "m.room.create")
            .and_then(|e| e["sender"].as_str())
            .unwrap_or(pdu.sender.as_str())
            .to_owned();
        object.remove("unsigned");
        if let Some((field, _)) = shown {
            let mut unsigned = CanonicalJsonObject::new();
            unsigned.insert(
                field.into(),
                serde_json::from_value(Value::Array(stripped))
                    .map_err(|e| ApiError::Internal(e.to_string()))?,
            );
            object.insert("unsigned".into(), CanonicalJsonValue::Object(unsigned));
        }
        let mut record = record_of(pdu, &rules)?;
        record.json =
            serde_json::to_string(&object).map_err(|e| ApiError::Internal(e.to_string()))?;
        let store = self.store();
        let extremities = store
            .forward_extremities(room_id)
            .await?
            .into_iter()
            .map(|e| e.event_id)
            .collect();
        let outcome = store
            .persist_remote(RemoteWrite {
                room_id: room_id.to_string(),
                // Kept only when the room is new here.
                new_room: Some(RoomRecord {
                    room_id: room_id.to_string(),
                    room_version: version.to_string(),
                    creator,
                    published: false,
                    join_rule: "invite".into(),
                }),
                memberships: vec![state_entry(pdu)],
                outliers: vec![record],
                extremities_before: extremities,
                ..Default::default()
            })
            .await?;
        if let (Some(pos), Some(user)) = (
            outcome.stream_ordering,
            pdu.state_key.as_deref().and_then(|k| UserId::parse(k).ok()),
        ) {
            self.rooms()
                .announce_remote_member(pos, room_id, &user)
                .await;
        }
        Ok(())
    }
}

/// Whether `server` signed `pdu`.
fn signed_by(pdu: &Pdu, server: &ServerName) -> bool {
    matches!(
        pdu.json.get("signatures"),
        Some(CanonicalJsonValue::Object(s)) if s.contains_key(server.as_str())
    )
}

/// A stripped state event as clients are shown it: type, state key,
/// sender and content (a version 12 create event whole, as its room's
/// identity).
pub(super) fn stripped(state: &RawStrippedState) -> Option<Value> {
    let json = match state {
        RawStrippedState::Pdu(raw) => raw.get(),
        #[allow(deprecated)]
        RawStrippedState::Stripped(raw) => raw.json().get(),
        _ => return None,
    };
    let v: Value = serde_json::from_str(json).ok()?;
    if v["type"] == "m.room.create" && v.get("room_id").is_none() && v.get("signatures").is_some() {
        return Some(v);
    }
    Some(serde_json::json!({
        "type": v.get("type")?,
        "state_key": v.get("state_key")?,
        "sender": v.get("sender")?,
        "content": v.get("content")?,
    }))
}
