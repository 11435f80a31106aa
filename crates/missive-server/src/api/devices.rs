//! Device management.

use axum::extract::State;
use missive_store::DeviceRecord;
use ruma::{
    MilliSecondsSinceUnixEpoch, OwnedDeviceId, UInt,
    api::client::{
        admin::get_user_info,
        device::{Device, delete_device, delete_devices, get_device, get_devices, update_device},
    },
};

use crate::{
    error::ApiResult,
    ruma_wrapper::{Ruma, RumaResponse},
    services::{devices::Devices, uiaa::Uiaa},
};

fn last_seen(d: &DeviceRecord) -> Option<MilliSecondsSinceUnixEpoch> {
    d.last_seen_ts
        .and_then(|ts| UInt::try_from(ts).ok())
        .map(MilliSecondsSinceUnixEpoch)
}

fn device(d: DeviceRecord) -> Device {
    let seen = last_seen(&d);
    let mut device = Device::new(OwnedDeviceId::from(d.device_id));
    device.last_seen_ts = seen;
    device.display_name = d.display_name;
    device.last_seen_ip = d.last_seen_ip;
    device
}

pub async fn get_devices(
    State(devices): State<Devices>,
    req: Ruma<get_devices::v3::Request>,
) -> ApiResult<RumaResponse<get_devices::v3::Response>> {
    let me = req.user()?;
    let list = devices
        .list(&me.user_id)
        .await?
        .into_iter()
        .map(device)
        .collect();
    Ok(RumaResponse(get_devices::v3::Response::new(list)))
}

pub async fn get_device(
    State(devices): State<Devices>,
    req: Ruma<get_device::v3::Request>,
) -> ApiResult<RumaResponse<get_device::v3::Response>> {
    let me = req.user()?;
    let found = devices.get(&me.user_id, &req.body.device_id).await?;
    Ok(RumaResponse(get_device::v3::Response::new(device(found))))
}

pub async fn update_device(
    State(devices): State<Devices>,
    req: Ruma<update_device::v3::Request>,
) -> ApiResult<RumaResponse<update_device::v3::Response>> {
    let me = req.user()?;
    let name = req.body.display_name.as_deref().unwrap_or_default();
    devices
        .rename(&me.user_id, &req.body.device_id, name)
        .await?;
    Ok(RumaResponse(update_device::v3::Response::new()))
}

pub async fn delete_device(
    State(devices): State<Devices>,
    State(uiaa): State<Uiaa>,
    req: Ruma<delete_device::v3::Request>,
) -> ApiResult<RumaResponse<delete_device::v3::Response>> {
    let me = req.user()?;
    // An unknown device is said before asking for the password.
    devices.get(&me.user_id, &req.body.device_id).await?;
    let auth = req.json_body.as_ref().and_then(|b| b.get("auth"));
    uiaa.confirm_password(&me.user_id, &req.operation, auth, req.client_ip)
        .await?;
    devices.delete(&me.user_id, &[&req.body.device_id]).await?;
    Ok(RumaResponse(delete_device::v3::Response::new()))
}

pub async fn delete_devices(
    State(devices): State<Devices>,
    State(uiaa): State<Uiaa>,
    req: Ruma<delete_devices::v3::Request>,
) -> ApiResult<RumaResponse<delete_devices::v3::Response>> {
    let me = req.user()?;
    let auth = req.json_body.as_ref().and_then(|b| b.get("auth"));
    uiaa.confirm_password(&me.user_id, &req.operation, auth, req.client_ip)
        .await?;
    let ids: Vec<&ruma::DeviceId> = req.body.devices.iter().map(|d| d.as_ref()).collect();
    devices.delete(&me.user_id, &ids).await?;
    Ok(RumaResponse(delete_devices::v3::Response::new()))
}

/// `GET /admin/whois/{userId}`: each device is one session with one
/// connection, its last-seen address and time (the server keeps no user
/// agents).
pub async fn get_user_info(
    State(devices): State<Devices>,
    req: Ruma<get_user_info::v3::Request>,
) -> ApiResult<RumaResponse<get_user_info::v3::Response>> {
    use get_user_info::v3::{ConnectionInfo, DeviceInfo, Response, SessionInfo};
    let me = req.user()?;
    let mut response = Response::new();
    response.user_id = Some(req.body.user_id.clone());
    for d in devices.whois(me, &req.body.user_id).await? {
        let mut connection = ConnectionInfo::new();
        connection.last_seen = last_seen(&d);
        connection.ip = d.last_seen_ip;
        let mut session = SessionInfo::new();
        session.connections = vec![connection];
        let mut info = DeviceInfo::new();
        info.sessions = vec![session];
        response.devices.insert(d.device_id, info);
    }
    Ok(RumaResponse(response))
}
