//! Changing a password: signed in, confirmed with the current password;
//! not signed in, a reset confirmed by proving one holds an e-mail address
//! of the account. Either may end the account's other sessions.

use std::net::IpAddr;

use ruma::UserId;
use serde_json::Value;

use crate::{
    error::{ApiError, ApiResult},
    services::{accounts::Accounts, devices::Devices, threepids::Threepids, uiaa::Uiaa},
};

#[derive(Clone)]
pub struct Passwords {
    accounts: Accounts,
    devices: Devices,
    threepids: Threepids,
    uiaa: Uiaa,
}

/// A password change as a client asks for it.
pub struct NewPassword<'a> {
    pub password: &'a str,
    /// End the account's other sessions (all of them, for a reset).
    pub logout_devices: bool,
    /// The request's `auth` (user-interactive authentication), its
    /// operation (method and path) and the client's address.
    pub auth: Option<&'a Value>,
    pub operation: &'a str,
    pub client_ip: Option<IpAddr>,
}

impl Passwords {
    pub fn new(accounts: Accounts, devices: Devices, threepids: Threepids, uiaa: Uiaa) -> Self {
        Self {
            accounts,
            devices,
            threepids,
            uiaa,
        }
    }

    /// Signed in as `user` on `device`: confirmed with the current password.
    pub async fn change(
        &self,
        user: &UserId,
        device: &ruma::DeviceId,
        new: NewPassword<'_>,
    ) -> ApiResult<()> {
        self.uiaa
            .confirm_password(user, new.operation, new.auth, new.client_ip)
            .await?;
        require_password(new.password)?;
        self.accounts.set_password(user, new.password).await?;
        if new.logout_devices {
            self.devices.delete_all(user, Some(device)).await?;
        }
        Ok(())
    }

    /// Not signed in: confirmed by the validated e-mail address the
    /// authentication names, which must belong to an account.
    pub async fn reset(&self, new: NewPassword<'_>) -> ApiResult<()> {
        let address = self
            .uiaa
            .confirm_email_owner(new.operation, new.auth, new.client_ip)
            .await?;
        let user = self
            .threepids
            .user_of_email(&address)
            .await?
            .ok_or_else(|| ApiError::ThreepidNotFound("email not found".into()))?;
        require_password(new.password)?;
        self.accounts.set_password(&user, new.password).await?;
        if new.logout_devices {
            self.devices.delete_all(&user, None).await?;
        }
        tracing::info!(%user, "password reset by e-mail");
        Ok(())
    }
}

fn require_password(password: &str) -> ApiResult<()> {
    if password.is_empty() {
        return Err(ApiError::MissingParam(
            "new_password must not be empty".into(),
        ));
    }
    Ok(())
}
