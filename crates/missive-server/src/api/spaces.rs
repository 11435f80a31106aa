//! Spaces: `GET /rooms/{roomId}/hierarchy`.

use axum::extract::State;
use ruma::api::client::space::get_hierarchy;

use crate::{
    error::ApiResult,
    ruma_wrapper::{Ruma, RumaResponse},
    services::spaces::{HierarchyQuery, Spaces},
};

pub async fn get_hierarchy(
    State(spaces): State<Spaces>,
    req: Ruma<get_hierarchy::v1::Request>,
) -> ApiResult<RumaResponse<get_hierarchy::v1::Response>> {
    let me = req.user()?;
    let b = &req.body;
    let query = HierarchyQuery {
        root: &b.room_id,
        from: b.from.as_deref(),
        limit: b.limit,
        max_depth: b.max_depth,
        suggested_only: b.suggested_only,
    };
    Ok(RumaResponse(spaces.hierarchy(&me.user_id, query).await?))
}
