//! Typing notices, read receipts and the fully-read marker: each stored
//! and announced to whom it concerns in one method (a local user's typing
//! and public receipts also to the other servers in the room).

use std::{sync::Arc, time::Duration};

use std::collections::BTreeMap;

use missive_store::{AccountDataStore, ReceiptRecord, ReceiptStore, SqlStore, TypingStore};
use ruma::{
    EventId, MilliSecondsSinceUnixEpoch, RoomId, UInt, UserId,
    api::federation::transactions::edu::{
        Edu, ReceiptContent, ReceiptData, ReceiptMap, TypingContent,
    },
    events::receipt::{Receipt, ReceiptThread},
};
use serde_json::json;

use crate::{
    error::{ApiError, ApiResult},
    services::{federation::outbound::Outbound, reader::Reader, rooms::Rooms},
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
    /// Where local users' typing and public receipts go to the room's
    /// other servers; `None` when federation is off.
    outbound: Option<Outbound>,
}

impl Ephemeral {
    pub fn new(
        store: Arc<SqlStore>,
        reader: Reader,
        rooms: Rooms,
        outbound: Option<Outbound>,
    ) -> Self {
        Self {
            store,
            reader,
            rooms,
            outbound,
        }
    }

    /// The outbound queue when `user` is local (another server's user's
    /// typing and receipts came from their server: nothing goes back).
    fn outbound_for(&self, user: &UserId) -> Option<&Outbound> {
        self.outbound.as_ref().filter(|o| o.is_local(user))
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
        if let Some(outbound) = self.outbound_for(user) {
            let edu = Edu::Typing(TypingContent::new(
                room.to_owned(),
                user.to_owned(),
                expires.is_some(),
            ));
            outbound.queue_edu_to_room(room, &edu).await?;
        }
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
        let thread_id = match thread {
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
        let ts = now_ms();
        let moved = self
            .store
            .set_receipt(ReceiptRecord {
                room_id: room.to_string(),
                user_id: user.to_string(),
                receipt_type: receipt_type.to_owned(),
                thread_id: thread_id.to_owned(),
                event_id: event_id.to_string(),
                event_order: event.stream_ordering,
                ts,
            })
            .await?;
        if !moved {
            return Ok(());
        }
        self.rooms
            .notify_room(self.store.current_position().await?, room.as_str())
            .await;
        // A private receipt stays on this server.
        if receipt_type == "m.read"
            && let Some(outbound) = self.outbound_for(user)
        {
            let mut data = Receipt::new(MilliSecondsSinceUnixEpoch(
                UInt::try_from(ts).unwrap_or_default(),
            ));
            data.thread = thread.clone();
            let read = BTreeMap::from([(
                user.to_owned(),
                ReceiptData::new(data, vec![event_id.to_owned()]),
            )]);
            let edu = Edu::Receipt(ReceiptContent::new(BTreeMap::from([(
                room.to_owned(),
                ReceiptMap::new(read),
            )])));
            outbound.queue_edu_to_room(room, &edu).await?;
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
