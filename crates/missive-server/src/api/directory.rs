//! Room aliases, the public room directory and the user directory.

use axum::{Json, extract::State};
use missive_store::{AccountStore, DirectoryStore, EventStore, StoreError, UserSearchScope};
use ruma::api::client::{
    alias::{create_alias, delete_alias, get_alias},
    directory::{
        get_public_rooms, get_public_rooms_filtered, get_room_visibility, set_room_visibility,
    },
    room::{Visibility, aliases},
    user_directory::search_users,
};
use serde_json::{Value, json};

use crate::{
    error::{ApiError, ApiResult},
    ruma_wrapper::Ruma,
    state::AppState,
};

/// Most rooms in one page of the public directory.
const MAX_DIRECTORY_PAGE: i64 = 500;

pub async fn create_alias(
    State(s): State<AppState>,
    req: Ruma<create_alias::v3::Request>,
) -> ApiResult<Json<Value>> {
    let me = req.user()?;
    let b = &req.body;
    if b.room_alias.server_name() != *s.accounts.server_name() {
        return Err(ApiError::invalid_param("aliases must be on this server"));
    }
    if s.store.room(b.room_id.as_str()).await?.is_none() {
        return Err(ApiError::not_found("room not found"));
    }
    s.reader.require_joined(&b.room_id, &me.user_id).await?;
    match s
        .store
        .create_alias(
            b.room_alias.as_str(),
            b.room_id.as_str(),
            me.user_id.as_str(),
        )
        .await
    {
        Err(StoreError::AlreadyExists(_)) => {
            Err(ApiError::Exists("room alias already exists".into()))
        }
        other => {
            other?;
            Ok(Json(json!({})))
        }
    }
}

pub async fn get_alias(
    State(s): State<AppState>,
    req: Ruma<get_alias::v3::Request>,
) -> ApiResult<Json<Value>> {
    let (room_id, _) = s
        .store
        .alias(req.body.room_alias.as_str())
        .await?
        .ok_or_else(|| ApiError::not_found("room alias not found"))?;
    Ok(Json(
        json!({ "room_id": room_id, "servers": [s.accounts.server_name()] }),
    ))
}

pub async fn delete_alias(
    State(s): State<AppState>,
    req: Ruma<delete_alias::v3::Request>,
) -> ApiResult<Json<Value>> {
    let me = req.user()?;
    let alias = req.body.room_alias.as_str();
    let (room_id, creator) = s
        .store
        .alias(alias)
        .await?
        .ok_or_else(|| ApiError::not_found("room alias not found"))?;
    if creator != me.user_id.as_str()
        && !me.is_admin
        && !can_send_state(&s, &room_id, &me.user_id, "m.room.canonical_alias").await?
    {
        return Err(ApiError::forbidden("you may not remove this alias"));
    }
    s.store.delete_alias(alias).await?;
    Ok(Json(json!({})))
}

/// Whether the user's power level lets them send this state event.
async fn can_send_state(
    s: &AppState,
    room_id: &str,
    user: &ruma::UserId,
    ty: &str,
) -> ApiResult<bool> {
    let Ok(room) = ruma::RoomId::parse(room_id) else {
        return Ok(false);
    };
    let (_, rules) = s.rooms.room(&room).await?;
    let pl = s
        .store
        .current_state_event(room_id, "m.room.power_levels", "")
        .await?;
    let pl = pl
        .as_ref()
        .map(crate::services::rooms::to_pdu)
        .transpose()?;
    let levels = missive_core::power_levels::effective(pl.as_ref(), &rules, Vec::new());
    Ok(levels.user_can_send_state(user, ty.into()))
}

pub async fn get_room_aliases(
    State(s): State<AppState>,
    req: Ruma<aliases::v3::Request>,
) -> ApiResult<Json<Value>> {
    let me = req.user()?;
    s.reader.read_scope(&req.body.room_id, &me.user_id).await?;
    Ok(Json(
        json!({ "aliases": s.store.room_aliases(req.body.room_id.as_str()).await? }),
    ))
}

pub async fn get_room_visibility(
    State(s): State<AppState>,
    req: Ruma<get_room_visibility::v3::Request>,
) -> ApiResult<Json<Value>> {
    let room = s
        .store
        .room(req.body.room_id.as_str())
        .await?
        .ok_or_else(|| ApiError::not_found("room not found"))?;
    Ok(Json(
        json!({ "visibility": if room.published { "public" } else { "private" } }),
    ))
}

pub async fn set_room_visibility(
    State(s): State<AppState>,
    req: Ruma<set_room_visibility::v3::Request>,
) -> ApiResult<Json<Value>> {
    let me = req.user()?;
    let room_id = req.body.room_id.as_str();
    if s.store.room(room_id).await?.is_none() {
        return Err(ApiError::not_found("room not found"));
    }
    if !me.is_admin && !can_send_state(&s, room_id, &me.user_id, "m.room.canonical_alias").await? {
        return Err(ApiError::forbidden("you may not publish this room"));
    }
    s.store
        .set_room_published(room_id, req.body.visibility == Visibility::Public)
        .await?;
    Ok(Json(json!({})))
}

/// One page of published rooms, with the fields the directory shows.
async fn public_rooms(
    s: &AppState,
    since: Option<&str>,
    limit: Option<i64>,
    term: Option<&str>,
) -> ApiResult<Value> {
    let offset = since
        .and_then(|t| t.strip_prefix('o'))
        .and_then(|n| n.parse::<i64>().ok())
        .unwrap_or(0)
        .max(0);
    let limit = limit.unwrap_or(100).clamp(1, MAX_DIRECTORY_PAGE);
    let total = s.store.count_published_rooms().await?;
    let ids = s.store.published_rooms(offset, limit).await?;
    let mut chunk = Vec::new();
    for id in &ids {
        let state = s.store.current_state_events(id).await?;
        let content = |ty: &str| {
            state
                .iter()
                .find(|e| e.event_type == ty && e.state_key.as_deref() == Some(""))
                .and_then(|e| serde_json::from_str::<Value>(&e.json).ok())
                .map(|v| v["content"].clone())
        };
        let text = |ty: &str, field: &str| content(ty).and_then(|c| c.get(field).cloned());
        let joined = state
            .iter()
            .filter(|e| e.event_type == "m.room.member" && e.membership.as_deref() == Some("join"))
            .count();
        let entry = json!({
            "room_id": id,
            "name": text("m.room.name", "name"),
            "topic": text("m.room.topic", "topic"),
            "canonical_alias": text("m.room.canonical_alias", "alias"),
            "avatar_url": text("m.room.avatar", "url"),
            "num_joined_members": joined,
            "world_readable": text("m.room.history_visibility", "history_visibility") == Some(json!("world_readable")),
            "guest_can_join": text("m.room.guest_access", "guest_access") == Some(json!("can_join")),
            "join_rule": text("m.room.join_rules", "join_rule"),
            "room_type": text("m.room.create", "type"),
        });
        let matches = term.is_none_or(|t| {
            let t = t.to_lowercase();
            ["name", "topic", "canonical_alias"].iter().any(|f| {
                entry[f]
                    .as_str()
                    .is_some_and(|v| v.to_lowercase().contains(&t))
            })
        });
        if matches {
            chunk.push(entry);
        }
    }
    let mut out = json!({ "chunk": chunk, "total_room_count_estimate": total });
    if offset + limit < total {
        out["next_batch"] = json!(format!("o{}", offset + limit));
    }
    if offset > 0 {
        out["prev_batch"] = json!(format!("o{}", (offset - limit).max(0)));
    }
    Ok(out)
}

fn local_only(s: &AppState, server: Option<&ruma::ServerName>) -> ApiResult<()> {
    match server {
        Some(server) if server != *s.accounts.server_name() => Err(ApiError::forbidden(
            "federated room directories are not available",
        )),
        _ => Ok(()),
    }
}

pub async fn get_public_rooms(
    State(s): State<AppState>,
    req: Ruma<get_public_rooms::v3::Request>,
) -> ApiResult<Json<Value>> {
    local_only(&s, req.body.server.as_deref())?;
    let limit = req
        .body
        .limit
        .map(|l| i64::try_from(u64::from(l)).unwrap_or(MAX_DIRECTORY_PAGE));
    Ok(Json(
        public_rooms(&s, req.body.since.as_deref(), limit, None).await?,
    ))
}

pub async fn get_public_rooms_filtered(
    State(s): State<AppState>,
    req: Ruma<get_public_rooms_filtered::v3::Request>,
) -> ApiResult<Json<Value>> {
    req.user()?;
    local_only(&s, req.body.server.as_deref())?;
    let limit = req
        .body
        .limit
        .map(|l| i64::try_from(u64::from(l)).unwrap_or(MAX_DIRECTORY_PAGE));
    let term = req.body.filter.generic_search_term.as_deref();
    Ok(Json(
        public_rooms(&s, req.body.since.as_deref(), limit, term).await?,
    ))
}

pub async fn search_users(
    State(s): State<AppState>,
    req: Ruma<search_users::v3::Request>,
) -> ApiResult<Json<Value>> {
    let me = req.user()?;
    let limit = i64::try_from(u64::from(req.body.limit))
        .unwrap_or(50)
        .clamp(1, 100);
    let scope = if s.config.user_directory_search_all {
        UserSearchScope::AllLocal
    } else {
        UserSearchScope::SharedRooms
    };
    let found = s
        .store
        .search_users(me.user_id.as_str(), &req.body.search_term, scope, limit + 1)
        .await?;
    let limited = found.len() as i64 > limit;
    let results: Vec<Value> = found
        .iter()
        .take(limit as usize)
        .map(|u| json!({ "user_id": u.user_id, "display_name": u.displayname, "avatar_url": u.avatar_url }))
        .collect();
    Ok(Json(json!({ "results": results, "limited": limited })))
}
