//! Sending and reading room events and state.

use axum::{Json, extract::State};
use missive_core::{event_builder::EventTemplate, filter::event_matches};
use missive_store::{EventStore, StoredEvent, TimelineDirection};
use ruma::{
    RoomId,
    api::{
        Direction,
        client::{
            context::get_context,
            membership::{get_member_events, joined_members},
            message::{get_message_events, send_message_event},
            redact::redact_event,
            room::get_room_event,
            state::{get_state_event_for_key, get_state_events, send_state_event},
        },
    },
};
use serde_json::{Value, json};

use crate::{
    error::{ApiError, ApiResult},
    ruma_wrapper::Ruma,
    services::{
        reader::{ReadScope, serve_event},
        rooms::Txn,
        sync::{make_token, parse_token},
    },
    state::AppState,
};

/// The most events one /messages or /context call returns.
const MAX_PAGE: i64 = 1000;

fn content_of(raw: &serde_json::value::RawValue) -> ApiResult<Value> {
    let v: Value = serde_json::from_str(raw.get()).map_err(|e| ApiError::NotJson(e.to_string()))?;
    if !v.is_object() {
        return Err(ApiError::bad_json("event content must be a JSON object"));
    }
    Ok(v)
}

pub async fn send_message_event(
    State(s): State<AppState>,
    req: Ruma<send_message_event::v3::Request>,
) -> ApiResult<Json<Value>> {
    let me = req.user()?;
    s.limiter.check_send(me.user_id.as_str())?;
    let b = &req.body;
    let content = content_of(b.body.json())?;
    let template = EventTemplate::message(b.event_type.to_string().into(), content);
    let txn = Txn {
        device_id: me.device_id.as_str(),
        txn_id: b.txn_id.as_str(),
    };
    let event_id = s
        .rooms
        .send(&b.room_id, &me.user_id, template, Some(txn))
        .await?;
    Ok(Json(json!({ "event_id": event_id })))
}

pub async fn send_state_event(
    State(s): State<AppState>,
    req: Ruma<send_state_event::v3::Request>,
) -> ApiResult<Json<Value>> {
    let me = req.user()?;
    s.limiter.check_send(me.user_id.as_str())?;
    let b = &req.body;
    let content = content_of(b.body.json())?;
    let template = EventTemplate::state(b.event_type.clone(), b.state_key.clone(), content);
    let event_id = s
        .rooms
        .send(&b.room_id, &me.user_id, template, None)
        .await?;
    Ok(Json(json!({ "event_id": event_id })))
}

pub async fn redact_event(
    State(s): State<AppState>,
    req: Ruma<redact_event::v3::Request>,
) -> ApiResult<Json<Value>> {
    let me = req.user()?;
    s.limiter.check_send(me.user_id.as_str())?;
    let b = &req.body;
    let mut content = json!({});
    if let Some(reason) = &b.reason {
        content["reason"] = json!(reason);
    }
    let template = EventTemplate {
        event_type: ruma::events::TimelineEventType::RoomRedaction,
        state_key: None,
        content,
        redacts: Some(b.event_id.clone()),
    };
    let txn = Txn {
        device_id: me.device_id.as_str(),
        txn_id: b.txn_id.as_str(),
    };
    let event_id = s
        .rooms
        .send(&b.room_id, &me.user_id, template, Some(txn))
        .await?;
    Ok(Json(json!({ "event_id": event_id })))
}

pub async fn get_state_events(
    State(s): State<AppState>,
    req: Ruma<get_state_events::v3::Request>,
) -> ApiResult<Json<Value>> {
    let me = req.user()?;
    let state = s.reader.state(&req.body.room_id, &me.user_id).await?;
    Ok(Json(Value::Array(state.iter().map(serve_event).collect())))
}

pub async fn get_state_event_for_key(
    State(s): State<AppState>,
    req: Ruma<get_state_event_for_key::v3::Request>,
) -> ApiResult<Json<Value>> {
    let me = req.user()?;
    let b = &req.body;
    let ty = b.event_type.to_string();
    let state = s.reader.state(&b.room_id, &me.user_id).await?;
    let event = state
        .iter()
        .find(|e| e.event_type == ty && e.state_key.as_deref() == Some(b.state_key.as_str()))
        .ok_or_else(|| ApiError::not_found("state event not found"))?;
    let served = serve_event(event);
    let full = b.format == get_state_event_for_key::v3::StateEventFormat::Event;
    Ok(Json(if full {
        served
    } else {
        served["content"].clone()
    }))
}

pub async fn get_room_event(
    State(s): State<AppState>,
    req: Ruma<get_room_event::v3::Request>,
) -> ApiResult<Json<Value>> {
    let me = req.user()?;
    let b = &req.body;
    let event = s
        .store
        .event(b.event_id.as_str())
        .await?
        .filter(|e| e.room_id == b.room_id.as_str())
        .ok_or_else(|| ApiError::not_found("event not found"))?;
    s.reader.read_scope(&b.room_id, &me.user_id).await?;
    let visible = s
        .reader
        .filter_visible(&b.room_id, &me.user_id, vec![event])
        .await?;
    let event = visible
        .first()
        .ok_or_else(|| ApiError::not_found("event not found"))?;
    Ok(Json(serve_event(event)))
}

fn page_limit(limit: ruma::UInt) -> i64 {
    i64::try_from(u64::from(limit))
        .unwrap_or(MAX_PAGE)
        .clamp(1, MAX_PAGE)
}

/// The highest stream position the user may read in the room.
fn scope_cap(scope: &ReadScope) -> i64 {
    match scope {
        ReadScope::Current => i64::MAX,
        ReadScope::UpTo(pos) => *pos,
    }
}

pub async fn get_message_events(
    State(s): State<AppState>,
    req: Ruma<get_message_events::v3::Request>,
) -> ApiResult<Json<Value>> {
    let me = req.user()?;
    let b = &req.body;
    let scope = s.reader.read_scope(&b.room_id, &me.user_id).await?;
    let cap = scope_cap(&scope);
    let limit = page_limit(b.limit);
    let to = b.to.as_deref().map(parse_token).transpose()?;
    let current = s.store.current_position().await?;
    let (from, events) = match b.dir {
        Direction::Backward => {
            let from = b
                .from
                .as_deref()
                .map(parse_token)
                .transpose()?
                .unwrap_or(current)
                .min(cap);
            let events = s
                .store
                .room_events(
                    b.room_id.as_str(),
                    from + 1,
                    to,
                    TimelineDirection::Backward,
                    limit,
                )
                .await?;
            (from, events)
        }
        Direction::Forward => {
            let from = b.from.as_deref().map(parse_token).transpose()?.unwrap_or(0);
            let upper = to.unwrap_or(i64::MAX).min(cap);
            let events = s
                .store
                .room_events(
                    b.room_id.as_str(),
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
        let last = events.last().map(|e| e.stream_ordering).unwrap_or(from);
        make_token(if b.dir == Direction::Backward {
            last - 1
        } else {
            last
        })
    });
    let visible = s
        .reader
        .filter_visible(&b.room_id, &me.user_id, events)
        .await?;
    let chunk: Vec<&StoredEvent> = visible
        .iter()
        .filter(|e| event_matches(&b.filter, &e.event_type, &e.sender, b.room_id.as_str()))
        .collect();
    let state = lazy_members(&s, &b.room_id, &b.filter, &chunk).await?;
    let mut out = json!({
        "start": make_token(from),
        "chunk": s.reader.serve_timeline(&chunk, &me.user_id, me.device_id.as_str()).await?,
        "state": state,
    });
    if let Some(end) = end {
        out["end"] = json!(end);
    }
    Ok(Json(out))
}

/// With lazy-loading filters: the member events of the senders shown, as
/// they were at the chunk's first event (as Synapse serves them), never
/// later: a former member must not see profile changes made after they left.
async fn lazy_members(
    s: &AppState,
    room_id: &RoomId,
    filter: &ruma::api::client::filter::RoomEventFilter,
    events: &[&StoredEvent],
) -> ApiResult<Vec<Value>> {
    use ruma::api::client::filter::LazyLoadOptions;
    if matches!(filter.lazy_load_options, LazyLoadOptions::Disabled) {
        return Ok(Vec::new());
    }
    let Some(first) = events.first() else {
        return Ok(Vec::new());
    };
    let mut senders: Vec<&str> = events.iter().map(|e| e.sender.as_str()).collect();
    senders.sort();
    senders.dedup();
    let members = s
        .reader
        .members_at(room_id, &senders, first.stream_ordering)
        .await?;
    Ok(members.iter().map(serve_event).collect())
}

pub async fn get_context(
    State(s): State<AppState>,
    req: Ruma<get_context::v3::Request>,
) -> ApiResult<Json<Value>> {
    let me = req.user()?;
    let b = &req.body;
    let scope = s.reader.read_scope(&b.room_id, &me.user_id).await?;
    let cap = scope_cap(&scope);
    let event = s
        .store
        .event(b.event_id.as_str())
        .await?
        .filter(|e| e.room_id == b.room_id.as_str() && e.stream_ordering <= cap)
        .ok_or_else(|| ApiError::not_found("event not found"))?;
    let visible = s
        .reader
        .filter_visible(&b.room_id, &me.user_id, vec![event.clone()])
        .await?;
    if visible.is_empty() {
        return Err(ApiError::not_found("event not found"));
    }
    let limit = page_limit(b.limit);
    let before_n = limit / 2;
    let after_n = limit - before_n;
    let pos = event.stream_ordering;
    let room = b.room_id.as_str();
    let before = s
        .store
        .room_events(room, pos, None, TimelineDirection::Backward, before_n)
        .await?;
    let after = s
        .store
        .room_events(room, pos, Some(cap), TimelineDirection::Forward, after_n)
        .await?;
    let start = make_token(before.last().map_or(pos - 1, |e| e.stream_ordering - 1));
    let end = make_token(after.last().map_or(pos, |e| e.stream_ordering));
    let keep = |events: Vec<StoredEvent>| -> Vec<StoredEvent> {
        events
            .into_iter()
            .filter(|e| event_matches(&b.filter, &e.event_type, &e.sender, room))
            .collect()
    };
    let before = keep(
        s.reader
            .filter_visible(&b.room_id, &me.user_id, before)
            .await?,
    );
    let after = keep(
        s.reader
            .filter_visible(&b.room_id, &me.user_id, after)
            .await?,
    );
    let state = match s.store.event_state_group_at(room, pos).await? {
        Some(group) => {
            let ids: Vec<String> = s.store.state_at_group(group).await?.into_values().collect();
            s.store.events(&ids).await?
        }
        None => Vec::new(),
    };
    Ok(Json(json!({
        "event": serve_event(&event),
        "events_before": before.iter().map(serve_event).collect::<Vec<_>>(),
        "events_after": after.iter().map(serve_event).collect::<Vec<_>>(),
        "start": start,
        "end": end,
        "state": state.iter().map(serve_event).collect::<Vec<_>>(),
    })))
}

pub async fn get_member_events(
    State(s): State<AppState>,
    req: Ruma<get_member_events::v3::Request>,
) -> ApiResult<Json<Value>> {
    let me = req.user()?;
    let b = &req.body;
    let state = s.reader.state(&b.room_id, &me.user_id).await?;
    let want = b.membership.as_ref().map(|m| m.to_string());
    let not = b.not_membership.as_ref().map(|m| m.to_string());
    let chunk: Vec<Value> = state
        .iter()
        .filter(|e| e.event_type == "m.room.member")
        .filter(|e| {
            let m = e.membership.clone().unwrap_or_default();
            want.as_ref().is_none_or(|w| *w == m) && not.as_ref().is_none_or(|n| *n != m)
        })
        .map(serve_event)
        .collect();
    Ok(Json(json!({ "chunk": chunk })))
}

pub async fn joined_members(
    State(s): State<AppState>,
    req: Ruma<joined_members::v3::Request>,
) -> ApiResult<Json<Value>> {
    let me = req.user()?;
    let room = &req.body.room_id;
    s.reader.require_joined(room, &me.user_id).await?;
    let mut joined = serde_json::Map::new();
    for e in s.store.current_state_events(room.as_str()).await? {
        if e.event_type != "m.room.member" || e.membership.as_deref() != Some("join") {
            continue;
        }
        let content = serve_event(&e)["content"].clone();
        let user = e.state_key.clone().unwrap_or_default();
        joined.insert(
            user,
            json!({ "display_name": content.get("displayname"), "avatar_url": content.get("avatar_url") }),
        );
    }
    Ok(Json(json!({ "joined": joined })))
}
