//! What the server owes end-to-end encryption: storing and serving keys,
//! verifying cross-signing signatures, and routing to-device messages.
//! The server never sees plaintext; it only moves and checks public keys.

mod one_time_keys;

use std::{collections::BTreeMap, sync::Arc};

use missive_store::{
    DeviceListBump, DeviceStore, KeyStore, OneTimeKey, SqlStore, StreamPos, ToDeviceMessage,
    ToDeviceStore,
};
use ruma::{
    CanonicalJsonObject, CanonicalJsonValue, OwnedServerName, UserId,
    api::federation::transactions::edu::{Edu, SigningKeyUpdateContent},
    encryption::CrossSigningKey,
    serde::{Base64, Raw},
};
use serde_json::{Map, Value, json};

use crate::{
    error::{ApiError, ApiResult},
    services::{
        audience,
        federation::outbound::{DeviceChange, Outbound, served_keys},
        notifier::Notifier,
    },
};

/// The largest content of one to-device message, in bytes.
pub const MAX_TO_DEVICE_BYTES: usize = 65_536;

#[derive(Clone)]
pub struct E2ee {
    store: Arc<SqlStore>,
    notifier: Notifier,
    /// Where messages for other servers' devices go; `None` when
    /// federation is off (they are then dropped: nobody could read them).
    outbound: Option<Outbound>,
    server_name: OwnedServerName,
}

fn parse_object(json: &str) -> ApiResult<CanonicalJsonObject> {
    serde_json::from_str(json)
        .map_err(|e| ApiError::Internal(format!("stored key unreadable: {e}")))
}

fn to_value(o: &CanonicalJsonObject) -> Value {
    serde_json::to_value(o).unwrap_or(Value::Null)
}

/// Splits `algorithm:key_id`.
pub fn split_key_id(id: &str) -> ApiResult<(&str, &str)> {
    id.split_once(':')
        .ok_or_else(|| ApiError::bad_json(format!("invalid key ID {id:?}")))
}

impl E2ee {
    pub fn new(
        store: Arc<SqlStore>,
        notifier: Notifier,
        outbound: Option<Outbound>,
        server_name: OwnedServerName,
    ) -> Self {
        Self {
            store,
            notifier,
            outbound,
            server_name,
        }
    }

    /// Stores a device's identity keys after checking they are its own.
    pub async fn upload_device_keys(
        &self,
        user: &UserId,
        device: &str,
        keys: &Value,
    ) -> ApiResult<()> {
        if keys.get("user_id").and_then(Value::as_str) != Some(user.as_str())
            || keys.get("device_id").and_then(Value::as_str) != Some(device)
        {
            return Err(ApiError::bad_json(
                "device_keys must be for this user and device",
            ));
        }
        if !keys.get("keys").is_some_and(Value::is_object)
            || !keys.get("algorithms").is_some_and(Value::is_array)
        {
            return Err(ApiError::bad_json("device_keys needs keys and algorithms"));
        }
        let stored = self.store.device_keys(user).await?;
        let new_json =
            serde_json::to_string(keys).map_err(|e| ApiError::Internal(e.to_string()))?;
        if stored.get(device) == Some(&new_json) {
            return Ok(());
        }
        let bump = self
            .store
            .set_device_keys(user, device.into(), &new_json)
            .await?;
        self.announce_keys(bump.pos, user.as_str()).await;
        self.send_device_to_servers(user, device, &new_json, bump)
            .await?;
        Ok(())
    }

    /// Tells the servers sharing a room with `user` about their device's
    /// new keys (`m.device_list_update`), so their users encrypt to it.
    async fn send_device_to_servers(
        &self,
        user: &UserId,
        device: &str,
        keys_json: &str,
        bump: DeviceListBump,
    ) -> ApiResult<()> {
        let Some(outbound) = self.outbound.as_ref().filter(|o| o.is_local(user)) else {
            return Ok(());
        };
        let changes = vec![(device.into(), DeviceChange::Keys(served_keys(keys_json)))];
        outbound
            .queue_device_list_updates(user, bump, changes)
            .await
    }

    /// Tells the servers sharing a room with `user` about their new
    /// public cross-signing keys (`m.signing_key_update`; the
    /// user-signing key is private to the user's server).
    async fn send_cross_signing_to_servers(&self, user: &UserId) -> ApiResult<()> {
        let Some(outbound) = self.outbound.as_ref().filter(|o| o.is_local(user)) else {
            return Ok(());
        };
        let keys = self.store.cross_signing_keys(user).await?;
        let raw = |ty: &str| {
            keys.get(ty)
                .and_then(|k| Raw::<CrossSigningKey>::from_json_string(k.clone()).ok())
        };
        let mut update = SigningKeyUpdateContent::new(user.to_owned());
        update.master_key = raw("master");
        update.self_signing_key = raw("self_signing");
        outbound
            .queue_edu_to_sharing(user, &Edu::SigningKeyUpdate(update))
            .await
    }

    /// Parses `{"algorithm:id": key}` maps of one-time or fallback keys.
    pub fn parse_one_time_keys(keys: &Map<String, Value>) -> ApiResult<Vec<OneTimeKey>> {
        keys.iter()
            .map(|(id, key)| {
                let (algorithm, key_id) = split_key_id(id)?;
                if !(key.is_object() || key.is_string()) {
                    return Err(ApiError::bad_json(format!(
                        "one-time key {id} is malformed"
                    )));
                }
                Ok(OneTimeKey {
                    algorithm: algorithm.to_owned(),
                    key_id: key_id.to_owned(),
                    key_json: serde_json::to_string(key)
                        .map_err(|e| ApiError::Internal(e.to_string()))?,
                })
            })
            .collect()
    }

    /// The device keys, with display names, of the requested devices.
    pub async fn query_device_keys(
        &self,
        user: &UserId,
        devices: &[String],
    ) -> ApiResult<Map<String, Value>> {
        let keys = self.store.device_keys(user).await?;
        let names: BTreeMap<String, Option<String>> = self
            .store
            .devices(user)
            .await?
            .into_iter()
            .map(|d| (d.device_id, d.display_name))
            .collect();
        let mut out = Map::new();
        for (device, json) in keys {
            if !devices.is_empty() && !devices.contains(&device) {
                continue;
            }
            let mut v: Value = serde_json::from_str(&json).unwrap_or(Value::Null);
            // Whatever else the client put in `unsigned` stays.
            if let Some(Some(name)) = names.get(&device)
                && let Some(object) = v.as_object_mut()
            {
                let unsigned = object.entry("unsigned").or_insert_with(|| json!({}));
                if !unsigned.is_object() {
                    *unsigned = json!({});
                }
                unsigned["device_display_name"] = json!(name);
            }
            out.insert(device, v);
        }
        Ok(out)
    }

    /// The user's cross-signing keys by type.
    pub async fn cross_signing_keys(&self, user: &UserId) -> ApiResult<BTreeMap<String, Value>> {
        Ok(self
            .store
            .cross_signing_keys(user)
            .await?
            .into_iter()
            .map(|(ty, json)| (ty, serde_json::from_str(&json).unwrap_or(Value::Null)))
            .collect())
    }

    /// Checks and stores new cross-signing keys: right owner and usage, and
    /// the self- and user-signing keys signed by the (new or current) master.
    pub async fn upload_cross_signing_keys(
        &self,
        user: &UserId,
        master: Option<&Value>,
        self_signing: Option<&Value>,
        user_signing: Option<&Value>,
    ) -> ApiResult<()> {
        let current = self.cross_signing_keys(user).await?;
        let master_key = match master.or(current.get("master")) {
            Some(m) => Some(single_public_key(m)?),
            None => None,
        };
        for (key, usage) in [
            (master, "master"),
            (self_signing, "self_signing"),
            (user_signing, "user_signing"),
        ] {
            let Some(key) = key else { continue };
            if key.get("user_id").and_then(Value::as_str) != Some(user.as_str()) {
                return Err(ApiError::bad_json(format!(
                    "{usage} key belongs to another user"
                )));
            }
            let usages = key
                .get("usage")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if !usages.iter().any(|u| u.as_str() == Some(usage)) {
                return Err(ApiError::bad_json(format!(
                    "{usage} key lacks the {usage} usage"
                )));
            }
            single_public_key(key)?;
            if usage != "master" {
                let Some(master_key) = &master_key else {
                    return Err(ApiError::bad_json("upload a master key first"));
                };
                let signed = verify_signature(
                    key,
                    user.as_str(),
                    &format!("ed25519:{master_key}"),
                    master_key,
                );
                if !signed {
                    return Err(ApiError::InvalidSignature(format!(
                        "{usage} key is not signed by the master key"
                    )));
                }
            }
        }
        for (key, usage) in [
            (master, "master"),
            (self_signing, "self_signing"),
            (user_signing, "user_signing"),
        ] {
            if let Some(key) = key {
                let json =
                    serde_json::to_string(key).map_err(|e| ApiError::Internal(e.to_string()))?;
                let pos = self.store.set_cross_signing_key(user, usage, &json).await?;
                self.announce_keys(pos, user.as_str()).await;
            }
        }
        if master.is_some() || self_signing.is_some() {
            self.send_cross_signing_to_servers(user).await?;
        }
        Ok(())
    }

    /// Adds uploaded signatures to stored keys after verifying each one.
    /// Returns the failures map of the response.
    pub async fn upload_signatures(
        &self,
        signer: &UserId,
        signed: &Map<String, Value>,
    ) -> ApiResult<Value> {
        let mut failures = Map::new();
        for (target_user, keys) in signed {
            let Ok(target) = UserId::parse(target_user) else {
                continue;
            };
            let Some(keys) = keys.as_object() else {
                continue;
            };
            for (key_id, object) in keys {
                if let Err(e) = self.apply_signature(signer, &target, key_id, object).await {
                    let code = match &e {
                        ApiError::InvalidSignature(_) | ApiError::NotFound(_) => e.errcode(),
                        _ => ApiError::bad_json("").errcode(),
                    };
                    let msg = e.to_string();
                    failures
                        .entry(target_user.clone())
                        .or_insert_with(|| json!({}))
                        .as_object_mut()
                        .expect("inserted as object")
                        .insert(key_id.clone(), json!({ "errcode": code, "error": msg }));
                }
            }
        }
        Ok(Value::Object(failures))
    }

    async fn apply_signature(
        &self,
        signer: &UserId,
        target: &UserId,
        key_id: &str,
        uploaded: &Value,
    ) -> ApiResult<()> {
        // Find the stored object: a device of the target, or one of its
        // cross-signing keys (identified by its public key).
        let devices = self.store.device_keys(target).await?;
        let cross = self.store.cross_signing_keys(target).await?;
        let (kind, stored_json) = if let Some(json) = devices.get(key_id) {
            (None, json.clone())
        } else if let Some((ty, json)) = cross.iter().find(|(_, json)| {
            serde_json::from_str::<Value>(json)
                .ok()
                .and_then(|v| single_public_key(&v).ok())
                .as_deref()
                == Some(key_id)
        }) {
            (Some(ty.clone()), json.clone())
        } else {
            return Err(ApiError::not_found(format!("no key {key_id} for {target}")));
        };
        let mut stored = parse_object(&stored_json)?;
        let new_signatures = uploaded
            .get("signatures")
            .and_then(|s| s.get(signer.as_str()))
            .and_then(Value::as_object)
            .ok_or_else(|| ApiError::bad_json("no signatures from the uploader"))?;
        for (sig_key_id, signature) in new_signatures {
            let Some(sig) = signature.as_str() else {
                continue;
            };
            let signing_key = self.signing_public_key(signer, sig_key_id).await?;
            let mut candidate = stored.clone();
            candidate.remove("unsigned");
            let mut one = CanonicalJsonObject::new();
            let mut inner = CanonicalJsonObject::new();
            inner.insert(
                sig_key_id.clone(),
                CanonicalJsonValue::String(sig.to_owned()),
            );
            one.insert(signer.to_string(), CanonicalJsonValue::Object(inner));
            candidate.insert("signatures".into(), CanonicalJsonValue::Object(one));
            if !verify_signature(
                &to_value(&candidate),
                signer.as_str(),
                sig_key_id,
                &signing_key,
            ) {
                return Err(ApiError::InvalidSignature(format!(
                    "signature {sig_key_id} does not verify"
                )));
            }
            let sigs = stored
                .entry("signatures".into())
                .or_insert_with(|| CanonicalJsonValue::Object(CanonicalJsonObject::new()));
            if let CanonicalJsonValue::Object(sigs) = sigs {
                let by_signer = sigs
                    .entry(signer.to_string())
                    .or_insert_with(|| CanonicalJsonValue::Object(CanonicalJsonObject::new()));
                if let CanonicalJsonValue::Object(by_signer) = by_signer {
                    by_signer.insert(
                        sig_key_id.clone(),
                        CanonicalJsonValue::String(sig.to_owned()),
                    );
                }
            }
        }
        let json = serde_json::to_string(&stored).map_err(|e| ApiError::Internal(e.to_string()))?;
        // A signature on a local user's key goes to the servers sharing a
        // room with them (the helpers leave other servers' users alone).
        match kind {
            None => {
                let bump = self
                    .store
                    .set_device_keys(target, key_id.into(), &json)
                    .await?;
                self.announce_keys(bump.pos, target.as_str()).await;
                self.send_device_to_servers(target, key_id, &json, bump)
                    .await?;
            }
            Some(ty) => {
                let pos = self.store.set_cross_signing_key(target, &ty, &json).await?;
                self.announce_keys(pos, target.as_str()).await;
                if ty != "user_signing" {
                    self.send_cross_signing_to_servers(target).await?;
                }
            }
        }
        Ok(())
    }

    /// The public key behind `ed25519:<id>` of `signer`: one of their
    /// devices, or one of their cross-signing keys.
    async fn signing_public_key(&self, signer: &UserId, sig_key_id: &str) -> ApiResult<String> {
        let (_, id) = split_key_id(sig_key_id)?;
        if let Some(json) = self.store.device_keys(signer).await?.get(id) {
            let v: Value = serde_json::from_str(json).unwrap_or(Value::Null);
            if let Some(k) = v["keys"][sig_key_id].as_str() {
                return Ok(k.to_owned());
            }
        }
        for json in self.store.cross_signing_keys(signer).await?.values() {
            let v: Value = serde_json::from_str(json).unwrap_or(Value::Null);
            if single_public_key(&v).ok().as_deref() == Some(id) {
                return Ok(id.to_owned());
            }
        }
        Err(ApiError::InvalidSignature(format!(
            "unknown signing key {sig_key_id}"
        )))
    }

    /// Queues a to-device message for each target device (`*`: all).
    pub async fn send_to_device(
        &self,
        sender: &UserId,
        sender_device: &str,
        txn_id: &str,
        event_type: &str,
        messages: &Map<String, Value>,
    ) -> ApiResult<()> {
        let (local, remote) = self.split_by_server(messages);
        self.send_to_other_servers(sender, sender_device, txn_id, event_type, remote)
            .await?;
        self.queue_messages(
            (sender.as_str(), sender_device, txn_id),
            sender,
            event_type,
            &local,
        )
        .await
    }

    /// `messages` for this server's users, and the others' by server.
    fn split_by_server(
        &self,
        messages: &Map<String, Value>,
    ) -> (
        Map<String, Value>,
        BTreeMap<OwnedServerName, Map<String, Value>>,
    ) {
        let mut local = Map::new();
        let mut remote: BTreeMap<OwnedServerName, Map<String, Value>> = BTreeMap::new();
        for (user, by_device) in messages {
            match UserId::parse(user) {
                Ok(id) if id.server_name() != self.server_name => {
                    remote
                        .entry(id.server_name().to_owned())
                        .or_default()
                        .insert(user.clone(), by_device.clone());
                }
                _ => {
                    local.insert(user.clone(), by_device.clone());
                }
            }
        }
        (local, remote)
    }

    /// One `m.direct_to_device` EDU per server, queued for it. The message
    /// ID comes from the client's transaction, so a retried request is
    /// dropped as a repeat by the receiving server.
    async fn send_to_other_servers(
        &self,
        sender: &UserId,
        sender_device: &str,
        txn_id: &str,
        event_type: &str,
        by_server: BTreeMap<OwnedServerName, Map<String, Value>>,
    ) -> ApiResult<()> {
        let Some(outbound) = &self.outbound else {
            return Ok(());
        };
        for (server, messages) in by_server {
            let size = serde_json::to_string(&messages).map_or(usize::MAX, |s| s.len());
            if size > MAX_TO_DEVICE_BYTES * 10 {
                return Err(ApiError::TooLarge("to-device messages too large".into()));
            }
            let message_id = message_id(sender, sender_device, txn_id, &server);
            let edu = json!({
                "edu_type": "m.direct_to_device",
                "content": {
                    "sender": sender,
                    "type": event_type,
                    "message_id": message_id,
                    "messages": messages,
                },
            });
            outbound.queue_edu(&[server], &edu).await?;
        }
        Ok(())
    }

    /// Queues a to-device message another server relayed (`m.direct_to_device`)
    /// for local devices; a repeat of `origin`'s `message_id` is dropped.
    /// `messages` must name only local users.
    pub async fn receive_to_device(
        &self,
        origin: &str,
        message_id: &str,
        sender: &UserId,
        event_type: &str,
        messages: &Map<String, Value>,
    ) -> ApiResult<()> {
        // Keyed by the origin's name where local senders' user IDs go: a
        // server name never starts with `@`, so the two never meet.
        self.queue_messages((origin, "", message_id), sender, event_type, messages)
            .await
    }

    /// Queues `messages` once per `dedup` key (sender, device, transaction).
    async fn queue_messages(
        &self,
        dedup: (&str, &str, &str),
        sender: &UserId,
        event_type: &str,
        messages: &Map<String, Value>,
    ) -> ApiResult<()> {
        let mut queue = Vec::new();
        for (user, by_device) in messages {
            let Ok(user_id) = UserId::parse(user) else {
                continue;
            };
            let Some(by_device) = by_device.as_object() else {
                continue;
            };
            let devices = self.store.devices(&user_id).await?;
            for (device, content) in by_device {
                let body = serde_json::to_string(content)
                    .map_err(|e| ApiError::Internal(e.to_string()))?;
                if body.len() > MAX_TO_DEVICE_BYTES {
                    return Err(ApiError::TooLarge("to-device message too large".into()));
                }
                let message =
                    json!({ "type": event_type, "sender": sender, "content": content }).to_string();
                let targets: Vec<&str> = if device == "*" {
                    devices.iter().map(|d| d.device_id.as_str()).collect()
                } else {
                    vec![device.as_str()]
                };
                for target in targets {
                    queue.push(ToDeviceMessage {
                        recipient_user: user_id.to_string(),
                        recipient_device: target.to_owned(),
                        message_json: message.clone(),
                    });
                }
            }
        }
        if let Some(pos) = self.store.queue_to_device(Some(dedup), &queue).await? {
            let recipients: std::collections::BTreeSet<&str> =
                queue.iter().map(|m| m.recipient_user.as_str()).collect();
            self.notifier.notify_users(pos, recipients);
        }
        Ok(())
    }

    /// Wakes whoever must re-fetch `user`'s keys: the user's other devices
    /// and everyone sharing a room with them (their `device_lists`).
    async fn announce_keys(&self, pos: StreamPos, user: &str) {
        audience::announce_to_sharing(&self.store, &self.notifier, pos, user).await;
    }
}

/// A to-device message ID unique to the sender's transaction and the
/// destination, and the same when the client retries it.
fn message_id(sender: &UserId, device: &str, txn_id: &str, server: &ruma::ServerName) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("{sender}\0{device}\0{txn_id}\0{server}"));
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// The single ed25519 public key of a cross-signing key.
fn single_public_key(key: &Value) -> ApiResult<String> {
    let keys = key
        .get("keys")
        .and_then(Value::as_object)
        .ok_or_else(|| ApiError::bad_json("key has no keys"))?;
    if keys.len() != 1 {
        return Err(ApiError::bad_json(
            "a cross-signing key holds exactly one public key",
        ));
    }
    let (id, value) = keys.iter().next().expect("one entry");
    let (_, public) = split_key_id(id)?;
    if value.as_str() != Some(public) {
        return Err(ApiError::bad_json(
            "cross-signing key ID must be its public key",
        ));
    }
    Ok(public.to_owned())
}

/// Whether `object` carries a valid signature by `signer` with the key
/// `key_id` whose public part is `public_key` (unpadded base64).
fn verify_signature(object: &Value, signer: &str, key_id: &str, public_key: &str) -> bool {
    let Ok(mut canonical) = serde_json::from_value::<CanonicalJsonObject>(object.clone()) else {
        return false;
    };
    canonical.remove("unsigned");
    let Some(CanonicalJsonValue::Object(sigs)) = canonical.get("signatures") else {
        return false;
    };
    let Some(CanonicalJsonValue::Object(by_signer)) = sigs.get(signer) else {
        return false;
    };
    let Some(sig) = by_signer.get(key_id).cloned() else {
        return false;
    };
    let mut only = CanonicalJsonObject::new();
    let mut inner = CanonicalJsonObject::new();
    inner.insert(key_id.to_owned(), sig);
    only.insert(signer.to_owned(), CanonicalJsonValue::Object(inner));
    canonical.insert("signatures".into(), CanonicalJsonValue::Object(only));
    let Ok(public) = Base64::parse(public_key) else {
        return false;
    };
    let mut set = BTreeMap::new();
    set.insert(key_id.to_owned(), public);
    let mut map = BTreeMap::new();
    map.insert(signer.to_owned(), set);
    ruma::signatures::verify_json(&map, &canonical).is_ok()
}
