//! Room aliases (`DirectoryStore`): creating, resolving and deleting them.

use async_trait::async_trait;
use sqlx::Row;

use ruma::{RoomAliasId, RoomId, UserId};

use crate::{SqlStore, StoreError, StoreResult, error::is_unique_violation};

/// Room aliases.
#[async_trait]
pub trait DirectoryStore: Send + Sync {
    /// `AlreadyExists` if the alias is taken.
    async fn create_alias(
        &self,
        alias: &RoomAliasId,
        room_id: &RoomId,
        creator: &UserId,
    ) -> StoreResult<()>;
    /// (room ID, creator) of the alias.
    async fn alias(&self, alias: &RoomAliasId) -> StoreResult<Option<(String, String)>>;
    async fn delete_alias(&self, alias: &RoomAliasId) -> StoreResult<bool>;
    async fn room_aliases(&self, room_id: &RoomId) -> StoreResult<Vec<String>>;
    /// Points every alias of room `from` to room `to` (a room upgrade), in
    /// one statement; returns how many moved.
    async fn move_aliases(&self, from: &RoomId, to: &RoomId) -> StoreResult<u64>;
}

#[async_trait]
impl DirectoryStore for SqlStore {
    async fn create_alias(
        &self,
        alias: &RoomAliasId,
        room_id: &RoomId,
        creator: &UserId,
    ) -> StoreResult<()> {
        let result =
            sqlx::query("INSERT INTO room_aliases (alias, room_id, creator) VALUES ($1, $2, $3)")
                .bind(alias.as_str())
                .bind(room_id.as_str())
                .bind(creator.as_str())
                .execute(&self.write)
                .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(StoreError::AlreadyExists(alias.to_string())),
            Err(e) => Err(e.into()),
        }
    }

    async fn alias(&self, alias: &RoomAliasId) -> StoreResult<Option<(String, String)>> {
        let row = sqlx::query("SELECT room_id, creator FROM room_aliases WHERE alias = $1")
            .bind(alias.as_str())
            .fetch_optional(&self.read)
            .await?;
        row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).transpose()
    }

    async fn delete_alias(&self, alias: &RoomAliasId) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM room_aliases WHERE alias = $1")
            .bind(alias.as_str())
            .execute(&self.write)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn room_aliases(&self, room_id: &RoomId) -> StoreResult<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT alias FROM room_aliases WHERE room_id = $1 ORDER BY alias")
                .bind(room_id.as_str())
                .fetch_all(&self.read)
                .await?,
        )
    }

    async fn move_aliases(&self, from: &RoomId, to: &RoomId) -> StoreResult<u64> {
        let done = sqlx::query("UPDATE room_aliases SET room_id = $2 WHERE room_id = $1")
            .bind(from.as_str())
            .bind(to.as_str())
            .execute(&self.write)
            .await?;
        Ok(done.rows_affected())
    }
}
