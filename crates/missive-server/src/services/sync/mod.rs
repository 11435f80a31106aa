//! `/sync`: assembling what changed for a user since their last sync, and
//! long-polling until something does.

mod prefetch;
mod sections;

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use futures::{StreamExt, TryStreamExt, stream};
use missive_core::filter::event_matches;
use missive_store::{
    AccountDataStore, EventStore, KeyStore, Membership, PresenceStore, SqlStore, StoredEvent,
    StreamPos, SyncBatchStore, TimelineDirection, ToDeviceStore,
};
use prefetch::{Plan, Prefetched};
use ruma::{
    DeviceId, OneTimeKeyAlgorithm, OwnedRoomId, OwnedUserId, RoomId, UserId,
    api::client::filter::{FilterDefinition, LazyLoadOptions, RoomEventFilter},
    api::client::sync::sync_events::{self, v3::Rooms},
};
use sections::RoomSection;
use serde_json::{Map, Value, json};

use crate::{
    error::{ApiError, ApiResult},
    services::{
        notifier::Notifier,
        presence, push_rules,
        reader::{self, Reader, Visible, serve_event, to_raw},
    },
};
use ruma::events::room::member::MembershipState;

/// Timeline events per room when the filter sets no limit.
const DEFAULT_TIMELINE_LIMIT: i64 = 10;
/// The most timeline events a filter may ask for per room.
const MAX_TIMELINE_LIMIT: i64 = 100;
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
        let memberships = self.store.user_memberships(user).await?;
        let active = match since {
            Some(s) if !req.full_state => Some(self.store.rooms_active_since(user, s).await?),
            _ => None,
        };
        let room_filter = &req.filter.room;

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
                    // A room joined since the last sync is sent in full.
                    let room_since = if changed_since || req.full_state {
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
            },
        )
        .await?;
        let pre = &pre;
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

        let mut account_data_events = Vec::new();
        let mut has_push_rules = false;
        for (room, ty, content) in &account_data {
            if room.is_none() {
                has_push_rules |= ty == push_rules::ACCOUNT_DATA_TYPE;
                account_data_events.push(json!({ "type": ty, "content": parse_json(content) }));
            }
        }
        if since.is_none() && !has_push_rules {
            let rules = push_rules::load(&self.store, user).await?;
            account_data_events.push(
                json!({ "type": push_rules::ACCOUNT_DATA_TYPE, "content": { "global": rules } }),
            );
        }

        let presence: Vec<Value> = self
            .store
            .presence_since(user, since.unwrap_or(StreamPos::ZERO))
            .await?
            .into_iter()
            .map(|p| {
                json!({ "type": "m.presence", "sender": p.user_id, "content": presence::content(&p) })
            })
            .collect();

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
        let (changed, left) = match since {
            Some(s) => {
                self.device_list_delta(user, s, &memberships, active.as_ref())
                    .await?
            }
            None => (Vec::new(), Vec::new()),
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

    /// `GET /keys/changes`: the users whose devices changed after `since`
    /// (or who newly share a room with `user`) and those who no longer
    /// share any, as a sync from `since` reports them.
    pub async fn key_changes(
        &self,
        user: &UserId,
        since: StreamPos,
    ) -> ApiResult<(Vec<OwnedUserId>, Vec<OwnedUserId>)> {
        let memberships = self.store.user_memberships(user).await?;
        let active = self.store.rooms_active_since(user, since).await?;
        let (changed, left) = self
            .device_list_delta(user, since, &memberships, Some(&active))
            .await?;
        Ok((user_ids(changed), user_ids(left)))
    }

    /// Users whose devices the client must re-fetch (changed keys, or newly
    /// sharing a room) and users it no longer shares any room with.
    async fn device_list_delta(
        &self,
        user: &UserId,
        since: StreamPos,
        memberships: &[Membership],
        active: Option<&std::collections::HashSet<String>>,
    ) -> ApiResult<(Vec<String>, Vec<String>)> {
        let mut changed = self.store.device_list_changes(user, since).await?;
        let mut left = std::collections::BTreeSet::new();
        // Membership changes are room events: quiet rooms have none.
        let considered: Vec<&Membership> = memberships
            .iter()
            .filter(|m| m.stream_ordering > since || active.is_none_or(|a| a.contains(&m.room_id)))
            .collect();
        // Others' changes in all these rooms, in one read.
        let batch: Vec<OwnedRoomId> = considered
            .iter()
            .filter_map(|m| OwnedRoomId::try_from(m.room_id.as_str()).ok())
            .collect();
        let mut others_changed: std::collections::HashMap<String, Vec<Membership>> =
            Default::default();
        for o in self.store.members_changed_in(&batch, since).await? {
            others_changed.entry(o.room_id.clone()).or_default().push(o);
        }
        for m in considered {
            let own_change = m.stream_ordering > since;
            if m.membership == MembershipState::Join && own_change {
                // We joined: everyone in the room is new to us.
                changed.extend(joined_members(&self.store, &m.room_id).await?);
                continue;
            }
            for other in others_changed
                .get(&m.room_id)
                .into_iter()
                .flatten()
                .filter(|o| o.user_id != user.as_str())
            {
                match other.membership.as_str() {
                    "join" if m.membership == MembershipState::Join => {
                        changed.insert(other.user_id.clone());
                    }
                    "leave" | "ban" => {
                        left.insert(other.user_id.clone());
                    }
                    _ => {}
                }
            }
            if matches!(m.membership, MembershipState::Leave | MembershipState::Ban) && own_change {
                left.extend(joined_members(&self.store, &m.room_id).await?);
            }
        }
        // Still sharing another room: not "left".
        let mut really_left = Vec::new();
        for other in left {
            let Ok(other_id) = <&UserId>::try_from(other.as_str()) else {
                continue;
            };
            if other != user.as_str() && self.store.shared_rooms(user, other_id).await?.is_empty() {
                really_left.push(other);
            }
        }
        let mut changed: Vec<String> = changed
            .into_iter()
            .filter(|u| !really_left.contains(u))
            .collect();
        changed.sort();
        Ok((changed, really_left))
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
        let limit = timeline_limit(&filter.timeline);

        // Newest `limit` events after `since`, then put back in order.
        let mut raw = match pre.timeline(room_id.as_str()) {
            Some(events) => events,
            None => {
                self.store
                    .room_events(
                        room_id,
                        upto.next(),
                        since,
                        TimelineDirection::Backward,
                        limit + 1,
                    )
                    .await?
            }
        };
        let limited = raw.len() as i64 > limit;
        raw.truncate(limit as usize);
        raw.reverse();
        let visible: Vec<Visible> = match pre.history(room_id.as_str()) {
            Some(history) => reader::gate(history, raw),
            None => self.reader.filter_visible(room_id, user, raw).await?,
        };
        let timeline: Vec<&Visible> = visible
            .iter()
            .filter(|e| event_matches(&filter.timeline, &e.event_type, &e.sender, room_id.as_str()))
            .collect();
        let timeline_start = visible
            .first()
            .map(|e| e.stream_ordering)
            .unwrap_or(upto.next());
        let prev_batch = make_token(timeline_start.prev());

        let state = self
            .room_state_section(req, room_id, since, limited, timeline_start, &timeline)
            .await?;

        let mut section = RoomSection {
            timeline: self
                .reader
                .serve_timeline(&timeline, user, req.device_id.as_str())
                .await?,
            limited,
            prev_batch,
            account_data: room_account_data(pre, room_id),
            ephemeral: Vec::new(),
            unread: None,
            summary: None,
            state,
        };
        if left.is_none() {
            section.ephemeral = ephemeral(pre, user, room_id, &filter.ephemeral);
            section.unread = Some(pre.unread(room_id.as_str()));
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

    /// The `state` of a room section: what the client must know at the
    /// start of the timeline that it did not already know.
    async fn room_state_section(
        &self,
        req: &SyncRequest<'_>,
        room_id: &RoomId,
        since: Option<StreamPos>,
        limited: bool,
        timeline_start: StreamPos,
        timeline: &[&Visible],
    ) -> ApiResult<Vec<Value>> {
        let filter = &req.filter.room.state;
        let lazy = !matches!(filter.lazy_load_options, LazyLoadOptions::Disabled);
        if since.is_some() && !limited {
            return Ok(Vec::new());
        }
        let state_at_start = match self
            .store
            .state_group_before(room_id, timeline_start)
            .await?
        {
            Some(group) => self.store.state_at_group(group).await?,
            None => BTreeMap::new(),
        };
        let wanted: Vec<String> = match since {
            None => state_at_start
                .iter()
                .filter(|((ty, key), _)| {
                    !lazy
                        || ty != "m.room.member"
                        || key == req.user.as_str()
                        || timeline.iter().any(|e| e.sender == *key)
                })
                .map(|(_, id)| id.clone())
                .collect(),
            Some(s) => {
                // Limited incremental sync: the state changed in the gap
                // between `since` and the timeline, as of the timeline start.
                let gap = self
                    .store
                    .state_events_between(room_id, s, timeline_start.prev())
                    .await?;
                let mut ids: Vec<String> = gap
                    .iter()
                    .filter_map(|e| {
                        state_at_start
                            .get(&(
                                e.event_type.clone(),
                                e.state_key.clone().unwrap_or_default(),
                            ))
                            .cloned()
                    })
                    .collect();
                if lazy {
                    for e in timeline {
                        if let Some(id) =
                            state_at_start.get(&("m.room.member".to_owned(), e.sender.clone()))
                        {
                            ids.push(id.clone());
                        }
                    }
                }
                ids.sort();
                ids.dedup();
                ids
            }
        };
        let in_timeline: Vec<&str> = timeline.iter().map(|e| e.event_id.as_str()).collect();
        let wanted: Vec<String> = wanted
            .into_iter()
            .filter(|id| !in_timeline.contains(&id.as_str()))
            .collect();
        let events = self.store.events(&wanted).await?;
        Ok(events
            .iter()
            .filter(|e| event_matches(filter, &e.event_type, &e.sender, room_id.as_str()))
            .map(serve_event)
            .collect())
    }

    /// An invited or knocked room: stripped state for the client to show.
    async fn stripped_room(&self, room_id: &RoomId, m: &Membership) -> ApiResult<Vec<Value>> {
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
        let own_event = <&ruma::EventId>::try_from(m.event_id.as_str()).ok();
        let own = match own_event {
            Some(id) => self.store.event(id).await?,
            None => None,
        };
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

/// Timeline events per room the filter asks for.
fn timeline_limit(filter: &RoomEventFilter) -> i64 {
    filter
        .limit
        .map(|l| i64::try_from(u64::from(l)).unwrap_or(MAX_TIMELINE_LIMIT))
        .unwrap_or(DEFAULT_TIMELINE_LIMIT)
        .clamp(1, MAX_TIMELINE_LIMIT)
}

/// The users joined to a room now.
async fn joined_members(store: &SqlStore, room_id: &str) -> ApiResult<Vec<String>> {
    let Ok(room_id) = <&RoomId>::try_from(room_id) else {
        return Ok(Vec::new());
    };
    Ok(store
        .room_members(room_id)
        .await?
        .into_iter()
        .filter(|o| o.membership == MembershipState::Join)
        .map(|o| o.user_id)
        .collect())
}

fn room_account_data(pre: &Prefetched, room_id: &RoomId) -> Vec<Value> {
    pre.account_data(room_id.as_str())
        .iter()
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
