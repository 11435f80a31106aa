//! `/sync`: assembling what changed for a user since their last sync, and
//! long-polling until something does.

mod device_lists;
mod lazy_members;
mod prefetch;
mod sections;
mod state_section;
mod timeline;

use std::{borrow::Cow, sync::Arc, time::Duration};

use futures::{StreamExt, TryStreamExt, stream};
use lazy_members::SentMembers;
use missive_core::filter::{event_matches, filter_limit, non_room_event_matches};
use missive_store::{
    AccountDataStore, EventStore, Membership, PresenceStore, SqlStore, StoredEvent, StreamPos,
    SyncBatchStore, ToDeviceStore,
};
use prefetch::{Plan, Prefetched};
use ruma::{
    DeviceId, OneTimeKeyAlgorithm, OwnedRoomId, OwnedUserId, RoomId, UserId,
    api::client::filter::{FilterDefinition, RoomEventFilter},
    api::client::sync::sync_events::{self, v3::Rooms},
};
use sections::RoomSection;
use serde_json::{Map, Value, json};
use state_section::event_format;
use timeline::timeline_limit;

use crate::{
    error::{ApiError, ApiResult},
    services::{
        notifier::Notifier,
        presence, push_rules,
        reader::{Reader, Visible, apply_aggregates, serve_event, to_raw},
    },
};

/// To-device messages per sync response (more wait for the next one).
const MAX_TO_DEVICE_PER_SYNC: i64 = 100;
/// Joined rooms assembled at once (SQLite's read pool has 8 connections).
const ROOMS_IN_PARALLEL: usize = 8;
/// The longest long-poll the server holds.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(60);

/// One sync request.
pub struct SyncRequest<'a> {
    pub user: &'a UserId,
    pub device_id: &'a DeviceId,
    pub since: Option<StreamPos>,
    pub filter: FilterDefinition,
    pub full_state: bool,
    pub timeout: Duration,
}

#[derive(Clone)]
pub struct Syncer {
    store: Arc<SqlStore>,
    reader: Reader,
    notifier: Notifier,
    /// Member events sent to each device (lazy loading).
    sent_members: SentMembers,
}

/// Parses a `since` / pagination token (`s<position>`).
pub fn parse_token(token: &str) -> ApiResult<StreamPos> {
    token
        .strip_prefix('s')
        .and_then(|n| n.parse::<StreamPos>().ok())
        .filter(|n| *n >= StreamPos::ZERO)
        .ok_or_else(|| ApiError::invalid_param(format!("invalid token {token:?}")))
}

pub fn make_token(pos: StreamPos) -> String {
    format!("s{pos}")
}

impl Syncer {
    pub fn new(store: Arc<SqlStore>, reader: Reader, notifier: Notifier) -> Self {
        Self {
            store,
            reader,
            notifier,
            sent_members: SentMembers::default(),
        }
    }

    /// Answers every held long poll now and makes later ones return at
    /// once (shutdown).
    pub fn stop_waiting(&self) {
        self.notifier.close();
    }

    /// Answers a sync, waiting up to the timeout for news when there is none.
    pub async fn sync(&self, req: SyncRequest<'_>) -> ApiResult<sync_events::v3::Response> {
        let deadline = tokio::time::Instant::now() + req.timeout.min(MAX_TIMEOUT);
        // Shutting down: answer now, as at the deadline.
        let clock = || {
            if self.notifier.is_closing() {
                deadline
            } else {
                tokio::time::Instant::now()
            }
        };
        loop {
            // Listening starts before the position is read: a write for
            // this user committed after the read ends the wait below.
            let mut news = self.notifier.listen(req.user.as_str());
            let upto = self.committed_position().await?;
            let since = req.since.map(|s| s.min(upto));
            let now = clock();
            if now < deadline && self.nothing_new(&req, since, upto).await? {
                // A client polling again right after its last answer: wait
                // without assembling an answer that would be empty.
                news.wait(deadline - now).await;
                continue;
            }
            // Boxed: a held long poll keeps this future alive, and inline the
            // assembly's state would take its size in every waiting one.
            let (response, empty) = Box::pin(self.assemble(&req, since, upto)).await?;
            let now = clock();
            if !empty || req.since.is_none() || req.full_state || now >= deadline {
                return Ok(response);
            }
            news.wait(deadline - now).await;
        }
    }

    /// The stream position this answer may include. Every writer announces
    /// its position to the notifier after its commit; on PostgreSQL another
    /// server process's commit reaches the notifier only through the
    /// database's channel, a little later, so the counter is read too (a
    /// client that wrote through one process and syncs through another must
    /// see its write). Where this process makes every write, the
    /// announcement is the whole truth and the read is saved (one statement
    /// in six of an incremental sync); housekeeping re-reads the counter
    /// every few seconds in case a writer forgot to announce.
    async fn committed_position(&self) -> ApiResult<StreamPos> {
        let announced = self.notifier.current();
        if self.store.sees_every_write() {
            return Ok(announced);
        }
        Ok(announced.max(self.store.current_position().await?))
    }

    /// Whether an incremental sync at `since` is sure to be empty: the
    /// stream has not moved past its token (everything a sync sends is
    /// positioned in it) and no to-device message is left over from an
    /// earlier answer's limit. Two reads instead of an assembly.
    async fn nothing_new(
        &self,
        req: &SyncRequest<'_>,
        since: Option<StreamPos>,
        upto: StreamPos,
    ) -> ApiResult<bool> {
        let Some(since) = since else {
            return Ok(false);
        };
        if req.full_state || since < upto {
            return Ok(false);
        }
        Ok(!self
            .store
            .has_pending_to_device(req.user, req.device_id)
            .await?)
    }

    async fn assemble(
        &self,
        req: &SyncRequest<'_>,
        since: Option<StreamPos>,
        upto: StreamPos,
    ) -> ApiResult<(sync_events::v3::Response, bool)> {
        let user = req.user;
        if since.is_none() {
            // The client starts over: it has no member events.
            self.sent_members.reset(user, req.device_id);
        }
        let memberships = self.store.user_memberships(user).await?;
        let active = match since {
            Some(s) if !req.full_state => Some(self.store.rooms_active_since(user, s).await?),
            _ => None,
        };
        let room_filter = &req.filter.room;
        let ignored = self.reader.ignored(user).await?;

        let mut joined = Vec::new();
        let mut left = Vec::new();
        let mut rooms = Rooms::new();
        for m in &memberships {
            if room_filter
                .not_rooms
                .iter()
                .any(|r| r.as_str() == m.room_id)
                || room_filter
                    .rooms
                    .as_ref()
                    .is_some_and(|rs| !rs.iter().any(|r| r.as_str() == m.room_id))
            {
                continue;
            }
            let Ok(room_id) = RoomId::parse(&m.room_id) else {
                continue;
            };
            let changed_since = since.is_none_or(|s| m.stream_ordering > s);
            match m.membership.as_str() {
                "join" => {
                    // A room joined since the last sync is sent in full; a
                    // new member event of someone already joined (a
                    // display-name change) is just news in the timeline.
                    let newly_joined = match since {
                        Some(s) if changed_since => !self.was_joined(&room_id, user, s).await?,
                        _ => changed_since,
                    };
                    let room_since = if newly_joined || req.full_state {
                        None
                    } else {
                        since
                    };
                    if room_since.is_some()
                        && active.as_ref().is_some_and(|a| !a.contains(&m.room_id))
                    {
                        continue;
                    }
                    joined.push((room_id, room_since));
                }
                "invite" if changed_since => {
                    let events = self.stripped_room(&room_id, m).await?;
                    // The invite is the last of them; the inviter may be
                    // someone the user ignores.
                    if events
                        .last()
                        .and_then(|e| e["sender"].as_str())
                        .is_some_and(|sender| ignored.ignores(sender))
                    {
                        continue;
                    }
                    rooms
                        .invite
                        .insert(room_id.clone(), sections::invited(&events)?);
                }
                "knock" if changed_since => {
                    let events = self.stripped_room(&room_id, m).await?;
                    rooms
                        .knock
                        .insert(room_id.clone(), sections::knocked(&events)?);
                }
                "leave" | "ban"
                    if changed_since && (since.is_some() || room_filter.include_leave) =>
                {
                    left.push((room_id, m));
                }
                _ => {}
            }
        }

        let account_data = self
            .store
            .account_data_since(user, since.unwrap_or(StreamPos::ZERO))
            .await?;
        let pre = Prefetched::load(
            &self.store,
            user,
            Plan {
                joined: joined.iter().map(|(r, _)| r.clone()).collect(),
                left: left.iter().map(|(r, _)| r.clone()).collect(),
                from_start: joined
                    .iter()
                    .filter(|(_, room_since)| room_since.is_none())
                    .map(|(r, _)| r.clone())
                    .collect(),
                since,
                upto,
                timeline_limit: timeline_limit(&req.filter.room.timeline) + 1,
                account_data: &account_data,
                thread_unread: req.filter.room.timeline.unread_thread_notifications,
            },
        )
        .await?;
        let pre = &pre.with_ignored(ignored);
        for (room_id, m) in left {
            let section = self
                .joined_room(req, pre, &room_id, since, m.stream_ordering, Some(m))
                .await?;
            rooms.leave.insert(room_id, section.into_left()?);
        }

        // Joined rooms are assembled a few at a time: each still reads its
        // timeline, and the database answers those in parallel.
        let joined_sections: Vec<(OwnedRoomId, Option<StreamPos>, RoomSection)> =
            stream::iter(joined)
                .map(|(room_id, room_since)| async move {
                    let section = self
                        .joined_room(req, pre, &room_id, room_since, upto, None)
                        .await?;
                    ApiResult::Ok((room_id, room_since, section))
                })
                .buffered(ROOMS_IN_PARALLEL)
                .try_collect()
                .await?;
        for (room_id, room_since, section) in joined_sections {
            if room_since.is_none() || !section.is_empty() {
                rooms.join.insert(room_id, section.into_joined()?);
            }
        }

        // Global account data, push rules included, through the filter.
        let ad_filter = &req.filter.account_data;
        let mut account_data_events = Vec::new();
        let mut has_push_rules = false;
        for (room, ty, content) in &account_data {
            if room.is_none() {
                has_push_rules |= ty == push_rules::ACCOUNT_DATA_TYPE;
                if non_room_event_matches(ad_filter, ty, user.as_str()) {
                    account_data_events.push(json!({ "type": ty, "content": parse_json(content) }));
                }
            }
        }
        if since.is_none()
            && !has_push_rules
            && non_room_event_matches(ad_filter, push_rules::ACCOUNT_DATA_TYPE, user.as_str())
        {
            let rules = push_rules::load(&self.store, user).await?;
            account_data_events.push(
                json!({ "type": push_rules::ACCOUNT_DATA_TYPE, "content": { "global": rules } }),
            );
        }
        account_data_events.truncate(filter_limit(ad_filter));

        // Device lists, and with them who newly shares a room with the user.
        let lists = match since {
            Some(s) => Some(
                self.device_list_delta(user, s, &memberships, active.as_ref())
                    .await?,
            ),
            None => None,
        };
        let presence = self
            .presence_events(req, since, lists.as_ref().map(|l| &l.newly_sharing[..]))
            .await?;
        let (changed, left) = lists.map_or_else(Default::default, |l| (l.changed, l.left));

        // End-to-end encryption: messages for this device, whose devices
        // changed, and how many one-time keys the device has left.
        let device = self.store.device_sync_counts(user, req.device_id).await?;
        let to_device: Vec<Value> = if device.queued_to_device > 0 {
            self.store
                .take_to_device(user, req.device_id, since, upto, MAX_TO_DEVICE_PER_SYNC)
                .await?
                .iter()
                .map(|m| parse_json(m))
                .collect()
        } else {
            Vec::new()
        };
        let otk_counts = device.one_time_keys;
        let fallback_types = device.unused_fallback_keys;

        let empty = rooms.is_empty()
            && to_device.is_empty()
            && changed.is_empty()
            && left.is_empty()
            && account_data_events.is_empty()
            && presence.is_empty();
        let mut response = sync_events::v3::Response::new(make_token(upto));
        response.rooms = rooms;
        response.account_data.events = account_data_events
            .iter()
            .map(to_raw)
            .collect::<ApiResult<_>>()?;
        response.presence.events = presence.iter().map(to_raw).collect::<ApiResult<_>>()?;
        response.to_device.events = to_device.iter().map(to_raw).collect::<ApiResult<_>>()?;
        response.device_lists.changed = user_ids(changed);
        response.device_lists.left = user_ids(left);
        response.device_one_time_keys_count = sections::one_time_key_counts(otk_counts);
        response.device_unused_fallback_key_types = Some(
            fallback_types
                .iter()
                .map(|t| OneTimeKeyAlgorithm::from(t.as_str()))
                .collect(),
        );
        Ok((response, empty))
    }

    /// The section of a joined room (or, with `left`, of a room the user
    /// left, cut at the leave).
    async fn joined_room(
        &self,
        req: &SyncRequest<'_>,
        pre: &Prefetched,
        room_id: &RoomId,
        since: Option<StreamPos>,
        upto: StreamPos,
        left: Option<&Membership>,
    ) -> ApiResult<RoomSection> {
        let user = req.user;
        let filter = &req.filter.room;
        let history = match pre.history(room_id.as_str()) {
            Some(history) => Cow::Borrowed(history),
            None => Cow::Owned(self.reader.history(room_id, user).await?),
        };
        let timeline = self
            .timeline(&filter.timeline, pre, room_id, &history, since, upto)
            .await?;
        let prev_batch = make_token(timeline.start(upto).prev());
        let state = self
            .room_state_section(req, room_id, &history, since, upto, &timeline)
            .await?;
        let limited = timeline.limited;
        let mut events = timeline.events;
        // Bundled aggregations: read for every prefetched timeline at
        // once; a timeline a filter chose (beyond them) reads its own.
        match pre.aggregates_for(&events) {
            Some(aggregates) => apply_aggregates(user, &mut events, aggregates, &history)?,
            None => self.reader.bundle(user, &mut events, &history).await?,
        }
        let timeline: Vec<&Visible> = events.iter().collect();

        let mut section = RoomSection {
            timeline: self
                .reader
                .serve_timeline(&timeline, user, req.device_id.as_str(), event_format(req))
                .await?,
            limited,
            prev_batch,
            account_data: room_account_data(pre, room_id, &filter.account_data),
            ephemeral: Vec::new(),
            unread: None,
            thread_unread: Default::default(),
            summary: None,
            state,
        };
        if left.is_none() {
            section.ephemeral = ephemeral(pre, user, room_id, &filter.ephemeral);
            section.unread = Some(pre.unread(room_id.as_str()));
            section.thread_unread = pre.thread_unread(room_id.as_str());
            let membership_changed = since.is_none()
                || timeline.iter().any(|e| e.event_type == "m.room.member")
                || section.state.iter().any(|e| e["type"] == "m.room.member");
            if membership_changed {
                section.summary = Some(match pre.members(room_id.as_str()) {
                    Some(members) => sections::summary(members, user),
                    None => sections::summary(&self.store.room_members(room_id).await?, user),
                });
            }
        }
        Ok(section)
    }

    /// Presence changes of users sharing a room with the user, and the
    /// presence of those who newly share one (set before, so not a change),
    /// through the filter.
    async fn presence_events(
        &self,
        req: &SyncRequest<'_>,
        since: Option<StreamPos>,
        newly_sharing: Option<&[String]>,
    ) -> ApiResult<Vec<Value>> {
        let mut records = self
            .store
            .presence_since(req.user, since.unwrap_or(StreamPos::ZERO))
            .await?;
        let missing: Vec<&UserId> = newly_sharing
            .unwrap_or_default()
            .iter()
            .filter(|u| !records.iter().any(|r| &r.user_id == *u))
            .filter_map(|u| <&UserId>::try_from(u.as_str()).ok())
            .collect();
        if !missing.is_empty() {
            records.extend(self.store.presence_of(&missing).await?);
        }
        let filter = &req.filter.presence;
        let mut events: Vec<Value> = records
            .iter()
            .filter(|p| non_room_event_matches(filter, "m.presence", &p.user_id))
            .map(|p| {
                json!({ "type": "m.presence", "sender": p.user_id, "content": presence::content(p) })
            })
            .collect();
        events.truncate(filter_limit(filter));
        Ok(events)
    }

    /// Whether the user was joined to the room at stream position `at`.
    pub(super) async fn was_joined(
        &self,
        room_id: &RoomId,
        user: &UserId,
        at: StreamPos,
    ) -> ApiResult<bool> {
        let history = self.reader.history(room_id, user).await?;
        Ok(history.membership_at(at.get()) == "join")
    }

    /// An invited or knocked room: stripped state for the client to show
    /// (for an invite to, or a knock on, a room of another server that this
    /// server is not in, the state that server sent with it).
    async fn stripped_room(&self, room_id: &RoomId, m: &Membership) -> ApiResult<Vec<Value>> {
        let own_event = <&ruma::EventId>::try_from(m.event_id.as_str()).ok();
        let own = match own_event {
            Some(id) => self.store.event(id).await?,
            None => None,
        };
        if let Some(own) = &own
            && let Ok(v) = serde_json::from_str::<Value>(&own.json)
            && let Some(Value::Array(shown)) = v
                .pointer("/unsigned/invite_room_state")
                .or_else(|| v.pointer("/unsigned/knock_room_state"))
        {
            let mut events = shown.clone();
            events.push(serve_event(own));
            return Ok(events);
        }
        let mut events = Vec::new();
        for ty in [
            "m.room.create",
            "m.room.name",
            "m.room.avatar",
            "m.room.topic",
            "m.room.join_rules",
            "m.room.canonical_alias",
            "m.room.encryption",
        ] {
            if let Some(e) = self.store.current_state_event(room_id, ty, "").await? {
                events.push(stripped(&e));
            }
        }
        if let Some(own) = own {
            if let Ok(v) = serde_json::from_str::<Value>(&own.json)
                && let Some(inviter) = v.get("sender").and_then(Value::as_str)
                && let Some(inviter_member) = self
                    .store
                    .current_state_event(room_id, "m.room.member", inviter)
                    .await?
            {
                events.push(stripped(&inviter_member));
            }
            events.push(serve_event(&own));
        }
        Ok(events)
    }
}

fn room_account_data(pre: &Prefetched, room_id: &RoomId, filter: &RoomEventFilter) -> Vec<Value> {
    pre.account_data(room_id.as_str())
        .iter()
        .filter(|(ty, _)| event_matches(filter, ty, "", room_id.as_str()))
        .map(|(ty, content)| json!({ "type": ty, "content": parse_json(content) }))
        .collect()
}

fn ephemeral(
    pre: &Prefetched,
    user: &UserId,
    room_id: &RoomId,
    filter: &RoomEventFilter,
) -> Vec<Value> {
    let mut out = Vec::new();
    if let Some(typing) = pre.typing(room_id.as_str())
        && event_matches(filter, "m.typing", "", room_id.as_str())
    {
        out.push(json!({ "type": "m.typing", "content": { "user_ids": typing } }));
    }
    let mut content: Map<String, Value> = Map::new();
    for r in pre.receipts(room_id.as_str()) {
        // Private read receipts are shown to their owner only.
        if r.receipt_type == "m.read.private" && r.user_id != user.as_str() {
            continue;
        }
        let mut receipt = json!({ "ts": r.ts });
        if !r.thread_id.is_empty() {
            receipt["thread_id"] = json!(r.thread_id);
        }
        let by_event = content
            .entry(r.event_id.clone())
            .or_insert_with(|| json!({}));
        by_event
            .as_object_mut()
            .expect("inserted as an object")
            .entry(r.receipt_type.clone())
            .or_insert_with(|| json!({}))[r.user_id.as_str()] = receipt;
    }
    if !content.is_empty() && event_matches(filter, "m.receipt", "", room_id.as_str()) {
        out.push(json!({ "type": "m.receipt", "content": content }));
    }
    out
}

fn parse_json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| json!({}))
}

fn stripped(e: &StoredEvent) -> Value {
    let v = parse_json(&e.json);
    // A version 12 room's create event comes whole (MSC4311, as Synapse):
    // it is the room's identity, which the invitee can check.
    if v["type"] == "m.room.create" && v.get("room_id").is_none() {
        return v;
    }
    json!({
        "type": v["type"],
        "state_key": v["state_key"],
        "sender": v["sender"],
        "content": v["content"],
    })
}

/// User IDs the store gave as text (unparseable ones, which the store
/// never writes, are left out).
fn user_ids(users: Vec<String>) -> Vec<OwnedUserId> {
    users
        .into_iter()
        .filter_map(|u| OwnedUserId::try_from(u).ok())
        .collect()
}
