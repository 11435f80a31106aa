//! Room upgrades (`POST /rooms/{roomId}/upgrade`), as Synapse does them:
//! a new room of the requested version that carries the old one's
//! transferable state, bans, aliases and directory listing, a tombstone in
//! the old room, and the old room's power levels raised so that ordinary
//! members can no longer talk or invite there.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use missive_core::{event_builder::EventTemplate, room_versions};
use missive_store::{DirectoryStore, EventStore, StoredEvent};
use ruma::{
    OwnedRoomId, OwnedUserId, RoomAliasId, RoomId, RoomVersionId, UserId,
    events::{StateEventType, room::member::MembershipState},
    room_version_rules::RoomVersionRules,
};
use serde_json::{Map, Value, json};
use tokio::sync::OnceCell;

use super::{CreateRoom, Rooms};
use crate::{
    error::{ApiError, ApiResult},
    services::{account_data::AccountData, push_rules::PushRules},
};

/// How long an upgrade's answer is kept (Synapse's response cache): the
/// same user asking again gets the same new room, another user a 400.
const REMEMBERED_FOR: Duration = Duration::from_secs(5 * 60);

/// The state Synapse carries over to the new room (its
/// `clone_existing_room`), plus the space's children for a space.
const CARRIED_STATE: [&str; 9] = [
    "m.room.join_rules",
    "m.room.name",
    "m.room.topic",
    "m.room.history_visibility",
    "m.room.guest_access",
    "m.room.avatar",
    "m.room.encryption",
    "m.room.server_acl",
    "m.room.power_levels",
];

/// Upgrades rooms. Cheap to clone.
#[derive(Clone)]
pub struct RoomUpgrades {
    inner: Arc<Inner>,
}

struct Inner {
    rooms: Rooms,
    account_data: AccountData,
    push_rules: PushRules,
    /// Upgrades under way or just done, per old room.
    recent: Mutex<HashMap<OwnedRoomId, Arc<Upgrade>>>,
}

/// One upgrade of a room by a user; its answer once known.
struct Upgrade {
    user: OwnedUserId,
    started: Instant,
    replacement: OnceCell<OwnedRoomId>,
}

impl RoomUpgrades {
    pub fn new(rooms: Rooms, account_data: AccountData, push_rules: PushRules) -> Self {
        Self {
            inner: Arc::new(Inner {
                rooms,
                account_data,
                push_rules,
                recent: Mutex::default(),
            }),
        }
    }

    /// Replaces `old` by a new room of `version` and returns its ID. A
    /// repeated request of the same user (even concurrent) answers with
    /// the same room; another user's, while the first is recent, gets 400.
    pub async fn upgrade(
        &self,
        user: &UserId,
        old: &RoomId,
        version: &RoomVersionId,
        additional_creators: Vec<OwnedUserId>,
    ) -> ApiResult<OwnedRoomId> {
        let rules = room_versions::rules(version)?;
        // The power to tombstone the old room is checked before the upgrade
        // is claimed: someone without it must not hold off a real upgrade.
        self.inner.rooms.room(old).await?;
        self.inner
            .rooms
            .check_may_send(old, user, &tombstone(old))
            .await?;
        let upgrade = self.claim(user, old)?;
        let result = upgrade
            .replacement
            .get_or_try_init(|| self.run(user, old, version, &rules, additional_creators))
            .await
            .cloned();
        if result.is_err() {
            // A failed upgrade is not remembered (nor is a refused one), so
            // that it may be tried again, by anyone.
            let mut recent = self.inner.recent.lock().unwrap_or_else(|p| p.into_inner());
            if recent
                .get(old)
                .is_some_and(|u| Arc::ptr_eq(u, &upgrade) && u.replacement.get().is_none())
            {
                recent.remove(old);
            }
        }
        result
    }

    /// The upgrade of `old` that `user`'s request joins, or a new one.
    fn claim(&self, user: &UserId, old: &RoomId) -> ApiResult<Arc<Upgrade>> {
        let mut recent = self.inner.recent.lock().unwrap_or_else(|p| p.into_inner());
        recent.retain(|_, u| u.started.elapsed() < REMEMBERED_FOR);
        if let Some(upgrade) = recent.get(old) {
            if upgrade.user != user {
                return Err(ApiError::Unknown(
                    "an upgrade for this room is currently in progress".into(),
                ));
            }
            return Ok(upgrade.clone());
        }
        let upgrade = Arc::new(Upgrade {
            user: user.to_owned(),
            started: Instant::now(),
            replacement: OnceCell::new(),
        });
        recent.insert(old.to_owned(), upgrade.clone());
        Ok(upgrade)
    }

    async fn run(
        &self,
        user: &UserId,
        old: &RoomId,
        version: &RoomVersionId,
        rules: &RoomVersionRules,
        additional_creators: Vec<OwnedUserId>,
    ) -> ApiResult<OwnedRoomId> {
        let rooms = &self.inner.rooms;
        let store = rooms.store();
        let (record, old_rules) = rooms.room(old).await?;
        // The upgrade needs the power to tombstone the old room: checked
        // first, so that a refused upgrade creates nothing.
        rooms.check_may_send(old, user, &tombstone(old)).await?;

        let state = store.current_state_events(old).await?;
        let content_of = |ty: &str| {
            state
                .iter()
                .find(|e| e.event_type == ty && e.state_key.as_deref() == Some(""))
                .map(content)
        };
        let old_create = content_of("m.room.create").unwrap_or_else(|| json!({}));
        // Creators of a version 12 room hold unlimited power unlisted; in a
        // room of an earlier version they would fall to the default level
        // (Synapse leaves them there), so they are listed at the top.
        let old_creators: Vec<String> =
            if old_rules.authorization.explicitly_privilege_room_creators
                && !rules.authorization.explicitly_privilege_room_creators
            {
                let create = state.iter().find(|e| e.event_type == "m.room.create");
                let extra = old_create
                    .get("additional_creators")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(str::to_owned);
                create
                    .map(|c| c.sender.clone())
                    .into_iter()
                    .chain(extra)
                    .collect()
            } else {
                Vec::new()
            };
        let privileged = rules.authorization.explicitly_privilege_room_creators;
        let additional_creators = if privileged {
            additional_creators
        } else {
            Vec::new()
        };

        let mut creation = json!({ "predecessor": { "room_id": old.as_str() } });
        // The tombstone comes last (Synapse builds it first but stores it
        // last; this server writes what it builds), so `event_id` names
        // the old room's last event, which the spec's field describes.
        // Room version 12's create event no longer carries it.
        if !privileged && let Some(last) = store.forward_extremities(old).await?.first() {
            creation["predecessor"]["event_id"] = json!(last.event_id);
        }
        if old_create.get("m.federate") == Some(&json!(false)) {
            creation["m.federate"] = json!(false);
        }
        let room_type = old_create.get("type").cloned();
        if let Some(room_type) = &room_type {
            creation["type"] = room_type.clone();
        }
        if !additional_creators.is_empty() {
            creation["additional_creators"] = json!(additional_creators);
        }

        let mut initial_state = Vec::new();
        for event in &state {
            let Some(key) = &event.state_key else {
                continue;
            };
            let carried = (key.is_empty() && CARRIED_STATE.contains(&event.event_type.as_str()))
                || (room_type == Some(json!("m.space")) && event.event_type == "m.space.child");
            let content = content(event);
            // A space child with empty content was removed from the space.
            if !carried || content.as_object().is_some_and(Map::is_empty) {
                continue;
            }
            let content = if event.event_type == "m.room.power_levels" {
                let mut levels = integer_power_levels(&content);
                list_as_admins(&mut levels, &old_creators);
                raise_to_clone(&mut levels, user);
                if privileged {
                    without_creators(&mut levels, user, &additional_creators);
                }
                levels
            } else {
                content
            };
            initial_state.push(json!({
                "type": event.event_type,
                "state_key": key,
                "content": content,
            }));
        }

        let new = rooms
            .create_room(CreateRoom {
                creator: user.to_owned(),
                room_version: Some(version.clone()),
                creation_content: Some(creation),
                initial_state,
                invite: Vec::new(),
                is_direct: false,
                name: None,
                topic: None,
                power_level_content_override: None,
                preset: Some("private_chat".into()),
                room_alias_name: None,
                public: record.published,
            })
            .await?;
        tracing::info!(old = %old, new = %new, version = %version, "room upgraded");

        // Bans carry over, with their reasons.
        for ban in state
            .iter()
            .filter(|e| e.event_type == "m.room.member" && e.membership.as_deref() == Some("ban"))
        {
            let Some(target) = &ban.state_key else {
                continue;
            };
            let template = EventTemplate::state(StateEventType::RoomMember, target, content(ban));
            if let Err(e) = rooms.send(&new, user, template, None).await {
                tracing::warn!(room = %new, error = %e, "could not carry a ban over");
            }
        }

        let mut template = tombstone(old);
        template.content["replacement_room"] = json!(new.as_str());
        rooms.send(old, user, template, None).await?;

        self.move_aliases(user, old, &new, content_of("m.room.canonical_alias"))
            .await;
        if record.published {
            store.set_room_published(old, false).await?;
        }
        self.carry_users_state(old, &new).await?;
        let levels = content_of("m.room.power_levels").map(|l| integer_power_levels(&l));
        let creators = (additional_creators.as_slice(), old_creators.as_slice());
        self.settle_power_levels(user, old, &new, rules, creators, levels)
            .await?;
        Ok(new)
    }

    /// Points the old room's local aliases to the new room, and moves the
    /// local ones of its canonical alias event there too (a failure to
    /// update either event is logged, as Synapse does: the upgrade stands).
    async fn move_aliases(
        &self,
        user: &UserId,
        old: &RoomId,
        new: &RoomId,
        canonical: Option<Value>,
    ) {
        let rooms = &self.inner.rooms;
        if let Err(e) = rooms.store().move_aliases(old, new).await {
            tracing::warn!(room = %old, error = %e, "could not move the aliases");
            return;
        }
        let Some(canonical) = canonical else { return };
        let local = |alias: &Value| {
            alias
                .as_str()
                .and_then(|a| RoomAliasId::parse(a).ok())
                .is_some_and(|a| a.server_name() == rooms.server_name())
        };
        let mut kept = canonical.clone();
        let mut moved = json!({});
        if let Some(alias) = canonical.get("alias").filter(|a| local(a)) {
            moved["alias"] = alias.clone();
            if let Some(k) = kept.as_object_mut() {
                k.remove("alias");
            }
        }
        if let Some(alt) = canonical.get("alt_aliases").and_then(Value::as_array) {
            let (here, there): (Vec<Value>, Vec<Value>) = alt.iter().cloned().partition(local);
            if !here.is_empty() {
                moved["alt_aliases"] = json!(here);
            }
            if let Some(k) = kept.as_object_mut() {
                if there.is_empty() {
                    k.remove("alt_aliases");
                } else {
                    k.insert("alt_aliases".into(), json!(there));
                }
            }
        }
        for (room, content) in [(old, kept), (new, moved)] {
            let template = EventTemplate::state(StateEventType::RoomCanonicalAlias, "", content);
            if let Err(e) = rooms.send(room, user, template, None).await {
                tracing::warn!(room = %room, error = %e, "could not update the canonical alias");
            }
        }
    }

    /// Every local member's tags, direct-chat listing and room push rules
    /// follow the room (Synapse's `transfer_room_state_on_room_upgrade`).
    async fn carry_users_state(&self, old: &RoomId, new: &RoomId) -> ApiResult<()> {
        let rooms = &self.inner.rooms;
        let suffix = format!(":{}", rooms.server_name());
        for member in rooms.store().room_members(old).await? {
            if member.membership != MembershipState::Join || !member.user_id.ends_with(&suffix) {
                continue;
            }
            let Ok(member) = UserId::parse(&member.user_id) else {
                continue;
            };
            // One user's unreadable data must not fail the others' (nor
            // the upgrade, which is done).
            if let Err(e) = self
                .inner
                .account_data
                .follow_upgrade(&member, old, new)
                .await
            {
                tracing::warn!(user = %member, error = %e, "could not carry tags over");
            }
            if let Err(e) = self
                .inner
                .push_rules
                .follow_upgrade(&member, old, new)
                .await
            {
                tracing::warn!(user = %member, error = %e, "could not carry push rules over");
            }
        }
        Ok(())
    }

    /// Restricts the old room (talking and inviting need a moderator) and
    /// gives the new room the old room's power levels as they were (the
    /// upgrading user's level may have been raised to copy the state).
    /// `levels` are the old room's, with integer levels; `creators` the new
    /// room's additional ones (never listed) and the old room's (listed as
    /// admins where the new room does not privilege them).
    async fn settle_power_levels(
        &self,
        user: &UserId,
        old: &RoomId,
        new: &RoomId,
        rules: &RoomVersionRules,
        (additional_creators, old_creators): (&[OwnedUserId], &[String]),
        levels: Option<Value>,
    ) -> ApiResult<()> {
        let rooms = &self.inner.rooms;
        let Some(levels) = levels else {
            tracing::warn!(room = %old, "upgraded a room without power levels");
            return Ok(());
        };
        let mut restricted = levels.clone();
        let users_default = restricted
            .get("users_default")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let level = (users_default + 1).max(50);
        let mut changed = false;
        for field in ["invite", "events_default"] {
            if restricted.get(field).and_then(Value::as_i64).unwrap_or(0) < level {
                restricted[field] = json!(level);
                changed = true;
            }
        }
        if changed {
            let template = EventTemplate::state(StateEventType::RoomPowerLevels, "", restricted);
            if let Err(e) = rooms.send(old, user, template, None).await {
                tracing::warn!(room = %old, error = %e, "could not restrict the old room");
            }
        }
        let mut carried = levels;
        list_as_admins(&mut carried, old_creators);
        if rules.authorization.explicitly_privilege_room_creators {
            without_creators(&mut carried, user, additional_creators);
        }
        let template = EventTemplate::state(StateEventType::RoomPowerLevels, "", carried);
        rooms.send(new, user, template, None).await?;
        Ok(())
    }
}

/// The tombstone template (its `replacement_room` filled in once known).
fn tombstone(old: &RoomId) -> EventTemplate {
    EventTemplate::state(
        StateEventType::RoomTombstone,
        "",
        json!({ "body": "This room has been replaced", "replacement_room": old.as_str() }),
    )
}

fn content(event: &StoredEvent) -> Value {
    serde_json::from_str::<Value>(&event.json)
        .ok()
        .and_then(|mut v| v.get_mut("content").map(Value::take))
        .unwrap_or_else(|| json!({}))
}

/// Power levels with every level an integer (versions before 10 allowed
/// strings such as `"50"`, which later versions refuse), as Synapse's
/// `copy_and_fixup_power_levels_contents`; unreadable levels are dropped.
fn integer_power_levels(levels: &Value) -> Value {
    let int = |v: &Value| match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    let mut out = Map::new();
    let Some(object) = levels.as_object() else {
        return Value::Object(out);
    };
    for (key, value) in object {
        match value {
            Value::Object(map) => {
                let fixed: Map<String, Value> = map
                    .iter()
                    .filter_map(|(k, v)| int(v).map(|i| (k.clone(), json!(i))))
                    .collect();
                out.insert(key.clone(), Value::Object(fixed));
            }
            other => {
                if let Some(i) = int(other) {
                    out.insert(key.clone(), json!(i));
                }
            }
        }
    }
    Value::Object(out)
}

/// Gives `user` in the new room's initial power levels the level needed
/// to copy every state event and ban over (Synapse raises it the same way;
/// the old levels are restored once the copy is done).
fn raise_to_clone(levels: &mut Value, user: &UserId) {
    let get =
        |v: &Value, k: &str, default: i64| v.get(k).and_then(Value::as_i64).unwrap_or(default);
    let events_max = levels
        .get("events")
        .and_then(Value::as_object)
        .and_then(|e| e.values().filter_map(Value::as_i64).max())
        .unwrap_or(0);
    let needed = get(levels, "state_default", 50)
        .max(get(levels, "ban", 50))
        .max(events_max);
    let current = levels
        .get("users")
        .and_then(|u| u.get(user.as_str()))
        .and_then(Value::as_i64)
        .unwrap_or_else(|| get(levels, "users_default", 0));
    if current < needed {
        if !levels.get("users").is_some_and(Value::is_object) {
            levels["users"] = json!({});
        }
        levels["users"][user.as_str()] = json!(needed);
    }
}

/// Lists `users` where the levels leave them unlisted, at the highest
/// level the levels name (at least 100): the nearest a room without
/// privileged creators comes to a creator's unlimited power.
fn list_as_admins(levels: &mut Value, users: &[String]) {
    if users.is_empty() {
        return;
    }
    let nested = ["events", "notifications", "users"]
        .iter()
        .filter_map(|k| levels.get(*k).and_then(Value::as_object))
        .flat_map(|m| m.values().filter_map(Value::as_i64));
    let top = levels
        .as_object()
        .into_iter()
        .flat_map(|m| m.values().filter_map(Value::as_i64));
    let highest = nested.chain(top).max().unwrap_or(0).max(100);
    if !levels.get("users").is_some_and(Value::is_object) {
        levels["users"] = json!({});
    }
    for user in users {
        if levels["users"].get(user).is_none() {
            levels["users"][user] = json!(highest);
        }
    }
}

/// Room version 12 forbids listing its creators in `users`.
fn without_creators(levels: &mut Value, creator: &UserId, additional: &[OwnedUserId]) {
    if let Some(users) = levels.get_mut("users").and_then(Value::as_object_mut) {
        users.remove(creator.as_str());
        for other in additional {
            users.remove(other.as_str());
        }
    }
}

#[cfg(test)]
mod tests {
    use ruma::user_id;

    use super::*;

    #[test]
    fn string_levels_become_integers_and_junk_is_dropped() {
        let fixed = integer_power_levels(&json!({
            "ban": "50", "kick": 50, "redact": "x", "users": {"@a:s": "100", "@b:s": []},
            "events": {"m.room.name": "75"}, "notifications": {"room": 50},
        }));
        assert_eq!(
            fixed,
            json!({"ban": 50, "kick": 50, "users": {"@a:s": 100},
                   "events": {"m.room.name": 75}, "notifications": {"room": 50}})
        );
    }

    #[test]
    fn the_upgrader_gets_the_power_to_copy_the_state() {
        let user = user_id!("@mod:s");
        let mut levels = json!({"users": {"@mod:s": 50}, "state_default": 50,
                                "events": {"m.room.tombstone": 50, "m.room.encryption": 100}});
        raise_to_clone(&mut levels, user);
        assert_eq!(levels["users"]["@mod:s"], json!(100));
        let mut high = json!({"users": {"@mod:s": 150}});
        raise_to_clone(&mut high, user);
        assert_eq!(high["users"]["@mod:s"], json!(150));
        without_creators(&mut high, user, &[]);
        assert_eq!(high["users"], json!({}));
    }
}
