//! The EDUs of an inbound transaction: typing, receipts, presence,
//! to-device messages and device-list and cross-signing updates. Each
//! goes through the service local clients' writes go through, so local
//! syncs are woken alike. An EDU speaks only for users of the server that
//! sent it: one about anyone else is ignored, as is one that fails its
//! checks (EDUs have no answer; failures are only logged).

use std::{sync::Arc, time::Duration};

use missive_store::{PresenceRecord, SqlStore};
use ruma::{
    OwnedServerName, ServerName,
    api::federation::transactions::edu::{
        DirectDeviceContent, Edu, PresenceContent, ReceiptContent, TypingContent,
    },
    serde::Raw,
};
use serde_json::{Map, Value};

use super::remote_keys::{RemoteKeys, of_origin};
use crate::{
    error::ApiResult,
    services::{e2ee::E2ee, ephemeral::Ephemeral, presence::Presence},
    time::now_ms,
};

/// How long a remote user stays typing without a new notice (the spec
/// leaves it to the receiver; Synapse's federation timeout).
const REMOTE_TYPING: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct Edus {
    store: Arc<SqlStore>,
    ephemeral: Ephemeral,
    presence: Presence,
    e2ee: E2ee,
    remote_keys: RemoteKeys,
    server_name: OwnedServerName,
}

impl Edus {
    pub fn new(
        store: Arc<SqlStore>,
        ephemeral: Ephemeral,
        presence: Presence,
        e2ee: E2ee,
        remote_keys: RemoteKeys,
        server_name: OwnedServerName,
    ) -> Self {
        Self {
            store,
            ephemeral,
            presence,
            e2ee,
            remote_keys,
            server_name,
        }
    }

    /// Handles each of `origin`'s EDUs in turn.
    pub async fn receive(&self, origin: &ServerName, edus: &[Raw<Edu>]) {
        for raw in edus {
            let outcome = match raw.deserialize() {
                Ok(edu) => self.one(origin, edu).await,
                Err(e) => {
                    tracing::debug!(%origin, error = %e, "malformed EDU ignored");
                    continue;
                }
            };
            if let Err(e) = outcome {
                tracing::debug!(%origin, error = %e, "EDU not applied");
            }
        }
    }

    async fn one(&self, origin: &ServerName, edu: Edu) -> ApiResult<()> {
        match edu {
            Edu::Typing(t) => self.typing(origin, t).await,
            Edu::Receipt(r) => self.receipts(origin, r).await,
            Edu::Presence(p) => self.presence(origin, p).await,
            Edu::DirectToDevice(d) => self.to_device(origin, d).await,
            Edu::DeviceListUpdate(u) if of_origin(&u.user_id, origin) => {
                self.remote_keys.device_list_update(u).await
            }
            Edu::SigningKeyUpdate(u) if of_origin(&u.user_id, origin) => {
                self.remote_keys.signing_key_update(u).await
            }
            Edu::DeviceListUpdate(_) | Edu::SigningKeyUpdate(_) => Ok(()),
            // Unknown EDU types are ignored, as the spec asks.
            _ => Ok(()),
        }
    }

    /// `Ephemeral::set_typing` checks the user is joined to the room.
    async fn typing(&self, origin: &ServerName, t: TypingContent) -> ApiResult<()> {
        if !of_origin(&t.user_id, origin) {
            return Ok(());
        }
        super::acl::check_acl(&self.store, origin, &t.room_id).await?;
        let timeout = t.typing.then_some(REMOTE_TYPING);
        self.ephemeral
            .set_typing(&t.room_id, &t.user_id, timeout)
            .await
    }

    /// Public read receipts (the only kind servers exchange), each checked
    /// by `Ephemeral::set_receipt` (the user joined, the event known).
    async fn receipts(&self, origin: &ServerName, r: ReceiptContent) -> ApiResult<()> {
        for (room, map) in &r.receipts {
            if super::acl::check_acl(&self.store, origin, room)
                .await
                .is_err()
            {
                continue;
            }
            for (user, data) in &map.read {
                if !of_origin(user, origin) {
                    continue;
                }
                for event in &data.event_ids {
                    if let Err(e) = self
                        .ephemeral
                        .set_receipt(room, user, "m.read", event, &data.data.thread)
                        .await
                    {
                        tracing::debug!(%room, %user, %event, error = %e, "receipt not applied");
                    }
                }
            }
        }
        Ok(())
    }

    async fn presence(&self, origin: &ServerName, p: PresenceContent) -> ApiResult<()> {
        for update in p.push {
            if !of_origin(&update.user_id, origin) {
                continue;
            }
            let ago = i64::try_from(u64::from(update.last_active_ago)).unwrap_or(i64::MAX);
            self.presence
                .receive_remote(&PresenceRecord {
                    user_id: update.user_id.to_string(),
                    state: update.presence.as_str().to_owned(),
                    status_msg: update.status_msg,
                    last_active_ts: now_ms().saturating_sub(ago),
                })
                .await?;
        }
        Ok(())
    }

    /// Messages to local users' devices (others are dropped), once per
    /// message ID of the origin.
    async fn to_device(&self, origin: &ServerName, d: DirectDeviceContent) -> ApiResult<()> {
        if !of_origin(&d.sender, origin) {
            return Ok(());
        }
        let messages: Map<String, Value> = d
            .messages
            .iter()
            .filter(|(user, _)| user.server_name() == self.server_name)
            .filter_map(|(user, by_device)| {
                Some((user.to_string(), serde_json::to_value(by_device).ok()?))
            })
            .collect();
        if messages.is_empty() {
            return Ok(());
        }
        self.e2ee
            .receive_to_device(
                origin.as_str(),
                d.message_id.as_str(),
                &d.sender,
                &d.ev_type.to_string(),
                &messages,
            )
            .await
    }
}
