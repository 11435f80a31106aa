//! This server's public room directory, as other servers list it for
//! their users (`/_matrix/federation/v1/publicRooms`, GET and POST).

use axum::extract::State;
use ruma::api::federation::directory::{get_public_rooms, get_public_rooms_filtered};

use crate::{
    error::ApiResult, federation_request::FederationRequest, ruma_wrapper::RumaResponse,
    services::directory::Directory,
};

pub async fn get_public_rooms(
    State(directory): State<Directory>,
    req: FederationRequest<get_public_rooms::v1::Request>,
) -> ApiResult<RumaResponse<get_public_rooms::v1::Response>> {
    let b = &req.body;
    let page = directory
        .public_rooms(None, b.since.as_deref(), b.limit, None)
        .await?;
    let mut res = get_public_rooms::v1::Response::new();
    res.chunk = page.chunk;
    res.next_batch = page.next_batch;
    res.prev_batch = page.prev_batch;
    res.total_room_count_estimate = Some(page.total);
    Ok(RumaResponse(res))
}

pub async fn get_public_rooms_filtered(
    State(directory): State<Directory>,
    req: FederationRequest<get_public_rooms_filtered::v1::Request>,
) -> ApiResult<RumaResponse<get_public_rooms_filtered::v1::Response>> {
    let b = &req.body;
    let page = directory
        .public_rooms(
            None,
            b.since.as_deref(),
            b.limit,
            b.filter.generic_search_term.as_deref(),
        )
        .await?;
    let mut res = get_public_rooms_filtered::v1::Response::new();
    res.chunk = page.chunk;
    res.next_batch = page.next_batch;
    res.prev_batch = page.prev_batch;
    res.total_room_count_estimate = Some(page.total);
    Ok(RumaResponse(res))
}
