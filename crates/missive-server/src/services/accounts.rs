//! Accounts, passwords, devices and access tokens.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex},
};

use argon2::{
    Argon2, PasswordHash, PasswordHasher, PasswordVerifier,
    password_hash::{SaltString, rand_core::OsRng},
};
use base64::Engine;
use missive_store::{
    AccountStore, DeviceRecord, DeviceStore, IdentityStore, NewUser, SqlStore, StoreError,
};
use rand::RngCore;
use ruma::{DeviceId, OwnedDeviceId, OwnedServerName, OwnedUserId, UserId};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use crate::{
    error::{ApiError, ApiResult},
    services::{
        audience,
        federation::outbound::{DeviceChange, Outbound},
        notifier::Notifier,
        rate_limit::Limiter,
    },
    time::now_ms,
};

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Identity {
    pub user_id: OwnedUserId,
    pub device_id: OwnedDeviceId,
    pub is_admin: bool,
    /// A guest account: only the endpoints guests may use answer it.
    pub is_guest: bool,
}

/// A new login session.
pub struct Session {
    pub access_token: String,
    pub device_id: OwnedDeviceId,
}

/// Account management. Cheap to clone.
#[derive(Clone)]
pub struct Accounts {
    store: Arc<SqlStore>,
    server_name: OwnedServerName,
    /// argon2id holds 19 MiB per hash in flight: allowing one hash per core
    /// at a time bounds what a burst of registrations or logins takes.
    hashing: Arc<Semaphore>,
    /// Counts every password check (see [`Accounts::check_password`]).
    limiter: Limiter,
    /// When this process last recorded each device's activity (see
    /// `note_activity`): the sessions list shows when and where a device
    /// was last used without a database write per request.
    last_touched: Arc<Mutex<HashMap<(String, String), i64>>>,
    /// A new device is a device-list change the user's contacts hear of.
    notifier: Notifier,
    /// And their servers; `None` when federation is off.
    outbound: Option<Outbound>,
}

/// A device's "last seen" is refreshed at most this often.
const LAST_SEEN_EVERY_MS: i64 = 5 * 60 * 1000;

impl Accounts {
    pub fn new(
        store: Arc<SqlStore>,
        server_name: OwnedServerName,
        limiter: Limiter,
        notifier: Notifier,
    ) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            store,
            server_name,
            limiter,
            notifier,
            outbound: None,
            hashing: Arc::new(Semaphore::new(cores)),
            last_touched: Arc::default(),
        }
    }

    /// Tells the servers sharing a room with a user about their new
    /// devices through `outbound`.
    #[must_use]
    pub fn with_outbound(mut self, outbound: Option<Outbound>) -> Self {
        self.outbound = outbound;
        self
    }

    async fn hash(&self, password: &str) -> ApiResult<String> {
        let _turn = self
            .hashing
            .acquire()
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        hash_password(password.to_owned()).await
    }

    async fn verify(&self, password: &str, hash: String) -> ApiResult<bool> {
        let _turn = self
            .hashing
            .acquire()
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        verify_password(password.to_owned(), hash).await
    }

    /// Whether the database answers (for `GET /health`).
    pub async fn database_ready(&self) -> ApiResult<()> {
        Ok(self.store.ping().await?)
    }

    pub fn server_name(&self) -> &OwnedServerName {
        &self.server_name
    }

    /// Resolves an access token to its user and device.
    pub async fn authenticate(&self, token: &str, ip: Option<IpAddr>) -> ApiResult<Identity> {
        let owner = self
            .store
            .token_user(&hash_token(token))
            .await?
            .ok_or(ApiError::UnknownToken)?;
        if owner.deactivated {
            return Err(ApiError::UnknownToken);
        }
        let identity = Identity {
            user_id: parse_user(&owner.user_id)?,
            device_id: owner.device_id.into(),
            is_admin: owner.is_admin,
            is_guest: owner.is_guest,
        };
        self.note_activity(&identity.user_id, &identity.device_id, ip);
        Ok(identity)
    }

    /// Records that a device was used now, from `ip`, if it was not recorded
    /// in the last few minutes. The write happens beside the request.
    fn note_activity(&self, user_id: &UserId, device_id: &DeviceId, ip: Option<IpAddr>) {
        let now = crate::time::now_ms();
        {
            let mut seen = self.last_touched.lock().unwrap_or_else(|p| p.into_inner());
            let key = (user_id.to_string(), device_id.to_string());
            if seen
                .get(&key)
                .is_some_and(|&t| now - t < LAST_SEEN_EVERY_MS)
            {
                return;
            }
            seen.insert(key, now);
        }
        let store = self.store.clone();
        let (user_id, device_id) = (user_id.to_owned(), device_id.to_owned());
        tokio::spawn(async move {
            let ip = ip.map(|ip| ip.to_string());
            if let Err(e) = store
                .touch_device(&user_id, &device_id, now, ip.as_deref())
                .await
            {
                tracing::warn!(error = %e, "could not record device activity");
            }
        });
    }

    /// Checks a requested localpart: the spec's allowed characters, and
    /// not taken. Returns the full user ID.
    pub async fn check_available(&self, localpart: &str) -> ApiResult<OwnedUserId> {
        let user_id = self.user_id_for(localpart)?;
        if self.store.user(&user_id).await?.is_some() {
            return Err(ApiError::UserInUse);
        }
        Ok(user_id)
    }

    /// The user ID for a localpart, if the localpart is valid for new users.
    pub fn user_id_for(&self, localpart: &str) -> ApiResult<OwnedUserId> {
        let valid = !localpart.is_empty()
            && localpart
                .bytes()
                .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'=' | b'-' | b'/' | b'+'));
        if !valid {
            return Err(ApiError::InvalidUsername(
                "user names may contain only a-z, 0-9, and . _ = - / +".into(),
            ));
        }
        let user_id = UserId::parse(format!("@{localpart}:{}", self.server_name))
            .map_err(|e| ApiError::InvalidUsername(e.to_string()))?;
        if user_id.as_str().len() > 255 {
            return Err(ApiError::InvalidUsername(
                "user ID is longer than 255 bytes".into(),
            ));
        }
        Ok(user_id)
    }

    /// Resolves what a client typed at login (`alice` or `@alice:server`).
    pub fn resolve_login_user(&self, input: &str) -> ApiResult<OwnedUserId> {
        if input.starts_with('@') {
            UserId::parse(input.to_lowercase()).map_err(|_| ApiError::forbidden("invalid user ID"))
        } else {
            UserId::parse(format!("@{}:{}", input.to_lowercase(), self.server_name))
                .map_err(|_| ApiError::forbidden("invalid username or password"))
        }
    }

    /// Creates an account.
    pub async fn create_user(
        &self,
        user_id: &UserId,
        password: Option<&str>,
        is_admin: bool,
    ) -> ApiResult<()> {
        let password_hash = match password {
            Some(p) => Some(self.hash(p).await?),
            None => None,
        };
        self.insert_user(user_id, password_hash, is_admin, false)
            .await
    }

    /// Hashes a password for an account created by a later request (a
    /// registration's session remembers it between its requests).
    pub async fn password_hash(&self, password: &str) -> ApiResult<String> {
        self.hash(password).await
    }

    /// Creates an account whose password was hashed by [`Self::password_hash`].
    pub async fn create_user_hashed(
        &self,
        user_id: &UserId,
        password_hash: String,
    ) -> ApiResult<()> {
        self.insert_user(user_id, Some(password_hash), false, false)
            .await
    }

    /// Creates a guest account (no password; restricted until upgraded)
    /// with a numeric name, as Synapse names guests.
    pub async fn create_guest(&self) -> ApiResult<OwnedUserId> {
        loop {
            let localpart = random_digits(12);
            let user_id = self.user_id_for(&localpart)?;
            match self.insert_user(&user_id, None, false, true).await {
                Err(ApiError::UserInUse) => continue,
                other => return other.map(|()| user_id),
            }
        }
    }

    /// Makes the guest account `user_id` a full account with the password
    /// hashed by [`Self::password_hash`].
    pub async fn upgrade_guest(&self, user_id: &UserId, password_hash: &str) -> ApiResult<()> {
        if self.store.upgrade_guest(user_id, password_hash).await? {
            Ok(())
        } else {
            Err(ApiError::forbidden("this account is not a guest account"))
        }
    }

    async fn insert_user(
        &self,
        user_id: &UserId,
        password_hash: Option<String>,
        is_admin: bool,
        is_guest: bool,
    ) -> ApiResult<()> {
        let result = self
            .store
            .create_user(NewUser {
                user_id: user_id.to_string(),
                password_hash,
                is_admin,
                is_guest,
                displayname: Some(user_id.localpart().to_owned()),
                created_ts: now_ms(),
            })
            .await;
        match result {
            Err(StoreError::AlreadyExists(_)) => Err(ApiError::UserInUse),
            other => Ok(other?),
        }
    }

    /// Checks a user's password, counted by the password rate limit (per
    /// account and per address) before anything else: every endpoint that
    /// takes a password comes here. Fails the same way for unknown users and
    /// wrong passwords, so the answer does not reveal which accounts exist.
    pub async fn check_password(
        &self,
        user_id: &UserId,
        password: &str,
        ip: Option<IpAddr>,
    ) -> ApiResult<()> {
        self.limiter.check_password(user_id.as_str(), ip)?;
        let user = self.store.user(user_id).await?;
        let Some(user) = user else {
            // Spend the same time as a real check.
            let _ = self.hash(password).await;
            return Err(ApiError::forbidden("invalid username or password"));
        };
        if user.deactivated {
            return Err(ApiError::UserDeactivated);
        }
        let Some(hash) = user.password_hash else {
            return Err(ApiError::forbidden("invalid username or password"));
        };
        if self.verify(password, hash).await? {
            Ok(())
        } else {
            Err(ApiError::forbidden("invalid username or password"))
        }
    }

    /// Opens a session: creates (or reuses) the device and a fresh token. A
    /// new device is announced to everyone sharing a room with the user
    /// (their clients must fetch its keys before they encrypt again).
    pub async fn new_session(
        &self,
        user_id: &UserId,
        device_id: Option<OwnedDeviceId>,
        display_name: Option<String>,
        ip: Option<IpAddr>,
    ) -> ApiResult<Session> {
        if device_id
            .as_ref()
            .is_some_and(|d| d.as_str().len() > missive_core::MAX_ID_BYTES)
        {
            return Err(ApiError::invalid_param(format!(
                "device_id is limited to {} bytes",
                missive_core::MAX_ID_BYTES
            )));
        }
        let device_id = device_id.unwrap_or_else(|| random_device_id().into());
        let access_token = random_token();
        let new_device = self
            .store
            .create_device_with_token(
                DeviceRecord {
                    user_id: user_id.to_string(),
                    device_id: device_id.to_string(),
                    display_name,
                    last_seen_ts: Some(now_ms()),
                    last_seen_ip: ip.map(|ip| ip.to_string()),
                },
                &hash_token(&access_token),
            )
            .await?;
        if let Some(bump) = new_device {
            audience::announce_to_sharing(&self.store, &self.notifier, bump.pos, user_id.as_str())
                .await;
            // No keys yet (they follow, as the next update of the list).
            if let Some(outbound) = &self.outbound {
                let changes = vec![(device_id.clone(), DeviceChange::Keys(None))];
                outbound
                    .queue_device_list_updates(user_id, bump, changes)
                    .await?;
            }
        }
        Ok(Session {
            access_token,
            device_id,
        })
    }

    pub async fn logout(&self, token: &str) -> ApiResult<()> {
        Ok(self.store.delete_token(&hash_token(token)).await?)
    }

    /// Sets a new password; the identity tokens minted for the account
    /// (discovery, invitations in its name) die with the old one.
    pub async fn set_password(&self, user_id: &UserId, password: &str) -> ApiResult<()> {
        let hash = self.hash(password).await?;
        self.store.set_password_hash(user_id, &hash).await?;
        Ok(self.store.delete_identity_tokens(user_id).await?)
    }
}

/// SHA-256 of a token: what the database keeps instead of the token.
pub fn hash_token(token: &str) -> String {
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

/// A random access token with 256 bits of entropy.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!(
        "mst_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// A random string of uppercase letters, as device IDs usually are.
pub fn random_device_id() -> String {
    random_alphanumeric(10).to_uppercase()
}

/// `len` random decimal digits (a guest's name).
pub fn random_digits(len: usize) -> String {
    use rand::Rng;
    let mut rng = rand::rngs::OsRng;
    (0..len)
        .map(|_| char::from(b'0' + rng.gen_range(0..10u8)))
        .collect()
}

pub fn random_alphanumeric(len: usize) -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut rng = rand::rngs::OsRng;
    (0..len)
        .map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char)
        .collect()
}

/// glibc serves argon2id's 19 MiB blocks from its arenas once its dynamic
/// mmap threshold has grown, and keeps them after they are freed: a burst of
/// logins would leave the server hundreds of MiB larger for good. Trimming
/// after each hash gives the freed pages back (a fixed, low mmap threshold
/// would too, but costs the hot paths about a tenth of their throughput).
// The crate's only unsafe code (the workspace denies it everywhere else).
#[allow(unsafe_code)]
fn give_back_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory; it is thread-safe.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Hashes with argon2id off the async threads (it is deliberately slow).
pub async fn hash_password(password: String) -> ApiResult<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        let hash = Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| ApiError::Internal(format!("password hashing failed: {e}")));
        give_back_freed_memory();
        hash
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?
}

async fn verify_password(password: String, hash: String) -> ApiResult<bool> {
    tokio::task::spawn_blocking(move || {
        let parsed = PasswordHash::new(&hash)
            .map_err(|e| ApiError::Internal(format!("stored password hash unreadable: {e}")))?;
        let valid = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        give_back_freed_memory();
        Ok(valid)
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?
}

pub fn parse_user(s: &str) -> ApiResult<OwnedUserId> {
    UserId::parse(s).map_err(|e| ApiError::Internal(format!("stored user ID {s:?} invalid: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_and_distinct() {
        let a = random_token();
        let b = random_token();
        assert_ne!(a, b);
        // 32 random bytes in unpadded base64 are 43 characters.
        assert_eq!(a.len(), "mst_".len() + 43);
        assert_ne!(hash_token(&a), a);
    }

    #[tokio::test]
    async fn argon2id_hashes_verify() {
        let hash = hash_password("correct horse".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(
            verify_password("correct horse".into(), hash.clone())
                .await
                .unwrap()
        );
        assert!(!verify_password("wrong".into(), hash).await.unwrap());
    }

    /// Using a token records when and from where its device was last seen.
    #[tokio::test]
    async fn requests_refresh_the_devices_last_activity() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(
            SqlStore::open(&missive_store::StoreOptions {
                database_url: None,
                data_dir: dir.path().into(),
                max_connections: 2,
            })
            .await
            .unwrap(),
        );
        store
            .create_user(NewUser {
                user_id: "@ann:test".into(),
                password_hash: None,
                is_admin: false,
                is_guest: false,
                displayname: None,
                created_ts: 1,
            })
            .await
            .unwrap();
        let device = DeviceRecord {
            user_id: "@ann:test".into(),
            device_id: "PHONE".into(),
            display_name: None,
            last_seen_ts: Some(1),
            last_seen_ip: None,
        };
        store
            .create_device_with_token(device, &hash_token("tok"))
            .await
            .unwrap();
        let accounts = Accounts::new(
            store.clone(),
            "test".try_into().unwrap(),
            Limiter::new(&crate::config::RateLimits::default()),
            crate::services::notifier::Notifier::new(missive_store::StreamPos::ZERO),
        );
        let ip: IpAddr = "10.0.0.7".parse().unwrap();
        accounts.authenticate("tok", Some(ip)).await.unwrap();
        // The write runs beside the request: wait for it (bounded).
        let mut seen = None;
        for _ in 0..100 {
            let devices = store.devices(ruma::user_id!("@ann:test")).await.unwrap();
            if devices[0].last_seen_ip.is_some() {
                seen = Some(devices[0].clone());
                break;
            }
            tokio::task::yield_now().await;
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let seen = seen.expect("the device's activity was recorded");
        assert_eq!(seen.last_seen_ip.as_deref(), Some("10.0.0.7"));
        assert!(seen.last_seen_ts.unwrap() > 1);
    }
}
