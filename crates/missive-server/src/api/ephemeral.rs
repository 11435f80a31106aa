//! Typing notifications, receipts and read markers.

use axum::{Json, extract::State};
use missive_store::{AccountDataStore, EventStore, ReceiptRecord, ReceiptStore, TypingStore};
use ruma::{
    EventId, RoomId, UserId,
    api::client::{
        read_marker::set_read_marker, receipt::create_receipt, typing::create_typing_event,
    },
    events::receipt::ReceiptThread,
};
use serde_json::{Value, json};

use crate::{
    error::{ApiError, ApiResult},
    ruma_wrapper::Ruma,
    state::AppState,
    time::now_ms,
};

/// The longest a client may claim to be typing for.
const MAX_TYPING_MS: i64 = 120_000;

pub async fn create_typing_event(
    State(s): State<AppState>,
    req: Ruma<create_typing_event::v3::Request>,
) -> ApiResult<Json<Value>> {
    let me = req.user()?;
    let b = &req.body;
    if me.user_id != b.user_id {
        return Err(ApiError::forbidden(
            "you can only set your own typing state",
        ));
    }
    s.reader.require_joined(&b.room_id, &me.user_id).await?;
    let expires = match &b.state {
        create_typing_event::v3::Typing::Yes(info) => {
            let ms = (info.timeout.as_millis() as i64).clamp(1000, MAX_TYPING_MS);
            Some(now_ms() + ms)
        }
        _ => None,
    };
    s.store
        .set_typing(b.room_id.as_str(), me.user_id.as_str(), expires)
        .await?;
    s.rooms
        .notify_room(s.store.current_position().await?, b.room_id.as_str())
        .await;
    Ok(Json(json!({})))
}

/// Records a receipt on an event the user may see.
async fn receipt(
    s: &AppState,
    room: &RoomId,
    user: &UserId,
    receipt_type: &str,
    event_id: &EventId,
    thread: &str,
) -> ApiResult<()> {
    let event = s
        .store
        .event(event_id.as_str())
        .await?
        .filter(|e| e.room_id == room.as_str())
        .ok_or_else(|| ApiError::not_found("event not found in this room"))?;
    let moved = s
        .store
        .set_receipt(ReceiptRecord {
            room_id: room.to_string(),
            user_id: user.to_string(),
            receipt_type: receipt_type.to_owned(),
            thread_id: thread.to_owned(),
            event_id: event_id.to_string(),
            event_order: event.stream_ordering,
            ts: now_ms(),
        })
        .await?;
    if moved {
        s.rooms
            .notify_room(s.store.current_position().await?, room.as_str())
            .await;
    }
    Ok(())
}

async fn fully_read(
    s: &AppState,
    room: &RoomId,
    user: &UserId,
    event_id: &EventId,
) -> ApiResult<()> {
    let content = json!({ "event_id": event_id }).to_string();
    let pos = s
        .store
        .set_account_data(user.as_str(), Some(room.as_str()), "m.fully_read", &content)
        .await?;
    s.rooms.notify_users(pos, &[user.as_str()]);
    Ok(())
}

pub async fn create_receipt(
    State(s): State<AppState>,
    req: Ruma<create_receipt::v3::Request>,
) -> ApiResult<Json<Value>> {
    let me = req.user()?;
    let b = &req.body;
    s.reader.require_joined(&b.room_id, &me.user_id).await?;
    let thread = match &b.thread {
        ReceiptThread::Unthreaded => String::new(),
        other => other.as_str().unwrap_or_default().to_owned(),
    };
    match b.receipt_type.to_string().as_str() {
        "m.fully_read" => fully_read(&s, &b.room_id, &me.user_id, &b.event_id).await?,
        t @ ("m.read" | "m.read.private") => {
            receipt(&s, &b.room_id, &me.user_id, t, &b.event_id, &thread).await?
        }
        other => {
            return Err(ApiError::invalid_param(format!(
                "unknown receipt type {other}"
            )));
        }
    }
    Ok(Json(json!({})))
}

pub async fn set_read_marker(
    State(s): State<AppState>,
    req: Ruma<set_read_marker::v3::Request>,
) -> ApiResult<Json<Value>> {
    let me = req.user()?;
    let b = &req.body;
    s.reader.require_joined(&b.room_id, &me.user_id).await?;
    if let Some(id) = &b.fully_read {
        fully_read(&s, &b.room_id, &me.user_id, id).await?;
    }
    if let Some(id) = &b.read_receipt {
        receipt(&s, &b.room_id, &me.user_id, "m.read", id, "").await?;
    }
    if let Some(id) = &b.private_read_receipt {
        receipt(&s, &b.room_id, &me.user_id, "m.read.private", id, "").await?;
    }
    Ok(Json(json!({})))
}
