//! `/sync` and sync filters.

use std::time::Duration;

use axum::{Json, extract::State};
use missive_store::FilterStore;
use ruma::{
    api::client::{
        filter::{FilterDefinition, create_filter, get_filter},
        sync::sync_events::{self, v3::Filter},
    },
    presence::PresenceState,
};
use serde_json::{Value, json};

use crate::{
    error::{ApiError, ApiResult},
    ruma_wrapper::Ruma,
    services::sync::{SyncRequest, parse_token},
    state::AppState,
};

/// Largest filter a client may store, in bytes of JSON.
const MAX_FILTER_BYTES: usize = 16 * 1024;

pub async fn sync_events(
    State(s): State<AppState>,
    req: Ruma<sync_events::v3::Request>,
) -> ApiResult<Json<Value>> {
    let me = req.user()?;
    let b = &req.body;
    let filter = match &b.filter {
        None => FilterDefinition::default(),
        Some(Filter::FilterDefinition(f)) => f.clone(),
        Some(Filter::FilterId(id)) => {
            let json = s
                .store
                .filter(me.user_id.as_str(), id)
                .await?
                .ok_or_else(|| ApiError::not_found("filter not found"))?;
            serde_json::from_str(&json)
                .map_err(|e| ApiError::Internal(format!("stored filter unreadable: {e}")))?
        }
        Some(_) => FilterDefinition::default(),
    };
    if s.config.presence && b.set_presence != PresenceState::Offline {
        s.presence
            .mark_active(me.user_id.as_str(), b.set_presence.as_str())
            .await?;
    }
    let since = b.since.as_deref().map(parse_token).transpose()?;
    let response = s
        .syncer
        .sync(SyncRequest {
            user: &me.user_id,
            device_id: me.device_id.as_str(),
            since,
            filter,
            full_state: b.full_state,
            timeout: b.timeout.unwrap_or(Duration::ZERO),
        })
        .await?;
    Ok(Json(response))
}

pub async fn create_filter(
    State(s): State<AppState>,
    req: Ruma<create_filter::v3::Request>,
) -> ApiResult<Json<Value>> {
    let me = req.user()?;
    if me.user_id != req.body.user_id {
        return Err(ApiError::forbidden(
            "you can only create filters for yourself",
        ));
    }
    let json =
        serde_json::to_string(&req.body.filter).map_err(|e| ApiError::Internal(e.to_string()))?;
    if json.len() > MAX_FILTER_BYTES {
        return Err(ApiError::TooLarge("filter too large".into()));
    }
    let id = s.store.create_filter(me.user_id.as_str(), &json).await?;
    Ok(Json(json!({ "filter_id": id })))
}

pub async fn get_filter(
    State(s): State<AppState>,
    req: Ruma<get_filter::v3::Request>,
) -> ApiResult<Json<Value>> {
    let me = req.user()?;
    if me.user_id != req.body.user_id {
        return Err(ApiError::forbidden("you can only read your own filters"));
    }
    let json = s
        .store
        .filter(me.user_id.as_str(), &req.body.filter_id)
        .await?
        .ok_or_else(|| ApiError::not_found("filter not found"))?;
    Ok(Json(
        serde_json::from_str(&json).unwrap_or_else(|_| json!({})),
    ))
}
