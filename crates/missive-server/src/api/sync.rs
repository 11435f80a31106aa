//! `/sync` and sync filters.

use std::time::Duration;

use axum::extract::State;
use ruma::{
    api::client::{
        filter::{FilterDefinition, create_filter, get_filter},
        sync::sync_events::{self, v3::Filter},
    },
    presence::PresenceState,
};

use crate::{
    error::ApiResult,
    ruma_wrapper::{Ruma, RumaResponse},
    services::{
        filters::Filters,
        sync::{SyncRequest, parse_token},
    },
    state::AppState,
};

pub async fn sync_events(
    State(s): State<AppState>,
    req: Ruma<sync_events::v3::Request>,
) -> ApiResult<RumaResponse<sync_events::v3::Response>> {
    let me = req.user()?;
    let b = &req.body;
    let filter = match &b.filter {
        None => FilterDefinition::default(),
        Some(Filter::FilterDefinition(f)) => f.clone(),
        Some(Filter::FilterId(id)) => s.filters.get(&me.user_id, &me.user_id, id).await?,
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
            device_id: &me.device_id,
            since,
            filter,
            full_state: b.full_state,
            timeout: b.timeout.unwrap_or(Duration::ZERO),
        })
        .await?;
    Ok(RumaResponse(response))
}

pub async fn create_filter(
    State(filters): State<Filters>,
    req: Ruma<create_filter::v3::Request>,
) -> ApiResult<RumaResponse<create_filter::v3::Response>> {
    let me = req.user()?;
    let id = filters
        .create(&me.user_id, &req.body.user_id, &req.body.filter)
        .await?;
    Ok(RumaResponse(create_filter::v3::Response::new(id)))
}

pub async fn get_filter(
    State(filters): State<Filters>,
    req: Ruma<get_filter::v3::Request>,
) -> ApiResult<RumaResponse<get_filter::v3::Response>> {
    let me = req.user()?;
    let filter = filters
        .get(&me.user_id, &req.body.user_id, &req.body.filter_id)
        .await?;
    Ok(RumaResponse(get_filter::v3::Response::new(filter)))
}
