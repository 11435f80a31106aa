//! Presence: a user's own `PUT /presence`, the "active" mark every sync
//! makes, and `GET /presence` for those who share a room with the user.
//! A local user's change of state or status message also goes to the
//! servers sharing a room with them (`m.presence`); a mere refresh of the
//! activity time does not (receivers count it from the last update).
//!
//! Every sync marks its user active (`set_presence` in the request), which
//! needs the stored presence to decide whether to write. A user who syncs
//! many times a minute would cost a read each time; this service remembers
//! what it last confirmed per user and reads again only after
//! [`RECONFIRM_MS`]. Presence is advisory and already written at most
//! every few minutes while unchanged, so a change made by another server
//! process shows here at most that much later.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use missive_store::{EventStore, PresenceRecord, PresenceStore, SqlStore};
use ruma::{
    OwnedUserId, UInt, UserId,
    api::federation::transactions::edu::{Edu, PresenceContent, PresenceUpdate},
    presence::PresenceState,
};
use serde_json::{Value, json};

use crate::{
    error::{ApiError, ApiResult},
    services::{audience, federation::outbound::Outbound, notifier::Notifier},
    time::now_ms,
};

/// How long a confirmed state is trusted without reading it again.
const RECONFIRM_MS: i64 = 60_000;

/// How stale the stored "last active" time may grow before a sync writes
/// it again (each write moves the presence stream).
const REWRITE_ACTIVE_MS: i64 = 5 * 60_000;

/// Users remembered at most; beyond that the memory starts again empty.
const MAX_USERS: usize = 100_000;

/// Longest status message, in bytes.
const MAX_STATUS_MSG_BYTES: usize = 1024;

/// A presence record as clients see it (the content of `m.presence`, and
/// the answer to `GET /presence/{user}/status`).
pub fn content(p: &PresenceRecord) -> Value {
    let mut content = json!({
        "presence": p.state,
        "last_active_ago": (now_ms() - p.last_active_ts).max(0),
        "currently_active": p.state == "online",
    });
    if let Some(msg) = &p.status_msg {
        content["status_msg"] = json!(msg);
    }
    content
}

#[derive(Clone)]
pub struct Presence {
    store: Arc<SqlStore>,
    notifier: Notifier,
    /// Whether users may set and read presence (the `presence` setting).
    enabled: bool,
    /// user -> (state, when this process last confirmed it in the store).
    confirmed: Arc<Mutex<HashMap<String, (String, i64)>>>,
    /// Where local users' changes go to other servers; `None` when
    /// federation is off.
    outbound: Option<Outbound>,
}

impl Presence {
    pub fn new(
        store: Arc<SqlStore>,
        notifier: Notifier,
        enabled: bool,
        outbound: Option<Outbound>,
    ) -> Self {
        Self {
            store,
            notifier,
            enabled,
            confirmed: Default::default(),
            outbound,
        }
    }

    /// Sets `user`'s presence, as `by` (only their own). With presence
    /// disabled the request succeeds and changes nothing.
    pub async fn set_own(
        &self,
        by: &UserId,
        user: &UserId,
        state: &PresenceState,
        status_msg: Option<String>,
    ) -> ApiResult<()> {
        if by != user {
            return Err(ApiError::forbidden("you can only set your own presence"));
        }
        if !self.enabled {
            return Ok(());
        }
        if status_msg
            .as_ref()
            .is_some_and(|m| m.len() > MAX_STATUS_MSG_BYTES)
        {
            return Err(ApiError::invalid_param("status message too long"));
        }
        let current = self.store.presence(user).await?;
        let record = PresenceRecord {
            user_id: user.to_string(),
            state: state.as_str().to_owned(),
            status_msg,
            last_active_ts: now_ms(),
        };
        self.write(&record).await?;
        let changed =
            current.is_none_or(|c| c.state != record.state || c.status_msg != record.status_msg);
        if changed {
            self.send_to_servers(&record).await?;
        }
        Ok(())
    }

    /// `target`'s presence as `by` may see it: their own, or that of
    /// someone they share a room with.
    pub async fn status(&self, by: &UserId, target: &UserId) -> ApiResult<PresenceRecord> {
        if !self.enabled {
            return Err(ApiError::forbidden("presence is disabled on this server"));
        }
        let shares_room = target == by || !self.store.shared_rooms(by, target).await?.is_empty();
        if !shares_room {
            return Err(ApiError::forbidden(
                "you do not share a room with this user",
            ));
        }
        // Someone who never set a presence is offline (as Synapse answers).
        Ok(self
            .store
            .presence(target)
            .await?
            .unwrap_or_else(|| PresenceRecord {
                user_id: target.to_string(),
                state: "offline".to_owned(),
                status_msg: None,
                last_active_ts: 0,
            }))
    }

    /// Marks the user active in `state` (from a sync), writing only when
    /// the state changes or the stored activity time grew stale.
    pub async fn mark_active(&self, user: &str, state: &str) -> ApiResult<()> {
        let now = now_ms();
        if self
            .lock()
            .get(user)
            .is_some_and(|(s, at)| s == state && now - at < RECONFIRM_MS)
        {
            return Ok(());
        }
        let current = self
            .store
            .presence(<&UserId>::try_from(user).map_err(|e| ApiError::Internal(e.to_string()))?)
            .await?;
        let changed = current.as_ref().is_none_or(|p| p.state != state);
        let stale = changed
            || current
                .as_ref()
                .is_some_and(|p| now - p.last_active_ts > REWRITE_ACTIVE_MS);
        if stale {
            let record = PresenceRecord {
                user_id: user.to_owned(),
                state: state.to_owned(),
                status_msg: current.and_then(|p| p.status_msg),
                last_active_ts: now,
            };
            self.write(&record).await?;
            if changed {
                self.send_to_servers(&record).await?;
            }
        } else {
            self.remember(user, state, now);
        }
        Ok(())
    }

    /// Stores a remote user's presence their server sent (nothing when
    /// presence is disabled here).
    pub async fn receive_remote(&self, record: &PresenceRecord) -> ApiResult<()> {
        if !self.enabled {
            return Ok(());
        }
        self.write(record).await
    }

    /// Stores the user's presence as given and wakes syncs.
    pub async fn write(&self, record: &PresenceRecord) -> ApiResult<()> {
        let pos = self.store.set_presence(record).await?;
        self.remember(&record.user_id, &record.state, now_ms());
        // Presence is seen by whoever shares a room with the user.
        audience::announce_to_sharing(&self.store, &self.notifier, pos, &record.user_id).await;
        Ok(())
    }

    /// Queues a local user's new presence (`m.presence`) for the servers
    /// sharing a room with them.
    async fn send_to_servers(&self, record: &PresenceRecord) -> ApiResult<()> {
        let Some(outbound) = &self.outbound else {
            return Ok(());
        };
        let user = OwnedUserId::try_from(record.user_id.as_str())
            .map_err(|e| ApiError::Internal(format!("stored user ID: {e}")))?;
        let ago = UInt::try_from((now_ms() - record.last_active_ts).max(0)).unwrap_or_default();
        let mut update = PresenceUpdate::new(
            user.clone(),
            PresenceState::from(record.state.as_str()),
            ago,
        );
        update.status_msg = record.status_msg.clone();
        update.currently_active = record.state == "online";
        let edu = Edu::Presence(PresenceContent::new(vec![update]));
        outbound.queue_edu_to_sharing(&user, &edu).await
    }

    fn remember(&self, user: &str, state: &str, at: i64) {
        let mut confirmed = self.lock();
        if confirmed.len() >= MAX_USERS && !confirmed.contains_key(user) {
            confirmed.clear();
        }
        confirmed.insert(user.to_owned(), (state.to_owned(), at));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, i64)>> {
        self.confirmed.lock().unwrap_or_else(|p| p.into_inner())
    }
}
