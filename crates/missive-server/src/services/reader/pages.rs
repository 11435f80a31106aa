//! Paged reads of a room's timeline (`/messages`, `/context`), within what
//! the user may read and through the visibility gate.

use missive_core::filter::event_matches;
use missive_core::visibility::RoomHistory;
use missive_store::{BackfillStore, EventStore, StoredEvent, StreamPos, TimelineDirection};
use ruma::{
    EventId, RoomId, UInt, UserId,
    api::{
        Direction,
        client::filter::{LazyLoadOptions, RoomEventFilter},
    },
};
use serde_json::Value;

use super::{EventFormat, Ignored, ReadScope, Reader, Visible, gate};
use crate::{
    error::{ApiError, ApiResult},
    services::sync::{make_token, parse_token},
};

/// The most events one /messages or /context call returns.
const MAX_PAGE: i64 = 1000;
/// The most events one call reads looking for events a filter matches.
const MAX_SCANNED: i64 = 5000;

/// Where and how to read a page (see [`Reader::matching_page`]).
pub(in crate::services) struct PageScan<'a> {
    /// Backward: read at or before this position; forward: after it.
    pub from: StreamPos,
    /// Backward: read after this position; forward: at or before it.
    pub bound: Option<StreamPos>,
    pub direction: TimelineDirection,
    pub limit: i64,
    pub filter: &'a RoomEventFilter,
    /// Whose messages the reader does not get.
    pub ignored: &'a Ignored,
}

/// A page of matching events, in reading order.
#[derive(Default)]
pub(in crate::services) struct Page {
    pub events: Vec<Visible>,
    /// The last event read (matching or not): the next page starts after it.
    pub last_scanned: Option<StreamPos>,
    /// How many events were read (matching or not).
    pub scanned: usize,
    /// Nothing is left to read in this direction.
    pub exhausted: bool,
}

/// Whether a filter may leave events out (so a page reads ahead).
pub(in crate::services) fn is_selective(filter: &RoomEventFilter) -> bool {
    filter.types.is_some()
        || !filter.not_types.is_empty()
        || filter.senders.is_some()
        || !filter.not_senders.is_empty()
}

/// What a `/messages` call asks for.
#[derive(Clone, Copy)]
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
    /// The page reached the oldest event this server holds of the room,
    /// which is not its creation: older history may be fetched from the
    /// servers in the room (`/backfill`) from this event.
    pub backfill_from: Option<String>,
}

/// A `/messages` token inside the history backfilled from other servers
/// (`b<n>`: below backfill position `-n`); stream tokens are `s<n>`.
fn backfill_token(position: i64) -> String {
    format!("b{}", -position)
}

fn parse_backfill_token(token: &str) -> Option<i64> {
    token
        .strip_prefix('b')
        .and_then(|n| n.parse::<i64>().ok())
        .filter(|n| *n >= 0)
        .map(|n| -n)
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
pub(super) fn scope_cap(scope: &ReadScope) -> StreamPos {
    match scope {
        ReadScope::Current => StreamPos::END,
        ReadScope::UpTo(pos) => *pos,
    }
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
        if query.dir == Direction::Backward
            && let Some(before) = query.from.and_then(parse_backfill_token)
        {
            let history = self.history(room_id, user).await?;
            let (events, end, backfill_from) = self
                .backfilled_page(room_id, &history, before, limit, query.filter)
                .await?;
            return self
                .messages_answer(room_id, user, device_id, &query, events, end, &history)
                .await
                .map(|mut m| {
                    m.start = backfill_token(before);
                    m.backfill_from = backfill_from;
                    m
                });
        }
        let to = query.to.map(parse_token).transpose()?;
        let from_token = query.from.map(parse_token).transpose()?;
        let (from, bound, direction) = match query.dir {
            Direction::Backward => {
                let from = match from_token {
                    Some(from) => from,
                    None => self.store.current_position().await?,
                }
                .min(cap);
                (from, to, TimelineDirection::Backward)
            }
            Direction::Forward => {
                let from = from_token.unwrap_or(StreamPos::ZERO);
                let upper = to.unwrap_or(StreamPos::END).min(cap);
                (from, Some(upper), TimelineDirection::Forward)
            }
        };
        let history = self.history(room_id, user).await?;
        let ignored = self.ignored(user).await?;
        let page = self
            .matching_page(
                room_id,
                &history,
                PageScan {
                    from,
                    bound,
                    direction,
                    limit,
                    filter: query.filter,
                    ignored: &ignored,
                },
            )
            .await?;
        // Forward, more may always come (the live edge moves on); backward,
        // until the room's first event, then into history backfilled from
        // other servers (a room joined over federation).
        let mut events = page.events;
        let mut backfill_from = None;
        let end = match query.dir {
            Direction::Forward => Some(make_token(page.last_scanned.unwrap_or(from))),
            // Up to a `to` token: never past it.
            Direction::Backward if to.is_some() => (!page.exhausted)
                .then(|| make_token(page.last_scanned.unwrap_or(from.next()).prev())),
            Direction::Backward if !page.exhausted => {
                Some(make_token(page.last_scanned.unwrap_or(from.next()).prev()))
            }
            Direction::Backward => {
                let room_limit = limit - events.len() as i64;
                let (older, end, from_event) = self
                    .backfilled_page(room_id, &history, 0, room_limit.max(1), query.filter)
                    .await?;
                if room_limit > 0 {
                    events.extend(older);
                    backfill_from = from_event;
                    end
                } else {
                    // The page is full: the next one starts the backfill.
                    (end.is_some() || from_event.is_some()).then(|| backfill_token(0))
                }
            }
        };
        let mut answer = self
            .messages_answer(room_id, user, device_id, &query, events, end, &history)
            .await?;
        answer.start = make_token(from);
        answer.backfill_from = backfill_from;
        Ok(answer)
    }

    /// The answer to `/messages` for `events`, in reading order.
    #[allow(clippy::too_many_arguments)]
    async fn messages_answer(
        &self,
        room_id: &RoomId,
        user: &UserId,
        device_id: &str,
        query: &MessagesQuery<'_>,
        mut events: Vec<Visible>,
        end: Option<String>,
        history: &RoomHistory,
    ) -> ApiResult<Messages> {
        self.bundle(user, &mut events, history).await?;
        let chunk: Vec<&Visible> = events.iter().collect();
        let state = self.lazy_members(room_id, query.filter, &chunk).await?;
        Ok(Messages {
            start: String::new(),
            end,
            chunk: self
                .serve_timeline(&chunk, user, device_id, EventFormat::Client)
                .await?,
            state,
            backfill_from: None,
        })
    }

    /// Up to `limit` events of the history backfilled from other servers
    /// below backfill position `before` (0: from the newest), newest first,
    /// that the filter matches and the user may see; the token of the next
    /// page if more is held here, and the event to backfill from when this
    /// server holds no older event of the room and it is not the room's
    /// creation.
    async fn backfilled_page(
        &self,
        room_id: &RoomId,
        history: &RoomHistory,
        before: i64,
        limit: i64,
        filter: &RoomEventFilter,
    ) -> ApiResult<(Vec<Visible>, Option<String>, Option<String>)> {
        // History from before this server joined: readable when the room
        // shares its history with members (the setting of its current
        // state; the events' own state is not held here).
        let visibility = self
            .store
            .current_state_events_for(
                room_id,
                &[("m.room.history_visibility".to_owned(), String::new())],
            )
            .await?
            .first()
            .and_then(|e| serde_json::from_str::<Value>(&e.json).ok())
            .map(|v| missive_core::visibility::HistoryVisibility::from_content(v.get("content")))
            .unwrap_or(missive_core::visibility::HistoryVisibility::Shared);
        let joined = history.memberships.iter().any(|(_, m)| m == "join");
        let readable = match visibility {
            missive_core::visibility::HistoryVisibility::WorldReadable => true,
            missive_core::visibility::HistoryVisibility::Shared => joined,
            _ => false,
        };
        if !readable {
            return Ok((Vec::new(), None, None));
        }
        let rows = self
            .store
            .backfilled(room_id.as_str(), before, limit)
            .await?;
        let full = rows.len() as i64 >= limit;
        let last = rows.last().map(|(pos, _)| *pos);
        let mut events = Vec::new();
        for (_, event) in rows {
            if event_matches(filter, &event.event_type, &event.sender, room_id.as_str()) {
                events.extend(gate(history, vec![event]));
            }
        }
        if full {
            return Ok((events, last.map(backfill_token), None));
        }
        // Nothing older held here: unless it is the room's creation, the
        // oldest event this server has is where a backfill starts.
        let oldest = match self.store.oldest_backfilled(room_id.as_str()).await? {
            Some(e) => Some(e),
            None => self
                .store
                .room_events(
                    room_id,
                    StreamPos::ZERO,
                    None,
                    TimelineDirection::Forward,
                    1,
                )
                .await?
                .pop(),
        };
        let from = oldest
            .filter(|e| e.event_type != "m.room.create")
            .map(|e| e.event_id);
        let end = from
            .as_ref()
            .map(|_| backfill_token(last.unwrap_or(before)));
        Ok((events, end, from))
    }

    /// Up to `scan.limit` events the user may see that match the filter,
    /// read page by page from `scan.from`: a filter selects before the
    /// limit, so a type filter finds its events behind any number of
    /// others (up to [`MAX_SCANNED`] per call, after which the answer's
    /// token lets the client go on).
    pub(in crate::services) async fn matching_page(
        &self,
        room_id: &RoomId,
        history: &RoomHistory,
        scan: PageScan<'_>,
    ) -> ApiResult<Page> {
        let mut page = Page::default();
        let mut cursor = match scan.direction {
            TimelineDirection::Backward => scan.from.next(),
            TimelineDirection::Forward => scan.from,
        };
        let mut scanned = 0;
        // Unfiltered pages need one read; filtered ones read more at once.
        let filtered = is_selective(scan.filter);
        let batch = if filtered {
            (scan.limit * 4).clamp(50, 500)
        } else {
            scan.limit
        };
        let full = |page: &Page| page.events.len() >= scan.limit as usize;
        while !full(&page) {
            let events = self
                .store
                .room_events(room_id, cursor, scan.bound, scan.direction, batch)
                .await?;
            let read = events.len() as i64;
            let mut used = 0;
            for e in events {
                used += 1;
                let pos = e.stream_ordering;
                cursor = pos;
                scanned += 1;
                page.scanned += 1;
                page.last_scanned = Some(pos);
                if event_matches(scan.filter, &e.event_type, &e.sender, room_id.as_str())
                    && !scan.ignored.hides(&e)
                    && let Some(v) = gate(history, vec![e]).pop()
                {
                    page.events.push(v);
                    if full(&page) {
                        break;
                    }
                }
            }
            // A short read is the end, unless the page filled before it
            // used the whole read.
            if read < batch && used == read {
                page.exhausted = true;
                break;
            }
            if scanned >= MAX_SCANNED {
                break;
            }
        }
        Ok(page)
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
        let history = self.history(room_id, user).await?;
        let event = gate(&history, vec![event])
            .pop()
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
        let ignored = self.ignored(user).await?;
        let keep = |events: Vec<Visible>| -> Vec<Visible> {
            events
                .into_iter()
                .filter(|e| event_matches(filter, &e.event_type, &e.sender, room))
                .filter(|e| !ignored.hides(e))
                .collect()
        };
        let before = keep(gate(&history, before));
        let after = keep(gate(&history, after));
        // One read bundles the aggregations of all three.
        let before_len = before.len();
        let mut all: Vec<Visible> = before.into_iter().chain(after).collect();
        all.push(event);
        self.bundle(user, &mut all, &history).await?;
        let event = all
            .pop()
            .ok_or_else(|| ApiError::Internal("the context event went missing".into()))?;
        let after = all.split_off(before_len);
        let before = all;
        // The state at an event the user may see; with lazy loading, of
        // the members only those who sent the events returned.
        let mut state: Vec<StoredEvent> = self.state_at(room_id, pos).await?;
        if !matches!(filter.lazy_load_options, LazyLoadOptions::Disabled) {
            let senders: Vec<&str> = before
                .iter()
                .chain(&after)
                .chain(std::iter::once(&event))
                .map(|e| e.sender.as_str())
                .collect();
            state.retain(|e| {
                e.event_type != "m.room.member"
                    || e.state_key
                        .as_deref()
                        .is_some_and(|key| senders.contains(&key))
            });
        }
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
