//! OpenID tokens: a user asks for one to prove who they are to a third
//! party (an integration manager, a widget), which asks this server, over
//! the federation API, whose token it is. Tokens live an hour, as
//! Synapse's do, and only their hash is stored.

use std::{sync::Arc, time::Duration};

use missive_store::{OpenIdStore, SqlStore};
use ruma::{OwnedServerName, OwnedUserId, UserId};

use crate::{
    error::{ApiError, ApiResult},
    services::accounts::{hash_token, random_token},
    time::now_ms,
};

/// How long an OpenID token is valid (Synapse: an hour).
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// A new OpenID token and how long it is valid.
pub struct OpenIdToken {
    pub access_token: String,
    pub server_name: OwnedServerName,
    pub expires_in: Duration,
}

#[derive(Clone)]
pub struct OpenId {
    store: Arc<SqlStore>,
    server_name: OwnedServerName,
}

impl OpenId {
    pub fn new(store: Arc<SqlStore>, server_name: OwnedServerName) -> Self {
        Self { store, server_name }
    }

    /// A token proving that `caller` is `user`: only for oneself.
    pub async fn request_token(&self, caller: &UserId, user: &UserId) -> ApiResult<OpenIdToken> {
        if caller != user {
            return Err(ApiError::forbidden(
                "an OpenID token can only be requested for oneself",
            ));
        }
        let token = random_token();
        let now = now_ms();
        let lifetime = i64::try_from(TOKEN_LIFETIME.as_millis()).unwrap_or(i64::MAX);
        self.store
            .add_openid_token(&hash_token(&token), user, now.saturating_add(lifetime), now)
            .await?;
        Ok(OpenIdToken {
            access_token: token,
            server_name: self.server_name.clone(),
            expires_in: TOKEN_LIFETIME,
        })
    }

    /// The user a valid token was given to; `M_UNKNOWN_TOKEN` otherwise.
    pub async fn userinfo(&self, token: &str) -> ApiResult<OwnedUserId> {
        let owner = self
            .store
            .openid_token_user(&hash_token(token), now_ms())
            .await?
            .ok_or(ApiError::UnknownToken)?;
        OwnedUserId::try_from(owner)
            .map_err(|e| ApiError::Internal(format!("stored OpenID token owner: {e}")))
    }
}
