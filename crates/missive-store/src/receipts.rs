//! Read receipts (`ReceiptStore`): per user, type and thread, only moving
//! forward, with the read position unread counts start from.

use async_trait::async_trait;
use sqlx::Row;

use ruma::{RoomId, UserId};

use crate::{SqlStore, StoreResult, StreamPos};

/// One user's receipt of one type in a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptRecord {
    pub room_id: String,
    pub user_id: String,
    pub receipt_type: String,
    /// Empty for an unthreaded receipt.
    pub thread_id: String,
    pub event_id: String,
    /// Stream ordering of the receipted event (for unread counts).
    pub event_order: StreamPos,
    pub ts: i64,
}

#[async_trait]
pub trait ReceiptStore: Send + Sync {
    /// Records a receipt unless the user already has one of that type on a
    /// later event (receipts only move forward). Returns whether it moved.
    async fn set_receipt(&self, receipt: ReceiptRecord) -> StoreResult<bool>;
    /// Receipts in the room changed after `since`.
    async fn receipts_since(
        &self,
        room_id: &RoomId,
        since: StreamPos,
    ) -> StoreResult<Vec<ReceiptRecord>>;
    /// Stream ordering of the newest event the user has read in the room
    /// (public or private read receipt), or 0.
    async fn read_up_to(&self, room_id: &RoomId, user_id: &UserId) -> StoreResult<StreamPos>;
}

#[async_trait]
impl ReceiptStore for SqlStore {
    async fn set_receipt(&self, r: ReceiptRecord) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let existing: Option<StreamPos> = sqlx::query_scalar(
            "SELECT event_order FROM receipts WHERE room_id = $1 AND user_id = $2 \
             AND receipt_type = $3 AND thread_id = $4",
        )
        .bind(&r.room_id)
        .bind(&r.user_id)
        .bind(&r.receipt_type)
        .bind(&r.thread_id)
        .fetch_optional(&mut *tx)
        .await?;
        if existing.is_some_and(|order| order >= r.event_order) {
            return Ok(false);
        }
        let pos = self
            .next_positions(&mut tx, 1, crate::StreamKind::Receipts)
            .await?;
        sqlx::query(
            "INSERT INTO receipts (room_id, user_id, receipt_type, thread_id, event_id, event_order, ts, stream_pos) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (room_id, user_id, receipt_type, thread_id) DO UPDATE SET \
             event_id = excluded.event_id, event_order = excluded.event_order, ts = excluded.ts, \
             stream_pos = excluded.stream_pos",
        )
        .bind(&r.room_id)
        .bind(&r.user_id)
        .bind(&r.receipt_type)
        .bind(&r.thread_id)
        .bind(&r.event_id)
        .bind(r.event_order)
        .bind(r.ts)
        .bind(pos)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn receipts_since(
        &self,
        room_id: &RoomId,
        since: StreamPos,
    ) -> StoreResult<Vec<ReceiptRecord>> {
        let rows = sqlx::query(
            "SELECT room_id, user_id, receipt_type, thread_id, event_id, event_order, ts FROM receipts \
             WHERE room_id = $1 AND stream_pos > $2 ORDER BY stream_pos",
        )
        .bind(room_id.as_str())
        .bind(since)
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(receipt_from_row).collect()
    }

    async fn read_up_to(&self, room_id: &RoomId, user_id: &UserId) -> StoreResult<StreamPos> {
        let max: Option<StreamPos> = sqlx::query_scalar(
            "SELECT MAX(event_order) FROM receipts WHERE room_id = $1 AND user_id = $2 \
             AND receipt_type IN ('m.read', 'm.read.private')",
        )
        .bind(room_id.as_str())
        .bind(user_id.as_str())
        .fetch_one(&self.read)
        .await?;
        Ok(max.unwrap_or(StreamPos::ZERO))
    }
}

/// A receipt from a row of `room_id, user_id, receipt_type, thread_id,
/// event_id, event_order, ts`.
pub(crate) fn receipt_from_row(r: &sqlx::any::AnyRow) -> StoreResult<ReceiptRecord> {
    Ok(ReceiptRecord {
        room_id: r.try_get(0)?,
        user_id: r.try_get(1)?,
        receipt_type: r.try_get(2)?,
        thread_id: r.try_get(3)?,
        event_id: r.try_get(4)?,
        event_order: r.try_get(5)?,
        ts: r.try_get(6)?,
    })
}
