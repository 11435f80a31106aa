//! Local users' end-to-end keys as other servers ask for them: a user's
//! device list, device and cross-signing keys, and one-time key claims.
//! Users of other servers are not answered for (Synapse: 400 for a device
//! list, left out of a query or claim). Device display names are left out,
//! as Synapse does by default (`allow_device_name_lookup_over_federation`).

use axum::{Json, extract::State};
use ruma::api::federation::{
    device::get_devices,
    keys::{claim_keys, get_keys},
};
use serde_json::{Map, Value, json};

use crate::{
    error::{ApiError, ApiResult},
    federation_request::FederationRequest,
    services::{e2ee::E2ee, federation::remote_keys::RemoteKeys},
    state::AppState,
};

/// Most one-time keys one request may claim.
const MAX_CLAIMS: usize = 1000;

/// A device's keys without the local display name.
fn without_name(mut keys: Value) -> Value {
    if let Some(unsigned) = keys.get_mut("unsigned").and_then(Value::as_object_mut) {
        unsigned.remove("device_display_name");
        if unsigned.is_empty()
            && let Some(object) = keys.as_object_mut()
        {
            object.remove("unsigned");
        }
    }
    keys
}

pub async fn get_devices(
    State(s): State<AppState>,
    req: FederationRequest<get_devices::v1::Request>,
) -> ApiResult<Json<Value>> {
    let user = &req.body.user_id;
    if !s.remote_keys.is_local(user) {
        return Err(ApiError::invalid_param(
            "user is not hosted on this homeserver",
        ));
    }
    let stream_id = s.remote_keys.local_device_list_stream_id(user).await?;
    let devices: Vec<Value> = s
        .e2ee
        .query_device_keys(user, &[])
        .await?
        .into_iter()
        .map(|(device, keys)| json!({ "device_id": device, "keys": without_name(keys) }))
        .collect();
    let cross = s.e2ee.cross_signing_keys(user).await?;
    let mut answer = json!({
        "user_id": user,
        "stream_id": stream_id,
        "devices": devices,
    });
    if let Some(k) = cross.get("master") {
        answer["master_key"] = k.clone();
    }
    if let Some(k) = cross.get("self_signing") {
        answer["self_signing_key"] = k.clone();
    }
    Ok(Json(answer))
}

pub async fn query_keys(
    State(e2ee): State<E2ee>,
    State(remote_keys): State<RemoteKeys>,
    req: FederationRequest<get_keys::v1::Request>,
) -> ApiResult<Json<Value>> {
    let mut device_keys = Map::new();
    let mut master = Map::new();
    let mut self_signing = Map::new();
    for (user, devices) in &req.body.device_keys {
        if !remote_keys.is_local(user) {
            continue;
        }
        let devices: Vec<String> = devices.iter().map(ToString::to_string).collect();
        let keys: Map<String, Value> = e2ee
            .query_device_keys(user, &devices)
            .await?
            .into_iter()
            .map(|(d, k)| (d, without_name(k)))
            .collect();
        device_keys.insert(user.to_string(), Value::Object(keys));
        let cross = e2ee.cross_signing_keys(user).await?;
        if let Some(k) = cross.get("master") {
            master.insert(user.to_string(), k.clone());
        }
        if let Some(k) = cross.get("self_signing") {
            self_signing.insert(user.to_string(), k.clone());
        }
    }
    Ok(Json(json!({
        "device_keys": device_keys,
        "master_keys": master,
        "self_signing_keys": self_signing,
    })))
}

pub async fn claim_keys(
    State(e2ee): State<E2ee>,
    State(remote_keys): State<RemoteKeys>,
    req: FederationRequest<claim_keys::v1::Request>,
) -> ApiResult<Json<Value>> {
    let claims: usize = req.body.one_time_keys.values().map(|d| d.len()).sum();
    if claims > MAX_CLAIMS {
        return Err(ApiError::TooLarge("too many keys claimed at once".into()));
    }
    let mut claimed = Map::new();
    for (user, devices) in &req.body.one_time_keys {
        if !remote_keys.is_local(user) {
            continue;
        }
        let mut by_device = Map::new();
        for (device, algorithm) in devices {
            if let Some(key) = e2ee
                .claim_one_time_key(user, device, algorithm.as_str())
                .await?
            {
                let value: Value = serde_json::from_str(&key.key_json).unwrap_or(Value::Null);
                by_device.insert(
                    device.to_string(),
                    json!({ format!("{}:{}", key.algorithm, key.key_id): value }),
                );
            }
        }
        if !by_device.is_empty() {
            claimed.insert(user.to_string(), Value::Object(by_device));
        }
    }
    Ok(Json(json!({ "one_time_keys": claimed })))
}
