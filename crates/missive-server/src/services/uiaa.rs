//! User-interactive authentication (UIA): the 401 dance that guards
//! registration and sensitive account operations.

use std::{net::IpAddr, sync::Arc};

use missive_store::{AccountStore, SqlStore, UiaaSession, UiaaStore};
use ruma::{OwnedUserId, UserId};
use serde_json::{Value, json};

use crate::{
    error::{ApiError, ApiResult},
    services::{
        accounts::{Accounts, random_alphanumeric},
        threepids::Threepids,
    },
    time::now_ms,
};

/// How long an unfinished UIA session lives.
const SESSION_LIFETIME_MS: i64 = 30 * 60 * 1000;

pub const DUMMY: &str = "m.login.dummy";
pub const PASSWORD: &str = "m.login.password";
pub const REGISTRATION_TOKEN: &str = "m.login.registration_token";
/// Proof of an e-mail address: `threepid_creds` naming a validation
/// session whose mailed link was opened.
pub const EMAIL_IDENTITY: &str = "m.login.email.identity";

/// What a UIA session authorises; a session started for one purpose cannot
/// complete another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purpose<'a> {
    Register,
    /// A sensitive operation on this user's account.
    Account(&'a UserId),
    /// A password reset by someone not signed in, who proves they hold
    /// an address of the account.
    PasswordReset,
}

impl Purpose<'_> {
    fn key(&self) -> String {
        match self {
            Purpose::Register => "register".into(),
            Purpose::Account(user) => format!("account:{user}"),
            Purpose::PasswordReset => "password_reset".into(),
        }
    }
}

/// Keys of what a session remembers in its `params`.
const PURPOSE: &str = "purpose";
const OPERATION: &str = "operation";
const TOKEN: &str = "registration_token";
pub const REGISTERED_USER: &str = "registered_user_id";
pub const PASSWORD_HASH: &str = "password_hash";
pub const USERNAME: &str = "username";
/// The e-mail address an `m.login.email.identity` stage proved.
const EMAIL: &str = "email";

/// One request's step of user-interactive auth.
pub struct Attempt<'a> {
    pub purpose: Purpose<'a>,
    /// The request's method and path (see `Ruma::operation`): a session
    /// authorises the operation it was started for and no other.
    pub operation: &'a str,
    pub flows: &'a [&'a [&'a str]],
    /// The request's `auth` object.
    pub auth: Option<&'a Value>,
    pub ip: Option<IpAddr>,
}

/// What a session remembers between requests.
#[derive(Debug, Default)]
pub struct SessionData {
    /// The registration token used, to count its use once the account exists.
    pub registration_token: Option<String>,
    /// The account a registration with this session already created.
    pub registered_user: Option<OwnedUserId>,
    /// The hash of the password an earlier request of a registration gave.
    pub password_hash: Option<String>,
    /// The localpart an earlier request of a registration asked for.
    pub username: Option<String>,
    /// The e-mail address the session proved the user holds.
    pub email: Option<String>,
}

impl SessionData {
    fn from_params(params: &Value) -> Self {
        let text = |key: &str| params.get(key).and_then(Value::as_str).map(str::to_owned);
        Self {
            registration_token: text(TOKEN),
            registered_user: text(REGISTERED_USER).and_then(|u| OwnedUserId::try_from(u).ok()),
            password_hash: text(PASSWORD_HASH),
            username: text(USERNAME),
            email: text(EMAIL),
        }
    }
}

/// A completed session: its ID and what it remembers.
#[derive(Debug, Default)]
pub struct Completed {
    pub session_id: String,
    pub data: SessionData,
}

#[derive(Clone)]
pub struct Uiaa {
    store: Arc<SqlStore>,
    accounts: Accounts,
    threepids: Threepids,
}

impl Uiaa {
    pub fn new(store: Arc<SqlStore>, accounts: Accounts, threepids: Threepids) -> Self {
        Self {
            store,
            accounts,
            threepids,
        }
    }

    /// Runs one step of UIA with the request's `auth` object. Returns once a
    /// flow is complete; otherwise the 401 error carrying the session state.
    ///
    /// A completed session stays until it expires and authorises its own
    /// operation again (a client retrying after a lost answer, as Synapse
    /// allows), never another one: that is 403, as the user-interactive
    /// auth of another user is.
    pub async fn authenticate(&self, attempt: Attempt<'_>) -> ApiResult<Completed> {
        let Attempt {
            purpose,
            operation,
            flows,
            auth,
            ip,
        } = attempt;
        let now = now_ms();
        self.store
            .expire_uiaa_sessions(now - SESSION_LIFETIME_MS)
            .await?;
        let session_id = auth.and_then(|a| a.get("session")).and_then(Value::as_str);
        let existing = match session_id {
            Some(id) => self.store.uiaa_session(id).await?,
            None => None,
        };
        let is_new = existing.is_none();
        let mut session = existing.unwrap_or_else(|| UiaaSession {
            session_id: session_id
                .map(str::to_owned)
                .unwrap_or_else(|| random_alphanumeric(24)),
            completed: Vec::new(),
            params: json!({ PURPOSE: purpose.key(), OPERATION: operation }).to_string(),
            created_ts: now,
        });
        let mut params: Value = serde_json::from_str(&session.params).unwrap_or_else(|_| json!({}));
        if params.get(PURPOSE).and_then(Value::as_str) != Some(purpose.key().as_str()) {
            return Err(ApiError::forbidden(
                "this authentication session belongs to another request",
            ));
        }
        // Sessions from before operations were recorded name none.
        if params
            .get(OPERATION)
            .and_then(Value::as_str)
            .is_some_and(|op| op != operation)
        {
            return Err(ApiError::forbidden(
                "requested operation has changed during the authentication session",
            ));
        }

        let stage = auth.and_then(|a| a.get("type")).and_then(Value::as_str);
        let mut changed = is_new;
        if let (Some(stage), Some(auth)) = (stage, auth) {
            let allowed = flows.iter().any(|f| f.contains(&stage));
            if allowed {
                self.check_identity(&purpose, stage, auth)?;
            }
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
                    changed = true;
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
        session.params = params.to_string();
        if changed {
            self.store.save_uiaa_session(&session).await?;
        }
        if done {
            return Ok(Completed {
                session_id: session.session_id,
                data: SessionData::from_params(&params),
            });
        }
        Err(self.challenge(flows, &session, None))
    }

    /// What the session named in a request's `auth` object remembers
    /// (nothing for a new or unknown session).
    pub async fn session_data(&self, auth: Option<&Value>) -> ApiResult<SessionData> {
        let Some(id) = auth.and_then(|a| a.get("session")).and_then(Value::as_str) else {
            return Ok(SessionData::default());
        };
        Ok(match self.store.uiaa_session(id).await? {
            Some(s) => SessionData::from_params(
                &serde_json::from_str(&s.params).unwrap_or_else(|_| json!({})),
            ),
            None => SessionData::default(),
        })
    }

    /// Makes a session remember `value` under `key` for its later requests.
    pub async fn remember(&self, session_id: &str, key: &str, value: &str) -> ApiResult<()> {
        let Some(mut session) = self.store.uiaa_session(session_id).await? else {
            return Ok(());
        };
        let mut params: Value = serde_json::from_str(&session.params).unwrap_or_else(|_| json!({}));
        params[key] = Value::String(value.to_owned());
        session.params = params.to_string();
        Ok(self.store.save_uiaa_session(&session).await?)
    }

    /// A password stage names the account it proves; naming another than
    /// the one the operation is for is 403 (Synapse), not a failed stage.
    fn check_identity(&self, purpose: &Purpose<'_>, stage: &str, auth: &Value) -> ApiResult<()> {
        let Purpose::Account(user) = purpose else {
            return Ok(());
        };
        if stage != PASSWORD {
            return Ok(());
        }
        let given = auth
            .get("identifier")
            .and_then(|i| i.get("user"))
            .or_else(|| auth.get("user"))
            .and_then(Value::as_str);
        match given {
            Some(given) if self.accounts.resolve_login_user(given)?.as_str() != user.as_str() => {
                Err(ApiError::forbidden("you can only authenticate as yourself"))
            }
            _ => Ok(()),
        }
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
                params[TOKEN] = Value::String(token.to_owned());
                Ok(())
            }
            EMAIL_IDENTITY => {
                // `threepidCreds` is the shape of older clients.
                let creds = auth
                    .get("threepid_creds")
                    .or_else(|| auth.get("threepidCreds"));
                let field = |name: &str| {
                    creds
                        .and_then(|c| c.get(name))
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                };
                let address = self
                    .threepids
                    .validated_address(field("sid"), field("client_secret"))
                    .await?
                    .ok_or_else(|| {
                        ApiError::Unauthorized(
                            "this e-mail address has not been validated yet".into(),
                        )
                    })?;
                params[EMAIL] = Value::String(address);
                Ok(())
            }
            other => Err(ApiError::forbidden(format!(
                "unsupported authentication stage {other}"
            ))),
        }
    }

    /// Asks the account's owner to confirm a sensitive change, `operation`,
    /// with their password (user-interactive auth with the one password
    /// stage).
    pub async fn confirm_password(
        &self,
        user: &UserId,
        operation: &str,
        auth: Option<&Value>,
        ip: Option<IpAddr>,
    ) -> ApiResult<()> {
        self.authenticate(Attempt {
            purpose: Purpose::Account(user),
            operation,
            flows: &[&[PASSWORD]],
            auth,
            ip,
        })
        .await
        .map(|_| ())
    }

    /// Asks someone not signed in to prove they hold an e-mail address
    /// (the one `m.login.email.identity` stage); returns the address.
    pub async fn confirm_email_owner(
        &self,
        operation: &str,
        auth: Option<&Value>,
        ip: Option<IpAddr>,
    ) -> ApiResult<String> {
        let done = self
            .authenticate(Attempt {
                purpose: Purpose::PasswordReset,
                operation,
                flows: &[&[EMAIL_IDENTITY]],
                auth,
                ip,
            })
            .await?;
        done.data
            .email
            .ok_or_else(|| ApiError::Internal("completed e-mail stage without an address".into()))
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
