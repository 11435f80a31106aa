//! Room creation and membership endpoints.

use axum::extract::State;
use ruma::api::client::{
    knock::knock_room,
    membership::{
        ban_user, forget_room, invite_user, join_room_by_id, join_room_by_id_or_alias,
        joined_rooms, kick_user, leave_room, unban_user,
    },
    room::{Visibility, create_room, upgrade_room},
};
use serde_json::Value;

use crate::{
    error::{ApiError, ApiResult},
    ruma_wrapper::{Ruma, RumaResponse},
    services::{
        directory::Directory,
        federation::inbound::Inbound,
        identity::IdentityServer,
        rooms::{CreateRoom, Rooms, upgrade::RoomUpgrades},
    },
    state::AppState,
};

fn field(body: &Option<Value>, name: &str) -> Option<Value> {
    body.as_ref().and_then(|b| b.get(name)).cloned()
}

pub async fn create_room(
    State(s): State<AppState>,
    req: Ruma<create_room::v3::Request>,
) -> ApiResult<RumaResponse<create_room::v3::Response>> {
    let me = req.user()?;
    s.limiter.check_send(me.user_id.as_str())?;
    let b = &req.body;
    let initial_state = match field(&req.json_body, "initial_state") {
        Some(Value::Array(events)) => events,
        Some(_) => return Err(ApiError::bad_json("initial_state must be a list")),
        None => Vec::new(),
    };
    // Users of other servers are invited once the room exists, each
    // through their server.
    let (local_invitees, remote_invitees): (Vec<_>, Vec<_>) = b
        .invite
        .iter()
        .cloned()
        .partition(|u| u.server_name() == s.rooms.server_name());
    let room_id = s
        .rooms
        .create_room(CreateRoom {
            creator: me.user_id.clone(),
            room_version: b.room_version.clone(),
            creation_content: field(&req.json_body, "creation_content"),
            initial_state,
            invite: local_invitees.clone(),
            is_direct: b.is_direct,
            name: b.name.clone(),
            topic: b.topic.clone(),
            power_level_content_override: field(&req.json_body, "power_level_content_override"),
            preset: b.preset.as_ref().map(|p| p.to_string()),
            room_alias_name: b.room_alias_name.clone(),
            public: b.visibility == Visibility::Public,
        })
        .await?;
    tracing::info!(room = %room_id, creator = %me.user_id, "room created");
    for invitee in &remote_invitees {
        if let Err(e) = s
            .inbound
            .invite(&room_id, &me.user_id, invitee, None, b.is_direct)
            .await
        {
            tracing::info!(room = %room_id, %invitee, error = %e, "invite of the new room failed");
        }
    }
    Ok(RumaResponse(create_room::v3::Response::new(room_id)))
}

pub async fn upgrade_room(
    State(upgrades): State<RoomUpgrades>,
    State(limiter): State<crate::services::rate_limit::Limiter>,
    req: Ruma<upgrade_room::v3::Request>,
) -> ApiResult<RumaResponse<upgrade_room::v3::Response>> {
    let me = req.user()?;
    limiter.check_send(me.user_id.as_str())?;
    let b = &req.body;
    let replacement = upgrades
        .upgrade(
            &me.user_id,
            &b.room_id,
            &b.new_version,
            b.additional_creators.clone(),
        )
        .await?;
    Ok(RumaResponse(upgrade_room::v3::Response::new(replacement)))
}

pub async fn joined_rooms(
    State(rooms): State<Rooms>,
    req: Ruma<joined_rooms::v3::Request>,
) -> ApiResult<RumaResponse<joined_rooms::v3::Response>> {
    let me = req.user()?;
    Ok(RumaResponse(joined_rooms::v3::Response::new(
        rooms.joined_rooms(&me.user_id).await?,
    )))
}

pub async fn join_room_by_id(
    State(inbound): State<Inbound>,
    req: Ruma<join_room_by_id::v3::Request>,
) -> ApiResult<RumaResponse<join_room_by_id::v3::Response>> {
    let me = req.user()?;
    inbound
        .join(
            &req.body.room_id,
            &me.user_id,
            &[],
            req.body.reason.as_deref(),
            req.json_body.as_ref(),
            me.is_guest,
        )
        .await?;
    Ok(RumaResponse(join_room_by_id::v3::Response::new(
        req.body.room_id.clone(),
    )))
}

pub async fn join_room_by_id_or_alias(
    State(directory): State<Directory>,
    State(inbound): State<Inbound>,
    req: Ruma<join_room_by_id_or_alias::v3::Request>,
) -> ApiResult<RumaResponse<join_room_by_id_or_alias::v3::Response>> {
    let me = req.user()?;
    let mut via = req.body.via.clone();
    let room_id = match <&ruma::RoomId>::try_from(&*req.body.room_id_or_alias) {
        Ok(id) => id.to_owned(),
        Err(alias) => {
            let (id, servers) = directory.resolve_alias(alias).await?;
            via.extend(servers);
            id
        }
    };
    inbound
        .join(
            &room_id,
            &me.user_id,
            &via,
            req.body.reason.as_deref(),
            req.json_body.as_ref(),
            me.is_guest,
        )
        .await?;
    Ok(RumaResponse(join_room_by_id_or_alias::v3::Response::new(
        room_id,
    )))
}

pub async fn knock_room(
    State(directory): State<Directory>,
    State(inbound): State<Inbound>,
    req: Ruma<knock_room::v3::Request>,
) -> ApiResult<RumaResponse<knock_room::v3::Response>> {
    let me = req.user()?;
    let mut via = req.body.via.clone();
    let room_id = match <&ruma::RoomId>::try_from(&*req.body.room_id_or_alias) {
        Ok(id) => id.to_owned(),
        Err(alias) => {
            let (id, servers) = directory.resolve_alias(alias).await?;
            via.extend(servers);
            id
        }
    };
    inbound
        .knock(&room_id, &me.user_id, req.body.reason.as_deref(), &via)
        .await?;
    Ok(RumaResponse(knock_room::v3::Response::new(room_id)))
}

/// A user ID, or an e-mail address and an identity server (only this
/// server's own: a third-party invite).
pub async fn invite_user(
    State(inbound): State<Inbound>,
    State(identity): State<IdentityServer>,
    req: Ruma<invite_user::v3::Request>,
) -> ApiResult<RumaResponse<invite_user::v3::Response>> {
    let me = req.user()?;
    let recipient = match &req.body.recipient {
        invite_user::v3::InvitationRecipient::UserId(recipient) => recipient,
        invite_user::v3::InvitationRecipient::ThirdPartyId(tp) => {
            identity
                .invite_by_email(
                    &req.body.room_id,
                    &me.user_id,
                    &tp.id_server,
                    tp.medium.as_str(),
                    &tp.address,
                )
                .await?;
            return Ok(RumaResponse(invite_user::v3::Response::new()));
        }
        _ => return Err(ApiError::bad_json("unknown kind of invitee")),
    };
    let is_direct = field(&req.json_body, "is_direct")
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    inbound
        .invite(
            &req.body.room_id,
            &me.user_id,
            &recipient.user_id,
            recipient.reason.as_deref(),
            is_direct,
        )
        .await?;
    Ok(RumaResponse(invite_user::v3::Response::new()))
}

pub async fn leave_room(
    State(inbound): State<Inbound>,
    req: Ruma<leave_room::v3::Request>,
) -> ApiResult<RumaResponse<leave_room::v3::Response>> {
    let me = req.user()?;
    inbound
        .leave(&req.body.room_id, &me.user_id, req.body.reason.as_deref())
        .await?;
    Ok(RumaResponse(leave_room::v3::Response::new()))
}

pub async fn kick_user(
    State(rooms): State<Rooms>,
    req: Ruma<kick_user::v3::Request>,
) -> ApiResult<RumaResponse<kick_user::v3::Response>> {
    let me = req.user()?;
    let b = &req.body;
    rooms
        .kick(&b.room_id, &me.user_id, &b.user_id, b.reason.as_deref())
        .await?;
    Ok(RumaResponse(kick_user::v3::Response::new()))
}

pub async fn ban_user(
    State(rooms): State<Rooms>,
    req: Ruma<ban_user::v3::Request>,
) -> ApiResult<RumaResponse<ban_user::v3::Response>> {
    let me = req.user()?;
    rooms
        .set_other_membership(
            &req.body.room_id,
            &me.user_id,
            &req.body.user_id,
            "ban",
            req.body.reason.as_deref(),
        )
        .await?;
    Ok(RumaResponse(ban_user::v3::Response::new()))
}

pub async fn unban_user(
    State(rooms): State<Rooms>,
    req: Ruma<unban_user::v3::Request>,
) -> ApiResult<RumaResponse<unban_user::v3::Response>> {
    let me = req.user()?;
    let b = &req.body;
    rooms
        .unban(&b.room_id, &me.user_id, &b.user_id, b.reason.as_deref())
        .await?;
    Ok(RumaResponse(unban_user::v3::Response::new()))
}

pub async fn forget_room(
    State(rooms): State<Rooms>,
    req: Ruma<forget_room::v3::Request>,
) -> ApiResult<RumaResponse<forget_room::v3::Response>> {
    let me = req.user()?;
    rooms.forget(&req.body.room_id, &me.user_id).await?;
    Ok(RumaResponse(forget_room::v3::Response::new()))
}
