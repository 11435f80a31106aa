//! Users' push rules, kept as `m.push_rules` account data as the spec
//! exposes them.

use missive_store::{AccountDataStore, SqlStore};
use ruma::{UserId, push::Ruleset};

use crate::error::{ApiError, ApiResult};

pub const ACCOUNT_DATA_TYPE: &str = "m.push_rules";

/// The user's rule set: stored rules, or the server defaults.
pub async fn load(store: &SqlStore, user: &UserId) -> ApiResult<Ruleset> {
    let stored = store
        .account_data(user.as_str(), None, ACCOUNT_DATA_TYPE)
        .await?;
    Ok(stored
        .and_then(|json| serde_json::from_str::<serde_json::Value>(&json).ok())
        .and_then(|v| v.get("global").cloned())
        .and_then(|g| serde_json::from_value::<Ruleset>(g).ok())
        .unwrap_or_else(|| Ruleset::server_default(user)))
}

/// Saves the rule set; returns the stream position of the change.
pub async fn save(store: &SqlStore, user: &UserId, rules: &Ruleset) -> ApiResult<i64> {
    let content = serde_json::json!({ "global": rules });
    let text = serde_json::to_string(&content).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(store
        .set_account_data(user.as_str(), None, ACCOUNT_DATA_TYPE, &text)
        .await?)
}
