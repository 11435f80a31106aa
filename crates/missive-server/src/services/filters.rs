//! Sync filters a client stores once and names by ID afterwards.

use std::sync::Arc;

use missive_store::{FilterStore, SqlStore};
use ruma::{UserId, api::client::filter::FilterDefinition};

use crate::error::{ApiError, ApiResult};

/// Largest filter a client may store, in bytes of JSON.
const MAX_FILTER_BYTES: usize = 16 * 1024;

#[derive(Clone)]
pub struct Filters {
    store: Arc<SqlStore>,
}

impl Filters {
    pub fn new(store: Arc<SqlStore>) -> Self {
        Self { store }
    }

    /// Stores `user`'s filter, as `by`; returns its ID.
    pub async fn create(
        &self,
        by: &UserId,
        user: &UserId,
        filter: &FilterDefinition,
    ) -> ApiResult<String> {
        if by != user {
            return Err(ApiError::forbidden(
                "you can only create filters for yourself",
            ));
        }
        let json = serde_json::to_string(filter).map_err(|e| ApiError::Internal(e.to_string()))?;
        if json.len() > MAX_FILTER_BYTES {
            return Err(ApiError::TooLarge("filter too large".into()));
        }
        Ok(self.store.create_filter(user, &json).await?)
    }

    /// `user`'s filter `id`, as `by`; `M_NOT_FOUND` if there is none.
    pub async fn get(&self, by: &UserId, user: &UserId, id: &str) -> ApiResult<FilterDefinition> {
        if by != user {
            return Err(ApiError::forbidden("you can only read your own filters"));
        }
        let json = self
            .store
            .filter(user, id)
            .await?
            .ok_or_else(|| ApiError::not_found("filter not found"))?;
        serde_json::from_str(&json)
            .map_err(|e| ApiError::Internal(format!("stored filter unreadable: {e}")))
    }
}
