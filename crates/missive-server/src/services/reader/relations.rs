//! Relations as a reader sees them: `/relations` and `/threads` pages, and
//! the bundled aggregations (`unsigned["m.relations"]`) of served events,
//! read in one query per served batch. Every event they mention passes the
//! same history gate as the events they are bundled into.

use std::collections::HashMap;

use missive_core::visibility::RoomHistory;
use missive_store::{
    MAX_RELATION_DEPTH, RelationAggregate, RelationQuery, RelationStore, StoredEvent, StreamPos,
    TimelineDirection,
};
use ruma::{
    EventId, OwnedEventId, RoomId, UInt, UserId,
    api::Direction,
    events::{
        AnySyncMessageLikeEvent,
        relation::{BundledMessageLikeRelations, BundledReference, BundledThread, ReferenceChunk},
    },
    serde::Raw,
};
use serde_json::Value;

use super::{EventFormat, Reader, Visible, gate, pages::scope_cap};
use crate::{
    error::{ApiError, ApiResult},
    services::{
        reader::to_raw,
        sync::{make_token, parse_token},
    },
};

/// Events per page when the client gives no limit (Synapse's default).
const DEFAULT_LIMIT: i64 = 5;
/// The most events one page returns.
const MAX_LIMIT: i64 = 1000;

/// What a `/relations` call asks for.
pub struct RelationsQuery<'a> {
    pub parent: &'a EventId,
    pub rel_type: Option<&'a str>,
    pub event_type: Option<&'a str>,
    pub from: Option<&'a str>,
    pub to: Option<&'a str>,
    pub dir: Direction,
    pub limit: Option<UInt>,
    pub recurse: bool,
}

/// A page of events relating to one event.
pub struct Relations {
    /// In the client format, in the order asked for.
    pub chunk: Vec<Value>,
    pub next_batch: Option<String>,
    pub prev_batch: Option<String>,
    /// How deep the server followed relations, when asked to recurse.
    pub recursion_depth: Option<UInt>,
}

/// A page of a room's threads.
pub struct Threads {
    /// The thread roots in the client format, latest activity first.
    pub chunk: Vec<Value>,
    pub next_batch: Option<String>,
}

fn page_limit(limit: Option<UInt>) -> i64 {
    limit.map_or(DEFAULT_LIMIT, |l| {
        i64::try_from(u64::from(l))
            .unwrap_or(MAX_LIMIT)
            .clamp(1, MAX_LIMIT)
    })
}

impl Reader {
    /// A page of the events relating to `query.parent` that the user may
    /// see; `M_NOT_FOUND` when the parent is hidden from them.
    pub async fn relations(
        &self,
        room_id: &RoomId,
        user: &UserId,
        device_id: &str,
        query: RelationsQuery<'_>,
    ) -> ApiResult<Relations> {
        let cap = scope_cap(&self.read_scope(room_id, user).await?);
        self.visible_event(room_id, user, query.parent).await?;
        let limit = page_limit(query.limit);
        let from = query.from.map(parse_token).transpose()?;
        let to = query.to.map(parse_token).transpose()?;
        let (from, bound, direction) = match query.dir {
            Direction::Backward => (
                from.unwrap_or(StreamPos::END).min(cap),
                to,
                TimelineDirection::Backward,
            ),
            Direction::Forward => (
                from.unwrap_or(StreamPos::ZERO),
                Some(to.unwrap_or(StreamPos::END).min(cap)),
                TimelineDirection::Forward,
            ),
        };
        // One more than asked tells whether a next page exists.
        let mut events = self
            .store
            .relations(RelationQuery {
                room_id,
                parent: query.parent,
                rel_type: query.rel_type,
                event_type: query.event_type,
                from,
                bound,
                direction,
                limit: limit + 1,
                recurse: query.recurse,
            })
            .await?;
        let more = events.len() as i64 > limit;
        events.truncate(usize::try_from(limit).unwrap_or_default());
        let next_batch = match (more, events.last()) {
            (true, Some(last)) => Some(make_token(match direction {
                TimelineDirection::Backward => last.stream_ordering.prev(),
                TimelineDirection::Forward => last.stream_ordering,
            })),
            _ => None,
        };
        let history = self.history(room_id, user).await?;
        let ignored = self.ignored(user).await?;
        let mut visible = gate(&history, events);
        visible.retain(|e| !ignored.hides(e));
        self.bundle(user, &mut visible, &history).await?;
        let chunk: Vec<&Visible> = visible.iter().collect();
        Ok(Relations {
            chunk: self
                .serve_timeline(&chunk, user, device_id, EventFormat::Client)
                .await?,
            next_batch,
            prev_batch: query.from.map(str::to_owned),
            recursion_depth: query.recurse.then(|| UInt::from(MAX_RELATION_DEPTH as u32)),
        })
    }

    /// A page of the room's thread roots the user may see, latest activity
    /// first (with `participated`, only threads they started or replied in).
    pub async fn threads(
        &self,
        room_id: &RoomId,
        user: &UserId,
        participated: bool,
        from: Option<&str>,
        limit: Option<UInt>,
    ) -> ApiResult<Threads> {
        self.read_scope(room_id, user).await?;
        let limit = page_limit(limit);
        let before = from.map(parse_token).transpose()?.unwrap_or(StreamPos::END);
        let mut threads = self
            .store
            .threads(room_id, participated.then_some(user), before, limit + 1)
            .await?;
        let more = threads.len() as i64 > limit;
        threads.truncate(usize::try_from(limit).unwrap_or_default());
        let next_batch = more
            .then(|| threads.last().map(|t| make_token(t.latest_pos.prev())))
            .flatten();
        let history = self.history(room_id, user).await?;
        let ignored = self.ignored(user).await?;
        let mut roots = gate(&history, threads.into_iter().map(|t| t.root).collect());
        roots.retain(|e| !ignored.hides(e));
        self.bundle(user, &mut roots, &history).await?;
        Ok(Threads {
            chunk: roots.iter().map(Visible::to_client).collect(),
            next_batch,
        })
    }

    /// Bundles the aggregations of `events` (of one room, seen through
    /// `history`) into them: one read for the whole batch.
    pub(in crate::services) async fn bundle(
        &self,
        user: &UserId,
        events: &mut [Visible],
        history: &RoomHistory,
    ) -> ApiResult<()> {
        let parents: Vec<String> = events
            .iter()
            .filter(|e| may_have_aggregations(e))
            .map(|e| e.event_id.clone())
            .collect();
        if parents.is_empty() {
            return Ok(());
        }
        let aggregates = self.store.relation_aggregates(user, &parents).await?;
        apply_aggregates(user, events, &aggregates, history)
    }

    /// Whether `thread` is the root of a thread of the room.
    pub(in crate::services) async fn is_thread_root(
        &self,
        room_id: &RoomId,
        user: &UserId,
        thread: &EventId,
    ) -> ApiResult<bool> {
        let aggregates = self
            .store
            .relation_aggregates(user, &[thread.to_string()])
            .await?;
        Ok(aggregates
            .get(thread.as_str())
            .and_then(|a| a.thread.as_ref())
            .is_some_and(|t| t.latest.room_id == room_id.as_str()))
    }
}

/// Whether aggregations may be bundled into `event`: not into state
/// events (edits and annotations, which get none either, as in Synapse,
/// are told apart by their content once something relates to them).
fn may_have_aggregations(event: &StoredEvent) -> bool {
    event.state_key.is_none()
}

/// The relation type `event`'s content declares, if any.
fn own_rel_type(event: &StoredEvent) -> Option<String> {
    let v: Value = serde_json::from_str(&event.json).ok()?;
    v["content"]["m.relates_to"]["rel_type"]
        .as_str()
        .map(str::to_owned)
}

/// Bundles the aggregations read for a batch into its events (of one
/// room, seen through `history`). An aggregated event the reader may not
/// see is left out, as is a thread whose latest reply they may not see.
pub(in crate::services) fn apply_aggregates(
    user: &UserId,
    events: &mut [Visible],
    aggregates: &HashMap<String, RelationAggregate>,
    history: &RoomHistory,
) -> ApiResult<()> {
    let seen = |e: &StoredEvent| gate(history, vec![e.clone()]).pop();
    for event in events.iter_mut() {
        let Some(aggregate) = aggregates.get(&event.event_id) else {
            continue;
        };
        if !may_have_aggregations(event) {
            continue;
        }
        if matches!(
            own_rel_type(event).as_deref(),
            Some("m.replace" | "m.annotation")
        ) {
            continue;
        }
        let mut bundled = BundledMessageLikeRelations::<Raw<AnySyncMessageLikeEvent>>::new();
        if let Some(thread) = &aggregate.thread
            && thread.latest.room_id == event.room_id
            && let Some(latest) = seen(&thread.latest)
        {
            let participated = thread.replied || event.sender == user.as_str();
            let count = UInt::try_from(thread.count.max(0)).unwrap_or_default();
            bundled.thread = Some(Box::new(BundledThread::new(
                to_raw(&latest.to_client())?,
                count,
                participated,
            )));
        }
        // A redacted event keeps no edit.
        if event.redacted_by.is_none()
            && let Some(edit) = &aggregate.edit
            && let Some(edit) = seen(edit)
        {
            bundled.replace = Some(Box::new(to_raw(&edit.to_client())?));
        }
        let references: Vec<BundledReference> = aggregate
            .references
            .iter()
            .filter(|r| seen(r).is_some())
            .filter_map(|r| OwnedEventId::try_from(r.event_id.as_str()).ok())
            .map(BundledReference::new)
            .collect();
        if !references.is_empty() {
            bundled.reference = Some(Box::new(ReferenceChunk::new(references)));
        }
        if bundled.thread.is_some() || bundled.replace.is_some() || bundled.reference.is_some() {
            let value = serde_json::to_value(&bundled)
                .map_err(|e| ApiError::Internal(format!("cannot serialise relations: {e}")))?;
            event.set_relations(value);
        }
    }
    Ok(())
}
