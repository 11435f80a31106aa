//! Sync filters uploaded by clients (`FilterStore`).

use async_trait::async_trait;

use ruma::UserId;

use crate::{SqlStore, StoreResult};

/// Sync filters uploaded by clients.
#[async_trait]
pub trait FilterStore: Send + Sync {
    /// Stores a filter's JSON and returns its ID.
    async fn create_filter(&self, user_id: &UserId, json: &str) -> StoreResult<String>;
    async fn filter(&self, user_id: &UserId, filter_id: &str) -> StoreResult<Option<String>>;
}

#[async_trait]
impl FilterStore for SqlStore {
    async fn create_filter(&self, user_id: &UserId, json: &str) -> StoreResult<String> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO filters (user_id, json) VALUES ($1, $2) RETURNING filter_id",
        )
        .bind(user_id.as_str())
        .bind(json)
        .fetch_one(&self.write)
        .await?;
        Ok(id.to_string())
    }

    async fn filter(&self, user_id: &UserId, filter_id: &str) -> StoreResult<Option<String>> {
        let Ok(id) = filter_id.parse::<i64>() else {
            return Ok(None);
        };
        Ok(
            sqlx::query_scalar("SELECT json FROM filters WHERE user_id = $1 AND filter_id = $2")
                .bind(user_id.as_str())
                .bind(id)
                .fetch_optional(&self.read)
                .await?,
        )
    }
}
