//! Server-side key backup (`/room_keys`): backup versions and the session
//! keys in them. The keys are encrypted by the client; the server keeps
//! the best copy of each session.

use std::sync::Arc;

use missive_store::{BackedUpKey, BackupStore, BackupVersion, SqlStore};
use ruma::{UserId, api::client::backup::BackupAlgorithm};
use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};

/// Most session keys accepted in one upload.
const MAX_KEYS_PER_UPLOAD: usize = 10_000;

/// Where in a backup a key read or deletion applies: everything, one
/// room, or one session of one room.
#[derive(Clone, Copy)]
pub struct KeyScope<'a> {
    pub room: Option<&'a str>,
    pub session: Option<&'a str>,
}

impl KeyScope<'static> {
    pub const ALL: Self = Self {
        room: None,
        session: None,
    };
}

#[derive(Clone)]
pub struct KeyBackup {
    store: Arc<SqlStore>,
}

impl KeyBackup {
    pub fn new(store: Arc<SqlStore>) -> Self {
        Self { store }
    }

    /// Creates a new current version from a `{algorithm, auth_data}` body;
    /// returns its name.
    pub async fn create_version(&self, user: &UserId, body: Option<&Value>) -> ApiResult<String> {
        let (algorithm, auth) = algorithm_and_auth(body)?;
        Ok(self
            .store
            .create_backup_version(user, &algorithm, &auth)
            .await?)
    }

    /// The named version, or with `None` the current one.
    pub async fn version(&self, user: &UserId, version: Option<&str>) -> ApiResult<BackupVersion> {
        self.store
            .backup_version(user, version)
            .await?
            .ok_or_else(|| match version {
                Some(_) => ApiError::not_found("unknown backup version"),
                None => ApiError::not_found("no backup"),
            })
    }

    /// Replaces a version's `auth_data`; its algorithm cannot change.
    pub async fn update_version(
        &self,
        user: &UserId,
        version: &str,
        body: Option<&Value>,
    ) -> ApiResult<()> {
        // Synapse: a version in the body must be the one in the path.
        if let Some(given) = body.and_then(|b| b.get("version"))
            && given.as_str() != Some(version)
        {
            return Err(ApiError::invalid_param("version in body does not match"));
        }
        let (algorithm, auth) = algorithm_and_auth(body)?;
        let current = self.version(user, Some(version)).await?;
        if current.algorithm != algorithm {
            return Err(ApiError::invalid_param(
                "the algorithm of a backup version cannot change",
            ));
        }
        self.store
            .update_backup_version(user, version, &auth)
            .await?;
        Ok(())
    }

    /// Deletes a version and its keys.
    pub async fn delete_version(&self, user: &UserId, version: &str) -> ApiResult<()> {
        if self.store.delete_backup_version(user, version).await? {
            Ok(())
        } else {
            Err(ApiError::not_found("unknown backup version"))
        }
    }

    /// Stores the keys of a `{room: {sessions: {session: data}}}` body in
    /// the current version; returns the version as it then stands.
    pub async fn add_keys(
        &self,
        user: &UserId,
        version: &str,
        rooms: &Map<String, Value>,
    ) -> ApiResult<BackupVersion> {
        let keys = parse_rooms(rooms)?;
        self.store_keys(user, version, &keys).await
    }

    /// Stores one session's key in the current version.
    pub async fn add_session_key(
        &self,
        user: &UserId,
        version: &str,
        room: &str,
        session: &str,
        data: &Value,
    ) -> ApiResult<BackupVersion> {
        let key = parse_key(room, session, data)?;
        self.store_keys(user, version, &[key]).await
    }

    /// The keys of a version within `scope`.
    pub async fn keys(
        &self,
        user: &UserId,
        version: &str,
        scope: KeyScope<'_>,
    ) -> ApiResult<Vec<BackedUpKey>> {
        self.version(user, Some(version)).await?;
        Ok(self
            .store
            .backup_keys(user, version, scope.room, scope.session)
            .await?)
    }

    /// Deletes the keys of a version within `scope`; returns the version
    /// as it then stands.
    pub async fn delete_keys(
        &self,
        user: &UserId,
        version: &str,
        scope: KeyScope<'_>,
    ) -> ApiResult<BackupVersion> {
        self.version(user, Some(version)).await?;
        self.store
            .delete_backup_keys(user, version, scope.room, scope.session)
            .await?;
        self.reread(user, version).await
    }

    /// Uploads go only to the current version (so that a client with a
    /// stale key does not write where nobody reads).
    async fn store_keys(
        &self,
        user: &UserId,
        version: &str,
        keys: &[BackedUpKey],
    ) -> ApiResult<BackupVersion> {
        match self.store.backup_version(user, None).await? {
            Some(c) if c.version == version => {}
            Some(c) => {
                return Err(ApiError::WrongRoomKeysVersion {
                    current: Some(c.version),
                    message: "this is not the current backup version".into(),
                });
            }
            None => return Err(ApiError::not_found("no backup version exists")),
        }
        self.store.put_backup_keys(user, version, keys).await?;
        self.reread(user, version).await
    }

    async fn reread(&self, user: &UserId, version: &str) -> ApiResult<BackupVersion> {
        self.store
            .backup_version(user, Some(version))
            .await?
            .ok_or_else(|| ApiError::not_found("backup vanished"))
    }
}

/// The `{algorithm, auth_data}` of a version, checked against ruma's
/// `BackupAlgorithm`: `m.megolm_backup.v1.curve25519-aes-sha2` needs its
/// `public_key` (unpadded base64) and `signatures`, any other algorithm an
/// object. Synapse stores whatever it is given; a backup no client can use
/// is better refused with the reason.
fn algorithm_and_auth(body: Option<&Value>) -> ApiResult<(String, String)> {
    let body = body.ok_or_else(|| ApiError::bad_json("missing body"))?;
    let algorithm = body
        .get("algorithm")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_json("missing algorithm"))?;
    let auth = body
        .get("auth_data")
        .filter(|a| a.is_object())
        .ok_or_else(|| ApiError::bad_json("auth_data must be an object"))?;
    serde_json::from_value::<BackupAlgorithm>(
        serde_json::json!({ "algorithm": algorithm, "auth_data": auth }),
    )
    .map_err(|e| ApiError::bad_json(format!("invalid auth_data for {algorithm}: {e}")))?;
    Ok((algorithm.to_owned(), auth.to_string()))
}

fn parse_key(room_id: &str, session_id: &str, data: &Value) -> ApiResult<BackedUpKey> {
    let int = |f: &str| {
        data.get(f)
            .and_then(Value::as_i64)
            .ok_or_else(|| ApiError::bad_json(format!("missing {f}")))
    };
    Ok(BackedUpKey {
        room_id: room_id.to_owned(),
        session_id: session_id.to_owned(),
        first_message_index: int("first_message_index")?,
        forwarded_count: int("forwarded_count")?,
        is_verified: data
            .get("is_verified")
            .and_then(Value::as_bool)
            .ok_or_else(|| ApiError::bad_json("missing is_verified"))?,
        session_data: data
            .get("session_data")
            .filter(|d| d.is_object())
            .ok_or_else(|| ApiError::bad_json("missing session_data"))?
            .to_string(),
    })
}

fn parse_rooms(rooms: &Map<String, Value>) -> ApiResult<Vec<BackedUpKey>> {
    let mut keys = Vec::new();
    for (room, v) in rooms {
        let sessions = v
            .get("sessions")
            .and_then(Value::as_object)
            .ok_or_else(|| ApiError::bad_json("missing sessions"))?;
        for (session, data) in sessions {
            keys.push(parse_key(room, session, data)?);
        }
    }
    if keys.len() > MAX_KEYS_PER_UPLOAD {
        return Err(ApiError::TooLarge("too many keys in one upload".into()));
    }
    Ok(keys)
}
