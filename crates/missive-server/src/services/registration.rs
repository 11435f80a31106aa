//! `POST /register`: the user-interactive auth of a new account, the
//! account, and its first session. A registration's session remembers, as
//! Synapse's does, the password and user name its first request gave (so
//! that the requests answering later stages need not repeat them) and the
//! account it created (so that a retry with the completed session, after a
//! lost answer, signs in to that account instead of failing or making
//! another).

use std::net::IpAddr;

use ruma::{OwnedDeviceId, OwnedUserId};
use serde_json::Value;

use crate::{
    config::RegistrationMode,
    error::{ApiError, ApiResult},
    services::{
        accounts::{Accounts, Session, random_alphanumeric},
        rate_limit::Limiter,
        threepids::Threepids,
        uiaa::{self, Attempt, Purpose, Uiaa},
    },
};

/// What a registration request asks for.
pub struct NewAccount<'a> {
    pub username: Option<&'a str>,
    pub password: Option<&'a str>,
    pub device_id: Option<OwnedDeviceId>,
    pub initial_device_display_name: Option<String>,
    pub inhibit_login: bool,
    pub guest: bool,
    /// A guest's access token: the registration upgrades that guest
    /// account to a full one.
    pub guest_access_token: Option<&'a str>,
    /// The request's `auth` object.
    pub auth: Option<&'a Value>,
    /// The request's method and path (the session is bound to them).
    pub operation: &'a str,
    pub ip: Option<IpAddr>,
}

/// The account, and its session unless the client inhibited the login.
pub struct Registered {
    pub user_id: OwnedUserId,
    pub session: Option<Session>,
}

#[derive(Clone)]
pub struct Registration {
    accounts: Accounts,
    uiaa: Uiaa,
    limiter: Limiter,
    mode: RegistrationMode,
    /// Whether guest accounts may be registered.
    guest_access: bool,
    threepids: Threepids,
    /// Whether an account needs a validated e-mail address.
    requires_email: bool,
}

/// The flows each registration mode offers: with mail configured an
/// address may be given (its own flow, as in Synapse), or must be.
type Flows = &'static [&'static [&'static str]];
const OPEN: Flows = &[&[uiaa::DUMMY]];
const OPEN_OR_EMAIL: Flows = &[&[uiaa::DUMMY], &[uiaa::EMAIL_IDENTITY]];
const EMAIL_ONLY: Flows = &[&[uiaa::EMAIL_IDENTITY]];
const TOKEN: Flows = &[&[uiaa::REGISTRATION_TOKEN]];
const TOKEN_OR_EMAIL: Flows = &[
    &[uiaa::REGISTRATION_TOKEN],
    &[uiaa::REGISTRATION_TOKEN, uiaa::EMAIL_IDENTITY],
];
const TOKEN_AND_EMAIL: Flows = &[&[uiaa::REGISTRATION_TOKEN, uiaa::EMAIL_IDENTITY]];

impl Registration {
    pub fn new(
        accounts: Accounts,
        uiaa: Uiaa,
        limiter: Limiter,
        mode: RegistrationMode,
        guest_access: bool,
        threepids: Threepids,
        requires_email: bool,
    ) -> Self {
        Self {
            accounts,
            uiaa,
            limiter,
            mode,
            guest_access,
            threepids,
            requires_email,
        }
    }

    /// One request of a registration: the 401 of the next stage, or the
    /// new (or, for a completed session, the already created) account.
    pub async fn register(&self, req: NewAccount<'_>) -> ApiResult<Registered> {
        self.limiter.check_register(req.ip)?;
        if req.guest {
            // Guests need no registration flow, whatever the mode (as
            // Synapse): only the guest switch.
            return self.register_guest(req).await;
        }
        let email = (self.threepids.enabled(), self.requires_email);
        let flows: Flows = match (self.mode, email) {
            (RegistrationMode::Disabled, _) => return Err(ApiError::RegistrationDisabled),
            (RegistrationMode::Open, (_, true)) => EMAIL_ONLY,
            (RegistrationMode::Open, (true, false)) => OPEN_OR_EMAIL,
            (RegistrationMode::Open, (false, false)) => OPEN,
            (RegistrationMode::Token, (_, true)) => TOKEN_AND_EMAIL,
            (RegistrationMode::Token, (true, false)) => TOKEN_OR_EMAIL,
            (RegistrationMode::Token, (false, false)) => TOKEN,
        };
        let upgraded_guest = match req.guest_access_token {
            Some(token) => Some(self.guest_to_upgrade(token, req.username, req.ip).await?),
            None => None,
        };
        let prior = self.uiaa.session_data(req.auth).await?;
        let asked = req.username.map(str::to_lowercase);
        // Check the name before the UIA dance so clients learn early; the
        // account this session already created is no longer available,
        // and is still the answer.
        let user_id = match (&prior.registered_user, &upgraded_guest) {
            (Some(user), _) => user.clone(),
            (None, Some(guest)) => guest.clone(),
            (None, None) => {
                let localpart = asked
                    .clone()
                    .or_else(|| prior.username.clone())
                    .unwrap_or_else(|| random_alphanumeric(12).to_lowercase());
                self.accounts.check_available(&localpart).await?
            }
        };
        let password = req.password.filter(|p| !p.is_empty());
        let attempt = Attempt {
            purpose: Purpose::Register,
            operation: req.operation,
            flows,
            auth: req.auth,
            ip: req.ip,
        };
        let completed = match self.uiaa.authenticate(attempt).await {
            Ok(completed) => completed,
            Err(ApiError::UiaRequired(body)) => {
                if let Some(session) = body.get("session").and_then(Value::as_str) {
                    self.remember(session, &prior, asked.as_deref(), password)
                        .await?;
                }
                return Err(ApiError::UiaRequired(body));
            }
            Err(other) => return Err(other),
        };

        let data = completed.data;
        if data.registered_user.is_none()
            && let Some(email) = &data.email
            && self.threepids.user_of_email(email).await?.is_some()
        {
            // Taken since the validation mail was sent.
            return Err(ApiError::ThreepidInUse("email is already in use".into()));
        }
        if data.registered_user.is_none() && upgraded_guest.is_some() {
            let hash = match (password, data.password_hash) {
                (Some(p), _) => self.accounts.password_hash(p).await?,
                (None, Some(hash)) => hash,
                (None, None) => {
                    return Err(ApiError::MissingParam(
                        "a password is required to keep the account".into(),
                    ));
                }
            };
            self.accounts.upgrade_guest(&user_id, &hash).await?;
            self.uiaa
                .remember(
                    &completed.session_id,
                    uiaa::REGISTERED_USER,
                    user_id.as_str(),
                )
                .await?;
            tracing::info!(user = %user_id, "guest upgraded to a full account");
        } else if data.registered_user.is_none() {
            match (password, data.password_hash) {
                (Some(p), _) => self.accounts.create_user(&user_id, Some(p), false).await?,
                (None, Some(hash)) => self.accounts.create_user_hashed(&user_id, hash).await?,
                (None, None) => {
                    return Err(ApiError::MissingParam("a password is required".into()));
                }
            }
            if let Some(token) = data.registration_token {
                self.uiaa.use_registration_token(&token).await?;
            }
            self.uiaa
                .remember(
                    &completed.session_id,
                    uiaa::REGISTERED_USER,
                    user_id.as_str(),
                )
                .await?;
            tracing::info!(user = %user_id, "registered");
        }
        if data.registered_user.is_none()
            && let Some(email) = &data.email
        {
            self.threepids.bind(&user_id, email).await?;
        }
        if req.inhibit_login {
            return Ok(Registered {
                user_id,
                session: None,
            });
        }
        let session = self
            .accounts
            .new_session(
                &user_id,
                req.device_id,
                req.initial_device_display_name,
                req.ip,
            )
            .await?;
        Ok(Registered {
            user_id,
            session: Some(session),
        })
    }

    /// A guest account with its first session (`register?kind=guest`).
    async fn register_guest(&self, req: NewAccount<'_>) -> ApiResult<Registered> {
        if !self.guest_access {
            return Err(ApiError::forbidden(
                "guest access is disabled on this server",
            ));
        }
        let user_id = self.accounts.create_guest().await?;
        tracing::info!(user = %user_id, "guest registered");
        let session = self
            .accounts
            .new_session(
                &user_id,
                req.device_id,
                req.initial_device_display_name,
                req.ip,
            )
            .await?;
        Ok(Registered {
            user_id,
            session: Some(session),
        })
    }

    /// The guest whose token a registration gives, to become a full
    /// account under the same name (any other name is refused, as Synapse
    /// refuses it).
    async fn guest_to_upgrade(
        &self,
        token: &str,
        username: Option<&str>,
        ip: Option<IpAddr>,
    ) -> ApiResult<OwnedUserId> {
        let guest = self
            .accounts
            .authenticate(token, ip)
            .await
            .map_err(|_| ApiError::forbidden("invalid guest access token"))?;
        if !guest.is_guest {
            return Err(ApiError::forbidden("that access token is not a guest's"));
        }
        if username.is_some_and(|u| !u.eq_ignore_ascii_case(guest.user_id.localpart())) {
            return Err(ApiError::forbidden(
                "a guest account keeps its user ID when it is upgraded",
            ));
        }
        Ok(guest.user_id)
    }

    /// Keeps what this request gave for the session's later requests: the
    /// password (hashed, once) and the user name asked for.
    async fn remember(
        &self,
        session: &str,
        prior: &uiaa::SessionData,
        username: Option<&str>,
        password: Option<&str>,
    ) -> ApiResult<()> {
        if let (None, Some(p)) = (&prior.password_hash, password) {
            let hash = self.accounts.password_hash(p).await?;
            self.uiaa
                .remember(session, uiaa::PASSWORD_HASH, &hash)
                .await?;
        }
        if let (None, Some(name)) = (&prior.username, username) {
            self.uiaa.remember(session, uiaa::USERNAME, name).await?;
        }
        Ok(())
    }
}
