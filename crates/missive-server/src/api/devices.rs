//! Device management.

use axum::{Json, extract::State};
use missive_store::{DeviceRecord, DeviceStore};
use ruma::api::client::device::{
    delete_device, delete_devices, get_device, get_devices, update_device,
};
use serde_json::{Value, json};

use crate::{
    error::{ApiError, ApiResult},
    ruma_wrapper::Ruma,
    services::uiaa::{self, Purpose},
    state::AppState,
};

fn device_json(d: &DeviceRecord) -> Value {
    json!({
        "device_id": d.device_id,
        "display_name": d.display_name,
        "last_seen_ip": d.last_seen_ip,
        "last_seen_ts": d.last_seen_ts,
    })
}

pub async fn get_devices(
    State(s): State<AppState>,
    req: Ruma<get_devices::v3::Request>,
) -> ApiResult<Json<Value>> {
    let me = req.user()?;
    let devices = s.store.devices(me.user_id.as_str()).await?;
    Ok(Json(
        json!({ "devices": devices.iter().map(device_json).collect::<Vec<_>>() }),
    ))
}

pub async fn get_device(
    State(s): State<AppState>,
    req: Ruma<get_device::v3::Request>,
) -> ApiResult<Json<Value>> {
    let me = req.user()?;
    let device = s
        .store
        .device(me.user_id.as_str(), req.body.device_id.as_str())
        .await?
        .ok_or_else(|| ApiError::not_found("device not found"))?;
    Ok(Json(device_json(&device)))
}

pub async fn update_device(
    State(s): State<AppState>,
    req: Ruma<update_device::v3::Request>,
) -> ApiResult<Json<Value>> {
    let me = req.user()?;
    let name = req.body.display_name.clone().unwrap_or_default();
    if name.len() > 512 {
        return Err(ApiError::invalid_param("display name too long"));
    }
    if !s
        .store
        .rename_device(me.user_id.as_str(), req.body.device_id.as_str(), &name)
        .await?
    {
        return Err(ApiError::not_found("device not found"));
    }
    Ok(Json(json!({})))
}

pub async fn delete_device(
    State(s): State<AppState>,
    req: Ruma<delete_device::v3::Request>,
) -> ApiResult<Json<Value>> {
    let me = req.user()?;
    if s.store
        .device(me.user_id.as_str(), req.body.device_id.as_str())
        .await?
        .is_none()
    {
        return Err(ApiError::not_found("device not found"));
    }
    let auth = req.json_body.as_ref().and_then(|b| b.get("auth"));
    s.uiaa
        .authenticate(
            Purpose::Account(&me.user_id),
            &[&[uiaa::PASSWORD]],
            auth,
            req.client_ip,
        )
        .await?;
    s.store
        .delete_devices(me.user_id.as_str(), &[req.body.device_id.to_string()])
        .await?;
    s.notify_latest().await?;
    Ok(Json(json!({})))
}

pub async fn delete_devices(
    State(s): State<AppState>,
    req: Ruma<delete_devices::v3::Request>,
) -> ApiResult<Json<Value>> {
    let me = req.user()?;
    let auth = req.json_body.as_ref().and_then(|b| b.get("auth"));
    s.uiaa
        .authenticate(
            Purpose::Account(&me.user_id),
            &[&[uiaa::PASSWORD]],
            auth,
            req.client_ip,
        )
        .await?;
    let ids: Vec<String> = req.body.devices.iter().map(ToString::to_string).collect();
    s.store.delete_devices(me.user_id.as_str(), &ids).await?;
    s.notify_latest().await?;
    Ok(Json(json!({})))
}
