//! End-to-end encryption keys: upload, query, claim, changes, cross-signing.

use std::time::Duration;

use axum::{Json, extract::State};
use ruma::{
    OneTimeKeyAlgorithm, UInt, UserId,
    api::client::{
        keys::{
            claim_keys, get_key_changes, get_keys, upload_keys, upload_signatures,
            upload_signing_keys,
        },
        to_device::send_event_to_device,
    },
};
use serde_json::{Map, Value, json};

use crate::{
    error::{ApiError, ApiResult},
    ruma_wrapper::{Ruma, RumaResponse},
    services::{
        e2ee::E2ee,
        federation::remote_keys::{MAX_REMOTE_TIMEOUT, by_server},
        sync::parse_token,
    },
    state::AppState,
};

/// Most keys one request may upload or claim.
const MAX_KEYS_PER_REQUEST: usize = 1000;

/// How long a query or claim waits for other servers: the client's
/// `timeout` (10 seconds by default, as the spec says), bounded.
fn remote_timeout(asked: Option<Duration>) -> Duration {
    asked
        .unwrap_or(Duration::from_secs(10))
        .min(MAX_REMOTE_TIMEOUT)
}

fn object<'a>(body: &'a Option<Value>, field: &str) -> Option<&'a Map<String, Value>> {
    body.as_ref()
        .and_then(|b| b.get(field))
        .and_then(Value::as_object)
}

pub async fn upload_keys(
    State(s): State<AppState>,
    req: Ruma<upload_keys::v3::Request>,
) -> ApiResult<RumaResponse<upload_keys::v3::Response>> {
    let me = req.user()?;
    let device = me.device_id.as_str();
    let body = &req.json_body;
    let one_time = object(body, "one_time_keys")
        .map(E2ee::parse_one_time_keys)
        .transpose()?
        .unwrap_or_default();
    let fallback = object(body, "fallback_keys")
        .map(E2ee::parse_one_time_keys)
        .transpose()?
        .unwrap_or_default();
    if one_time.len() + fallback.len() > MAX_KEYS_PER_REQUEST {
        return Err(ApiError::TooLarge("too many keys in one upload".into()));
    }
    if let Some(keys) = body
        .as_ref()
        .and_then(|b| b.get("device_keys"))
        .filter(|v| !v.is_null())
    {
        s.e2ee.upload_device_keys(&me.user_id, device, keys).await?;
    }
    let counts = s
        .e2ee
        .upload_one_time_keys(&me.user_id, &me.device_id, &one_time, &fallback)
        .await?;
    let counts = counts
        .into_iter()
        .map(|(algorithm, n)| {
            let n = UInt::try_from(n.max(0)).unwrap_or_default();
            (OneTimeKeyAlgorithm::from(algorithm.as_str()), n)
        })
        .collect();
    Ok(RumaResponse(upload_keys::v3::Response::new(counts)))
}

pub async fn get_keys(
    State(s): State<AppState>,
    req: Ruma<get_keys::v3::Request>,
) -> ApiResult<Json<Value>> {
    let me = req.user()?;
    let mut device_keys = Map::new();
    let mut master = Map::new();
    let mut self_signing = Map::new();
    let mut user_signing = Map::new();
    let mut failures = Map::new();
    let mut remote = Vec::new();
    for (user, devices) in &req.body.device_keys {
        if user.server_name() != s.accounts.server_name() {
            remote.push((user.clone(), devices.clone()));
            continue;
        }
        let devices: Vec<String> = devices.iter().map(ToString::to_string).collect();
        device_keys.insert(
            user.to_string(),
            Value::Object(s.e2ee.query_device_keys(user, &devices).await?),
        );
        let cross = s.e2ee.cross_signing_keys(user).await?;
        if let Some(k) = cross.get("master") {
            master.insert(user.to_string(), k.clone());
        }
        if let Some(k) = cross.get("self_signing") {
            self_signing.insert(user.to_string(), k.clone());
        }
        // A user's user-signing key is only for themself.
        if *user == me.user_id
            && let Some(k) = cross.get("user_signing")
        {
            user_signing.insert(user.to_string(), k.clone());
        }
    }
    if !remote.is_empty() {
        let answer = s
            .remote_keys
            .query(by_server(remote), remote_timeout(req.body.timeout))
            .await?;
        device_keys.extend(answer.device_keys);
        master.extend(answer.master_keys);
        self_signing.extend(answer.self_signing_keys);
        failures.extend(answer.failures);
    }
    Ok(Json(json!({
        "device_keys": device_keys,
        "master_keys": master,
        "self_signing_keys": self_signing,
        "user_signing_keys": user_signing,
        "failures": failures,
    })))
}

pub async fn claim_keys(
    State(s): State<AppState>,
    req: Ruma<claim_keys::v3::Request>,
) -> ApiResult<Json<Value>> {
    req.user()?;
    let mut claimed = Map::new();
    let mut failures = Map::new();
    let mut n = 0;
    let mut remote = Vec::new();
    for (user, devices) in &req.body.one_time_keys {
        n += devices.len();
        if n > MAX_KEYS_PER_REQUEST {
            return Err(ApiError::TooLarge("too many keys claimed at once".into()));
        }
        if user.server_name() != s.accounts.server_name() {
            remote.push((user.clone(), devices.clone()));
            continue;
        }
        let mut by_device = Map::new();
        for (device, algorithm) in devices {
            if let Some(key) = s
                .e2ee
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
    if !remote.is_empty() {
        let answer = s
            .remote_keys
            .claim(by_server(remote), remote_timeout(req.body.timeout))
            .await;
        claimed.extend(answer.one_time_keys);
        failures.extend(answer.failures);
    }
    Ok(Json(
        json!({ "one_time_keys": claimed, "failures": failures }),
    ))
}

pub async fn get_key_changes(
    State(s): State<AppState>,
    req: Ruma<get_key_changes::v3::Request>,
) -> ApiResult<RumaResponse<get_key_changes::v3::Response>> {
    let me = req.user()?;
    let from = parse_token(&req.body.from)?;
    // Changes after `to` are reported too: a client only ever asks up to
    // its latest sync token, and an extra user costs one redundant query.
    parse_token(&req.body.to)?;
    let (changed, left) = s.syncer.key_changes(&me.user_id, from).await?;
    Ok(RumaResponse(get_key_changes::v3::Response::new(
        changed, left,
    )))
}

pub async fn upload_signing_keys(
    State(s): State<AppState>,
    req: Ruma<upload_signing_keys::v3::Request>,
) -> ApiResult<RumaResponse<upload_signing_keys::v3::Response>> {
    let me = req.user()?;
    let body = req.json_body.clone().unwrap_or_else(|| json!({}));
    let field = |name: &str| body.get(name).filter(|v| !v.is_null());
    let current = s.e2ee.cross_signing_keys(&me.user_id).await?;
    let master = field("master_key");
    // Replacing an existing master key needs the password; the first upload
    // does not (MSC3967), nor does re-uploading identical keys.
    let replaces_master =
        current.get("master").is_some_and(|m| Some(m) != master) && master.is_some();
    let replaces_other = ["self_signing_key", "user_signing_key"].iter().any(|f| {
        let ty = f.trim_end_matches("_key");
        field(f).is_some_and(|k| current.get(ty).is_some_and(|c| c != k))
    });
    if replaces_master || replaces_other {
        s.uiaa
            .confirm_password(&me.user_id, &req.operation, body.get("auth"), req.client_ip)
            .await?;
    }
    s.e2ee
        .upload_cross_signing_keys(
            &me.user_id,
            master,
            field("self_signing_key"),
            field("user_signing_key"),
        )
        .await?;
    Ok(RumaResponse(upload_signing_keys::v3::Response::new()))
}

pub async fn upload_signatures(
    State(s): State<AppState>,
    req: Ruma<upload_signatures::v3::Request>,
) -> ApiResult<Json<Value>> {
    let me = req.user()?;
    let signed = req
        .json_body
        .as_ref()
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let failures = s.e2ee.upload_signatures(&me.user_id, &signed).await?;
    Ok(Json(json!({ "failures": failures })))
}

pub async fn send_event_to_device(
    State(s): State<AppState>,
    req: Ruma<send_event_to_device::v3::Request>,
) -> ApiResult<RumaResponse<send_event_to_device::v3::Response>> {
    let me = req.user()?;
    let messages = object(&req.json_body, "messages")
        .cloned()
        .unwrap_or_default();
    for user in messages.keys() {
        UserId::parse(user)
            .map_err(|_| ApiError::invalid_param(format!("invalid user ID {user}")))?;
    }
    s.e2ee
        .send_to_device(
            &me.user_id,
            me.device_id.as_str(),
            req.body.txn_id.as_str(),
            &req.body.event_type.to_string(),
            &messages,
        )
        .await?;
    Ok(RumaResponse(send_event_to_device::v3::Response::new()))
}
