//! Other servers' users' end-to-end keys as local clients see them.
//!
//! A remote user's device list is kept here (device and cross-signing
//! keys in the local users' tables, see `RemoteDeviceStore`) once it is
//! whole: fetched with `GET /user/devices/{userId}` when their server
//! first announces a change to a user who shares a room with one of ours,
//! then kept current by `m.device_list_update` and `m.signing_key_update`
//! EDUs; a gap in an update's `prev_id` fetches it whole again. Users not
//! kept are asked of their server at each query, one request per server
//! with a timeout; a server that fails is listed in `failures` (as Synapse
//! lists it: `{"status", "message"}`).

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use futures::future::join_all;
use missive_store::{
    EventStore, KeyStore, RemoteDeviceList, RemoteDeviceStore, SqlStore, StreamPos,
};
use ruma::{
    OwnedDeviceId, OwnedServerName, OwnedUserId, ServerName, UserId,
    api::federation::{
        device::get_devices,
        keys::{claim_keys, get_keys},
        transactions::edu::{
            DeviceListUpdateContent as DeviceListUpdate,
            SigningKeyUpdateContent as SigningKeyUpdate,
        },
    },
    encryption::{CrossSigningKey, DeviceKeys},
    serde::Raw,
};
use serde_json::{Map, Value, json};

use super::Federation;
use crate::{
    error::{ApiError, ApiResult},
    services::{audience, e2ee::E2ee, notifier::Notifier},
    time::now_ms,
};

/// The longest a client's key query or claim waits for other servers.
pub const MAX_REMOTE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a resync of one user's device list may take.
const RESYNC_TIMEOUT: Duration = Duration::from_secs(30);

/// Remote users' keys, as `POST /keys/query` answers them.
#[derive(Default)]
pub struct QueryAnswer {
    pub device_keys: Map<String, Value>,
    pub master_keys: Map<String, Value>,
    pub self_signing_keys: Map<String, Value>,
    pub failures: Map<String, Value>,
}

/// Remote users' claimed one-time keys, as `POST /keys/claim` answers.
#[derive(Default)]
pub struct ClaimAnswer {
    pub one_time_keys: Map<String, Value>,
    pub failures: Map<String, Value>,
}

#[derive(Clone)]
pub struct RemoteKeys {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<SqlStore>,
    federation: Federation,
    notifier: Notifier,
    e2ee: E2ee,
    server_name: OwnedServerName,
}

/// A failure entry of `failures`, as Synapse writes it.
fn failure(e: &ApiError) -> Value {
    let status = match e {
        ApiError::Forbidden(_) => 403,
        ApiError::NotFound(_) => 404,
        _ => 503,
    };
    json!({ "status": status, "message": e.to_string() })
}

fn to_value<T>(raw: &Raw<T>) -> Value {
    serde_json::from_str(raw.json().get()).unwrap_or(Value::Null)
}

impl RemoteKeys {
    pub fn new(
        store: Arc<SqlStore>,
        federation: Federation,
        notifier: Notifier,
        e2ee: E2ee,
        server_name: OwnedServerName,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                federation,
                notifier,
                e2ee,
                server_name,
            }),
        }
    }

    pub fn is_local(&self, user: &UserId) -> bool {
        user.server_name() == self.inner.server_name
    }

    /// A local user's device list stream ID, as `/user/devices` answers it
    /// (the position of its latest change; zero when it never changed).
    pub async fn local_device_list_stream_id(&self, user: &UserId) -> ApiResult<i64> {
        Ok(self.inner.store.device_list_stream_id(user).await?.max(0))
    }

    /// Keys of remote users, grouped by server: kept lists answered here,
    /// the others asked of their servers at once, each within `timeout`.
    pub async fn query(
        &self,
        users: BTreeMap<OwnedServerName, BTreeMap<OwnedUserId, Vec<OwnedDeviceId>>>,
        timeout: Duration,
    ) -> ApiResult<QueryAnswer> {
        let mut answer = QueryAnswer::default();
        let mut asked = Vec::new();
        for (server, users) in users {
            let mut ask = BTreeMap::new();
            for (user, devices) in users {
                if self
                    .inner
                    .store
                    .remote_device_stream(&user)
                    .await?
                    .is_some()
                {
                    self.answer_kept(&mut answer, &user, &devices).await?;
                } else {
                    ask.insert(user, devices);
                }
            }
            if !ask.is_empty() {
                asked.push(self.ask_keys(server, ask, timeout));
            }
        }
        for (server, result) in join_all(asked).await {
            match result {
                Ok(response) => {
                    let wanted = |u: &UserId| u.server_name() == server;
                    for (user, devices) in response.device_keys {
                        if !wanted(&user) {
                            continue;
                        }
                        let devices: Map<String, Value> = devices
                            .iter()
                            .map(|(d, k)| (d.to_string(), to_value(k)))
                            .collect();
                        answer
                            .device_keys
                            .insert(user.to_string(), Value::Object(devices));
                    }
                    for (user, key) in response.master_keys.iter().filter(|(u, _)| wanted(u)) {
                        answer.master_keys.insert(user.to_string(), to_value(key));
                    }
                    for (user, key) in response.self_signing_keys.iter().filter(|(u, _)| wanted(u))
                    {
                        answer
                            .self_signing_keys
                            .insert(user.to_string(), to_value(key));
                    }
                }
                Err(e) => {
                    tracing::info!(%server, error = %e, "remote key query failed");
                    answer.failures.insert(server.to_string(), failure(&e));
                }
            }
        }
        Ok(answer)
    }

    async fn answer_kept(
        &self,
        answer: &mut QueryAnswer,
        user: &UserId,
        devices: &[OwnedDeviceId],
    ) -> ApiResult<()> {
        let devices: Vec<String> = devices.iter().map(ToString::to_string).collect();
        let e2ee = &self.inner.e2ee;
        answer.device_keys.insert(
            user.to_string(),
            Value::Object(e2ee.query_device_keys(user, &devices).await?),
        );
        let cross = e2ee.cross_signing_keys(user).await?;
        if let Some(k) = cross.get("master") {
            answer.master_keys.insert(user.to_string(), k.clone());
        }
        if let Some(k) = cross.get("self_signing") {
            answer.self_signing_keys.insert(user.to_string(), k.clone());
        }
        Ok(())
    }

    async fn ask_keys(
        &self,
        server: OwnedServerName,
        users: BTreeMap<OwnedUserId, Vec<OwnedDeviceId>>,
        timeout: Duration,
    ) -> (OwnedServerName, ApiResult<get_keys::v1::Response>) {
        let result = async {
            let client = self.inner.federation.client()?;
            tokio::time::timeout(
                timeout,
                client.send(&server, get_keys::v1::Request::new(users)),
            )
            .await
            .map_err(|_| ApiError::BadGateway("the server did not answer in time".into()))?
            .map_err(ApiError::from)
        }
        .await;
        (server, result)
    }

    /// One-time keys of remote users' devices, claimed of their servers
    /// at once, each within `timeout`.
    pub async fn claim(
        &self,
        claims: BTreeMap<OwnedServerName, claim_keys::v1::OneTimeKeyClaims>,
        timeout: Duration,
    ) -> ClaimAnswer {
        let asked = claims.into_iter().map(|(server, claims)| async move {
            let result = async {
                let client = self.inner.federation.client()?;
                tokio::time::timeout(
                    timeout,
                    client.send(&server, claim_keys::v1::Request::new(claims)),
                )
                .await
                .map_err(|_| ApiError::BadGateway("the server did not answer in time".into()))?
                .map_err(ApiError::from)
            }
            .await;
            (server, result)
        });
        let mut answer = ClaimAnswer::default();
        for (server, result) in join_all(asked).await {
            match result {
                Ok(response) => {
                    for (user, devices) in response.one_time_keys {
                        if user.server_name() != server {
                            continue;
                        }
                        let devices: Map<String, Value> = devices
                            .iter()
                            .map(|(d, keys)| {
                                let keys: Map<String, Value> = keys
                                    .iter()
                                    .map(|(id, k)| (id.to_string(), to_value(k)))
                                    .collect();
                                (d.to_string(), Value::Object(keys))
                            })
                            .collect();
                        answer
                            .one_time_keys
                            .insert(user.to_string(), Value::Object(devices));
                    }
                }
                Err(e) => {
                    tracing::info!(%server, error = %e, "remote key claim failed");
                    answer.failures.insert(server.to_string(), failure(&e));
                }
            }
        }
        answer
    }

    /// An `m.device_list_update` of a user of the sending server: applied
    /// to a kept list when nothing was missed, else the list is fetched
    /// again (in the background: the transaction is not held up).
    pub async fn device_list_update(&self, update: DeviceListUpdate) -> ApiResult<()> {
        let user = &update.user_id;
        let stream_id = i64::try_from(u64::from(update.stream_id)).unwrap_or(i64::MAX);
        let store = &self.inner.store;
        let known = store.remote_device_stream(user).await?;
        let Some(known) = known else {
            // Not kept: local clients re-fetch from the user's server; the
            // list is kept from now on if one of our users shares a room.
            if self.shared_locally(user).await? {
                let pos = store.mark_device_list_changed(user).await?;
                self.announce(pos, user).await;
                self.spawn_resync(user.clone());
            }
            return Ok(());
        };
        if stream_id <= known {
            return Ok(());
        }
        // Every update before this one (its `prev_id`) must be in the
        // kept list (the list is whole up to `known`).
        let missed = update
            .prev_id
            .iter()
            .any(|p| i64::try_from(u64::from(*p)).unwrap_or(i64::MAX) > known);
        if missed {
            self.spawn_resync(user.clone());
            return Ok(());
        }
        let keys = if update.deleted == Some(true) {
            None
        } else if let Some(keys) = &update.keys {
            Some(with_display_name(
                keys,
                update.device_id.as_str(),
                user,
                update.device_display_name.as_deref(),
            )?)
        } else {
            // A change without keys (a rename of a device without keys,
            // or keys unchanged): what is kept stays.
            store
                .device_keys(user)
                .await?
                .remove(update.device_id.as_str())
        };
        let pos = store
            .update_remote_device(user, update.device_id.as_str(), keys.as_deref(), stream_id)
            .await?;
        self.announce(pos, user).await;
        Ok(())
    }

    /// An `m.signing_key_update`: stored when the user's list is kept;
    /// either way local clients sharing a room re-fetch.
    pub async fn signing_key_update(&self, update: SigningKeyUpdate) -> ApiResult<()> {
        let user = &update.user_id;
        let store = &self.inner.store;
        if store.remote_device_stream(user).await?.is_none() {
            if self.shared_locally(user).await? {
                let pos = store.mark_device_list_changed(user).await?;
                self.announce(pos, user).await;
            }
            return Ok(());
        }
        let mut last = None;
        for (ty, key) in [
            ("master", &update.master_key),
            ("self_signing", &update.self_signing_key),
        ] {
            let Some(key) = key else { continue };
            let value = to_value(key);
            if value.get("user_id").and_then(Value::as_str) != Some(user.as_str()) {
                return Err(ApiError::bad_json(format!("{ty} key of another user")));
            }
            last = Some(
                store
                    .set_cross_signing_key(user, ty, key.json().get())
                    .await?,
            );
        }
        if let Some(pos) = last {
            self.announce(pos, user).await;
        }
        Ok(())
    }

    fn spawn_resync(&self, user: OwnedUserId) {
        let this = self.clone();
        tokio::spawn(async move {
            if let Err(e) = this.resync(&user).await {
                tracing::warn!(%user, error = %e, "device list resync failed");
            }
        });
    }

    /// Fetches the user's whole device list from their server and keeps
    /// it; when that fails, stops keeping it (queries ask their server).
    pub async fn resync(&self, user: &UserId) -> ApiResult<()> {
        let store = &self.inner.store;
        let fetched = async {
            let client = self.inner.federation.client()?;
            tokio::time::timeout(
                RESYNC_TIMEOUT,
                client.send(
                    user.server_name(),
                    get_devices::v1::Request::new(user.to_owned()),
                ),
            )
            .await
            .map_err(|_| ApiError::BadGateway("the server did not answer in time".into()))?
            .map_err(ApiError::from)
        }
        .await;
        let response = match fetched {
            Ok(r) if r.user_id == user => r,
            Ok(_) => Err(ApiError::bad_json("device list of another user"))?,
            Err(e) => {
                let pos = store.forget_remote_devices(user).await?;
                self.announce(pos, user).await;
                return Err(e);
            }
        };
        let list = remote_list(user, &response)?;
        let pos = store.replace_remote_devices(user, &list, now_ms()).await?;
        self.announce(pos, user).await;
        Ok(())
    }

    /// Whether one of our users shares a room with `user`.
    async fn shared_locally(&self, user: &UserId) -> ApiResult<bool> {
        let ours = format!(":{}", self.inner.server_name);
        Ok(self
            .inner
            .store
            .users_sharing_rooms_with(user)
            .await?
            .iter()
            .any(|u| u.ends_with(&ours)))
    }

    async fn announce(&self, pos: StreamPos, user: &UserId) {
        audience::announce_to_sharing(&self.inner.store, &self.inner.notifier, pos, user.as_str())
            .await;
    }
}

/// A device's keys as kept: the user's and device's own (else rejected),
/// with the display name in `unsigned` as local devices' are served.
fn with_display_name(
    keys: &Raw<DeviceKeys>,
    device: &str,
    user: &UserId,
    name: Option<&str>,
) -> ApiResult<String> {
    let mut value = to_value(keys);
    if value.get("user_id").and_then(Value::as_str) != Some(user.as_str())
        || value.get("device_id").and_then(Value::as_str) != Some(device)
    {
        return Err(ApiError::bad_json("device keys of another device"));
    }
    if let (Some(name), Some(object)) = (name, value.as_object_mut()) {
        let unsigned = object.entry("unsigned").or_insert_with(|| json!({}));
        if !unsigned.is_object() {
            *unsigned = json!({});
        }
        unsigned["device_display_name"] = json!(name);
    }
    serde_json::to_string(&value).map_err(|e| ApiError::Internal(e.to_string()))
}

/// The list to keep from a `GET /user/devices` answer (devices whose keys
/// are not the user's own are left out).
fn remote_list(user: &UserId, r: &get_devices::v1::Response) -> ApiResult<RemoteDeviceList> {
    let devices = r
        .devices
        .iter()
        .filter_map(|d| {
            with_display_name(
                &d.keys,
                d.device_id.as_str(),
                user,
                d.device_display_name.as_deref(),
            )
            .ok()
            .map(|json| (d.device_id.to_string(), json))
        })
        .collect();
    let cross_signing = [
        ("master", &r.master_key),
        ("self_signing", &r.self_signing_key),
    ]
    .into_iter()
    .filter_map(|(ty, k): (&str, &Option<Raw<CrossSigningKey>>)| {
        let k = k.as_ref()?;
        (to_value(k).get("user_id").and_then(Value::as_str) == Some(user.as_str()))
            .then(|| (ty.to_owned(), k.json().get().to_owned()))
    })
    .collect();
    Ok(RemoteDeviceList {
        stream_id: i64::try_from(u64::from(r.stream_id)).unwrap_or(i64::MAX),
        devices,
        cross_signing,
    })
}

/// Groups users by their server.
pub fn by_server<T>(
    items: impl IntoIterator<Item = (OwnedUserId, T)>,
) -> BTreeMap<OwnedServerName, BTreeMap<OwnedUserId, T>> {
    let mut out: BTreeMap<OwnedServerName, BTreeMap<OwnedUserId, T>> = BTreeMap::new();
    for (user, item) in items {
        out.entry(user.server_name().to_owned())
            .or_default()
            .insert(user, item);
    }
    out
}

/// Whether `user` is of `origin` (EDUs speak only for their own users).
pub fn of_origin(user: &UserId, origin: &ServerName) -> bool {
    user.server_name() == origin
}
