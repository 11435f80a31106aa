//! Typing notices, read receipts and the fully-read marker: each stored
//! and announced to whom it concerns in one method.

use std::{sync::Arc, time::Duration};

use missive_store::{AccountDataStore, ReceiptRecord, ReceiptStore, SqlStore, TypingStore};
use ruma::{EventId, RoomId, UserId, events::receipt::ReceiptThread};
use serde_json::json;

use crate::{
    error::{ApiError, ApiResult},
    services::{reader::Reader, rooms::Rooms},
    time::now_ms,
};

/// The longest a client may claim to be typing for.
const MAX_TYPING_MS: i64 = 120_000;

/// The receipt types a client may send (`m.fully_read` is a marker, see
/// [`Ephemeral::set_fully_read`]).
pub const RECEIPT_TYPES: [&str; 2] = ["m.read", "m.read.private"];

#[derive(Clone)]
pub struct Ephemeral {
    store: Arc<SqlStore>,
    reader: Reader,
    rooms: Rooms,
}

impl Ephemeral {
    pub fn new(store: Arc<SqlStore>, reader: Reader, rooms: Rooms) -> Self {
        Self {
            store,
            reader,
            rooms,
        }
    }

    /// Marks `user` as typing in the room for `timeout` (bounded), or
    /// stopped with `None`; the room's members are told.
    pub async fn set_typing(
        &self,
        room: &RoomId,
        user: &UserId,
        timeout: Option<Duration>,
    ) -> ApiResult<()> {
        self.reader.require_joined(room, user).await?;
        let expires = timeout.map(|t| {
            let ms = i64::try_from(t.as_millis()).unwrap_or(MAX_TYPING_MS);
            now_ms() + ms.clamp(1000, MAX_TYPING_MS)
        });
        self.store.set_typing(room, user, expires).await?;
        self.rooms
            .notify_room(self.store.current_position().await?, room.as_str())
            .await;
        Ok(())
    }

    /// Records a receipt of `receipt_type` on an event the user may see;
    /// the room's members are told when it moved.
    pub async fn set_receipt(
        &self,
        room: &RoomId,
        user: &UserId,
        receipt_type: &str,
        event_id: &EventId,
        thread: &ReceiptThread,
    ) -> ApiResult<()> {
        if !RECEIPT_TYPES.contains(&receipt_type) {
            return Err(ApiError::invalid_param(format!(
                "unknown receipt type {receipt_type}"
            )));
        }
        let event = self.reader.member_event(room, user, event_id).await?;
        // `main`, a thread root of the room, or none (the spec's 400).
        let thread = match thread {
            ReceiptThread::Unthreaded => "",
            ReceiptThread::Main => "main",
            ReceiptThread::Thread(root) => {
                if !self.reader.is_thread_root(room, user, root).await? {
                    return Err(ApiError::invalid_param(
                        "thread_id is not the root of a thread of this room",
                    ));
                }
                root.as_str()
            }
            _ => {
                return Err(ApiError::invalid_param(
                    "thread_id must be main or a thread root's event ID",
                ));
            }
        };
        let moved = self
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
            self.rooms
                .notify_room(self.store.current_position().await?, room.as_str())
                .await;
        }
        Ok(())
    }

    /// Moves the user's fully-read marker (room account data of their own)
    /// to an event they may see.
    pub async fn set_fully_read(
        &self,
        room: &RoomId,
        user: &UserId,
        event_id: &EventId,
    ) -> ApiResult<()> {
        self.reader.member_event(room, user, event_id).await?;
        let content = json!({ "event_id": event_id }).to_string();
        let pos = self
            .store
            .set_account_data(user, Some(room), "m.fully_read", &content)
            .await?;
        self.rooms.notify_users(pos, &[user.as_str()]);
        Ok(())
    }
}
