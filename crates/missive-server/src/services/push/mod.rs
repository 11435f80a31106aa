//! Mobile notifications: a user's pushers (`/pushers`, `/pushers/set`),
//! their notified events (`GET /notifications`), and, in `delivery`, the
//! background task that posts each notification to its pushers' push
//! gateways (`gateway`, in the format `payload` builds).

pub mod delivery;
pub mod gateway;
pub mod payload;
pub mod room_facts;

use std::{collections::HashMap, sync::Arc};

use missive_store::{PusherRecord, PusherStore, ReceiptStore, SqlStore, StreamPos};
use ruma::{
    MilliSecondsSinceUnixEpoch, OwnedRoomId, UInt, UserId,
    api::client::push::{
        Pusher, PusherIds, PusherInit, PusherKind,
        get_notifications::v3::{Notification, Response as NotificationsResponse},
        set_pusher::v3::PusherAction,
    },
    push::{Action, HttpPusherData},
};

use crate::{
    error::{ApiError, ApiResult},
    services::{
        accounts::Identity,
        notifier::Notifier,
        push_rules,
        reader::{Reader, to_raw},
    },
    time::now_ms,
};

/// `GET /notifications` answers this many by default, and at most
/// [`MAX_NOTIFICATIONS`].
const DEFAULT_NOTIFICATIONS: u64 = 50;
const MAX_NOTIFICATIONS: u64 = 100;
/// The spec's bounds on pusher identifiers.
const MAX_APP_ID: usize = 64;
const MAX_PUSHKEY: usize = 512;

/// The pusher and notification endpoints.
#[derive(Clone)]
pub struct Pushers {
    store: Arc<SqlStore>,
    reader: Reader,
    notifier: Notifier,
}

impl Pushers {
    pub fn new(store: Arc<SqlStore>, reader: Reader, notifier: Notifier) -> Self {
        Self {
            store,
            reader,
            notifier,
        }
    }

    /// The delivery task, sending through `gateway`.
    pub fn delivery(&self, gateway: gateway::Gateway) -> delivery::Delivery {
        delivery::Delivery::new(
            self.store.clone(),
            self.reader.clone(),
            self.notifier.clone(),
            gateway,
        )
    }

    /// The user's pushers.
    pub async fn list(&self, user: &UserId) -> ApiResult<Vec<Pusher>> {
        Ok(self
            .store
            .pushers(user)
            .await?
            .into_iter()
            .filter_map(to_ruma)
            .collect())
    }

    /// Adds, replaces or deletes one of the caller's pushers. A pusher
    /// belongs to the device whose token set it, and goes with it.
    pub async fn set(&self, me: &Identity, action: PusherAction) -> ApiResult<()> {
        let post = match action {
            PusherAction::Delete(ids) => {
                self.store
                    .delete_pusher(&me.user_id, &ids.app_id, &ids.pushkey)
                    .await?;
                return Ok(());
            }
            PusherAction::Post(post) => post,
            _ => return Err(ApiError::invalid_param("unknown pusher action")),
        };
        let pusher = post.pusher;
        let PusherKind::Http(data) = pusher.kind else {
            return Err(ApiError::invalid_param(
                "only HTTP pushers are supported (kind: http)",
            ));
        };
        if !gateway::valid_url(&data.url) {
            return Err(ApiError::invalid_param(format!(
                "data.url must be an http(s) URL ending in {}",
                gateway::NOTIFY_PATH
            )));
        }
        let ids = pusher.ids;
        if ids.app_id.is_empty() || ids.app_id.len() > MAX_APP_ID {
            return Err(ApiError::invalid_param(format!(
                "app_id must have 1 to {MAX_APP_ID} bytes"
            )));
        }
        if ids.pushkey.is_empty() || ids.pushkey.len() > MAX_PUSHKEY {
            return Err(ApiError::invalid_param(format!(
                "pushkey must have 1 to {MAX_PUSHKEY} bytes"
            )));
        }
        let record = PusherRecord {
            user_id: me.user_id.clone(),
            device_id: me.device_id.clone(),
            app_id: ids.app_id,
            pushkey: ids.pushkey,
            kind: "http".into(),
            app_display_name: pusher.app_display_name,
            device_display_name: pusher.device_display_name,
            profile_tag: pusher.profile_tag,
            lang: pusher.lang,
            data: serde_json::to_string(&data).map_err(|e| ApiError::Internal(e.to_string()))?,
            pushkey_ts: now_ms(),
            last_pushed: StreamPos::ZERO,
        };
        self.store.set_pusher(&record, post.append).await?;
        self.notifier.notify_pushes([me.user_id.as_str()]);
        Ok(())
    }

    /// The user's notified events, newest first, before the position
    /// `from` (a previous answer's `next_token`), only highlights if `only`
    /// is `highlight`. Each passes the visibility gate, and is `read` if
    /// the user's read receipt in its room is at or after it.
    pub async fn notifications(
        &self,
        user: &UserId,
        from: Option<&str>,
        limit: Option<UInt>,
        only: Option<&str>,
    ) -> ApiResult<NotificationsResponse> {
        let before = match from {
            Some(token) => {
                Some(StreamPos::new(token.parse::<i64>().map_err(|_| {
                    ApiError::invalid_param("from is not a notification token")
                })?))
            }
            None => None,
        };
        let limit = limit
            .map_or(DEFAULT_NOTIFICATIONS, u64::from)
            .clamp(1, MAX_NOTIFICATIONS);
        let rows = self
            .store
            .notified_before(user, before, limit as i64, only == Some("highlight"))
            .await?;
        let next_token = rows
            .last()
            .map(|n| n.event.stream_ordering.get().to_string());
        // The tweaks (a sound) come from the user's rules evaluated now, as
        // for the push gateway: stored push actions keep only the highlight.
        let facts = room_facts::Facts::new(self.store.clone());
        let ruleset = push_rules::load(&self.store, user).await?;
        let mut rooms: HashMap<String, (missive_core::visibility::RoomHistory, StreamPos)> =
            HashMap::new();
        let mut out = Vec::new();
        for row in rows {
            let room_id = OwnedRoomId::try_from(row.event.room_id.as_str())
                .map_err(|e| ApiError::Internal(e.to_string()))?;
            if !rooms.contains_key(room_id.as_str()) {
                let history = self.reader.history(&room_id, user).await?;
                let read = self.store.read_up_to(&room_id, user).await?;
                rooms.insert(room_id.to_string(), (history, read));
            }
            let Some((history, read_up_to)) = rooms.get(room_id.as_str()) else {
                continue;
            };
            let Some(event) = crate::services::reader::gate(history, vec![row.event])
                .into_iter()
                .next()
            else {
                continue;
            };
            let ts = MilliSecondsSinceUnixEpoch(
                UInt::new(event.origin_server_ts.max(0) as u64).unwrap_or(UInt::MIN),
            );
            let client_event = event.to_client();
            let matched = facts
                .actions_under(&ruleset, user, &room_id, &client_event)
                .await?;
            out.push(Notification::new(
                notified_actions(&matched, row.highlight),
                to_raw(&client_event)?,
                event.stream_ordering <= *read_up_to,
                room_id,
                ts,
            ));
        }
        let mut response = NotificationsResponse::new(out);
        response.next_token = next_token;
        Ok(response)
    }
}

/// A notification's actions: it notified, with the matched rule's tweaks
/// and the highlight stored with it.
fn notified_actions(matched: &[Action], highlight: bool) -> Vec<Action> {
    std::iter::once(Action::Notify)
        .chain(
            payload::tweaks(matched, highlight)
                .into_iter()
                .map(Action::SetTweak),
        )
        .collect()
}

/// A stored HTTP pusher as the spec lists it.
fn to_ruma(p: PusherRecord) -> Option<Pusher> {
    let data: HttpPusherData = serde_json::from_str(&p.data).ok()?;
    Some(
        PusherInit {
            ids: PusherIds::new(p.pushkey, p.app_id),
            kind: PusherKind::Http(data),
            app_display_name: p.app_display_name,
            device_display_name: p.device_display_name,
            profile_tag: p.profile_tag,
            lang: p.lang,
        }
        .into(),
    )
}
