//! Room aliases, the public room directory and the user directory: thin
//! handlers over `Directory`.

use axum::extract::State;
use ruma::api::client::{
    alias::{create_alias, delete_alias, get_alias},
    directory::{
        get_public_rooms, get_public_rooms_filtered, get_room_visibility, set_room_visibility,
    },
    room::{Visibility, aliases},
    user_directory::search_users,
};

use crate::{
    error::ApiResult,
    ruma_wrapper::{Ruma, RumaResponse},
    services::directory::Directory,
};

pub async fn create_alias(
    State(directory): State<Directory>,
    req: Ruma<create_alias::v3::Request>,
) -> ApiResult<RumaResponse<create_alias::v3::Response>> {
    let me = req.user()?;
    directory
        .create_alias(&me.user_id, &req.body.room_alias, &req.body.room_id)
        .await?;
    Ok(RumaResponse(create_alias::v3::Response::new()))
}

pub async fn get_alias(
    State(directory): State<Directory>,
    req: Ruma<get_alias::v3::Request>,
) -> ApiResult<RumaResponse<get_alias::v3::Response>> {
    let (room_id, servers) = directory.resolve_alias(&req.body.room_alias).await?;
    Ok(RumaResponse(get_alias::v3::Response::new(room_id, servers)))
}

pub async fn delete_alias(
    State(directory): State<Directory>,
    req: Ruma<delete_alias::v3::Request>,
) -> ApiResult<RumaResponse<delete_alias::v3::Response>> {
    let me = req.user()?;
    directory.delete_alias(me, &req.body.room_alias).await?;
    Ok(RumaResponse(delete_alias::v3::Response::new()))
}

pub async fn get_room_aliases(
    State(directory): State<Directory>,
    req: Ruma<aliases::v3::Request>,
) -> ApiResult<RumaResponse<aliases::v3::Response>> {
    let me = req.user()?;
    let aliases = directory
        .room_aliases(&me.user_id, &req.body.room_id)
        .await?;
    Ok(RumaResponse(aliases::v3::Response::new(aliases)))
}

pub async fn get_room_visibility(
    State(directory): State<Directory>,
    req: Ruma<get_room_visibility::v3::Request>,
) -> ApiResult<RumaResponse<get_room_visibility::v3::Response>> {
    let visibility = if directory.is_published(&req.body.room_id).await? {
        Visibility::Public
    } else {
        Visibility::Private
    };
    Ok(RumaResponse(get_room_visibility::v3::Response::new(
        visibility,
    )))
}

pub async fn set_room_visibility(
    State(directory): State<Directory>,
    req: Ruma<set_room_visibility::v3::Request>,
) -> ApiResult<RumaResponse<set_room_visibility::v3::Response>> {
    let me = req.user()?;
    directory
        .set_published(
            me,
            &req.body.room_id,
            req.body.visibility == Visibility::Public,
        )
        .await?;
    Ok(RumaResponse(set_room_visibility::v3::Response::new()))
}

pub async fn get_public_rooms(
    State(directory): State<Directory>,
    req: Ruma<get_public_rooms::v3::Request>,
) -> ApiResult<RumaResponse<get_public_rooms::v3::Response>> {
    let b = &req.body;
    let page = directory
        .public_rooms(b.server.as_deref(), b.since.as_deref(), b.limit, None)
        .await?;
    let mut res = get_public_rooms::v3::Response::new(page.chunk);
    res.next_batch = page.next_batch;
    res.prev_batch = page.prev_batch;
    res.total_room_count_estimate = Some(page.total);
    Ok(RumaResponse(res))
}

pub async fn get_public_rooms_filtered(
    State(directory): State<Directory>,
    req: Ruma<get_public_rooms_filtered::v3::Request>,
) -> ApiResult<RumaResponse<get_public_rooms_filtered::v3::Response>> {
    req.user()?;
    let b = &req.body;
    let page = directory
        .public_rooms(
            b.server.as_deref(),
            b.since.as_deref(),
            b.limit,
            b.filter.generic_search_term.as_deref(),
        )
        .await?;
    let mut res = get_public_rooms_filtered::v3::Response::new();
    res.chunk = page.chunk;
    res.next_batch = page.next_batch;
    res.prev_batch = page.prev_batch;
    res.total_room_count_estimate = Some(page.total);
    Ok(RumaResponse(res))
}

pub async fn search_users(
    State(directory): State<Directory>,
    req: Ruma<search_users::v3::Request>,
) -> ApiResult<RumaResponse<search_users::v3::Response>> {
    let me = req.user()?;
    let (results, limited) = directory
        .search_users(&me.user_id, &req.body.search_term, req.body.limit)
        .await?;
    Ok(RumaResponse(search_users::v3::Response::new(
        results, limited,
    )))
}
