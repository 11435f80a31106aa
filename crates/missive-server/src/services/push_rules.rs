//! Users' push rules, kept as `m.push_rules` account data as the spec
//! exposes them.

use missive_store::{AccountDataStore, SqlStore};
use ruma::{UserId, push::Ruleset};

use crate::error::{ApiError, ApiResult};

pub const ACCOUNT_DATA_TYPE: &str = "m.push_rules";

/// The user's rule set: stored rules, or the server defaults.
pub async fn load(store: &SqlStore, user: &UserId) -> ApiResult<Ruleset> {
    Ok(stored(store, user.as_str())
        .await?
        .and_then(|json| parse(&json))
        .unwrap_or_else(|| Ruleset::server_default(user)))
}

/// The stored account data content, if any.
pub async fn stored(store: &SqlStore, user: &str) -> ApiResult<Option<String>> {
    Ok(store.account_data(user, None, ACCOUNT_DATA_TYPE).await?)
}

/// The rule set in stored account data content; `None` if unreadable.
pub fn parse(json: &str) -> Option<Ruleset> {
    serde_json::from_str::<serde_json::Value>(json)
        .ok()
        .and_then(|v| v.get("global").cloned())
        .and_then(|g| serde_json::from_value::<Ruleset>(g).ok())
}

/// Saves the rule set; returns the stream position of the change.
pub async fn save(store: &SqlStore, user: &UserId, rules: &Ruleset) -> ApiResult<i64> {
    let content = serde_json::json!({ "global": rules });
    let text = serde_json::to_string(&content).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(store
        .set_account_data(user.as_str(), None, ACCOUNT_DATA_TYPE, &text)
        .await?)
}
