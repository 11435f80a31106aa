//! Paged reads of a room's timeline (`/messages`, `/context`), within what
//! the user may read and through the visibility gate.

use missive_core::filter::event_matches;
use missive_store::{EventStore, StoredEvent, StreamPos, TimelineDirection};
use ruma::{
    EventId, RoomId, UInt, UserId,
    api::{
        Direction,
        client::filter::{LazyLoadOptions, RoomEventFilter},
    },
};
use serde_json::Value;

use super::{ReadScope, Reader, Visible};
use crate::{
    error::{ApiError, ApiResult},
    services::sync::{make_token, parse_token},
};

/// The most events one /messages or /context call returns.
const MAX_PAGE: i64 = 1000;

/// What a `/messages` call asks for.
pub struct MessagesQuery<'a> {
    pub from: Option<&'a str>,
    pub to: Option<&'a str>,
    pub dir: Direction,
    pub limit: UInt,
    pub filter: &'a RoomEventFilter,
}

/// A page of a room's timeline.
pub struct Messages {
    pub start: String,
    /// Where the next page starts, when there may be one.
    pub end: Option<String>,
    /// The events in the client format (with this device's transaction IDs).
    pub chunk: Vec<Value>,
    /// With lazy loading, the member events of the chunk's senders.
    pub state: Vec<Visible>,
}

/// An event with the events around it.
pub struct Context {
    pub event: Visible,
    pub before: Vec<Visible>,
    pub after: Vec<Visible>,
    pub start: String,
    pub end: String,
    /// The room state at the event.
    pub state: Vec<Visible>,
}

fn page_limit(limit: UInt) -> i64 {
    i64::try_from(u64::from(limit))
        .unwrap_or(MAX_PAGE)
        .clamp(1, MAX_PAGE)
}

/// The highest stream position the user may read in the room.
fn scope_cap(scope: &ReadScope) -> StreamPos {
    match scope {
        ReadScope::Current => StreamPos::END,
        ReadScope::UpTo(pos) => *pos,
    }
}

fn matching<'a>(
    events: &'a [Visible],
    filter: &RoomEventFilter,
    room_id: &RoomId,
) -> Vec<&'a Visible> {
    events
        .iter()
        .filter(|e| event_matches(filter, &e.event_type, &e.sender, room_id.as_str()))
        .collect()
}

impl Reader {
    /// A page of the room's timeline from `query.from` in `query.dir`.
    pub async fn messages(
        &self,
        room_id: &RoomId,
        user: &UserId,
        device_id: &str,
        query: MessagesQuery<'_>,
    ) -> ApiResult<Messages> {
        let cap = scope_cap(&self.read_scope(room_id, user).await?);
        let limit = page_limit(query.limit);
        let to = query.to.map(parse_token).transpose()?;
        let from_token = query.from.map(parse_token).transpose()?;
        let (from, events) = match query.dir {
            Direction::Backward => {
                let from = match from_token {
                    Some(from) => from,
                    None => self.store.current_position().await?,
                }
                .min(cap);
                let events = self
                    .store
                    .room_events(room_id, from.next(), to, TimelineDirection::Backward, limit)
                    .await?;
                (from, events)
            }
            Direction::Forward => {
                let from = from_token.unwrap_or(StreamPos::ZERO);
                let upper = to.unwrap_or(StreamPos::END).min(cap);
                let events = self
                    .store
                    .room_events(
                        room_id,
                        from,
                        Some(upper),
                        TimelineDirection::Forward,
                        limit,
                    )
                    .await?;
                (from, events)
            }
        };
        let end = (events.len() as i64 == limit).then(|| {
            let last = events.last().map_or(from, |e| e.stream_ordering);
            make_token(if query.dir == Direction::Backward {
                last.prev()
            } else {
                last
            })
        });
        let visible = self.filter_visible(room_id, user, events).await?;
        let chunk = matching(&visible, query.filter, room_id);
        let state = self.lazy_members(room_id, query.filter, &chunk).await?;
        Ok(Messages {
            start: make_token(from),
            end,
            chunk: self.serve_timeline(&chunk, user, device_id).await?,
            state,
        })
    }

    /// With lazy-loading filters: the member events of the senders shown,
    /// as they were at the chunk's first event (as Synapse serves them),
    /// never later: a former member must not see profile changes made
    /// after they left.
    async fn lazy_members(
        &self,
        room_id: &RoomId,
        filter: &RoomEventFilter,
        events: &[&Visible],
    ) -> ApiResult<Vec<Visible>> {
        if matches!(filter.lazy_load_options, LazyLoadOptions::Disabled) {
            return Ok(Vec::new());
        }
        let Some(first) = events.first() else {
            return Ok(Vec::new());
        };
        let mut senders: Vec<&str> = events.iter().map(|e| e.sender.as_str()).collect();
        senders.sort();
        senders.dedup();
        self.members_at(room_id, &senders, first.stream_ordering)
            .await
    }

    /// The event `event_id` with up to `limit` events around it, and the
    /// room state at it.
    pub async fn context(
        &self,
        room_id: &RoomId,
        user: &UserId,
        event_id: &EventId,
        limit: UInt,
        filter: &RoomEventFilter,
    ) -> ApiResult<Context> {
        let cap = scope_cap(&self.read_scope(room_id, user).await?);
        let room = room_id.as_str();
        let event = self
            .store
            .event(event_id)
            .await?
            .filter(|e| e.room_id == room && e.stream_ordering <= cap)
            .ok_or_else(|| ApiError::not_found("event not found"))?;
        let pos = event.stream_ordering;
        let event = self
            .filter_visible(room_id, user, vec![event])
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| ApiError::not_found("event not found"))?;
        // `limit=0` asks for the event alone (the page limit's floor of one
        // is for /messages).
        let limit = if limit == UInt::MIN {
            0
        } else {
            page_limit(limit)
        };
        let before_n = limit / 2;
        let after_n = limit - before_n;
        let before = self
            .store
            .room_events(room_id, pos, None, TimelineDirection::Backward, before_n)
            .await?;
        let after = self
            .store
            .room_events(room_id, pos, Some(cap), TimelineDirection::Forward, after_n)
            .await?;
        let start = make_token(
            before
                .last()
                .map_or(pos.prev(), |e| e.stream_ordering.prev()),
        );
        let end = make_token(after.last().map_or(pos, |e| e.stream_ordering));
        let keep = |events: Vec<Visible>| -> Vec<Visible> {
            events
                .into_iter()
                .filter(|e| event_matches(filter, &e.event_type, &e.sender, room))
                .collect()
        };
        let before = keep(self.filter_visible(room_id, user, before).await?);
        let after = keep(self.filter_visible(room_id, user, after).await?);
        // The state at an event the user may see.
        let state: Vec<StoredEvent> = self.state_at(room_id, pos).await?;
        Ok(Context {
            event,
            before,
            after,
            start,
            end,
            state: Visible::all_checked(state),
        })
    }
}
