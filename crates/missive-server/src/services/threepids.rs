//! Third-party identifiers (e-mail addresses): validation sessions proven
//! by a link mailed to the address, and the addresses bound to accounts
//! (listing, adding, removing, finding the account of an address for
//! login and password resets). Synapse's behaviour throughout: addresses
//! are lowercased whole, an address belongs to one account, a
//! `requestToken` repeated with the same client secret and a send attempt
//! not above the last one answers the same session without a new mail.

use std::{net::IpAddr, sync::Arc};

use missive_store::{SqlStore, ThreepidSession, ThreepidStore, UserThreepid};
use ruma::{OwnedUserId, UserId};

use crate::{
    error::{ApiError, ApiResult},
    services::{
        accounts::{hash_token, parse_user, random_alphanumeric, random_token},
        identity::{IdentityServer, is_own_identity_server},
        mail::{Mailer, validation_mail},
        rate_limit::Limiter,
    },
    time::now_ms,
};

pub const EMAIL: &str = "email";

/// How long a mailed token is valid (Synapse's default: an hour).
const TOKEN_LIFETIME_MS: i64 = 60 * 60 * 1000;
/// How long a session, validated or not, can be used at all.
const SESSION_LIFETIME_MS: i64 = 24 * 60 * 60 * 1000;
/// The longest address accepted (RFC 5321's path limit).
const MAX_ADDRESS_LEN: usize = 254;
/// Where the mailed link and `submit_url` point.
pub const SUBMIT_TOKEN_PATH: &str = "/_missive/client/email/submit_token";

/// What a validation mail is asked for; each checks the address first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPurpose {
    /// A new account: the address must be free.
    Register,
    /// Adding the address to one's account: it must be free.
    Add,
    /// A password reset: the address must be some account's.
    PasswordReset,
}

/// A `requestToken` request.
pub struct TokenRequest<'a> {
    pub purpose: TokenPurpose,
    pub client_secret: &'a str,
    pub email: &'a str,
    pub send_attempt: u64,
    pub ip: Option<IpAddr>,
}

/// The session a `requestToken` started (or continued).
pub struct TokenSent {
    pub sid: String,
    pub submit_url: String,
}

#[derive(Clone)]
pub struct Threepids {
    store: Arc<SqlStore>,
    mailer: Option<Mailer>,
    limiter: Limiter,
    server_name: String,
    public_baseurl: String,
    /// Exchanges the invites waiting for an address once it is bound.
    identity: IdentityServer,
}

/// Synapse's canonical form of an e-mail address: trimmed, lowercased
/// whole, exactly one `@` with something on each side.
pub fn canonicalise_email(address: &str) -> ApiResult<String> {
    let address = address.trim();
    let bad = || ApiError::invalid_param("unable to parse the e-mail address");
    if address.len() > MAX_ADDRESS_LEN || address.chars().any(char::is_whitespace) {
        return Err(bad());
    }
    match address.split_once('@') {
        Some((local, domain))
            if !local.is_empty() && !domain.is_empty() && !domain.contains('@') =>
        {
            Ok(address.to_lowercase())
        }
        _ => Err(bad()),
    }
}

/// Equality that takes the same time wherever the texts differ (client
/// secrets are secrets).
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl Threepids {
    pub fn new(
        store: Arc<SqlStore>,
        mailer: Option<Mailer>,
        limiter: Limiter,
        server_name: String,
        public_baseurl: String,
        identity: IdentityServer,
    ) -> Self {
        Self {
            store,
            mailer,
            limiter,
            server_name,
            public_baseurl,
            identity,
        }
    }

    /// Whether addresses can be validated (an SMTP relay is configured):
    /// the `m.3pid_changes` capability.
    pub fn enabled(&self) -> bool {
        self.mailer.is_some()
    }

    fn mailer(&self) -> ApiResult<&Mailer> {
        self.mailer.as_ref().ok_or_else(|| {
            ApiError::ThreepidMediumNotSupported("e-mail is not configured on this server".into())
        })
    }

    /// `POST .../email/requestToken`: mails a validation link to the
    /// address, unless this is a repeat of an attempt already sent.
    pub async fn request_email_token(&self, req: TokenRequest<'_>) -> ApiResult<TokenSent> {
        let mailer = self.mailer()?;
        let email = canonicalise_email(req.email)?;
        // The client's limit first: whether an address has an account is
        // answered no faster than mails are sent.
        if let Some(ip) = req.ip {
            self.limiter.check_mail_client(ip)?;
        }
        let owner = self.store.threepid_user(EMAIL, &email).await?;
        match (req.purpose, owner) {
            (TokenPurpose::Register | TokenPurpose::Add, Some(_)) => {
                return Err(ApiError::ThreepidInUse("email is already in use".into()));
            }
            (TokenPurpose::PasswordReset, None) => {
                return Err(ApiError::ThreepidNotFound("email not found".into()));
            }
            _ => {}
        }
        let now = now_ms();
        self.store
            .expire_threepid_sessions(now - SESSION_LIFETIME_MS)
            .await?;
        let send_attempt = i64::try_from(req.send_attempt).unwrap_or(i64::MAX);
        let pending = self
            .store
            .pending_threepid_session(req.client_secret, EMAIL, &email)
            .await?;
        let submit_url = format!("{}{SUBMIT_TOKEN_PATH}", self.public_baseurl);
        if let Some(s) = &pending
            && s.send_attempt >= send_attempt
        {
            // The client retried: same session, no new mail.
            return Ok(TokenSent {
                sid: s.session_id.clone(),
                submit_url,
            });
        }
        self.limiter.check_mail(&email, None)?;
        let token = random_token();
        let session = ThreepidSession {
            session_id: pending
                .as_ref()
                .map_or_else(|| random_alphanumeric(24), |s| s.session_id.clone()),
            medium: EMAIL.into(),
            address: email.clone(),
            client_secret: req.client_secret.to_owned(),
            send_attempt,
            token_hash: hash_token(&token),
            token_expires_ts: now + TOKEN_LIFETIME_MS,
            created_ts: pending.as_ref().map_or(now, |s| s.created_ts),
            validated_ts: None,
        };
        let link = format!(
            "{submit_url}?{}",
            form_urlencoded::Serializer::new(String::new())
                .append_pair("sid", &session.session_id)
                .append_pair("client_secret", req.client_secret)
                .append_pair("token", &token)
                .finish()
        );
        let (fr, en) = match req.purpose {
            TokenPurpose::Register => (
                "Vous créez un compte de messagerie avec cette adresse.",
                "You are creating a messaging account with this address.",
            ),
            TokenPurpose::Add => (
                "Vous ajoutez cette adresse à votre compte de messagerie.",
                "You are adding this address to your messaging account.",
            ),
            TokenPurpose::PasswordReset => (
                "Vous avez demandé à changer le mot de passe du compte lié à cette adresse.",
                "You asked to reset the password of the account of this address.",
            ),
        };
        // Saved before the mail goes: a link that arrives always works.
        self.store.save_threepid_session(&session).await?;
        mailer
            .send(&email, validation_mail(&self.server_name, fr, en, &link))
            .await?;
        Ok(TokenSent {
            sid: session.session_id,
            submit_url,
        })
    }

    /// The token of a mailed link (or typed in a client's `submit_url`
    /// form): true when it validates the session.
    pub async fn submit_token(
        &self,
        sid: &str,
        client_secret: &str,
        token: &str,
    ) -> ApiResult<bool> {
        let Some(session) = self.store.threepid_session(sid).await? else {
            return Ok(false);
        };
        if !same_secret(&session.client_secret, client_secret) {
            return Ok(false);
        }
        let ok = self
            .store
            .validate_threepid_session(sid, &hash_token(token), now_ms())
            .await?;
        if ok {
            tracing::info!(sid, "e-mail address validated");
        }
        Ok(ok)
    }

    /// The address a validated session proves (`threepid_creds`), if the
    /// session is validated, still alive and `client_secret` is its own.
    pub async fn validated_address(
        &self,
        sid: &str,
        client_secret: &str,
    ) -> ApiResult<Option<String>> {
        let Some(s) = self.store.threepid_session(sid).await? else {
            return Ok(None);
        };
        let alive = s.created_ts > now_ms() - SESSION_LIFETIME_MS;
        Ok(
            (alive && s.validated_ts.is_some() && same_secret(&s.client_secret, client_secret))
                .then_some(s.address),
        )
    }

    /// `POST /account/3pid/add` (after user-interactive auth): binds the
    /// address of a validated session to the account.
    pub async fn add(&self, user: &UserId, sid: &str, client_secret: &str) -> ApiResult<String> {
        self.mailer()?;
        let address = self
            .validated_address(sid, client_secret)
            .await?
            .ok_or_else(|| {
                ApiError::ThreepidAuthFailed("no validated 3pid session found".into())
            })?;
        self.bind(user, &address).await?;
        Ok(address)
    }

    /// Binds a validated address to the account (registration, `add`),
    /// then turns the invites waiting for it into invites of the account.
    pub async fn bind(&self, user: &UserId, address: &str) -> ApiResult<()> {
        let now = now_ms();
        let bound = self
            .store
            .add_user_threepid(&UserThreepid {
                medium: EMAIL.into(),
                address: address.to_owned(),
                user_id: user.to_string(),
                validated_ts: now,
                added_ts: now,
            })
            .await;
        match bound {
            Ok(()) => {
                tracing::info!(%user, "e-mail address added");
                self.identity.exchange(user, address).await;
                Ok(())
            }
            Err(missive_store::StoreError::AlreadyExists(_)) => {
                Err(ApiError::ThreepidInUse("email is already in use".into()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// `POST /account/3pid/bind` to this server's identity service:
    /// publishes one of the user's addresses (proven again by a validated
    /// session) for discovery, and delivers the invites waiting for it.
    pub async fn publish(
        &self,
        user: &UserId,
        id_server: &str,
        sid: &str,
        client_secret: &str,
    ) -> ApiResult<()> {
        if !self.is_own_identity_server(id_server) {
            return Err(ApiError::ServerNotTrusted(
                "this server trusts no identity server but its own".into(),
            ));
        }
        let address = self
            .validated_address(sid, client_secret)
            .await?
            .ok_or_else(|| {
                ApiError::ThreepidAuthFailed("no validated 3pid session found".into())
            })?;
        if !self
            .store
            .set_threepid_published(user, EMAIL, &address, true)
            .await?
        {
            return Err(ApiError::ThreepidAuthFailed(
                "add the address to your account first (POST /account/3pid/add)".into(),
            ));
        }
        tracing::info!(%user, "e-mail address published");
        self.identity.exchange(user, &address).await;
        Ok(())
    }

    /// `POST /account/3pid/unbind`: withdraws an address from discovery
    /// here; whether anything was withdrawn (another identity server has
    /// nothing of this server's to withdraw).
    pub async fn withdraw(
        &self,
        user: &UserId,
        id_server: Option<&str>,
        medium: &str,
        address: &str,
    ) -> ApiResult<bool> {
        if medium != EMAIL {
            return Err(ApiError::ThreepidMediumNotSupported(
                "only e-mail addresses are supported".into(),
            ));
        }
        if id_server.is_some_and(|s| !self.is_own_identity_server(s)) {
            return Ok(false);
        }
        let address = canonicalise_email(address)?;
        Ok(self
            .store
            .set_threepid_published(user, EMAIL, &address, false)
            .await?)
    }

    /// `GET /account/3pid`.
    pub async fn list(&self, user: &UserId) -> ApiResult<Vec<UserThreepid>> {
        Ok(self.store.user_threepids(user).await?)
    }

    /// `POST /account/3pid/delete` (nothing happens for an address that
    /// is not the user's, as in Synapse).
    pub async fn delete(&self, user: &UserId, medium: &str, address: &str) -> ApiResult<()> {
        let address = if medium == EMAIL {
            canonicalise_email(address)?
        } else {
            address.to_owned()
        };
        if self
            .store
            .delete_user_threepid(user, medium, &address)
            .await?
        {
            tracing::info!(%user, "e-mail address removed");
        }
        Ok(())
    }

    /// The account an e-mail address is bound to (login, password reset).
    pub async fn user_of_email(&self, address: &str) -> ApiResult<Option<OwnedUserId>> {
        let Ok(address) = canonicalise_email(address) else {
            return Ok(None);
        };
        self.store
            .threepid_user(EMAIL, &address)
            .await?
            .map(|u| parse_user(&u))
            .transpose()
    }

    /// Whether `id_server` names this server (its own identity server).
    pub fn is_own_identity_server(&self, id_server: &str) -> bool {
        is_own_identity_server(&self.server_name, &self.public_baseurl, id_server)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_lowercased_whole_and_checked() {
        assert_eq!(
            canonicalise_email(" Alice.Dupont@Example.GOUV.fr ").unwrap(),
            "alice.dupont@example.gouv.fr"
        );
        for bad in [
            "",
            "nobody",
            "@example.org",
            "a@",
            "a@b@c",
            "a b@c.d",
            &"x".repeat(300),
        ] {
            assert!(canonicalise_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn secrets_compare_exactly() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "abcd"));
    }
}
