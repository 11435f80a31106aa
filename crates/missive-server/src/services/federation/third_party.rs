//! Third-party invites across servers, both halves.
//!
//! An address invited to a room (`m.room.third_party_invite`, its state
//! key a token) becomes some server's user's. The identity server that
//! holds the invite tells that server (`PUT /3pid/onbind`, with the
//! invite's `signed` block: the user ID and the token, signed by the
//! identity server). That server cannot send an invite as the inviter, so
//! it asks the inviter's server (`PUT /exchange_third_party_invite`), which
//! issues the invite as the inviter: an `m.room.member` invite carrying
//! the `signed` block, which the room's authorization rules check against
//! the public keys of the room's `m.room.third_party_invite` (ruma's
//! rules), then sent to the invitee's server like any invite. When the
//! inviter is of this server too, the invite is issued here directly.

use missive_core::event_builder::EventTemplate;
use missive_store::{AccountStore, EventStore};
use ruma::{
    RoomId, ServerName, UserId,
    api::federation::thirdparty::{bind_callback, exchange_invite},
    events::StateEventType,
    serde::Raw,
};
use serde_json::{Value, json};

use super::inbound::Inbound;
use crate::{
    error::{ApiError, ApiResult},
    services::identity::mask_email,
};

/// Most invites one `onbind` call may carry.
const MAX_INVITES_PER_BIND: usize = 100;

impl Inbound {
    /// `PUT /3pid/onbind`: `address` is now local `mxid`'s; each pending
    /// invite of it becomes an invite of `mxid`. One that fails is logged
    /// and skipped: the binding stands whatever becomes of the invites.
    pub async fn on_bind(
        &self,
        address: &str,
        mxid: &UserId,
        invites: &[bind_callback::v1::ThirdPartyInvite],
    ) -> ApiResult<()> {
        if mxid.server_name() != self.server_name() {
            return Err(ApiError::invalid_param("the user is not of this server"));
        }
        if self.store().user(mxid).await?.is_none_or(|u| u.deactivated) {
            return Err(ApiError::not_found("no such user here"));
        }
        if invites.len() > MAX_INVITES_PER_BIND {
            return Err(ApiError::invalid_param(format!(
                "at most {MAX_INVITES_PER_BIND} invites per binding"
            )));
        }
        for invite in invites {
            if invite.mxid.as_str() != mxid.as_str() {
                tracing::info!(room = %invite.room_id, "third-party invite for another user skipped");
                continue;
            }
            match self.exchange_for(address, invite).await {
                Ok(()) => {
                    tracing::info!(room = %invite.room_id, %mxid, "third-party invite exchanged")
                }
                Err(e) => {
                    tracing::info!(room = %invite.room_id, error = %e, "third-party invite not exchanged")
                }
            }
        }
        Ok(())
    }

    /// One invite of a binding: issued here when the inviter is of this
    /// server, otherwise exchanged by the inviter's server.
    async fn exchange_for(
        &self,
        address: &str,
        invite: &bind_callback::v1::ThirdPartyInvite,
    ) -> ApiResult<()> {
        let signed: Value = serde_json::from_str(invite.signed.json().get())
            .map_err(|e| ApiError::bad_json(format!("unreadable signed block: {e}")))?;
        let content = json!({
            "membership": "invite",
            // The inviting server puts the room's own display name here.
            "third_party_invite": { "display_name": mask_email(address), "signed": signed },
        });
        if invite.sender.server_name() == self.server_name() {
            return self
                .issue_third_party_invite(&invite.room_id, &invite.sender, &invite.mxid, content)
                .await;
        }
        let client = self.federation().client()?;
        let request = exchange_invite::v1::Request::new(
            invite.room_id.clone(),
            invite.sender.clone(),
            invite.mxid.clone(),
            Raw::from_json(
                serde_json::value::to_raw_value(&content)
                    .map_err(|e| ApiError::Internal(e.to_string()))?,
            ),
        );
        client.send(invite.sender.server_name(), request).await?;
        Ok(())
    }

    /// `PUT /exchange_third_party_invite/{roomId}` from `origin`: the
    /// invite of `origin`'s user `target`, who now holds the address local
    /// `sender` invited, issued as `sender`.
    pub async fn exchange_third_party_invite(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
        kind: &StateEventType,
        sender: &UserId,
        target: &UserId,
        content: &Raw<ruma::events::room::member::RoomMemberEventContent>,
    ) -> ApiResult<()> {
        if *kind != StateEventType::RoomMember {
            return Err(ApiError::invalid_param(
                "only m.room.member can be exchanged",
            ));
        }
        if target.server_name() != origin {
            return Err(ApiError::forbidden(
                "a server exchanges invites for its own users only",
            ));
        }
        if sender.server_name() != self.server_name() {
            return Err(ApiError::forbidden("the inviter is not of this server"));
        }
        self.check_acl(origin, room_id).await?;
        if self.store().room(room_id).await?.is_none() || !self.rooms().is_resident(room_id).await?
        {
            return Err(ApiError::not_found("this server is not in that room"));
        }
        let content: Value = serde_json::from_str(content.json().get())
            .map_err(|e| ApiError::bad_json(format!("unreadable member content: {e}")))?;
        self.issue_third_party_invite(room_id, sender, target, content)
            .await
    }

    /// Local `sender`'s invite of `target` carrying `content`'s
    /// `third_party_invite.signed` (for `target`), with the display name
    /// of the room's `m.room.third_party_invite` its token names.
    async fn issue_third_party_invite(
        &self,
        room_id: &RoomId,
        sender: &UserId,
        target: &UserId,
        content: Value,
    ) -> ApiResult<()> {
        let signed = content
            .get("third_party_invite")
            .and_then(|t| t.get("signed"))
            .cloned()
            .ok_or_else(|| ApiError::bad_json("no third_party_invite.signed"))?;
        if content.get("membership").and_then(Value::as_str) != Some("invite") {
            return Err(ApiError::invalid_param("not an invite"));
        }
        if signed.get("mxid").and_then(Value::as_str) != Some(target.as_str()) {
            return Err(ApiError::invalid_param(
                "the signed block is for another user",
            ));
        }
        let token = signed
            .get("token")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::bad_json("the signed block has no token"))?;
        let invited = self
            .store()
            .current_state_event(room_id, "m.room.third_party_invite", token)
            .await?
            .and_then(|e| serde_json::from_str::<Value>(&e.json).ok())
            .ok_or_else(|| ApiError::forbidden("no such third-party invite in the room"))?;
        let display_name = invited["content"]["display_name"].clone();
        if !display_name.is_string() {
            return Err(ApiError::forbidden("the third-party invite was revoked"));
        }
        let content = json!({
            "membership": "invite",
            "third_party_invite": { "display_name": display_name, "signed": signed },
        });
        // The room's rules check the signature against the invite's keys,
        // and that `sender` is who sent the third-party invite.
        let template = EventTemplate::state(StateEventType::RoomMember, target.as_str(), content);
        if target.server_name() == self.server_name() {
            self.rooms().send(room_id, sender, template, None).await?;
        } else {
            self.invite_remote(room_id, sender, target, template)
                .await?;
        }
        Ok(())
    }
}
