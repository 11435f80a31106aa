//! Sending and reading room events and state. Reads come from the
//! [`Reader`] as [`Visible`] events only.

use std::collections::BTreeMap;

use axum::extract::State;
use missive_core::event_builder::EventTemplate;
use ruma::{
    OwnedUserId,
    api::client::{
        context::get_context,
        membership::{
            get_member_events,
            joined_members::{self, v3::RoomMember},
        },
        message::{get_message_events, send_message_event},
        redact::redact_event,
        room::{get_event_by_timestamp, get_room_event},
        state::{get_state_event_for_key, get_state_events, send_state_event},
    },
};
use serde_json::{Value, json};

use crate::{
    error::{ApiError, ApiResult},
    ruma_wrapper::{Ruma, RumaResponse},
    services::{
        federation::inbound::Inbound,
        rate_limit::Limiter,
        reader::{MessagesQuery, Reader, Visible, to_raw},
        rooms::{Rooms, Txn},
    },
};

fn content_of(raw: &serde_json::value::RawValue) -> ApiResult<Value> {
    let v: Value = serde_json::from_str(raw.get()).map_err(|e| ApiError::NotJson(e.to_string()))?;
    if !v.is_object() {
        return Err(ApiError::bad_json("event content must be a JSON object"));
    }
    Ok(v)
}

fn raws<T>(events: &[Visible]) -> ApiResult<Vec<ruma::serde::Raw<T>>> {
    events.iter().map(Visible::to_raw).collect()
}

pub async fn send_message_event(
    State(rooms): State<Rooms>,
    State(limiter): State<Limiter>,
    req: Ruma<send_message_event::v3::Request>,
) -> ApiResult<RumaResponse<send_message_event::v3::Response>> {
    let me = req.user()?;
    limiter.check_send(me.user_id.as_str())?;
    let b = &req.body;
    let content = content_of(b.body.json())?;
    let template = EventTemplate::message(b.event_type.to_string().into(), content);
    let txn = Txn {
        device_id: me.device_id.as_str(),
        txn_id: b.txn_id.as_str(),
    };
    let event_id = rooms
        .send(&b.room_id, &me.user_id, template, Some(txn))
        .await?;
    Ok(RumaResponse(send_message_event::v3::Response::new(
        event_id,
    )))
}

pub async fn send_state_event(
    State(rooms): State<Rooms>,
    State(limiter): State<Limiter>,
    req: Ruma<send_state_event::v3::Request>,
) -> ApiResult<RumaResponse<send_state_event::v3::Response>> {
    let me = req.user()?;
    limiter.check_send(me.user_id.as_str())?;
    let b = &req.body;
    let content = content_of(b.body.json())?;
    let template = EventTemplate::state(b.event_type.clone(), b.state_key.clone(), content);
    let event_id = rooms.send(&b.room_id, &me.user_id, template, None).await?;
    Ok(RumaResponse(send_state_event::v3::Response::new(event_id)))
}

pub async fn redact_event(
    State(rooms): State<Rooms>,
    State(limiter): State<Limiter>,
    req: Ruma<redact_event::v3::Request>,
) -> ApiResult<RumaResponse<redact_event::v3::Response>> {
    let me = req.user()?;
    limiter.check_send(me.user_id.as_str())?;
    let b = &req.body;
    let mut content = json!({});
    if let Some(reason) = &b.reason {
        content["reason"] = json!(reason);
    }
    let template = EventTemplate {
        redacts: Some(b.event_id.clone()),
        ..EventTemplate::message(ruma::events::TimelineEventType::RoomRedaction, content)
    };
    let txn = Txn {
        device_id: me.device_id.as_str(),
        txn_id: b.txn_id.as_str(),
    };
    let event_id = rooms
        .send(&b.room_id, &me.user_id, template, Some(txn))
        .await?;
    Ok(RumaResponse(redact_event::v3::Response::new(event_id)))
}

pub async fn get_state_events(
    State(reader): State<Reader>,
    req: Ruma<get_state_events::v3::Request>,
) -> ApiResult<RumaResponse<get_state_events::v3::Response>> {
    let me = req.user()?;
    let state = reader.state(&req.body.room_id, &me.user_id).await?;
    Ok(RumaResponse(get_state_events::v3::Response::new(raws(
        &state,
    )?)))
}

pub async fn get_state_event_for_key(
    State(reader): State<Reader>,
    req: Ruma<get_state_event_for_key::v3::Request>,
) -> ApiResult<RumaResponse<get_state_event_for_key::v3::Response>> {
    let me = req.user()?;
    let b = &req.body;
    let ty = b.event_type.to_string();
    let state = reader.state(&b.room_id, &me.user_id).await?;
    let event = state
        .iter()
        .find(|e| e.event_type == ty && e.state_key.as_deref() == Some(b.state_key.as_str()))
        .ok_or_else(|| ApiError::not_found("state event not found"))?;
    let served = event.to_client();
    let full = b.format == get_state_event_for_key::v3::StateEventFormat::Event;
    let answer = if full {
        served
    } else {
        served["content"].clone()
    };
    let raw =
        serde_json::value::to_raw_value(&answer).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(RumaResponse(get_state_event_for_key::v3::Response::new(
        raw,
    )))
}

pub async fn get_room_event(
    State(reader): State<Reader>,
    req: Ruma<get_room_event::v3::Request>,
) -> ApiResult<RumaResponse<get_room_event::v3::Response>> {
    let me = req.user()?;
    let b = &req.body;
    let event = reader.event(&b.room_id, &me.user_id, &b.event_id).await?;
    Ok(RumaResponse(get_room_event::v3::Response::new(
        event.to_raw()?,
    )))
}

pub async fn get_event_by_timestamp(
    State(reader): State<Reader>,
    req: Ruma<get_event_by_timestamp::v1::Request>,
) -> ApiResult<RumaResponse<get_event_by_timestamp::v1::Response>> {
    let me = req.user()?;
    let b = &req.body;
    let ts = i64::try_from(u64::from(b.ts.0)).unwrap_or(i64::MAX);
    let event = reader
        .event_near_time(&b.room_id, &me.user_id, ts, b.dir)
        .await?;
    let event_id = ruma::OwnedEventId::try_from(event.event_id.as_str())
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let origin_server_ts = ruma::MilliSecondsSinceUnixEpoch(
        ruma::UInt::new(event.origin_server_ts.max(0) as u64).unwrap_or_default(),
    );
    Ok(RumaResponse(get_event_by_timestamp::v1::Response::new(
        event_id,
        origin_server_ts,
    )))
}

pub async fn get_message_events(
    State(reader): State<Reader>,
    State(inbound): State<Inbound>,
    req: Ruma<get_message_events::v3::Request>,
) -> ApiResult<RumaResponse<get_message_events::v3::Response>> {
    let me = req.user()?;
    let b = &req.body;
    let query = MessagesQuery {
        from: b.from.as_deref(),
        to: b.to.as_deref(),
        dir: b.dir,
        limit: b.limit,
        filter: &b.filter,
    };
    let page = inbound
        .messages(
            &reader,
            &b.room_id,
            &me.user_id,
            me.device_id.as_str(),
            query,
        )
        .await?;
    let mut response = get_message_events::v3::Response::new();
    response.start = page.start;
    response.end = page.end;
    response.chunk = page.chunk.iter().map(to_raw).collect::<ApiResult<_>>()?;
    response.state = raws(&page.state)?;
    Ok(RumaResponse(response))
}

pub async fn get_context(
    State(reader): State<Reader>,
    req: Ruma<get_context::v3::Request>,
) -> ApiResult<RumaResponse<get_context::v3::Response>> {
    let me = req.user()?;
    let b = &req.body;
    let context = reader
        .context(&b.room_id, &me.user_id, &b.event_id, b.limit, &b.filter)
        .await?;
    let mut response = get_context::v3::Response::new();
    response.start = Some(context.start);
    response.end = Some(context.end);
    response.event = Some(context.event.to_raw()?);
    response.events_before = raws(&context.before)?;
    response.events_after = raws(&context.after)?;
    response.state = raws(&context.state)?;
    Ok(RumaResponse(response))
}

pub async fn get_member_events(
    State(reader): State<Reader>,
    req: Ruma<get_member_events::v3::Request>,
) -> ApiResult<RumaResponse<get_member_events::v3::Response>> {
    let me = req.user()?;
    let b = &req.body;
    let state = reader.state(&b.room_id, &me.user_id).await?;
    let want = b.membership.as_ref().map(|m| m.to_string());
    let not = b.not_membership.as_ref().map(|m| m.to_string());
    let chunk = state
        .iter()
        .filter(|e| e.event_type == "m.room.member")
        .filter(|e| {
            let m = e.membership.clone().unwrap_or_default();
            want.as_ref().is_none_or(|w| *w == m) && not.as_ref().is_none_or(|n| *n != m)
        })
        .map(Visible::to_raw)
        .collect::<ApiResult<_>>()?;
    Ok(RumaResponse(get_member_events::v3::Response::new(chunk)))
}

pub async fn joined_members(
    State(reader): State<Reader>,
    req: Ruma<joined_members::v3::Request>,
) -> ApiResult<RumaResponse<joined_members::v3::Response>> {
    let me = req.user()?;
    let members = reader
        .joined_members(&req.body.room_id, &me.user_id)
        .await?;
    let mut joined = BTreeMap::new();
    for e in &members {
        let Some(user) = e
            .state_key
            .as_deref()
            .and_then(|k| OwnedUserId::try_from(k).ok())
        else {
            continue;
        };
        let content = &e.to_client()["content"];
        let mut member = RoomMember::new();
        member.display_name = content["displayname"].as_str().map(str::to_owned);
        member.avatar_url = content["avatar_url"].as_str().map(Into::into);
        joined.insert(user, member);
    }
    Ok(RumaResponse(joined_members::v3::Response::new(joined)))
}
