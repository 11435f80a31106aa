//! Account data, global and per room, and room tags (the `m.tag` room
//! account data): each write stored and announced to its owner's syncs.

use std::sync::Arc;

use missive_store::{AccountDataStore, SqlStore};
use ruma::{RoomId, UserId};
use serde_json::{Value, json};

use crate::{
    error::{ApiError, ApiResult},
    services::{notifier::Notifier, push_rules},
};

/// Largest account data entry, in bytes of JSON.
const MAX_ACCOUNT_DATA_BYTES: usize = 64 * 1024;

/// Longest tag name, in bytes.
const MAX_TAG_BYTES: usize = 255;

/// The account data type that holds a room's tags.
const TAGS_TYPE: &str = "m.tag";

#[derive(Clone)]
pub struct AccountData {
    store: Arc<SqlStore>,
    notifier: Notifier,
}

impl AccountData {
    pub fn new(store: Arc<SqlStore>, notifier: Notifier) -> Self {
        Self { store, notifier }
    }

    /// Stores `raw` (a JSON object) as `user`'s account data of type `ty`,
    /// in `room` or global, as `by`. Push rules and read markers have their
    /// own endpoints and are refused here.
    pub async fn set(
        &self,
        by: &UserId,
        user: &UserId,
        room: Option<&RoomId>,
        ty: &str,
        raw: &str,
    ) -> ApiResult<()> {
        own(by, user)?;
        if raw.len() > MAX_ACCOUNT_DATA_BYTES {
            return Err(ApiError::TooLarge("account data too large".into()));
        }
        let v: Value = serde_json::from_str(raw).map_err(|e| ApiError::NotJson(e.to_string()))?;
        if !v.is_object() {
            return Err(ApiError::bad_json("account data must be a JSON object"));
        }
        if ty == push_rules::ACCOUNT_DATA_TYPE || ty == "m.fully_read" {
            return Err(ApiError::BadJson(format!(
                "{ty} cannot be set through account data"
            )));
        }
        self.write(user, room, ty, raw).await
    }

    /// `user`'s account data of type `ty` (in `room` or global), as `by`:
    /// the stored JSON text; `M_NOT_FOUND` if there is none.
    pub async fn get(
        &self,
        by: &UserId,
        user: &UserId,
        room: Option<&RoomId>,
        ty: &str,
    ) -> ApiResult<String> {
        own(by, user)?;
        self.store
            .account_data(user, room, ty)
            .await?
            .ok_or_else(|| ApiError::not_found("account data not found"))
    }

    /// The room's `m.tag` content for `user`, as `by`: `{"tags": {...}}`,
    /// empty when none (or nothing readable) is stored.
    pub async fn tags(&self, by: &UserId, user: &UserId, room: &RoomId) -> ApiResult<Value> {
        own(by, user)?;
        self.stored_tags(user, room).await
    }

    /// Adds (or replaces) tag `tag` with `info` on the room, as `by`.
    pub async fn add_tag(
        &self,
        by: &UserId,
        user: &UserId,
        room: &RoomId,
        tag: &str,
        info: Value,
    ) -> ApiResult<()> {
        own(by, user)?;
        if tag.len() > MAX_TAG_BYTES {
            return Err(ApiError::invalid_param("tag too long"));
        }
        let mut all = self.stored_tags(user, room).await?;
        all["tags"][tag] = info;
        self.write(user, Some(room), TAGS_TYPE, &all.to_string())
            .await
    }

    /// Removes tag `tag` from the room, as `by` (no error if absent).
    pub async fn remove_tag(
        &self,
        by: &UserId,
        user: &UserId,
        room: &RoomId,
        tag: &str,
    ) -> ApiResult<()> {
        own(by, user)?;
        let mut all = self.stored_tags(user, room).await?;
        if let Some(map) = all["tags"].as_object_mut() {
            map.remove(tag);
        }
        self.write(user, Some(room), TAGS_TYPE, &all.to_string())
            .await
    }

    /// Carries `user`'s tags of room `old` over to its replacement `new`,
    /// and lists `new` beside `old` in their `m.direct` (a room upgrade, as
    /// Synapse does for every local member of the old room).
    pub async fn follow_upgrade(&self, user: &UserId, old: &RoomId, new: &RoomId) -> ApiResult<()> {
        let tags = self.stored_tags(user, old).await?;
        if tags["tags"].as_object().is_some_and(|t| !t.is_empty()) {
            self.write(user, Some(new), TAGS_TYPE, &tags.to_string())
                .await?;
        }
        let direct = self.store.account_data(user, None, "m.direct").await?;
        let Some(mut direct) = direct.and_then(|d| serde_json::from_str::<Value>(&d).ok()) else {
            return Ok(());
        };
        let Some(by_user) = direct.as_object_mut() else {
            return Ok(());
        };
        let mut changed = false;
        for rooms in by_user.values_mut().filter_map(Value::as_array_mut) {
            let listed = |id: &RoomId| rooms.iter().any(|r| r.as_str() == Some(id.as_str()));
            if listed(old) && !listed(new) {
                rooms.push(json!(new.as_str()));
                changed = true;
                // Synapse adds it under the first user listing the room.
                break;
            }
        }
        if changed {
            self.write(user, None, "m.direct", &direct.to_string())
                .await?;
        }
        Ok(())
    }

    async fn stored_tags(&self, user: &UserId, room: &RoomId) -> ApiResult<Value> {
        let data = self.store.account_data(user, Some(room), TAGS_TYPE).await?;
        Ok(data
            .and_then(|d| serde_json::from_str::<Value>(&d).ok())
            .filter(|v| v.get("tags").is_some_and(Value::is_object))
            .unwrap_or_else(|| json!({ "tags": {} })))
    }

    /// Stores and wakes the owner's syncs (account data is theirs alone).
    async fn write(
        &self,
        user: &UserId,
        room: Option<&RoomId>,
        ty: &str,
        raw: &str,
    ) -> ApiResult<()> {
        let pos = self.store.set_account_data(user, room, ty, raw).await?;
        self.notifier.notify_users(pos, [user.as_str()]);
        Ok(())
    }
}

fn own(by: &UserId, user: &UserId) -> ApiResult<()> {
    if by == user {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "you can only access your own account data",
        ))
    }
}
