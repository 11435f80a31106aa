//! TURN credentials for calls (`GET /voip/turnServer`): time-limited
//! ones computed with the secret shared with the TURN server
//! (`missive_core::turn`), nothing stored. Without a TURN server
//! configured there is nothing to hand out.

use std::{sync::Arc, time::Duration};

use crate::{
    config::TurnConfig,
    error::{ApiError, ApiResult},
    services::accounts::Identity,
    time::now_ms,
};

/// What a client is told to use.
pub struct TurnServer {
    pub username: String,
    pub password: String,
    pub uris: Vec<String>,
    pub ttl: Duration,
}

#[derive(Clone)]
pub struct Turn {
    config: Arc<TurnConfig>,
}

impl Turn {
    pub fn new(config: TurnConfig) -> Self {
        Self {
            config: Arc::new(config),
        }
    }

    /// Credentials for `caller`, valid for the configured time; `None`
    /// without a TURN server. Guests get none unless allowed.
    pub fn credentials_for(&self, caller: &Identity) -> ApiResult<Option<TurnServer>> {
        let config = &self.config;
        // As Synapse's `turn_allow_guests`: the guest is refused first.
        if caller.is_guest && !config.allow_guests {
            return Err(ApiError::GuestAccessForbidden);
        }
        let Some(secret) = config.secret.as_deref().filter(|_| !config.uris.is_empty()) else {
            return Ok(None);
        };
        let now_secs = u64::try_from(now_ms() / 1000).unwrap_or(0);
        let credentials = missive_core::turn::credentials(
            secret.as_bytes(),
            caller.user_id.as_str(),
            now_secs.saturating_add(config.ttl_secs),
        );
        Ok(Some(TurnServer {
            username: credentials.username,
            password: credentials.password,
            uris: config.uris.clone(),
            ttl: Duration::from_secs(config.ttl_secs),
        }))
    }
}
