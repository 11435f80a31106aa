//! Relations and threads: `/relations` (by parent, relation type and
//! event type) and `/threads`, read through the [`Reader`].

use axum::extract::State;
use ruma::api::client::{
    relations::{
        get_relating_events, get_relating_events_with_rel_type,
        get_relating_events_with_rel_type_and_event_type,
    },
    threads::get_threads::{self, v1::IncludeThreads},
};

use crate::{
    error::{ApiError, ApiResult},
    ruma_wrapper::{Ruma, RumaResponse},
    services::reader::{Reader, Relations, RelationsQuery, to_raw},
};

/// The parts of the three `/relations` responses.
fn parts<T>(page: Relations) -> ApiResult<(Vec<ruma::serde::Raw<T>>, Relations)> {
    let chunk = page.chunk.iter().map(to_raw).collect::<ApiResult<_>>()?;
    Ok((chunk, page))
}

pub async fn get_relating_events(
    State(reader): State<Reader>,
    req: Ruma<get_relating_events::v1::Request>,
) -> ApiResult<RumaResponse<get_relating_events::v1::Response>> {
    let me = req.user()?;
    let b = &req.body;
    let query = RelationsQuery {
        parent: &b.event_id,
        rel_type: None,
        event_type: None,
        from: b.from.as_deref(),
        to: b.to.as_deref(),
        dir: b.dir,
        limit: b.limit,
        recurse: b.recurse,
    };
    let page = reader
        .relations(&b.room_id, &me.user_id, me.device_id.as_str(), query)
        .await?;
    let (chunk, page) = parts(page)?;
    let mut response = get_relating_events::v1::Response::new(chunk);
    response.next_batch = page.next_batch;
    response.prev_batch = page.prev_batch;
    response.recursion_depth = page.recursion_depth;
    Ok(RumaResponse(response))
}

pub async fn get_relating_events_with_rel_type(
    State(reader): State<Reader>,
    req: Ruma<get_relating_events_with_rel_type::v1::Request>,
) -> ApiResult<RumaResponse<get_relating_events_with_rel_type::v1::Response>> {
    let me = req.user()?;
    let b = &req.body;
    let rel_type = b.rel_type.to_string();
    let query = RelationsQuery {
        parent: &b.event_id,
        rel_type: Some(&rel_type),
        event_type: None,
        from: b.from.as_deref(),
        to: b.to.as_deref(),
        dir: b.dir,
        limit: b.limit,
        recurse: b.recurse,
    };
    let page = reader
        .relations(&b.room_id, &me.user_id, me.device_id.as_str(), query)
        .await?;
    let (chunk, page) = parts(page)?;
    let mut response = get_relating_events_with_rel_type::v1::Response::new(chunk);
    response.next_batch = page.next_batch;
    response.prev_batch = page.prev_batch;
    response.recursion_depth = page.recursion_depth;
    Ok(RumaResponse(response))
}

pub async fn get_relating_events_with_rel_type_and_event_type(
    State(reader): State<Reader>,
    req: Ruma<get_relating_events_with_rel_type_and_event_type::v1::Request>,
) -> ApiResult<RumaResponse<get_relating_events_with_rel_type_and_event_type::v1::Response>> {
    let me = req.user()?;
    let b = &req.body;
    let rel_type = b.rel_type.to_string();
    let event_type = b.event_type.to_string();
    let query = RelationsQuery {
        parent: &b.event_id,
        rel_type: Some(&rel_type),
        event_type: Some(&event_type),
        from: b.from.as_deref(),
        to: b.to.as_deref(),
        dir: b.dir,
        limit: b.limit,
        recurse: b.recurse,
    };
    let page = reader
        .relations(&b.room_id, &me.user_id, me.device_id.as_str(), query)
        .await?;
    let (chunk, page) = parts(page)?;
    let mut response = get_relating_events_with_rel_type_and_event_type::v1::Response::new(chunk);
    response.next_batch = page.next_batch;
    response.prev_batch = page.prev_batch;
    response.recursion_depth = page.recursion_depth;
    Ok(RumaResponse(response))
}

pub async fn get_threads(
    State(reader): State<Reader>,
    req: Ruma<get_threads::v1::Request>,
) -> ApiResult<RumaResponse<get_threads::v1::Response>> {
    let me = req.user()?;
    let b = &req.body;
    let participated = match &b.include {
        IncludeThreads::All => false,
        IncludeThreads::Participated => true,
        other => {
            return Err(ApiError::invalid_param(format!(
                "include must be all or participated, not {}",
                other.as_str()
            )));
        }
    };
    let page = reader
        .threads(
            &b.room_id,
            &me.user_id,
            participated,
            b.from.as_deref(),
            b.limit,
        )
        .await?;
    let mut response =
        get_threads::v1::Response::new(page.chunk.iter().map(to_raw).collect::<ApiResult<_>>()?);
    response.next_batch = page.next_batch;
    Ok(RumaResponse(response))
}
