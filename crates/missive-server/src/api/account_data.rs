//! Account data (global and per room) and room tags.

use axum::{Json, extract::State};
use missive_store::AccountDataStore;
use ruma::{
    RoomId, UserId,
    api::client::{
        config::{
            get_global_account_data, get_room_account_data, set_global_account_data,
            set_room_account_data,
        },
        tag::{create_tag, delete_tag, get_tags},
    },
};
use serde_json::{Value, json};

use crate::{
    error::{ApiError, ApiResult},
    ruma_wrapper::Ruma,
    services::{accounts::Identity, push_rules},
    state::AppState,
};

/// Largest account data entry, in bytes of JSON.
const MAX_ACCOUNT_DATA_BYTES: usize = 64 * 1024;

fn own(me: &Identity, user: &UserId) -> ApiResult<()> {
    if me.user_id == user {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "you can only access your own account data",
        ))
    }
}

async fn set(
    s: &AppState,
    user: &UserId,
    room: Option<&RoomId>,
    ty: &str,
    raw: &str,
) -> ApiResult<()> {
    if raw.len() > MAX_ACCOUNT_DATA_BYTES {
        return Err(ApiError::TooLarge("account data too large".into()));
    }
    let v: Value = serde_json::from_str(raw).map_err(|e| ApiError::NotJson(e.to_string()))?;
    if !v.is_object() {
        return Err(ApiError::bad_json("account data must be a JSON object"));
    }
    if ty == push_rules::ACCOUNT_DATA_TYPE || ty == "m.fully_read" {
        return Err(ApiError::BadJson(format!(
            "{ty} cannot be set through account data"
        )));
    }
    let pos = s
        .store
        .set_account_data(user.as_str(), room.map(|r| r.as_str()), ty, raw)
        .await?;
    s.rooms.notify_users(pos, &[user.as_str()]);
    Ok(())
}

async fn get(
    s: &AppState,
    user: &UserId,
    room: Option<&RoomId>,
    ty: &str,
) -> ApiResult<Json<Value>> {
    let data = s
        .store
        .account_data(user.as_str(), room.map(|r| r.as_str()), ty)
        .await?
        .ok_or_else(|| ApiError::not_found("account data not found"))?;
    Ok(Json(
        serde_json::from_str(&data).unwrap_or_else(|_| json!({})),
    ))
}

pub async fn set_global_account_data(
    State(s): State<AppState>,
    req: Ruma<set_global_account_data::v3::Request>,
) -> ApiResult<Json<Value>> {
    let me = req.user()?;
    own(me, &req.body.user_id)?;
    set(
        &s,
        &me.user_id,
        None,
        &req.body.event_type.to_string(),
        req.body.data.json().get(),
    )
    .await?;
    Ok(Json(json!({})))
}

pub async fn get_global_account_data(
    State(s): State<AppState>,
    req: Ruma<get_global_account_data::v3::Request>,
) -> ApiResult<Json<Value>> {
    let me = req.user()?;
    own(me, &req.body.user_id)?;
    get(&s, &me.user_id, None, &req.body.event_type.to_string()).await
}

pub async fn set_room_account_data(
    State(s): State<AppState>,
    req: Ruma<set_room_account_data::v3::Request>,
) -> ApiResult<Json<Value>> {
    let me = req.user()?;
    own(me, &req.body.user_id)?;
    set(
        &s,
        &me.user_id,
        Some(&req.body.room_id),
        &req.body.event_type.to_string(),
        req.body.data.json().get(),
    )
    .await?;
    Ok(Json(json!({})))
}

pub async fn get_room_account_data(
    State(s): State<AppState>,
    req: Ruma<get_room_account_data::v3::Request>,
) -> ApiResult<Json<Value>> {
    let me = req.user()?;
    own(me, &req.body.user_id)?;
    get(
        &s,
        &me.user_id,
        Some(&req.body.room_id),
        &req.body.event_type.to_string(),
    )
    .await
}

async fn tags(s: &AppState, user: &UserId, room: &RoomId) -> ApiResult<Value> {
    let data = s
        .store
        .account_data(user.as_str(), Some(room.as_str()), "m.tag")
        .await?;
    Ok(data
        .and_then(|d| serde_json::from_str::<Value>(&d).ok())
        .filter(|v| v.get("tags").is_some_and(Value::is_object))
        .unwrap_or_else(|| json!({ "tags": {} })))
}

pub async fn get_tags(
    State(s): State<AppState>,
    req: Ruma<get_tags::v3::Request>,
) -> ApiResult<Json<Value>> {
    let me = req.user()?;
    own(me, &req.body.user_id)?;
    Ok(Json(tags(&s, &me.user_id, &req.body.room_id).await?))
}

pub async fn create_tag(
    State(s): State<AppState>,
    req: Ruma<create_tag::v3::Request>,
) -> ApiResult<Json<Value>> {
    let me = req.user()?;
    own(me, &req.body.user_id)?;
    if req.body.tag.len() > 255 {
        return Err(ApiError::invalid_param("tag too long"));
    }
    let mut all = tags(&s, &me.user_id, &req.body.room_id).await?;
    let info = req.json_body.clone().unwrap_or_else(|| json!({}));
    all["tags"][&req.body.tag] = info;
    let pos = s
        .store
        .set_account_data(
            me.user_id.as_str(),
            Some(req.body.room_id.as_str()),
            "m.tag",
            &all.to_string(),
        )
        .await?;
    s.rooms.notify_users(pos, &[me.user_id.as_str()]);
    Ok(Json(json!({})))
}

pub async fn delete_tag(
    State(s): State<AppState>,
    req: Ruma<delete_tag::v3::Request>,
) -> ApiResult<Json<Value>> {
    let me = req.user()?;
    own(me, &req.body.user_id)?;
    let mut all = tags(&s, &me.user_id, &req.body.room_id).await?;
    if let Some(map) = all["tags"].as_object_mut() {
        map.remove(&req.body.tag);
    }
    let pos = s
        .store
        .set_account_data(
            me.user_id.as_str(),
            Some(req.body.room_id.as_str()),
            "m.tag",
            &all.to_string(),
        )
        .await?;
    s.rooms.notify_users(pos, &[me.user_id.as_str()]);
    Ok(Json(json!({})))
}
