//! Dehydrated devices (MSC3814, as matrix-sdk implements them): a device
//! kept on the server that receives room keys while the user is offline.

use axum::{Json, extract::State};
use missive_store::{DehydratedDeviceStore, DeviceRecord, DeviceStore, KeyStore, ToDeviceStore};
use ruma::api::client::dehydrated_device::{
    delete_dehydrated_device, get_dehydrated_device, get_events, put_dehydrated_device,
};
use serde_json::{Value, json};

use crate::{
    error::{ApiError, ApiResult},
    ruma_wrapper::Ruma,
    services::{
        e2ee::E2ee,
        sync::{make_token, parse_token},
    },
    state::AppState,
};

/// To-device messages returned per call.
const EVENTS_PER_PAGE: i64 = 100;

pub async fn put_dehydrated_device(
    State(s): State<AppState>,
    req: Ruma<put_dehydrated_device::unstable::Request>,
) -> ApiResult<Json<Value>> {
    let me = req.user()?;
    let user = me.user_id.as_str();
    let body = req.json_body.clone().unwrap_or_else(|| json!({}));
    let device_id = req.body.device_id.to_string();
    let existing = s.store.device(user, &device_id).await?;
    let current = s.store.dehydrated_device(user).await?;
    if existing.is_some() && current.as_ref().is_none_or(|(id, _)| *id != device_id) {
        return Err(ApiError::invalid_param(
            "a normal device already has this ID",
        ));
    }
    let device_data = body
        .get("device_data")
        .filter(|d| d.is_object())
        .ok_or_else(|| ApiError::bad_json("missing device_data"))?;
    let device_keys = body
        .get("device_keys")
        .ok_or_else(|| ApiError::bad_json("missing device_keys"))?;
    let empty = serde_json::Map::new();
    let one_time = E2ee::parse_one_time_keys(
        body.get("one_time_keys")
            .and_then(Value::as_object)
            .unwrap_or(&empty),
    )?;
    let fallback = E2ee::parse_one_time_keys(
        body.get("fallback_keys")
            .and_then(Value::as_object)
            .unwrap_or(&empty),
    )?;

    s.store
        .upsert_device(DeviceRecord {
            user_id: user.to_owned(),
            device_id: device_id.clone(),
            display_name: req.body.initial_device_display_name.clone(),
            last_seen_ts: None,
            last_seen_ip: None,
        })
        .await?;
    s.e2ee
        .upload_device_keys(&me.user_id, &device_id, device_keys)
        .await?;
    s.store
        .add_one_time_keys(user, &device_id, &one_time)
        .await?;
    for key in &fallback {
        s.store.set_fallback_key(user, &device_id, key).await?;
    }
    if let Some(previous) = s
        .store
        .set_dehydrated_device(user, &device_id, &device_data.to_string())
        .await?
    {
        s.store.delete_devices(user, &[previous]).await?;
    }
    Ok(Json(json!({ "device_id": device_id })))
}

pub async fn get_dehydrated_device(
    State(s): State<AppState>,
    req: Ruma<get_dehydrated_device::unstable::Request>,
) -> ApiResult<Json<Value>> {
    let me = req.user()?;
    let (device_id, data) = s
        .store
        .dehydrated_device(me.user_id.as_str())
        .await?
        .ok_or_else(|| ApiError::not_found("no dehydrated device"))?;
    let data: Value = serde_json::from_str(&data).unwrap_or_else(|_| json!({}));
    Ok(Json(json!({ "device_id": device_id, "device_data": data })))
}

pub async fn delete_dehydrated_device(
    State(s): State<AppState>,
    req: Ruma<delete_dehydrated_device::unstable::Request>,
) -> ApiResult<Json<Value>> {
    let me = req.user()?;
    let user = me.user_id.as_str();
    let device_id = s
        .store
        .delete_dehydrated_device(user)
        .await?
        .ok_or_else(|| ApiError::not_found("no dehydrated device"))?;
    s.store
        .delete_devices(user, std::slice::from_ref(&device_id))
        .await?;
    Ok(Json(json!({ "device_id": device_id })))
}

pub async fn get_dehydrated_events(
    State(s): State<AppState>,
    req: Ruma<get_events::unstable::Request>,
) -> ApiResult<Json<Value>> {
    let me = req.user()?;
    let user = me.user_id.as_str();
    let (device_id, _) = s
        .store
        .dehydrated_device(user)
        .await?
        .ok_or_else(|| ApiError::not_found("no dehydrated device"))?;
    if device_id != req.body.device_id.as_str() {
        return Err(ApiError::forbidden("this is not your dehydrated device"));
    }
    let acked = req
        .body
        .next_batch
        .as_deref()
        .map(parse_token)
        .transpose()?;
    let upto = s.store.current_position().await?;
    let events: Vec<Value> = s
        .store
        .take_to_device(user, &device_id, acked, upto, EVENTS_PER_PAGE)
        .await?
        .iter()
        .map(|m| serde_json::from_str(m).unwrap_or(Value::Null))
        .collect();
    Ok(Json(
        json!({ "events": events, "next_batch": make_token(upto) }),
    ))
}
