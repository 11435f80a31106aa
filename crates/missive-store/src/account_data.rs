//! Account data (`AccountDataStore`): a user's global and per-room
//! entries, each change taking a stream position for sync.

use async_trait::async_trait;
use sqlx::Row;

use ruma::{RoomId, UserId};

use crate::{SqlStore, StoreResult, StreamPos, read_cache::account_data_key};

/// Per-user account data, global (`room_id` empty) or per room.
#[async_trait]
pub trait AccountDataStore: Send + Sync {
    /// Sets (or replaces) one entry and returns its stream position.
    async fn set_account_data(
        &self,
        user_id: &UserId,
        room_id: Option<&RoomId>,
        data_type: &str,
        content: &str,
    ) -> StoreResult<StreamPos>;
    async fn account_data(
        &self,
        user_id: &UserId,
        room_id: Option<&RoomId>,
        data_type: &str,
    ) -> StoreResult<Option<String>>;
    /// Entries changed after `since`: (room ID or None, type, content).
    async fn account_data_since(
        &self,
        user_id: &UserId,
        since: StreamPos,
    ) -> StoreResult<Vec<(Option<String>, String, String)>>;
}

#[async_trait]
impl AccountDataStore for SqlStore {
    async fn set_account_data(
        &self,
        user_id: &UserId,
        room_id: Option<&RoomId>,
        data_type: &str,
        content: &str,
    ) -> StoreResult<StreamPos> {
        let mut tx = self.begin().await?;
        let pos = self
            .next_positions(&mut tx, 1, crate::StreamKind::AccountData)
            .await?;
        sqlx::query(
            "INSERT INTO account_data (user_id, room_id, data_type, content, stream_pos) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, room_id, data_type) DO UPDATE \
             SET content = excluded.content, stream_pos = excluded.stream_pos",
        )
        .bind(user_id.as_str())
        .bind(room_id.map_or("", RoomId::as_str))
        .bind(data_type)
        .bind(content)
        .bind(pos)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.caches.account_data.forget(&account_data_key(
            user_id.as_str(),
            room_id.map_or("", RoomId::as_str),
            data_type,
        ));
        if room_id.is_none() && data_type == crate::push_targets::PUSH_RULES_TYPE {
            self.caches.push_targets.forget_all();
        }
        Ok(pos)
    }

    async fn account_data(
        &self,
        user_id: &UserId,
        room_id: Option<&RoomId>,
        data_type: &str,
    ) -> StoreResult<Option<String>> {
        let room = room_id.map_or("", RoomId::as_str);
        let read = sqlx::query_scalar(
            "SELECT content FROM account_data WHERE user_id = $1 AND room_id = $2 AND data_type = $3",
        )
        .bind(user_id.as_str())
        .bind(room)
        .bind(data_type)
        .fetch_optional(&self.read);
        let key = account_data_key(user_id.as_str(), room, data_type);
        let content = self
            .caches
            .account_data
            .read_through(&key, async { Ok(Some(read.await?)) })
            .await?;
        Ok(content.flatten())
    }

    async fn account_data_since(
        &self,
        user_id: &UserId,
        since: StreamPos,
    ) -> StoreResult<Vec<(Option<String>, String, String)>> {
        if !self.changed_since(crate::StreamKind::AccountData, since) {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(
            "SELECT room_id, data_type, content FROM account_data \
             WHERE user_id = $1 AND stream_pos > $2 ORDER BY stream_pos",
        )
        .bind(user_id.as_str())
        .bind(since)
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                let room: String = r.try_get(0)?;
                Ok((
                    (!room.is_empty()).then_some(room),
                    r.try_get(1)?,
                    r.try_get(2)?,
                ))
            })
            .collect()
    }
}
