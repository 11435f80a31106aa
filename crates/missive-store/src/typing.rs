//! Typing notifications (`TypingStore`): who is typing in a room until
//! when, kept in the database so that every server process sees them.

use async_trait::async_trait;

use ruma::{RoomId, UserId};

use crate::{SqlStore, StoreResult, StreamPos};

/// Typing notifications. Kept in the database so that every server process
/// sharing it sees them; each change bumps the room's typing position.
#[async_trait]
pub trait TypingStore: Send + Sync {
    /// Marks the user typing until `expires_ts`, or not typing (`None`).
    async fn set_typing(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        expires_ts: Option<i64>,
    ) -> StoreResult<()>;
    /// Removes expired entries, bumping the positions of their rooms.
    async fn expire_typing(&self, now_ts: i64) -> StoreResult<()>;
    /// If the room's typing set changed after `since`: the users typing now.
    async fn typing_since(
        &self,
        room_id: &RoomId,
        since: StreamPos,
        now_ts: i64,
    ) -> StoreResult<Option<Vec<String>>>;
}

#[async_trait]
impl TypingStore for SqlStore {
    async fn set_typing(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        expires_ts: Option<i64>,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let was_typing: Option<i64> =
            sqlx::query_scalar("SELECT expires_ts FROM typing WHERE room_id = $1 AND user_id = $2")
                .bind(room_id.as_str())
                .bind(user_id.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        if was_typing.is_none() && expires_ts.is_none() {
            return Ok(());
        }
        let pos = self
            .next_positions(&mut tx, 1, crate::StreamKind::Typing)
            .await?;
        match expires_ts {
            Some(expires) => {
                sqlx::query(
                    "INSERT INTO typing (room_id, user_id, expires_ts, stream_pos) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (room_id, user_id) DO UPDATE SET expires_ts = excluded.expires_ts, \
                     stream_pos = excluded.stream_pos",
                )
                .bind(room_id.as_str())
                .bind(user_id.as_str())
                .bind(expires)
                .bind(pos)
                .execute(&mut *tx)
                .await?;
            }
            None => {
                sqlx::query("DELETE FROM typing WHERE room_id = $1 AND user_id = $2")
                    .bind(room_id.as_str())
                    .bind(user_id.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
        }
        bump_room(&mut tx, room_id.as_str(), pos).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn expire_typing(&self, now_ts: i64) -> StoreResult<()> {
        let rooms: Vec<String> =
            sqlx::query_scalar("SELECT DISTINCT room_id FROM typing WHERE expires_ts <= $1")
                .bind(now_ts)
                .fetch_all(&self.read)
                .await?;
        if rooms.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin().await?;
        let pos = self
            .next_positions(&mut tx, 1, crate::StreamKind::Typing)
            .await?;
        sqlx::query("DELETE FROM typing WHERE expires_ts <= $1")
            .bind(now_ts)
            .execute(&mut *tx)
            .await?;
        for room in rooms {
            bump_room(&mut tx, &room, pos).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn typing_since(
        &self,
        room_id: &RoomId,
        since: StreamPos,
        now_ts: i64,
    ) -> StoreResult<Option<Vec<String>>> {
        let changed: Option<StreamPos> =
            sqlx::query_scalar("SELECT stream_pos FROM typing_rooms WHERE room_id = $1")
                .bind(room_id.as_str())
                .fetch_optional(&self.read)
                .await?;
        if changed.is_none_or(|pos| pos <= since) {
            return Ok(None);
        }
        let users = sqlx::query_scalar(
            "SELECT user_id FROM typing WHERE room_id = $1 AND expires_ts > $2 ORDER BY user_id",
        )
        .bind(room_id.as_str())
        .bind(now_ts)
        .fetch_all(&self.read)
        .await?;
        Ok(Some(users))
    }
}

async fn bump_room(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    room_id: &str,
    pos: StreamPos,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO typing_rooms (room_id, stream_pos) VALUES ($1, $2) \
         ON CONFLICT (room_id) DO UPDATE SET stream_pos = excluded.stream_pos",
    )
    .bind(room_id)
    .bind(pos)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
