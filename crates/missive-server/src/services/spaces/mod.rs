//! Spaces: `GET /rooms/{roomId}/hierarchy`, the rooms of a space and its
//! sub-spaces, breadth first, as the user may preview them.
//!
//! The walk is recomputed for each page (a page token is the number of
//! rooms already answered plus the request's parameters), so no walk state
//! is kept between requests; spaces are small, and a page is bounded.

pub mod summary;

use std::{
    collections::{HashSet, VecDeque},
    sync::Arc,
};

use missive_store::{EventStore, SqlStore};
use ruma::{
    OwnedRoomId, RoomId, UInt, UserId,
    api::client::space::{SpaceHierarchyRoomsChunk, get_hierarchy::v1 as hierarchy},
    events::space::child::HierarchySpaceChildEvent,
    room::RoomType,
    serde::Raw,
};
use serde_json::json;

use self::summary::RoomFacts;
use crate::{
    error::{ApiError, ApiResult},
    services::reader::serve_event,
};

/// Rooms in one page when the client does not say, and at most.
const MAX_PAGE: u64 = 50;

/// Children followed per space (Synapse's bound too): a space someone
/// filled with thousands of children costs a bounded walk.
const MAX_CHILDREN: usize = 50;

/// Rooms read per request, answered, skipped or refused: the walk is
/// recomputed for each page, so this also bounds how deep pages go.
const MAX_ROOMS_READ: usize = 1_000;

/// Reads space hierarchies. Cheap to clone.
#[derive(Clone)]
pub struct Spaces {
    store: Arc<SqlStore>,
}

/// What a hierarchy request asks for.
pub struct HierarchyQuery<'a> {
    pub root: &'a RoomId,
    pub from: Option<&'a str>,
    pub limit: Option<UInt>,
    pub max_depth: Option<UInt>,
    pub suggested_only: bool,
}

impl HierarchyQuery<'_> {
    /// A page token: the rooms answered so far, bound to the parameters
    /// that decide the walk (Synapse refuses a token used with others).
    fn token(&self, answered: usize) -> String {
        let depth = self.max_depth.map_or("-".to_owned(), |d| d.to_string());
        format!("{answered}_{}_{depth}", u8::from(self.suggested_only))
    }

    fn offset(&self) -> ApiResult<usize> {
        let Some(from) = self.from else {
            return Ok(0);
        };
        let bad = || ApiError::invalid_param("unknown pagination token");
        let (answered, rest) = from.split_once('_').ok_or_else(bad)?;
        let answered: usize = answered.parse().map_err(|_| bad())?;
        if self.token(answered) != from || rest.is_empty() {
            return Err(ApiError::invalid_param(
                "the pagination parameters differ from the first request's",
            ));
        }
        Ok(answered)
    }
}

impl Spaces {
    pub fn new(store: Arc<SqlStore>) -> Self {
        Self { store }
    }

    /// A page of the rooms under `query.root` (itself first), breadth
    /// first, children in the spec's order; rooms the user may not preview
    /// and rooms this server does not know (remote ones, until federation
    /// reads them) are left out with what lies under them.
    pub async fn hierarchy(
        &self,
        user: &UserId,
        query: HierarchyQuery<'_>,
    ) -> ApiResult<hierarchy::Response> {
        let limit = match query.limit.map(u64::from) {
            Some(0) => {
                return Err(ApiError::invalid_param("limit must be a positive integer"));
            }
            Some(n) => n.min(MAX_PAGE),
            None => MAX_PAGE,
        } as usize;
        let offset = query.offset()?;
        let root = RoomFacts::read(&self.store, query.root).await?;
        let root = match root {
            Some(facts) if facts.previewable_by(&self.store, user).await? => facts,
            _ => {
                return Err(ApiError::forbidden(format!(
                    "{user} is not in room {} and it cannot be previewed",
                    query.root
                )));
            }
        };
        let max_depth = query.max_depth.map(u64::from);
        let mut queue: VecDeque<(OwnedRoomId, u64)> = VecDeque::new();
        let mut seen: HashSet<OwnedRoomId> = HashSet::new();
        let mut skipped = 0;
        let mut read = 1;
        let mut rooms = Vec::new();
        let mut next = Some((root, 0u64));
        while let Some((facts, depth)) = next.take() {
            seen.insert(facts.room_id.clone());
            let children = self.children(&facts, query.suggested_only).await?;
            if max_depth.is_none_or(|max| depth < max) {
                queue.extend(children.iter().map(|c| (c.state_key.clone(), depth + 1)));
            }
            if skipped < offset {
                skipped += 1;
            } else {
                rooms.push(chunk(&facts, &children)?);
                if rooms.len() == limit {
                    break;
                }
            }
            next = self.next_room(user, &mut queue, &seen, &mut read).await?;
        }
        let mut response = hierarchy::Response::new();
        response.rooms = rooms;
        if rooms_left(&queue, &seen) && response.rooms.len() == limit {
            response.next_batch = Some(query.token(offset + limit));
        }
        Ok(response)
    }

    /// The next room of the queue the user may preview.
    async fn next_room(
        &self,
        user: &UserId,
        queue: &mut VecDeque<(OwnedRoomId, u64)>,
        seen: &HashSet<OwnedRoomId>,
        read: &mut usize,
    ) -> ApiResult<Option<(RoomFacts, u64)>> {
        while let Some((room_id, depth)) = queue.pop_front() {
            if seen.contains(&room_id) {
                continue;
            }
            if *read >= MAX_ROOMS_READ {
                queue.clear();
                return Ok(None);
            }
            *read += 1;
            if let Some(facts) = RoomFacts::read(&self.store, &room_id).await?
                && facts.previewable_by(&self.store, user).await?
            {
                return Ok(Some((facts, depth)));
            }
        }
        Ok(None)
    }

    /// A space's first children with a `via` (the others are no longer
    /// children), in the spec's order; none for a room that is no space.
    async fn children(
        &self,
        facts: &RoomFacts,
        suggested_only: bool,
    ) -> ApiResult<Vec<HierarchySpaceChildEvent>> {
        if facts.room_type() != Some(RoomType::Space) {
            return Ok(Vec::new());
        }
        let keys: Vec<(String, String)> = self
            .store
            .current_state(&facts.room_id)
            .await?
            .into_keys()
            .filter(|(ty, _)| ty == "m.space.child")
            .collect();
        let events = self
            .store
            .current_state_events_for(&facts.room_id, &keys)
            .await?;
        let mut children: Vec<HierarchySpaceChildEvent> = events
            .iter()
            .filter_map(|e| {
                let v = serve_event(e);
                let stripped = json!({
                    "type": v["type"], "state_key": v["state_key"], "content": v["content"],
                    "sender": v["sender"], "origin_server_ts": v["origin_server_ts"],
                });
                serde_json::from_value::<HierarchySpaceChildEvent>(stripped).ok()
            })
            .filter(|c| !c.content.via.is_empty())
            .filter(|c| !suggested_only || c.content.suggested)
            .collect();
        children.sort();
        children.truncate(MAX_CHILDREN);
        Ok(children)
    }
}

/// Whether the queue still holds a room not answered yet.
fn rooms_left(queue: &VecDeque<(OwnedRoomId, u64)>, seen: &HashSet<OwnedRoomId>) -> bool {
    queue.iter().any(|(room, _)| !seen.contains(room))
}

/// A room's entry: its summary and its children's stripped events.
fn chunk(
    facts: &RoomFacts,
    children: &[HierarchySpaceChildEvent],
) -> ApiResult<SpaceHierarchyRoomsChunk> {
    let children_state = children
        .iter()
        .map(|c| {
            let v = json!({
                "type": "m.space.child",
                "state_key": c.state_key,
                "content": c.content,
                "sender": c.sender,
                "origin_server_ts": c.origin_server_ts,
            });
            serde_json::value::to_raw_value(&v)
                .map(Raw::from_json)
                .map_err(|e| ApiError::Internal(e.to_string()))
        })
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(SpaceHierarchyRoomsChunk::new(
        facts.summary(),
        children_state,
    ))
}
