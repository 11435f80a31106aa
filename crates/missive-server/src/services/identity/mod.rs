//! The server as its own identity server, for the addresses it validated
//! itself: the administration trusts no outside one. It holds a long-term
//! ed25519 key (`ed25519:0`, kept in the store so that every process
//! shares it) used through ruma's signatures crate, issues identity access
//! tokens for OpenID tokens of its own users, answers lookups, and stores
//! third-party invites (`invites.rs`), which it exchanges for ordinary
//! invites, signed, once the address becomes an account's.

mod invites;

use std::sync::Arc;

use base64::Engine;
use missive_store::{IdentityStore, SqlStore, ThreepidStore};
use ruma::{OwnedUserId, signatures::Ed25519KeyPair};
use sha2::{Digest, Sha256};

use crate::{
    error::{ApiError, ApiResult},
    services::{
        accounts::{hash_token, parse_user, random_token},
        mail::Mailer,
        openid::OpenId,
        rate_limit::Limiter,
        rooms::Rooms,
        threepids::canonicalise_email,
    },
    time::now_ms,
};

/// The long-term key's ID (Sydent's).
pub const KEY_ID: &str = "ed25519:0";
const KEY_VERSION: &str = "0";
/// Where the identity service API is served.
pub const PREFIX: &str = "/_matrix/identity/v2";

#[derive(Clone)]
pub struct IdentityServer {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<SqlStore>,
    key: Ed25519KeyPair,
    server_name: String,
    public_baseurl: String,
    rooms: Rooms,
    mailer: Option<Mailer>,
    openid: OpenId,
    /// Invitation mails count as validation mails do.
    limiter: Limiter,
    /// The lookup pepper: fixed per server (derived from its public key),
    /// so hashes stay valid across restarts and processes.
    pepper: String,
}

/// Unpadded standard base64, as identity servers write keys.
fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes)
}

/// Whether `id_server` (a host, maybe with a port or a scheme) names this
/// server: its server name or its public base URL's host.
pub fn is_own_identity_server(server_name: &str, public_baseurl: &str, id_server: &str) -> bool {
    let strip = |s: &str| -> String {
        let s = s.split_once("://").map_or(s, |(_, rest)| rest);
        s.split('/').next().unwrap_or_default().to_ascii_lowercase()
    };
    let wanted = strip(id_server);
    !wanted.is_empty()
        && (wanted == server_name.to_ascii_lowercase() || wanted == strip(public_baseurl))
}

/// How Sydent shows an invited address in the room: the first three
/// characters of each side, so the room does not learn the address.
pub fn mask_email(address: &str) -> String {
    fn redact(s: &str) -> String {
        let n = s.chars().count();
        if n > 3 {
            format!("{}...", s.chars().take(3).collect::<String>())
        } else if n > 1 {
            format!("{}...", s.chars().take(1).collect::<String>())
        } else {
            "...".into()
        }
    }
    match address.split_once('@') {
        Some((local, domain)) => format!("{}@{}", redact(local), redact(domain)),
        None => redact(address),
    }
}

impl IdentityServer {
    /// Loads the identity key from the store, creating it on first start.
    pub async fn load(
        store: Arc<SqlStore>,
        server_name: String,
        public_baseurl: String,
        rooms: Rooms,
        mailer: Option<Mailer>,
        openid: OpenId,
        limiter: Limiter,
    ) -> ApiResult<Self> {
        let fresh = base64::engine::general_purpose::STANDARD.encode(Ed25519KeyPair::generate());
        let kept = store.keep_identity_key(KEY_ID, &fresh, now_ms()).await?;
        let der = base64::engine::general_purpose::STANDARD
            .decode(kept)
            .map_err(|e| ApiError::Internal(format!("stored identity key: {e}")))?;
        let key = Ed25519KeyPair::from_der(&der, KEY_VERSION.into())
            .map_err(|e| ApiError::Internal(format!("stored identity key: {e}")))?;
        let pepper = b64(&Sha256::digest(key.public_key()))
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(16)
            .collect();
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                key,
                server_name,
                public_baseurl,
                rooms,
                mailer,
                openid,
                limiter,
                pepper,
            }),
        })
    }

    pub fn is_own(&self, id_server: &str) -> bool {
        is_own_identity_server(
            &self.inner.server_name,
            &self.inner.public_baseurl,
            id_server,
        )
    }

    /// The long-term public key, unpadded base64.
    pub fn public_key(&self) -> String {
        b64(&self.inner.key.public_key())
    }

    /// `GET /pubkey/{keyId}`: only `ed25519:0` exists.
    pub fn pubkey(&self, key_id: &str) -> ApiResult<String> {
        if key_id == KEY_ID {
            Ok(self.public_key())
        } else {
            Err(ApiError::not_found("the public key was not found"))
        }
    }

    /// `GET /pubkey/isvalid`.
    pub fn long_term_key_valid(&self, public_key: &str) -> bool {
        public_key.trim_end_matches('=') == self.public_key()
    }

    /// `GET /pubkey/ephemeral/isvalid`.
    pub async fn ephemeral_key_valid(&self, public_key: &str) -> ApiResult<bool> {
        Ok(self
            .inner
            .store
            .ephemeral_key_exists(public_key.trim_end_matches('='))
            .await?)
    }

    /// `POST /account/register`: an identity access token for the owner of
    /// an OpenID token this server issued (checked in-process).
    pub async fn register(
        &self,
        openid_token: &str,
        matrix_server_name: &str,
    ) -> ApiResult<String> {
        if !matrix_server_name.eq_ignore_ascii_case(&self.inner.server_name) {
            return Err(ApiError::forbidden(
                "this identity server serves only its own homeserver's users",
            ));
        }
        let user = self.inner.openid.userinfo(openid_token).await?;
        let token = random_token();
        self.inner
            .store
            .add_identity_token(&hash_token(&token), user.as_str(), now_ms())
            .await?;
        Ok(token)
    }

    /// The user an identity access token was issued to; 401
    /// `M_UNKNOWN_TOKEN` otherwise.
    pub async fn account(&self, token: Option<&str>) -> ApiResult<OwnedUserId> {
        let token = token.ok_or(ApiError::MissingToken)?;
        let user = self
            .inner
            .store
            .identity_token_user(&hash_token(token))
            .await?
            .ok_or(ApiError::UnknownToken)?;
        parse_user(&user)
    }

    /// `GET /hash_details`: the pepper, and the algorithms (`sha256`, and
    /// `none` since the addresses never leave the administration).
    pub fn lookup_pepper(&self) -> &str {
        &self.inner.pepper
    }

    /// `POST /lookup`: the accounts of the given addresses (`none`:
    /// `"address medium"`; `sha256`: the spec's hash of
    /// `"address medium pepper"`). Only e-mail addresses exist here.
    pub async fn lookup(
        &self,
        algorithm: &str,
        pepper: &str,
        addresses: &[String],
    ) -> ApiResult<Vec<(String, OwnedUserId)>> {
        const MAX_ADDRESSES: usize = 1_000;
        if addresses.len() > MAX_ADDRESSES {
            return Err(ApiError::TooLarge(format!(
                "at most {MAX_ADDRESSES} addresses per lookup"
            )));
        }
        let mut found = Vec::new();
        match algorithm {
            "none" => {
                for entry in addresses {
                    let Some((address, "email")) = entry.rsplit_once(' ') else {
                        continue;
                    };
                    if let Some(user) = self.user_of(address).await? {
                        found.push((entry.clone(), user));
                    }
                }
            }
            "sha256" => {
                if pepper != self.inner.pepper {
                    return Err(ApiError::InvalidPepper);
                }
                let wanted: std::collections::HashSet<&String> = addresses.iter().collect();
                // A hash cannot be reversed: every bound address is hashed
                // and compared (an organisation's addresses are few
                // enough; a stored hash column would index them).
                for (address, user) in self.inner.store.all_email_threepids(100_000).await? {
                    let hash = b64_url(&Sha256::digest(format!("{address} email {pepper}")));
                    if wanted.contains(&hash) {
                        found.push((hash, parse_user(&user)?));
                    }
                }
            }
            _ => return Err(ApiError::InvalidParam("unknown hashing algorithm".into())),
        }
        Ok(found)
    }

    async fn user_of(&self, address: &str) -> ApiResult<Option<OwnedUserId>> {
        let Ok(address) = canonicalise_email(address) else {
            return Ok(None);
        };
        // Only addresses their owners published (`/account/3pid/bind`):
        // one added for logins and resets alone is found by nobody.
        self.inner
            .store
            .published_threepid_user("email", &address)
            .await?
            .map(|u| parse_user(&u))
            .transpose()
    }
}

/// URL-safe unpadded base64 (the lookup hashes' encoding).
fn b64_url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_masked_as_sydent_does() {
        assert_eq!(mask_email("alice@example.org"), "ali...@exa...");
        assert_eq!(mask_email("al@ex.fr"), "a...@ex....");
        assert_eq!(mask_email("a@b"), "...@...");
    }

    #[test]
    fn own_identity_server_names() {
        let own = |id| is_own_identity_server("gouv.fr", "https://matrix.gouv.fr:8448/", id);
        assert!(own("gouv.fr"));
        assert!(own("GOUV.fr"));
        assert!(own("matrix.gouv.fr:8448"));
        assert!(own("https://matrix.gouv.fr:8448"));
        assert!(!own("vector.im"));
        assert!(!own("matrix.gouv.fr"));
        assert!(!own(""));
    }
}
