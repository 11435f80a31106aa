//! One-time and fallback keys: uploaded by a device, claimed by others to
//! open an Olm session with it.

use std::collections::BTreeMap;

use missive_store::{KeyStore, OneTimeKey, StoreError};
use ruma::{DeviceId, UserId};

use super::E2ee;
use crate::error::{ApiError, ApiResult};

impl E2ee {
    /// Stores a device's new one-time and fallback keys; returns how many
    /// one-time keys it has left per algorithm.
    pub async fn upload_one_time_keys(
        &self,
        user: &UserId,
        device: &DeviceId,
        one_time: &[OneTimeKey],
        fallback: &[OneTimeKey],
    ) -> ApiResult<BTreeMap<String, i64>> {
        if !one_time.is_empty() {
            self.store
                .add_one_time_keys(user, device, one_time)
                .await
                .map_err(|e| match e {
                    StoreError::AlreadyExists(what) => ApiError::bad_json(format!(
                        "{what} was already uploaded with another value"
                    )),
                    other => other.into(),
                })?;
        }
        for key in fallback {
            self.store.set_fallback_key(user, device, key).await?;
        }
        Ok(self.store.one_time_key_counts(user, device).await?)
    }

    /// Takes one of a device's one-time keys of `algorithm` (its fallback
    /// key when none is left), if it has any.
    pub async fn claim_one_time_key(
        &self,
        user: &UserId,
        device: &DeviceId,
        algorithm: &str,
    ) -> ApiResult<Option<OneTimeKey>> {
        Ok(self.store.claim_key(user, device, algorithm).await?)
    }
}
