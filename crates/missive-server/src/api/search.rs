//! `POST /search`: room events matching a query.

use axum::extract::State;
use ruma::api::client::search::search_events::{
    self,
    v3::{ResultCategories, ResultRoomEvents},
};

use crate::{
    error::ApiResult,
    ruma_wrapper::{Ruma, RumaResponse},
    services::search::{Search, SearchRequest},
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
