//! Dehydrated devices (MSC3814, as matrix-sdk implements them): a device
//! kept on the server that receives room keys while the user is offline,
//! and the to-device messages it collects until a client rehydrates it.

use std::sync::Arc;

use missive_store::{
    DehydratedDeviceStore, DeviceRecord, DeviceStore, KeyStore, SqlStore, ToDeviceStore,
};
use ruma::{DeviceId, OwnedDeviceId, UserId};
use serde_json::{Map, Value};

use crate::{
    error::{ApiError, ApiResult},
    services::{
        e2ee::E2ee,
        sync::{make_token, parse_token},
    },
};

/// To-device messages returned per call.
const EVENTS_PER_PAGE: i64 = 100;

/// One page of a dehydrated device's to-device messages.
pub struct EventsPage {
    /// Each message as stored (JSON text).
    pub events: Vec<String>,
    /// The token that acknowledges this page.
    pub next_batch: String,
}

#[derive(Clone)]
pub struct DehydratedDevices {
    store: Arc<SqlStore>,
    e2ee: E2ee,
}

impl DehydratedDevices {
    pub fn new(store: Arc<SqlStore>, e2ee: E2ee) -> Self {
        Self { store, e2ee }
    }

    /// Makes `device_id` the user's dehydrated device, with the keys and
    /// `device_data` of an MSC3814 upload body; a previous dehydrated
    /// device is deleted. A normal device's ID is refused.
    pub async fn put(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        display_name: Option<String>,
        body: &Value,
    ) -> ApiResult<()> {
        let existing = self.store.device(user_id, device_id).await?;
        let current = self.store.dehydrated_device(user_id).await?;
        if existing.is_some()
            && current
                .as_ref()
                .is_none_or(|(id, _)| id != device_id.as_str())
        {
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
        let empty = Map::new();
        let keys_in = |field: &str| {
            E2ee::parse_one_time_keys(body.get(field).and_then(Value::as_object).unwrap_or(&empty))
        };
        let one_time = keys_in("one_time_keys")?;
        let fallback = keys_in("fallback_keys")?;

        self.store
            .upsert_device(DeviceRecord {
                user_id: user_id.to_string(),
                device_id: device_id.to_string(),
                display_name,
                last_seen_ts: None,
                last_seen_ip: None,
            })
            .await?;
        self.e2ee
            .upload_device_keys(user_id, device_id.as_str(), device_keys)
            .await?;
        self.store
            .add_one_time_keys(user_id, device_id, &one_time)
            .await?;
        for key in &fallback {
            self.store.set_fallback_key(user_id, device_id, key).await?;
        }
        if let Some(previous) = self
            .store
            .set_dehydrated_device(user_id, device_id, &device_data.to_string())
            .await?
        {
            let previous = OwnedDeviceId::from(previous);
            self.store.delete_devices(user_id, &[previous]).await?;
        }
        Ok(())
    }

    /// The user's dehydrated device: its ID and `device_data` (JSON text).
    pub async fn get(&self, user: &UserId) -> ApiResult<(String, String)> {
        self.store
            .dehydrated_device(user)
            .await?
            .ok_or_else(|| ApiError::not_found("no dehydrated device"))
    }

    /// Deletes the user's dehydrated device; returns its ID.
    pub async fn delete(&self, user: &UserId) -> ApiResult<String> {
        let device_id = self
            .store
            .delete_dehydrated_device(user)
            .await?
            .ok_or_else(|| ApiError::not_found("no dehydrated device"))?;
        self.store
            .delete_devices(user, &[OwnedDeviceId::from(device_id.as_str())])
            .await?;
        Ok(device_id)
    }

    /// The next page of the device's to-device messages; `next_batch` from
    /// the previous page acknowledges (deletes) that page's messages.
    pub async fn take_events(
        &self,
        user: &UserId,
        device_id: &DeviceId,
        next_batch: Option<&str>,
    ) -> ApiResult<EventsPage> {
        let (current, _) = self.get(user).await?;
        if current != device_id.as_str() {
            return Err(ApiError::forbidden("this is not your dehydrated device"));
        }
        let acked = next_batch.map(parse_token).transpose()?;
        let upto = self.store.current_position().await?;
        let events = self
            .store
            .take_to_device(user, device_id, acked, upto, EVENTS_PER_PAGE)
            .await?;
        Ok(EventsPage {
            events,
            next_batch: make_token(upto),
        })
    }
}
