//! `POST /search` and content reports (`POST /rooms/{roomId}/report/{eventId}`,
//! `POST /rooms/{roomId}/report`).

use axum::extract::State;
use ruma::api::client::{
    room::{report_content, report_room},
    search::search_events::{
        self,
        v3::{ResultCategories, ResultRoomEvents},
    },
};
use serde_json::Value;

use crate::{
    error::{ApiError, ApiResult},
    ruma_wrapper::{Ruma, RumaResponse},
    services::{
        reports::Reports,
        search::{Search, SearchRequest},
    },
};

pub async fn search_events(
    State(search): State<Search>,
    req: Ruma<search_events::v3::Request>,
) -> ApiResult<RumaResponse<search_events::v3::Response>> {
    let me = req.user()?;
    let Some(criteria) = &req.body.search_categories.room_events else {
        // The one category there is; asking for none finds nothing.
        return Ok(RumaResponse(search_events::v3::Response::new(
            ResultCategories::new(),
        )));
    };
    let with_context = req
        .json_body
        .as_ref()
        .and_then(|b| b.pointer("/search_categories/room_events/event_context"))
        .is_some();
    let room_events: ResultRoomEvents = search
        .search(
            &me.user_id,
            SearchRequest {
                criteria,
                next_batch: req.body.next_batch.as_deref(),
                with_context,
            },
        )
        .await?;
    let mut categories = ResultCategories::new();
    categories.room_events = room_events;
    Ok(RumaResponse(search_events::v3::Response::new(categories)))
}

pub async fn report_content(
    State(reports): State<Reports>,
    req: Ruma<report_content::v3::Request>,
) -> ApiResult<RumaResponse<report_content::v3::Response>> {
    let me = req.user()?;
    // The spec dropped `score`, which ruma no longer reads; clients still
    // send it, and Synapse keeps it, refusing one that is not an integer.
    let score = match req.json_body.as_ref().and_then(|b| b.get("score")) {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_i64()
                .ok_or_else(|| ApiError::bad_json("Param 'score' must be an integer"))?,
        ),
    };
    let b = &req.body;
    reports
        .report_event(
            &me.user_id,
            &b.room_id,
            &b.event_id,
            b.reason.clone(),
            score,
        )
        .await?;
    Ok(RumaResponse(report_content::v3::Response::new()))
}

pub async fn report_room(
    State(reports): State<Reports>,
    req: Ruma<report_room::v3::Request>,
) -> ApiResult<RumaResponse<report_room::v3::Response>> {
    let me = req.user()?;
    // `reason` is required (ruma would read a missing one as empty).
    if req
        .json_body
        .as_ref()
        .and_then(|b| b.get("reason"))
        .is_none()
    {
        return Err(ApiError::bad_json("Param 'reason' is required"));
    }
    let b = &req.body;
    reports
        .report_room(&me.user_id, &b.room_id, b.reason.clone())
        .await?;
    Ok(RumaResponse(report_room::v3::Response::new()))
}
