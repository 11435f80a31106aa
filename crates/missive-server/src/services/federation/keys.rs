//! Signing keys across servers: our key answer, other servers' keys
//! fetched from them (self-signature verified, see
//! `missive_federation::keys`) and cached in the store until their
//! `valid_until_ts`, and the notary answers serving them countersigned.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime},
};

use missive_federation::{FederationClient, keys as fed_keys};
use missive_store::{ServerKeyStore, ServerSigningKey, SqlStore};
use ruma::{
    OwnedServerName, ServerName, ServerSigningKeyId,
    api::federation::discovery::{ServerSigningKeys, get_server_keys},
    serde::{Base64, Raw},
    signatures::Ed25519KeyPair,
};

use crate::{
    error::{ApiError, ApiResult},
    time::now_ms,
};

/// The least time between two fetches of one server's keys: an unknown key
/// ID in a forged request must not make us hammer its server.
const REFETCH_INTERVAL: Duration = Duration::from_secs(30);
/// Servers remembered for that at most.
const MAX_RECENT_FETCHES: usize = 10_000;

#[derive(Clone)]
pub struct ServerKeys {
    inner: Arc<Inner>,
}

struct Inner {
    server_name: OwnedServerName,
    key: Arc<Ed25519KeyPair>,
    store: Arc<SqlStore>,
    /// `None` when federation is off: only cached keys are known.
    client: Option<FederationClient>,
    /// The last fetch of each server's keys for each key ID looked for
    /// (`""`: any): a key ID not seen before is fetched at once (a new
    /// key after a rotation), one still missing at most every 30 s.
    recent_fetches: Mutex<HashMap<(OwnedServerName, String), Instant>>,
    /// One fetch of a server's keys at a time: a lookup that misses while
    /// another fetches waits for that fetch instead of giving up (a join
    /// verifies many events of one server at once).
    in_flight: Mutex<HashMap<OwnedServerName, Arc<tokio::sync::Mutex<()>>>>,
    /// Our keys before the last rotations.
    old_keys: Vec<crate::services::signing_key::OldKey>,
}

impl ServerKeys {
    pub fn new(
        server_name: OwnedServerName,
        key: Arc<Ed25519KeyPair>,
        store: Arc<SqlStore>,
        client: Option<FederationClient>,
        old_keys: Vec<crate::services::signing_key::OldKey>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                server_name,
                key,
                store,
                client,
                recent_fetches: Mutex::new(HashMap::new()),
                in_flight: Mutex::new(HashMap::new()),
                old_keys,
            }),
        }
    }

    pub fn server_name(&self) -> &ServerName {
        &self.inner.server_name
    }

    /// `GET /_matrix/key/v2/server`: our key, self-signed.
    pub fn own_answer(&self) -> ApiResult<Raw<ServerSigningKeys>> {
        let old = self
            .inner
            .old_keys
            .iter()
            .filter_map(|k| {
                let id = ruma::OwnedServerSigningKeyId::try_from(k.key_id.as_str()).ok()?;
                let expired = ruma::MilliSecondsSinceUnixEpoch(ruma::UInt::new(
                    u64::try_from(k.expired_ts).ok()?,
                )?);
                Some((
                    id,
                    ruma::api::federation::discovery::OldVerifyKey::new(
                        expired,
                        Base64::new(k.public_key.clone()),
                    ),
                ))
            })
            .collect();
        fed_keys::own_key_answer(
            &self.inner.server_name,
            &self.inner.key,
            old,
            SystemTime::now(),
        )
        .map_err(|e| ApiError::Internal(e.to_string()))
    }

    /// The public key `key_id` of `server`, if it was valid at `at_ms`: a
    /// current key until its `valid_until_ts` (fetched again after), an
    /// old one until it expired. Fetched from the server when not known.
    pub async fn public_key(
        &self,
        server: &ServerName,
        key_id: &ServerSigningKeyId,
        at_ms: i64,
    ) -> ApiResult<Option<Base64>> {
        if server == self.inner.server_name {
            let ours = format!("ed25519:{}", self.inner.key.version());
            if key_id.as_str() == ours {
                return Ok(Some(Base64::new(self.inner.key.public_key().to_vec())));
            }
            // An old key of ours verifies what it signed before it ended.
            return Ok(self
                .inner
                .old_keys
                .iter()
                .find(|k| k.key_id == key_id.as_str() && at_ms < k.expired_ts)
                .map(|k| Base64::new(k.public_key.clone())));
        }
        if let Some(key) = self.cached(server, key_id, at_ms).await? {
            return Ok(Some(key));
        }
        let lock = self.fetch_lock(server);
        let _fetching = lock.lock().await;
        // Another lookup may have fetched the keys while this one waited.
        if let Some(key) = self.cached(server, key_id, at_ms).await? {
            return Ok(Some(key));
        }
        if let Err(e) = self.fetch_for(server, key_id.as_str()).await {
            tracing::info!(%server, error = %e, "cannot fetch the server's keys");
            return Ok(None);
        }
        self.cached(server, key_id, at_ms).await
    }

    fn fetch_lock(&self, server: &ServerName) -> Arc<tokio::sync::Mutex<()>> {
        let mut in_flight = self
            .inner
            .in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if in_flight.len() >= MAX_RECENT_FETCHES {
            in_flight.retain(|_, l| Arc::strong_count(l) > 1);
        }
        in_flight.entry(server.to_owned()).or_default().clone()
    }

    async fn cached(
        &self,
        server: &ServerName,
        key_id: &ServerSigningKeyId,
        at_ms: i64,
    ) -> ApiResult<Option<Base64>> {
        let keys = self.inner.store.server_signing_keys(server).await?;
        Ok(keys
            .into_iter()
            .find(|k| k.key_id == key_id.as_str() && valid_at(k, at_ms))
            .and_then(|k| Base64::parse(&k.public_key).ok()))
    }

    /// Fetches `server`'s key answer from it, verifies and caches it (at
    /// most once per [`REFETCH_INTERVAL`]).
    pub async fn fetch(&self, server: &ServerName) -> ApiResult<()> {
        self.fetch_for(server, "").await
    }

    /// Fetches `server`'s keys looking for `key_id` (see
    /// `recent_fetches`).
    async fn fetch_for(&self, server: &ServerName, key_id: &str) -> ApiResult<()> {
        let client = self
            .inner
            .client
            .as_ref()
            .ok_or_else(|| ApiError::forbidden("federation is off on this server"))?;
        if let Ok(mut recent) = self.inner.recent_fetches.lock() {
            let now = Instant::now();
            let key = (server.to_owned(), key_id.to_owned());
            if recent
                .get(&key)
                .is_some_and(|at| now.duration_since(*at) < REFETCH_INTERVAL)
            {
                return Err(ApiError::LimitExceeded {
                    retry_after_ms: REFETCH_INTERVAL.as_millis() as u64,
                });
            }
            if recent.len() >= MAX_RECENT_FETCHES {
                recent.retain(|_, at| now.duration_since(*at) < REFETCH_INTERVAL);
            }
            recent.insert(key, now);
        }
        let answer = client
            .send_unsigned(server, get_server_keys::v2::Request::new())
            .await?
            .server_key;
        self.save(server, &answer).await
    }

    /// Verifies `answer` as `server`'s and caches its keys.
    async fn save(&self, server: &ServerName, answer: &Raw<ServerSigningKeys>) -> ApiResult<()> {
        let verified = fed_keys::verify_key_answer(answer, server)
            .map_err(|e| ApiError::BadGateway(e.to_string()))?;
        let valid_until = i64::from(verified.keys.valid_until_ts.get());
        let mut keys: Vec<ServerSigningKey> = verified
            .keys
            .verify_keys
            .iter()
            .map(|(id, k)| ServerSigningKey {
                key_id: id.to_string(),
                public_key: k.key.encode(),
                valid_until_ts: valid_until,
                expired_ts: None,
            })
            .collect();
        keys.extend(verified.keys.old_verify_keys.iter().map(|(id, k)| {
            let expired = i64::from(k.expired_ts.get());
            ServerSigningKey {
                key_id: id.to_string(),
                public_key: k.key.encode(),
                valid_until_ts: expired,
                expired_ts: Some(expired),
            }
        }));
        self.inner
            .store
            .save_server_keys(server, &verified.json, valid_until, &keys)
            .await?;
        Ok(())
    }

    /// The notary's answer for `server`: its key answer (ours, or the
    /// cached one, fetched when missing or older than
    /// `minimum_valid_until_ms`), countersigned by us. Empty for a server
    /// we do not talk to or cannot reach.
    pub async fn notary_answer(
        &self,
        server: &ServerName,
        minimum_valid_until_ms: Option<i64>,
        allowed: bool,
    ) -> ApiResult<Vec<Raw<ServerSigningKeys>>> {
        if server == self.inner.server_name {
            return Ok(vec![self.own_answer()?]);
        }
        if !allowed {
            return Ok(Vec::new());
        }
        let wanted = minimum_valid_until_ms.unwrap_or_else(now_ms);
        let fresh = |a: &Option<(String, i64)>| a.as_ref().is_some_and(|(_, v)| *v >= wanted);
        let mut answer = self.inner.store.server_key_answer(server).await?;
        if !fresh(&answer) {
            if let Err(e) = self.fetch(server).await {
                tracing::info!(%server, error = %e, "notary: cannot fetch the server's keys");
            }
            answer = self.inner.store.server_key_answer(server).await?;
        }
        // A stale copy is still served when nothing newer could be had, as
        // Synapse does: the asker judges its `valid_until_ts`.
        let Some((json, _)) = answer else {
            return Ok(Vec::new());
        };
        let signed = fed_keys::countersign(&json, &self.inner.server_name, &self.inner.key)
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        Ok(vec![signed])
    }
}

/// Whether `key` may verify a signature made at `at_ms`.
fn valid_at(key: &ServerSigningKey, at_ms: i64) -> bool {
    match key.expired_ts {
        Some(expired) => at_ms < expired,
        None => at_ms <= key.valid_until_ts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_keys_verify_only_what_they_signed_before_expiring() {
        let current = ServerSigningKey {
            key_id: "ed25519:a".into(),
            public_key: String::new(),
            valid_until_ts: 1_000,
            expired_ts: None,
        };
        assert!(valid_at(&current, 1_000));
        assert!(!valid_at(&current, 1_001));
        let old = ServerSigningKey {
            expired_ts: Some(500),
            ..current
        };
        assert!(valid_at(&old, 499));
        assert!(!valid_at(&old, 500));
    }
}
