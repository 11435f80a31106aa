//! Dehydrated devices (MSC3814): thin handlers over `DehydratedDevices`.

use axum::extract::State;
use ruma::{
    OwnedDeviceId,
    api::client::dehydrated_device::{
        delete_dehydrated_device, get_dehydrated_device, get_events, put_dehydrated_device,
    },
    serde::Raw,
};
use serde_json::{json, value::RawValue};

use crate::{
    error::ApiResult,
    ruma_wrapper::{Ruma, RumaResponse},
    services::dehydrated::DehydratedDevices,
};

/// Stored JSON text as a raw body part; `fallback` if it is not JSON
/// (only a damaged row: it was checked on the way in).
fn raw<T>(text: String, fallback: &str) -> Raw<T> {
    let raw = RawValue::from_string(text)
        .unwrap_or_else(|_| RawValue::from_string(fallback.to_owned()).expect("valid JSON"));
    Raw::from_json(raw)
}

pub async fn put_dehydrated_device(
    State(devices): State<DehydratedDevices>,
    req: Ruma<put_dehydrated_device::unstable::Request>,
) -> ApiResult<RumaResponse<put_dehydrated_device::unstable::Response>> {
    let me = req.user()?;
    // The raw body: the keys are checked and stored as the client sent them.
    let body = req.json_body.clone().unwrap_or_else(|| json!({}));
    devices
        .put(
            &me.user_id,
            &req.body.device_id,
            req.body.initial_device_display_name.clone(),
            &body,
        )
        .await?;
    Ok(RumaResponse(
        put_dehydrated_device::unstable::Response::new(req.body.device_id.clone()),
    ))
}

pub async fn get_dehydrated_device(
    State(devices): State<DehydratedDevices>,
    req: Ruma<get_dehydrated_device::unstable::Request>,
) -> ApiResult<RumaResponse<get_dehydrated_device::unstable::Response>> {
    let me = req.user()?;
    let (id, data) = devices.get(&me.user_id).await?;
    Ok(RumaResponse(
        get_dehydrated_device::unstable::Response::new(OwnedDeviceId::from(id), raw(data, "{}")),
    ))
}

pub async fn delete_dehydrated_device(
    State(devices): State<DehydratedDevices>,
    req: Ruma<delete_dehydrated_device::unstable::Request>,
) -> ApiResult<RumaResponse<delete_dehydrated_device::unstable::Response>> {
    let me = req.user()?;
    let id = devices.delete(&me.user_id).await?;
    Ok(RumaResponse(
        delete_dehydrated_device::unstable::Response::new(OwnedDeviceId::from(id)),
    ))
}

pub async fn get_dehydrated_events(
    State(devices): State<DehydratedDevices>,
    req: Ruma<get_events::unstable::Request>,
) -> ApiResult<RumaResponse<get_events::unstable::Response>> {
    let me = req.user()?;
    let page = devices
        .take_events(
            &me.user_id,
            &req.body.device_id,
            req.body.next_batch.as_deref(),
        )
        .await?;
    let mut res = get_events::unstable::Response::new(
        page.events.into_iter().map(|m| raw(m, "null")).collect(),
    );
    res.next_batch = Some(page.next_batch);
    Ok(RumaResponse(res))
}
