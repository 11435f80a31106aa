//! Presence.

use axum::{Json, extract::State};
use missive_store::{EventStore, PresenceRecord, PresenceStore};
use ruma::api::client::presence::{get_presence, set_presence};
use serde_json::{Value, json};

use crate::{
    error::{ApiError, ApiResult},
    ruma_wrapper::Ruma,
    services::presence,
    state::AppState,
    time::now_ms,
};

pub async fn set_presence(
    State(s): State<AppState>,
    req: Ruma<set_presence::v3::Request>,
) -> ApiResult<Json<Value>> {
    let me = req.user()?;
    if me.user_id != req.body.user_id {
        return Err(ApiError::forbidden("you can only set your own presence"));
    }
    if !s.config.presence {
        return Ok(Json(json!({})));
    }
    if req.body.status_msg.as_ref().is_some_and(|m| m.len() > 1024) {
        return Err(ApiError::invalid_param("status message too long"));
    }
    s.presence
        .write(&PresenceRecord {
            user_id: me.user_id.to_string(),
            state: req.body.presence.as_str().to_owned(),
            status_msg: req.body.status_msg.clone(),
            last_active_ts: now_ms(),
        })
        .await?;
    Ok(Json(json!({})))
}

pub async fn get_presence(
    State(s): State<AppState>,
    req: Ruma<get_presence::v3::Request>,
) -> ApiResult<Json<Value>> {
    let me = req.user()?;
    let target = &req.body.user_id;
    if !s.config.presence {
        return Err(ApiError::forbidden("presence is disabled on this server"));
    }
    let shares_room = *target == me.user_id
        || !s
            .store
            .shared_rooms(me.user_id.as_str(), target.as_str())
            .await?
            .is_empty();
    if !shares_room {
        return Err(ApiError::forbidden(
            "you do not share a room with this user",
        ));
    }
    let p = s
        .store
        .presence(target.as_str())
        .await?
        .ok_or_else(|| ApiError::not_found("no presence known"))?;
    Ok(Json(presence::content(&p)))
}
