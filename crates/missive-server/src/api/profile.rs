//! Profiles: display name and avatar, carried into member events.

use axum::{Json, extract::State};
use missive_store::AccountStore;
use ruma::api::client::profile::{
    get_avatar_url, get_display_name, get_profile, set_avatar_url, set_display_name,
};
use serde_json::{Value, json};

use crate::{
    error::{ApiError, ApiResult},
    ruma_wrapper::Ruma,
    state::AppState,
};

const MAX_DISPLAYNAME_BYTES: usize = 256;

async fn profile(s: &AppState, user: &ruma::UserId) -> ApiResult<missive_store::UserRecord> {
    s.store
        .user(user.as_str())
        .await?
        .filter(|u| !u.deactivated)
        .ok_or_else(|| ApiError::not_found("profile not found"))
}

pub async fn get_profile(
    State(s): State<AppState>,
    req: Ruma<get_profile::v3::Request>,
) -> ApiResult<Json<Value>> {
    let p = profile(&s, &req.body.user_id).await?;
    let mut out = json!({});
    if let Some(name) = p.displayname {
        out["displayname"] = json!(name);
    }
    if let Some(url) = p.avatar_url {
        out["avatar_url"] = json!(url);
    }
    Ok(Json(out))
}

pub async fn get_display_name(
    State(s): State<AppState>,
    req: Ruma<get_display_name::v3::Request>,
) -> ApiResult<Json<Value>> {
    let p = profile(&s, &req.body.user_id).await?;
    Ok(Json(json!({ "displayname": p.displayname })))
}

pub async fn get_avatar_url(
    State(s): State<AppState>,
    req: Ruma<get_avatar_url::v3::Request>,
) -> ApiResult<Json<Value>> {
    let p = profile(&s, &req.body.user_id).await?;
    Ok(Json(json!({ "avatar_url": p.avatar_url })))
}

pub async fn set_display_name(
    State(s): State<AppState>,
    req: Ruma<set_display_name::v3::Request>,
) -> ApiResult<Json<Value>> {
    let me = req.user()?;
    if me.user_id != req.body.user_id {
        return Err(ApiError::forbidden("you can only change your own profile"));
    }
    let name = req.body.displayname.as_deref().filter(|n| !n.is_empty());
    if name.is_some_and(|n| n.len() > MAX_DISPLAYNAME_BYTES) {
        return Err(ApiError::invalid_param("display name too long"));
    }
    s.store.set_displayname(me.user_id.as_str(), name).await?;
    s.rooms.propagate_profile(&me.user_id).await?;
    Ok(Json(json!({})))
}

pub async fn set_avatar_url(
    State(s): State<AppState>,
    req: Ruma<set_avatar_url::v3::Request>,
) -> ApiResult<Json<Value>> {
    let me = req.user()?;
    if me.user_id != req.body.user_id {
        return Err(ApiError::forbidden("you can only change your own profile"));
    }
    let url = req
        .body
        .avatar_url
        .as_ref()
        .map(|u| u.to_string())
        .filter(|u| !u.is_empty());
    s.store
        .set_avatar_url(me.user_id.as_str(), url.as_deref())
        .await?;
    s.rooms.propagate_profile(&me.user_id).await?;
    Ok(Json(json!({})))
}
