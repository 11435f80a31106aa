//! Reporting content to the server's admins (`POST
//! /rooms/{roomId}/report/{eventId}`, `POST /rooms/{roomId}/report`), and
//! the admins' list (`GET /_synapse/admin/v1/event_reports`, as Synapse's).

use std::collections::HashMap;

use axum::{
    Json,
    extract::{Query, State},
};
use ruma::api::client::room::{report_content, report_room};
use serde_json::{Value, json};

use super::media::Authed;
use crate::{
    error::{ApiError, ApiResult},
    ruma_wrapper::{Ruma, RumaResponse},
    services::reports::Reports,
};

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

/// `GET /_synapse/admin/v1/event_reports?from=&limit=`: the reports,
/// newest first, with Synapse's field names; room reports (which Synapse
/// lists apart) come along without an `event_id`.
pub async fn admin_event_reports(
    State(reports): State<Reports>,
    Authed(me): Authed,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let number = |name: &str, default: i64| -> ApiResult<i64> {
        match query.get(name) {
            None => Ok(default),
            Some(v) => v
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| ApiError::invalid_param(format!("invalid {name}"))),
        }
    };
    let (from, limit) = (number("from", 0)?, number("limit", 100)?.min(1000));
    let (page, total) = reports.list(&me, from, limit).await?;
    let listed: Vec<Value> = page
        .iter()
        .map(|r| {
            let mut v = json!({
                "id": r.report_id,
                "received_ts": r.report.received_ts,
                "room_id": r.report.room_id,
                "user_id": r.report.reporter,
                "reason": r.report.reason,
                "score": r.report.score,
            });
            if let Some(event_id) = &r.report.event_id {
                v["event_id"] = json!(event_id);
            }
            v
        })
        .collect();
    let mut answer = json!({ "event_reports": listed, "total": total });
    let next = from + page.len() as i64;
    if next < total {
        answer["next_token"] = json!(next);
    }
    Ok(Json(answer))
}
