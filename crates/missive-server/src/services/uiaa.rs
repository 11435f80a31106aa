//! User-interactive authentication (UIA): the 401 dance that guards
//! registration and sensitive account operations.

use std::{net::IpAddr, sync::Arc};

use missive_store::{AccountStore, SqlStore, UiaaSession, UiaaStore};
use ruma::UserId;
use serde_json::{Value, json};

use crate::{
    error::{ApiError, ApiResult},
    services::accounts::{Accounts, random_alphanumeric},
    time::now_ms,
};

/// How long an unfinished UIA session lives.
const SESSION_LIFETIME_MS: i64 = 30 * 60 * 1000;

pub const DUMMY: &str = "m.login.dummy";
pub const PASSWORD: &str = "m.login.password";
pub const REGISTRATION_TOKEN: &str = "m.login.registration_token";

/// What a UIA session authorises; a session started for one purpose cannot
/// complete another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purpose<'a> {
    Register,
    /// A sensitive operation on this user's account.
    Account(&'a UserId),
}

impl Purpose<'_> {
    fn key(&self) -> String {
        match self {
            Purpose::Register => "register".into(),
            Purpose::Account(user) => format!("account:{user}"),
        }
    }
}

/// What a completed UIA session proved.
#[derive(Debug, Default)]
pub struct Completed {
    /// The registration token used, to count its use once the account exists.
    pub registration_token: Option<String>,
}

#[derive(Clone)]
pub struct Uiaa {
    store: Arc<SqlStore>,
    accounts: Accounts,
}

impl Uiaa {
    pub fn new(store: Arc<SqlStore>, accounts: Accounts) -> Self {
        Self { store, accounts }
    }

    /// Runs one step of UIA with the request's `auth` object. Returns once a
    /// flow is complete; otherwise the 401 error carrying the session state.
    pub async fn authenticate(
        &self,
        purpose: Purpose<'_>,
        flows: &[&[&str]],
        auth: Option<&Value>,
        ip: Option<IpAddr>,
    ) -> ApiResult<Completed> {
        let now = now_ms();
        self.store
            .expire_uiaa_sessions(now - SESSION_LIFETIME_MS)
            .await?;
        let session_id = auth.and_then(|a| a.get("session")).and_then(Value::as_str);
        let existing = match session_id {
            Some(id) => self.store.uiaa_session(id).await?,
            None => None,
        };
        let mut session = existing.unwrap_or_else(|| UiaaSession {
            session_id: session_id
                .map(str::to_owned)
                .unwrap_or_else(|| random_alphanumeric(24)),
            completed: Vec::new(),
            params: json!({ "purpose": purpose.key() }).to_string(),
            created_ts: now,
        });
        let mut params: Value = serde_json::from_str(&session.params).unwrap_or_else(|_| json!({}));
        if params.get("purpose").and_then(Value::as_str) != Some(purpose.key().as_str()) {
            return Err(ApiError::forbidden(
                "this authentication session belongs to another request",
            ));
        }

        let stage = auth.and_then(|a| a.get("type")).and_then(Value::as_str);
        if let (Some(stage), Some(auth)) = (stage, auth) {
            let allowed = flows.iter().any(|f| f.contains(&stage));
            let result = if allowed {
                self.run_stage(&purpose, stage, auth, &mut params, ip).await
            } else {
                Err(ApiError::forbidden(format!(
                    "authentication stage {stage} is not offered"
                )))
            };
            match result {
                Ok(()) => {
                    if !session.completed.iter().any(|c| c == stage) {
                        session.completed.push(stage.to_owned());
                    }
                }
                // Too many attempts: answered as such (429 with the time to
                // wait), not as one more failed stage.
                Err(err @ ApiError::LimitExceeded { .. }) => return Err(err),
                Err(err) => {
                    session.params = params.to_string();
                    self.store.save_uiaa_session(&session).await?;
                    return Err(self.challenge(flows, &session, Some(&err)));
                }
            }
        }

        let done = flows
            .iter()
            .any(|f| f.iter().all(|s| session.completed.iter().any(|c| c == s)));
        if done {
            self.store.delete_uiaa_session(&session.session_id).await?;
            return Ok(Completed {
                registration_token: params
                    .get("registration_token")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            });
        }
        session.params = params.to_string();
        self.store.save_uiaa_session(&session).await?;
        Err(self.challenge(flows, &session, None))
    }

    async fn run_stage(
        &self,
        purpose: &Purpose<'_>,
        stage: &str,
        auth: &Value,
        params: &mut Value,
        ip: Option<IpAddr>,
    ) -> ApiResult<()> {
        match stage {
            DUMMY => Ok(()),
            PASSWORD => {
                let Purpose::Account(user) = purpose else {
                    return Err(ApiError::forbidden("password stage is not valid here"));
                };
                let given = auth
                    .get("identifier")
                    .and_then(|i| i.get("user"))
                    .or_else(|| auth.get("user"))
                    .and_then(Value::as_str);
                if let Some(given) = given
                    && self.accounts.resolve_login_user(given)?.as_str() != user.as_str()
                {
                    return Err(ApiError::forbidden("you can only authenticate as yourself"));
                }
                let password = auth
                    .get("password")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                self.accounts.check_password(user, password, ip).await
            }
            REGISTRATION_TOKEN => {
                let token = auth
                    .get("token")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if !self.registration_token_valid(token).await? {
                    return Err(ApiError::Unauthorized("invalid registration token".into()));
                }
                params["registration_token"] = Value::String(token.to_owned());
                Ok(())
            }
            other => Err(ApiError::forbidden(format!(
                "unsupported authentication stage {other}"
            ))),
        }
    }

    /// Asks the account's owner to confirm a sensitive change with their
    /// password (user-interactive auth with the one password stage).
    pub async fn confirm_password(
        &self,
        user: &UserId,
        auth: Option<&Value>,
        ip: Option<IpAddr>,
    ) -> ApiResult<()> {
        self.authenticate(Purpose::Account(user), &[&[PASSWORD]], auth, ip)
            .await
            .map(|_| ())
    }

    /// Counts one use of a registration token a completed registration
    /// presented.
    pub async fn use_registration_token(&self, token: &str) -> ApiResult<()> {
        Ok(self.store.use_registration_token(token).await?)
    }

    /// Whether a registration token exists, has not expired and has uses left.
    pub async fn registration_token_valid(&self, token: &str) -> ApiResult<bool> {
        let Some(t) = self.store.registration_token(token).await? else {
            return Ok(false);
        };
        let unexpired = t.expiry_ts.is_none_or(|exp| exp > now_ms());
        let uses_left = t.uses_allowed.is_none_or(|allowed| t.completed < allowed);
        Ok(unexpired && uses_left)
    }

    fn challenge(
        &self,
        flows: &[&[&str]],
        session: &UiaaSession,
        err: Option<&ApiError>,
    ) -> ApiError {
        let mut body = json!({
            "flows": flows.iter().map(|f| json!({ "stages": f })).collect::<Vec<_>>(),
            "params": {},
            "session": session.session_id,
            "completed": session.completed,
        });
        if let Some(err) = err {
            let code = match err {
                ApiError::Unauthorized(_) => "M_UNAUTHORIZED",
                ApiError::UserDeactivated => "M_USER_DEACTIVATED",
                _ => "M_FORBIDDEN",
            };
            body["errcode"] = json!(code);
            body["error"] = json!(err.to_string());
        }
        ApiError::UiaRequired(body)
    }
}
