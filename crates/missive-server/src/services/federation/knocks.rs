//! Knocking on rooms across servers, both halves (room versions 7 and
//! later, in rooms whose join rule lets users knock).
//!
//! Resident (`make_knock`, `send_knock` v1): another server's user asks
//! for a knock built on our view of the room, signs it and sends it back;
//! it goes through the checks on receipt like any PDU and on to the room,
//! and the answer is what the knocker is shown of the room.
//!
//! Knocking ([`Inbound::knock`]): a local user knocks. On a room a user of
//! this server is joined to, as any local membership change; otherwise
//! through a resident server (the client's `via`, or the room ID's), the
//! knock then kept here outside the timeline with the room's stripped
//! state in `unsigned.knock_room_state`, for the knocker's sync.

use missive_core::room_versions;
use missive_store::EventStore;
use ruma::{
    OwnedEventId, OwnedServerName, RoomId, RoomVersionId, ServerName, UserId,
    api::federation::membership::{RawStrippedState, create_knock_event, prepare_knock_event},
    events::TimelineEventType,
};
use serde_json::value::RawValue;

use super::{
    inbound::Inbound,
    joins::{check_supported, raw},
};
use crate::error::{ApiError, ApiResult};

impl Inbound {
    /// `make_knock`: the knock template for `user` (of `origin`).
    pub async fn make_knock(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
        user: &UserId,
        supported: &[RoomVersionId],
    ) -> ApiResult<(RoomVersionId, Box<RawValue>)> {
        let (version, template) = self.make_membership(origin, room_id, user, "knock").await?;
        check_supported(&version, supported)?;
        Ok((version, raw(&template)?))
    }

    /// `send_knock` (v1): writes `origin`'s signed knock and answers with
    /// what the knocker is shown of the room.
    pub async fn send_knock(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
        event_id: &OwnedEventId,
        pdu: &RawValue,
    ) -> ApiResult<Vec<RawStrippedState>> {
        let knock = self
            .send_membership(origin, room_id, event_id, pdu, "knock")
            .await?;
        // What an invitee is shown, without the member event: the
        // knocker's server has the knock itself.
        self.rooms()
            .invite_room_state(room_id, &knock.sender)
            .await?
            .iter()
            .filter(|p| p.event_type != TimelineEventType::RoomMember)
            .map(|p| raw(&p.json).map(RawStrippedState::Pdu))
            .collect()
    }

    /// Local `user` knocks on `room_id` (see the module docs); `servers`
    /// are the client's `via`.
    pub async fn knock(
        &self,
        room_id: &RoomId,
        user: &UserId,
        reason: Option<&str>,
        servers: &[OwnedServerName],
    ) -> ApiResult<()> {
        let rooms = self.rooms();
        let federating = self.federation().client().is_ok();
        let known = self.store().room(room_id).await?.is_some();
        if !federating || (known && rooms.is_resident(room_id).await?) {
            return rooms.knock(room_id, user, reason).await.map(|_| ());
        }
        let ours = rooms.server_name();
        let mut candidates: Vec<OwnedServerName> = Vec::new();
        for server in servers
            .iter()
            .cloned()
            .chain(room_id.server_name().map(ToOwned::to_owned))
        {
            if server != *ours && !candidates.contains(&server) {
                candidates.push(server);
            }
        }
        if candidates.is_empty() {
            // A room of this server that its users all left.
            if known {
                return rooms.knock(room_id, user, reason).await.map(|_| ());
            }
            return Err(ApiError::not_found(
                "room not known here, and no server to knock through",
            ));
        }
        let mut last_error = None;
        for server in &candidates {
            match self.knock_through(room_id, user, reason, server).await {
                Ok(()) => return Ok(()),
                Err(e) => {
                    tracing::info!(%room_id, %server, error = %e, "remote knock failed");
                    last_error = Some(e);
                }
            }
        }
        Err(last_error.unwrap_or_else(|| ApiError::not_found("room not found")))
    }

    /// `make_knock` and `send_knock` with `server`, then the knock kept.
    async fn knock_through(
        &self,
        room_id: &RoomId,
        user: &UserId,
        reason: Option<&str>,
        server: &ServerName,
    ) -> ApiResult<()> {
        let client = self.federation().client()?;
        let mut ask = prepare_knock_event::v1::Request::new(room_id.to_owned(), user.to_owned());
        ask.ver = room_versions::SUPPORTED_ROOM_VERSIONS.to_vec();
        let made = client.send(server, ask).await?;
        let (_, rules) = room_versions::parse(made.room_version.as_str())?;
        if !rules.authorization.knocking {
            return Err(ApiError::forbidden(
                "the room's version does not allow knocking",
            ));
        }
        let content = self.rooms().member_content("knock", user, reason).await?;
        let knock = self.sign_made(&made.event, room_id, user, "knock", &content, &rules)?;
        let sent = client
            .send(
                server,
                create_knock_event::v1::Request::new(
                    room_id.to_owned(),
                    knock.event_id.clone(),
                    raw(&knock.json)?,
                ),
            )
            .await?;
        self.keep_outlier_membership(
            room_id,
            &made.room_version,
            &knock,
            knock.json.clone(),
            Some(("knock_room_state", &sent.knock_room_state)),
        )
        .await
    }
}
