//! The public room directory: published rooms, a page at a time, each
//! summarised from its current state.

use missive_store::{EventStore, StoredEvent};
use ruma::{
    OwnedRoomAliasId, OwnedRoomId, ServerName, UInt,
    directory::PublicRoomsChunk,
    room::{JoinRuleKind, RoomType},
};
use serde_json::Value;

use super::Directory;
use crate::{
    error::{ApiError, ApiResult},
    services::reader::serve_event,
};

/// Most rooms in one page of the public directory.
const MAX_DIRECTORY_PAGE: i64 = 500;

/// Rooms in one page when the client does not say.
const DEFAULT_DIRECTORY_PAGE: i64 = 100;

/// One page of the public room directory.
pub struct PublicRoomsPage {
    pub chunk: Vec<PublicRoomsChunk>,
    pub next_batch: Option<String>,
    pub prev_batch: Option<String>,
    pub total: UInt,
}

impl Directory {
    /// One page of published rooms from `since` (a token of an earlier
    /// page), those whose name, topic or alias contain `term` if given.
    /// Only this server's directory exists (`server`, if given, must be
    /// this one).
    pub async fn public_rooms(
        &self,
        server: Option<&ServerName>,
        since: Option<&str>,
        limit: Option<UInt>,
        term: Option<&str>,
    ) -> ApiResult<PublicRoomsPage> {
        if let Some(server) = server.filter(|s| *s != self.server_name) {
            return self.remote_public_rooms(server, since, limit, term).await;
        }
        let offset = since
            .and_then(|t| t.strip_prefix('o'))
            .and_then(|n| n.parse::<i64>().ok())
            .unwrap_or(0)
            .max(0);
        let limit = limit
            .map(|l| i64::try_from(u64::from(l)).unwrap_or(MAX_DIRECTORY_PAGE))
            .unwrap_or(DEFAULT_DIRECTORY_PAGE)
            .clamp(1, MAX_DIRECTORY_PAGE);
        let total = self.store.count_published_rooms().await?;
        let ids = self.store.published_rooms(offset, limit).await?;
        let term = term.map(str::to_lowercase);
        let mut chunk = Vec::new();
        for id in ids {
            let Ok(room_id) = OwnedRoomId::try_from(id) else {
                continue;
            };
            let state = self.store.current_state_events(&room_id).await?;
            let entry = summarise(room_id, &state);
            let matches = term.as_deref().is_none_or(|t| {
                [
                    entry.name.as_deref(),
                    entry.topic.as_deref(),
                    entry.canonical_alias.as_ref().map(|a| a.as_str()),
                ]
                .into_iter()
                .flatten()
                .any(|v| v.to_lowercase().contains(t))
            });
            if matches {
                chunk.push(entry);
            }
        }
        Ok(PublicRoomsPage {
            chunk,
            next_batch: (offset + limit < total).then(|| format!("o{}", offset + limit)),
            prev_batch: (offset > 0).then(|| format!("o{}", (offset - limit).max(0))),
            total: UInt::try_from(total).unwrap_or_default(),
        })
    }
}

/// A room's directory entry, from its current state.
fn summarise(room_id: OwnedRoomId, state: &[StoredEvent]) -> PublicRoomsChunk {
    let content = |ty: &str| {
        state
            .iter()
            .find(|e| e.event_type == ty && e.state_key.as_deref() == Some(""))
            .map(|e| serve_event(e)["content"].clone())
    };
    let text = |ty: &str, field: &str| {
        content(ty).and_then(|c| c.get(field).and_then(Value::as_str).map(str::to_owned))
    };
    let joined = state
        .iter()
        .filter(|e| e.event_type == "m.room.member" && e.membership.as_deref() == Some("join"))
        .count();
    let mut entry = PublicRoomsChunk::from(ruma::directory::PublicRoomsChunkInit {
        num_joined_members: UInt::try_from(joined).unwrap_or_default(),
        room_id,
        world_readable: text("m.room.history_visibility", "history_visibility").as_deref()
            == Some("world_readable"),
        guest_can_join: text("m.room.guest_access", "guest_access").as_deref() == Some("can_join"),
    });
    entry.name = text("m.room.name", "name");
    entry.topic = text("m.room.topic", "topic");
    entry.canonical_alias =
        text("m.room.canonical_alias", "alias").and_then(|a| OwnedRoomAliasId::try_from(a).ok());
    entry.avatar_url = text("m.room.avatar", "url").map(Into::into);
    // Without a join rules event a room is invite-only (the spec's
    // default), which the directory must not show as public.
    entry.join_rule = text("m.room.join_rules", "join_rule")
        .map_or(JoinRuleKind::Invite, |r| JoinRuleKind::from(r.as_str()));
    entry.room_type = text("m.room.create", "type").map(|t| RoomType::from(t.as_str()));
    entry
}

impl Directory {
    /// Another server's public room directory, asked of it over
    /// federation (`POST /_matrix/federation/v1/publicRooms`).
    async fn remote_public_rooms(
        &self,
        server: &ServerName,
        since: Option<&str>,
        limit: Option<UInt>,
        term: Option<&str>,
    ) -> ApiResult<PublicRoomsPage> {
        use ruma::api::federation::directory::get_public_rooms_filtered;
        let client = self
            .federation
            .client()
            .map_err(|_| ApiError::forbidden("other servers' room directories need federation"))?;
        let mut request = get_public_rooms_filtered::v1::Request::new();
        request.since = since.map(str::to_owned);
        request.limit = limit;
        request.filter.generic_search_term = term.map(str::to_owned);
        let answer = client.send(server, request).await?;
        Ok(PublicRoomsPage {
            chunk: answer.chunk,
            next_batch: answer.next_batch,
            prev_batch: answer.prev_batch,
            total: answer.total_room_count_estimate.unwrap_or_default(),
        })
    }
}
