//! Turning the visible hits of a search into its answer: the results with
//! their rank, the events around each (`event_context`, with the senders'
//! profiles as they were), the highlights, the groups by room and sender,
//! and the rooms' state (`include_state`).

use std::collections::{BTreeMap, BTreeSet};

use missive_core::search;
use missive_store::{EventStore, SearchFrom, StoredEvent, TimelineDirection};
use ruma::{
    OwnedMxcUri, OwnedRoomId, OwnedUserId, RoomId, UInt, UserId,
    api::client::search::search_events::v3::{
        Criteria, EventContext, EventContextResult, GroupingKey, ResultGroup, ResultGroupMap,
        ResultRoomEvents, SearchResult, UserProfile,
    },
};
use serde_json::Value;

use super::{Search, batch::Batch};
use crate::{
    error::{ApiError, ApiResult},
    services::{
        reader::{Visible, gate},
        sync::make_token,
    },
};

/// Most events before or after each result.
const MAX_CONTEXT: u64 = 100;

/// The content of a stored event.
fn content(event: &StoredEvent) -> Value {
    serde_json::from_str::<Value>(&event.json)
        .ok()
        .and_then(|mut v| v.get_mut("content").map(Value::take))
        .unwrap_or(Value::Null)
}

fn room_of(event: &StoredEvent) -> ApiResult<OwnedRoomId> {
    OwnedRoomId::try_from(event.room_id.as_str())
        .map_err(|e| ApiError::Internal(format!("stored room ID invalid: {e}")))
}

/// The query's words, and the words of the results it matched in another
/// form (`mangeons` for `manger`), for the client to highlight.
pub(super) fn highlights(
    search_term: &str,
    groups: &[Vec<String>],
    hits: &[(Visible, f64)],
) -> Vec<String> {
    let mut words: BTreeSet<String> = search::query_words(search_term);
    for (event, _) in hits {
        let content = content(event);
        if let Some(text) = search::searchable_text(&event.event_type, &content) {
            words.extend(search::matched_words(text, groups));
        }
    }
    words.into_iter().collect()
}

/// Fills `out` with the results and what the request asked along.
pub(super) async fn fill(
    search: &Search,
    user: &UserId,
    criteria: &Criteria,
    with_context: bool,
    hits: Vec<(Visible, f64)>,
    next: Option<SearchFrom>,
    out: &mut ResultRoomEvents,
) -> ApiResult<()> {
    let mut by_room: BTreeMap<OwnedRoomId, ResultGroup> = BTreeMap::new();
    let mut by_sender: BTreeMap<OwnedUserId, ResultGroup> = BTreeMap::new();
    for (at, (event, rank)) in hits.iter().enumerate() {
        let mut result = SearchResult::new();
        result.rank = Some(*rank);
        result.result = Some(event.to_raw()?);
        if with_context {
            result.context = context(search, user, event, &criteria.event_context).await?;
        }
        out.results.push(result);

        // Groups are ordered by their best result's place.
        let order = UInt::try_from(at as u64 + 1).ok();
        let event_id = ruma::OwnedEventId::try_from(event.event_id.as_str())
            .map_err(|e| ApiError::Internal(format!("stored event ID invalid: {e}")))?;
        let room = by_room.entry(room_of(event)?).or_insert_with(|| {
            let mut g = ResultGroup::new();
            g.order = order;
            g
        });
        room.results.push(event_id.clone());
        if let Ok(sender) = OwnedUserId::try_from(event.sender.as_str()) {
            let group = by_sender.entry(sender).or_insert_with(|| {
                let mut g = ResultGroup::new();
                g.order = order;
                g
            });
            group.results.push(event_id);
        }
    }
    // As Synapse: each room group of a page in recent order gets a token
    // that goes on in that room (an offset into rank order would not).
    if let Some(from @ SearchFrom::Before(_)) = next {
        for (room, group) in by_room.iter_mut() {
            group.next_batch = Some(
                Batch {
                    from,
                    room: Some(room.clone()),
                }
                .to_string(),
            );
        }
    }
    for grouping in &criteria.groupings.group_by {
        match &grouping.key {
            Some(GroupingKey::RoomId) => {
                out.groups
                    .insert(ResultGroupMap::RoomId(std::mem::take(&mut by_room)));
            }
            Some(GroupingKey::Sender) => {
                out.groups
                    .insert(ResultGroupMap::Sender(std::mem::take(&mut by_sender)));
            }
            _ => {}
        }
    }

    if criteria.include_state == Some(true) {
        let rooms: BTreeSet<OwnedRoomId> = hits
            .iter()
            .map(|(e, _)| room_of(e))
            .collect::<ApiResult<_>>()?;
        for room in rooms {
            let state = search.reader.state(&room, user).await?;
            let raws = state
                .iter()
                .map(Visible::to_raw)
                .collect::<ApiResult<_>>()?;
            out.state.insert(room, raws);
        }
    }
    Ok(())
}

fn context_limit(limit: UInt) -> i64 {
    u64::from(limit).min(MAX_CONTEXT) as i64
}

/// The events around a result that the user may see, as `/context` gives
/// them (newest first before it, oldest first after it), and with
/// `include_profile` the senders' profiles at the last of them.
async fn context(
    search: &Search,
    user: &UserId,
    event: &Visible,
    limits: &EventContext,
) -> ApiResult<EventContextResult> {
    let room = room_of(event)?;
    let pos = event.stream_ordering;
    let (before_n, after_n) = (
        context_limit(limits.before_limit),
        context_limit(limits.after_limit),
    );
    let before = if before_n > 0 {
        search
            .store
            .room_events(&room, pos, None, TimelineDirection::Backward, before_n)
            .await?
    } else {
        Vec::new()
    };
    let after = if after_n > 0 {
        search
            .store
            .room_events(&room, pos, None, TimelineDirection::Forward, after_n)
            .await?
    } else {
        Vec::new()
    };
    let start = make_token(
        before
            .last()
            .map_or(pos.prev(), |e| e.stream_ordering.prev()),
    );
    let end = make_token(after.last().map_or(pos, |e| e.stream_ordering));
    let history = search.reader.history(&room, user).await?;
    let before = gate(&history, before);
    let after = gate(&history, after);

    let mut out = EventContextResult::new();
    out.start = Some(start);
    out.end = Some(end);
    out.events_before = before
        .iter()
        .map(Visible::to_raw)
        .collect::<ApiResult<_>>()?;
    out.events_after = after
        .iter()
        .map(Visible::to_raw)
        .collect::<ApiResult<_>>()?;
    if limits.include_profile {
        out.profile_info = profiles(search, &room, event, &before, &after).await?;
    }
    Ok(out)
}

/// The display names and avatars of the senders of a result and its
/// context, as of the last event shown (Synapse's choice), never later.
async fn profiles(
    search: &Search,
    room: &RoomId,
    event: &Visible,
    before: &[Visible],
    after: &[Visible],
) -> ApiResult<BTreeMap<OwnedUserId, UserProfile>> {
    let senders: BTreeSet<&str> = before
        .iter()
        .chain(std::iter::once(event))
        .chain(after)
        .map(|e| e.sender.as_str())
        .collect();
    let senders: Vec<&str> = senders.into_iter().collect();
    let at = after.last().unwrap_or(event).stream_ordering;
    let members = search.reader.members_at(room, &senders, at).await?;
    let mut out = BTreeMap::new();
    for member in members {
        let Some(user) = member
            .state_key
            .as_deref()
            .and_then(|k| OwnedUserId::try_from(k).ok())
        else {
            continue;
        };
        let content = content(&member);
        let mut profile = UserProfile::new();
        profile.displayname = content
            .get("displayname")
            .and_then(Value::as_str)
            .map(str::to_owned);
        profile.avatar_url = content
            .get("avatar_url")
            .and_then(Value::as_str)
            .map(OwnedMxcUri::from);
        out.insert(user, profile);
    }
    Ok(out)
}
