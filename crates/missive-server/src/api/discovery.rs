//! Discovery: versions, .well-known, capabilities, and the health check.

use std::sync::Arc;

use axum::{Json, extract::State, response::IntoResponse};
use missive_core::room_versions::{DEFAULT_ROOM_VERSION, SUPPORTED_ROOM_VERSIONS};

use ruma::api::client::discovery::{get_capabilities, get_supported_versions};
use serde_json::{Value, json};

use crate::{
    config::Config,
    error::ApiResult,
    ruma_wrapper::Ruma,
    services::{accounts::Accounts, threepids::Threepids},
};

/// Spec versions whose endpoints this server implements.
const VERSIONS: &[&str] = &[
    "r0.6.1", "v1.1", "v1.2", "v1.3", "v1.4", "v1.5", "v1.6", "v1.7", "v1.8", "v1.9", "v1.10",
    "v1.11", "v1.12",
];

pub async fn get_supported_versions(_req: Ruma<get_supported_versions::Request>) -> Json<Value> {
    Json(json!({
        "versions": VERSIONS,
        "unstable_features": {},
    }))
}

pub async fn well_known_client(State(config): State<Arc<Config>>) -> Json<Value> {
    Json(json!({ "m.homeserver": { "base_url": config.public_baseurl() } }))
}

/// Delegation to the federation listener's port on the server name's host
/// (other servers reach us there); 404 when federation is off, as there is
/// nothing to delegate to.
pub async fn well_known_server(
    State(config): State<Arc<Config>>,
) -> Result<Json<Value>, crate::error::ApiError> {
    let Some(listen) = config.federation.listen else {
        return Err(crate::error::ApiError::not_found("federation is off"));
    };
    let host = ruma::ServerName::parse(&config.server_name)
        .map(|n| n.host().to_owned())
        .unwrap_or_else(|_| config.server_name.clone());
    Ok(Json(
        json!({ "m.server": format!("{host}:{}", listen.port()) }),
    ))
}

/// `m.3pid_changes` says whether addresses can be added (mail configured).
pub async fn get_capabilities(
    State(threepids): State<Threepids>,
    _req: Ruma<get_capabilities::v3::Request>,
) -> Json<Value> {
    let available: serde_json::Map<String, Value> = SUPPORTED_ROOM_VERSIONS
        .iter()
        .map(|v| (v.to_string(), json!("stable")))
        .collect();
    Json(json!({
        "capabilities": {
            "m.change_password": { "enabled": true },
            "m.room_versions": { "default": DEFAULT_ROOM_VERSION.as_str(), "available": available },
            "m.set_displayname": { "enabled": true },
            "m.set_avatar_url": { "enabled": true },
            "m.3pid_changes": { "enabled": threepids.enabled() },
            "m.get_login_token": { "enabled": false },
        }
    }))
}

/// `GET /health`: 200 once the database answers.
pub async fn health(State(accounts): State<Accounts>) -> ApiResult<impl IntoResponse> {
    accounts.database_ready().await?;
    Ok("OK")
}
