//! Leaving rooms across servers, both halves.
//!
//! Resident (`make_leave`, `send_leave` v2): another server's user who is
//! invited (or knocked) but whose server is not in the room asks for a
//! leave built on our view of the room, signs it and sends it back; it
//! goes through the checks on receipt like any PDU and on to the room.
//!
//! Leaving ([`Inbound::leave`]): a local user leaves. Where a user of this
//! server is joined, as any local membership change; otherwise (an invite
//! rejected, a knock withdrawn) through a resident server: the inviter's,
//! the room ID's, or one whose users sent the state the user was shown.
//! When none answers, the rejection is kept here alone, as Synapse keeps
//! it, so the user is never left with an invite they cannot dismiss.

use missive_core::{Pdu, membership_template};
use missive_store::EventStore;
use ruma::{
    CanonicalJsonObject, CanonicalJsonValue, EventId, MilliSecondsSinceUnixEpoch, OwnedEventId,
    OwnedServerName, RoomId, RoomVersionId, ServerName, UserId,
    api::federation::membership::{create_leave_event, prepare_leave_event},
    events::room::member::MembershipState,
    room_version_rules::RoomVersionRules,
};
use serde_json::{Value, value::RawValue};

use super::{inbound::Inbound, joins::raw};
use crate::{
    error::{ApiError, ApiResult},
    services::rooms::to_pdu,
};

impl Inbound {
    /// `make_leave`: the leave template for `user` (of `origin`).
    pub async fn make_leave(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
        user: &UserId,
    ) -> ApiResult<(RoomVersionId, Box<RawValue>)> {
        let (version, template) = self.make_membership(origin, room_id, user, "leave").await?;
        Ok((version, raw(&template)?))
    }

    /// `send_leave` (v2): writes `origin`'s signed leave.
    pub async fn send_leave(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
        event_id: &OwnedEventId,
        pdu: &RawValue,
    ) -> ApiResult<()> {
        self.send_membership(origin, room_id, event_id, pdu, "leave")
            .await
            .map(|_| ())
    }

    /// Local `user` leaves `room_id` (see the module docs).
    pub async fn leave(
        &self,
        room_id: &RoomId,
        user: &UserId,
        reason: Option<&str>,
    ) -> ApiResult<()> {
        let rooms = self.rooms();
        let federating = self.federation().client().is_ok();
        let current = self.store().membership(room_id, user).await?;
        let outside = current.as_ref().filter(|m| {
            matches!(
                m.membership,
                MembershipState::Invite | MembershipState::Knock
            )
        });
        match outside {
            Some(m) if federating && !rooms.is_resident(room_id).await? => {
                let follows = <&EventId>::try_from(m.event_id.as_str())
                    .map_err(|e| ApiError::Internal(e.to_string()))?;
                self.leave_remote(room_id, user, reason, follows).await
            }
            _ => rooms
                .set_other_membership(room_id, user, user, "leave", reason)
                .await
                .map(|_| ()),
        }
    }

    /// Leaves a room this server is not in, where `follows` is the user's
    /// invite or knock: through the first resident server that answers,
    /// or, when none does, kept here alone.
    async fn leave_remote(
        &self,
        room_id: &RoomId,
        user: &UserId,
        reason: Option<&str>,
        follows: &EventId,
    ) -> ApiResult<()> {
        let (room, rules) = self.rooms().room(room_id).await?;
        let version = RoomVersionId::try_from(room.room_version.as_str())
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        let follows = self
            .store()
            .event(follows)
            .await?
            .ok_or_else(|| ApiError::Internal("the membership's event is missing".into()))?;
        let follows_pdu = to_pdu(&follows)?;
        let mut content = serde_json::json!({"membership": "leave"});
        if let Some(reason) = reason {
            content["reason"] = Value::from(reason);
        }
        for server in self.servers_for(room_id, &follows_pdu, &follows.json) {
            match self
                .leave_through(room_id, user, &server, &content, &version, &rules)
                .await
            {
                Ok(leave) => {
                    return self
                        .keep_outlier_membership(
                            room_id,
                            &version,
                            &leave,
                            leave.json.clone(),
                            None,
                        )
                        .await;
                }
                Err(e) => tracing::info!(%room_id, %server, error = %e, "remote leave failed"),
            }
        }
        tracing::info!(%room_id, %user, "no server in the room answered: leave kept here alone");
        let leave = membership_template::out_of_band(
            &follows_pdu,
            user,
            content,
            MilliSecondsSinceUnixEpoch::now(),
            self.signer(),
            &rules,
        )?;
        self.keep_outlier_membership(room_id, &version, &leave, leave.json.clone(), None)
            .await
    }

    /// The servers that may be in a room this server is not in, most
    /// likely first: the sender of the user's invite, the room ID's, and
    /// those of the users who sent the state the user was shown (`json`,
    /// the invite or knock as kept, carries it in `unsigned`).
    fn servers_for(&self, room_id: &RoomId, follows: &Pdu, json: &str) -> Vec<OwnedServerName> {
        let shown: Vec<OwnedServerName> = serde_json::from_str::<Value>(json)
            .ok()
            .and_then(|v| {
                let unsigned = v.get("unsigned")?;
                let state = unsigned
                    .get("invite_room_state")
                    .or_else(|| unsigned.get("knock_room_state"))?
                    .as_array()?
                    .clone();
                Some(state)
            })
            .unwrap_or_default()
            .iter()
            .filter_map(|e| e.get("sender")?.as_str().map(str::to_owned))
            .filter_map(|s| UserId::parse(s).ok())
            .map(|u| u.server_name().to_owned())
            .collect();
        let ours = self.rooms().server_name();
        let mut servers: Vec<OwnedServerName> = Vec::new();
        for server in std::iter::once(follows.sender.server_name().to_owned())
            .chain(room_id.server_name().map(ToOwned::to_owned))
            .chain(shown)
        {
            if server != *ours && !servers.contains(&server) {
                servers.push(server);
            }
        }
        servers
    }

    /// `make_leave` and `send_leave` with `server`: the signed leave.
    async fn leave_through(
        &self,
        room_id: &RoomId,
        user: &UserId,
        server: &ServerName,
        content: &Value,
        version: &RoomVersionId,
        rules: &RoomVersionRules,
    ) -> ApiResult<Pdu> {
        let client = self.federation().client()?;
        let made = client
            .send(
                server,
                prepare_leave_event::v1::Request::new(room_id.to_owned(), user.to_owned()),
            )
            .await?;
        if made.room_version.as_ref().is_some_and(|v| v != version) {
            return Err(ApiError::BadGateway(
                "the leave template is for another room version".into(),
            ));
        }
        let leave = self.sign_made(&made.event, room_id, user, "leave", content, rules)?;
        client
            .send(
                server,
                create_leave_event::v2::Request::new(
                    room_id.to_owned(),
                    leave.event_id.clone(),
                    raw(&leave.json)?,
                ),
            )
            .await?;
        Ok(leave)
    }
}

impl Inbound {
    /// A resident server's `make_*` template (`made`) as this server sends
    /// it back: `content`'s fields added to the bare membership it built,
    /// then checked to be `user`'s `membership` of `room_id`, signed and
    /// named (`membership_template::sign_template`).
    pub(super) fn sign_made(
        &self,
        made: &RawValue,
        room_id: &RoomId,
        user: &UserId,
        membership: &str,
        content: &Value,
        rules: &RoomVersionRules,
    ) -> ApiResult<Pdu> {
        let mut template: CanonicalJsonObject = serde_json::from_str(made.get())
            .map_err(|e| ApiError::BadGateway(format!("{membership} template unreadable: {e}")))?;
        with_content(&mut template, content)?;
        let pdu =
            membership_template::sign_template(template, user, membership, self.signer(), rules)?;
        if pdu.room_id != room_id {
            return Err(ApiError::BadGateway(format!(
                "the {membership} template is for another room"
            )));
        }
        Ok(pdu)
    }
}

/// Puts `content`'s fields (the reason, the profile) into a membership
/// template's content: the resident server builds the bare membership,
/// the user's server adds what the user said.
fn with_content(template: &mut CanonicalJsonObject, content: &Value) -> ApiResult<()> {
    let Some(CanonicalJsonValue::Object(target)) = template.get_mut("content") else {
        return Err(ApiError::BadGateway(
            "the membership template has no content".into(),
        ));
    };
    if let Some(fields) = content.as_object() {
        for (key, value) in fields {
            if key == "membership" {
                continue;
            }
            let value: CanonicalJsonValue = serde_json::from_value(value.clone())
                .map_err(|e| ApiError::Internal(e.to_string()))?;
            target.insert(key.clone(), value);
        }
    }
    Ok(())
}
