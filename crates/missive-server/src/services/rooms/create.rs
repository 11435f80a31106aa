//! `createRoom`: the initial events of a new room, written all at once.

use missive_core::{
    Pdu,
    event_builder::{self, EventTemplate, RoomContext, StateEvents},
    room_versions,
};
use missive_store::{
    AccountStore, DirectoryStore, EventStore, PersistOutcome, RoomRecord, StoreError,
};
use ruma::{
    MilliSecondsSinceUnixEpoch, OwnedRoomId, OwnedUserId, RoomAliasId, RoomId, RoomVersionId,
    UserId,
    events::{StateEventType, TimelineEventType},
    room_version_rules::{RoomIdFormatVersion, RoomVersionRules},
};
use serde_json::{Value, json};

use super::{Rooms, push};
use crate::{
    error::{ApiError, ApiResult},
    services::accounts::random_alphanumeric,
};

/// What the client asked for, as plain JSON values where ruma keeps them raw.
pub struct CreateRoom {
    pub creator: OwnedUserId,
    pub room_version: Option<RoomVersionId>,
    pub creation_content: Option<Value>,
    pub initial_state: Vec<Value>,
    pub invite: Vec<OwnedUserId>,
    pub is_direct: bool,
    pub name: Option<String>,
    pub topic: Option<String>,
    pub power_level_content_override: Option<Value>,
    /// `private_chat`, `trusted_private_chat` or `public_chat`.
    pub preset: Option<String>,
    pub room_alias_name: Option<String>,
    pub public: bool,
}

impl Rooms {
    /// Creates the room and returns its ID.
    pub async fn create_room(&self, req: CreateRoom) -> ApiResult<OwnedRoomId> {
        let store = self.store();
        let version = req
            .room_version
            .clone()
            .unwrap_or(room_versions::DEFAULT_ROOM_VERSION);
        let rules = room_versions::rules(&version)?;
        let server = self.server_name().clone();

        let alias = match &req.room_alias_name {
            Some(local) => {
                let alias = format!("#{local}:{server}");
                // The spec bounds aliases like every identifier; ruma's
                // parser does not check the length.
                if alias.len() > missive_core::MAX_ID_BYTES {
                    return Err(ApiError::invalid_param("room_alias_name is too long"));
                }
                let alias = RoomAliasId::parse(alias)
                    .map_err(|_| ApiError::invalid_param("invalid room_alias_name"))?;
                if store.alias(&alias).await?.is_some() {
                    return Err(ApiError::RoomInUse("room alias already taken".into()));
                }
                Some(alias)
            }
            None => None,
        };

        let templates = self
            .initial_events(&req, &version, &rules, alias.as_deref())
            .await?;
        let creator = req.creator.as_ref();
        // A room ID is random up to version 11 and the create event's hash
        // from version 12: either may collide, so a few attempts are made
        // (for version 12 with another timestamp, as Synapse does).
        let mut attempt = 0;
        let mut remote_invitees: Vec<String> = Vec::new();
        let (room_id, outcomes) = loop {
            attempt += 1;
            let now = MilliSecondsSinceUnixEpoch::from_system_time(
                std::time::SystemTime::now() + std::time::Duration::from_millis(attempt - 1),
            )
            .unwrap_or_else(MilliSecondsSinceUnixEpoch::now);
            let (room_id, mut new_events) = self
                .build_initial_events(&templates, creator, &version, &rules, now)
                .await?;
            // A new room has no remote member: only remote invitees'
            // servers get their invite.
            remote_invitees.clear();
            if let Some(outbound) = &self.inner.outbound {
                for new in &mut new_events {
                    if new.membership.as_deref() == Some("invite") {
                        new.federation_destinations =
                            outbound.destinations_of_members([], new.state_key.as_deref());
                        remote_invitees.extend(new.federation_destinations.iter().cloned());
                    }
                }
            }
            match store.persist_events(new_events).await {
                Err(StoreError::AlreadyExists(_)) if attempt < 5 => continue,
                Err(StoreError::AlreadyExists(_)) => {
                    return Err(ApiError::Internal("room ID collision".into()));
                }
                other => break (room_id, other?),
            }
        };
        if let Some(outbound) = &self.inner.outbound {
            outbound.wake(&remote_invitees);
        }
        if let Some(PersistOutcome::Persisted { stream_ordering }) = outcomes.last() {
            // The creator, and the invitees of the initial events.
            let invitees: Vec<&str> = req.invite.iter().map(|u| u.as_str()).collect();
            self.announce(*stream_ordering, room_id.as_str(), &invitees)
                .await;
            if !invitees.is_empty() {
                self.inner.notifier.notify_pushes(invitees.iter().copied());
            }
        }

        if let Some(alias) = alias {
            match store.create_alias(&alias, &room_id, creator).await {
                Err(StoreError::AlreadyExists(_)) => {
                    return Err(ApiError::RoomInUse("room alias already taken".into()));
                }
                other => other?,
            }
        }
        if req.public {
            store.set_room_published(&room_id, true).await?;
        }
        Ok(room_id)
    }

    /// Builds the new room's events, one on the other, and their store
    /// records; the room ID is random, or (version 12) the create event's.
    async fn build_initial_events(
        &self,
        templates: &[EventTemplate],
        creator: &UserId,
        version: &RoomVersionId,
        rules: &RoomVersionRules,
        now: MilliSecondsSinceUnixEpoch,
    ) -> ApiResult<(OwnedRoomId, Vec<missive_store::NewEvent>)> {
        let mut room_id = match rules.room_id_format {
            RoomIdFormatVersion::V1 => Some(
                RoomId::parse(format!(
                    "!{}:{}",
                    random_alphanumeric(18),
                    self.server_name()
                ))
                .map_err(|e| ApiError::Internal(e.to_string()))?,
            ),
            _ => None,
        };
        let mut state = StateEvents::new();
        let mut prev: Vec<Pdu> = Vec::new();
        let mut new_events = Vec::new();
        for template in templates {
            let ctx = RoomContext {
                room_id: room_id.as_deref(),
                rules,
                prev_events: &prev,
                state: &state,
                redaction_target: None,
            };
            let pdu = event_builder::build_event(
                template.clone(),
                creator,
                &ctx,
                &self.inner.signer,
                now,
            )?;
            let room = room_id.get_or_insert_with(|| pdu.room_id.clone()).clone();
            let mut new = super::new_event(&pdu, rules, None)?;
            if pdu.event_type == TimelineEventType::RoomCreate {
                new.create_room = Some(RoomRecord {
                    room_id: room.to_string(),
                    room_version: version.to_string(),
                    creator: creator.to_string(),
                    published: false,
                    join_rule: "invite".into(),
                });
            }
            if pdu.event_type == TimelineEventType::RoomMember {
                // Invitees of a new room get their invite notification.
                new.push_actions =
                    push::recipients(self.store(), &self.inner.rulesets, &pdu, &state, rules)
                        .await?
                        .actions;
            }
            if let Some(key) = &pdu.state_key {
                state.insert(
                    (pdu.event_type.to_string().into(), key.clone()),
                    pdu.clone(),
                );
            }
            prev = vec![pdu];
            new_events.push(new);
        }
        let room_id = room_id.ok_or_else(|| ApiError::Internal("a room without events".into()))?;
        Ok((room_id, new_events))
    }

    /// The templates of a new room's events, in the spec's order.
    async fn initial_events(
        &self,
        req: &CreateRoom,
        version: &RoomVersionId,
        rules: &RoomVersionRules,
        alias: Option<&RoomAliasId>,
    ) -> ApiResult<Vec<EventTemplate>> {
        // From version 12 the creators have unlimited power and may not be
        // listed in the power levels.
        let privileged_creators = rules.authorization.explicitly_privilege_room_creators;
        let creator = &req.creator;
        let preset = req.preset.clone().unwrap_or_else(|| {
            if req.public {
                "public_chat"
            } else {
                "private_chat"
            }
            .to_owned()
        });
        let mut out = Vec::new();

        let mut create = match &req.creation_content {
            Some(Value::Object(c)) => Value::Object(c.clone()),
            Some(_) => return Err(ApiError::bad_json("creation_content must be an object")),
            None => json!({}),
        };
        create["room_version"] = json!(version.as_str());
        if !rules.authorization.use_room_create_sender {
            create["creator"] = json!(creator.as_str());
        }
        if privileged_creators {
            let mut extra = additional_creators(&create)?;
            // A trusted private chat makes its invitees creators too (as
            // Synapse does), where earlier versions give them power 100.
            if preset == "trusted_private_chat" {
                extra.extend(req.invite.iter().cloned());
            }
            extra.retain(|u| u != creator);
            extra.sort();
            extra.dedup();
            match create.as_object_mut() {
                Some(c) if extra.is_empty() => {
                    c.remove("additional_creators");
                }
                _ => create["additional_creators"] = json!(extra),
            }
        }
        out.push(EventTemplate::state(StateEventType::RoomCreate, "", create));

        out.push(EventTemplate::state(
            StateEventType::RoomMember,
            creator.as_str(),
            self.member_content("join", creator, None).await?,
        ));

        let mut users = serde_json::Map::new();
        if !privileged_creators {
            users.insert(creator.to_string(), json!(100));
            if preset == "trusted_private_chat" {
                for invitee in &req.invite {
                    users.insert(invitee.to_string(), json!(100));
                }
            }
        }
        let mut power_levels = json!({
            "users": users,
            "users_default": 0,
            "events": {
                "m.room.name": 50,
                "m.room.power_levels": 100,
                "m.room.history_visibility": 100,
                "m.room.canonical_alias": 50,
                "m.room.avatar": 50,
                // From version 12 the spec asks for a tombstone level above
                // `state_default`'s administrators; Synapse uses 150.
                "m.room.tombstone": if privileged_creators { 150 } else { 100 },
                "m.room.server_acl": 100,
                "m.room.encryption": 100,
            },
            "events_default": 0,
            "state_default": 50,
            "ban": 50,
            "kick": 50,
            "redact": 50,
            "invite": if preset == "public_chat" { 50 } else { 0 },
            "notifications": { "room": 50 },
        });
        match &req.power_level_content_override {
            Some(Value::Object(o)) => {
                for (k, v) in o {
                    power_levels[k] = v.clone();
                }
            }
            Some(_) => {
                return Err(ApiError::bad_json(
                    "power_level_content_override must be an object",
                ));
            }
            None => {}
        }
        out.push(EventTemplate::state(
            StateEventType::RoomPowerLevels,
            "",
            power_levels,
        ));

        if let Some(alias) = alias {
            out.push(EventTemplate::state(
                StateEventType::RoomCanonicalAlias,
                "",
                json!({ "alias": alias.as_str() }),
            ));
        }

        let join_rule = if preset == "public_chat" {
            "public"
        } else {
            "invite"
        };
        out.push(EventTemplate::state(
            StateEventType::RoomJoinRules,
            "",
            json!({ "join_rule": join_rule }),
        ));
        out.push(EventTemplate::state(
            StateEventType::RoomHistoryVisibility,
            "",
            json!({ "history_visibility": "shared" }),
        ));
        let guest = if preset == "public_chat" {
            "forbidden"
        } else {
            "can_join"
        };
        out.push(EventTemplate::state(
            StateEventType::RoomGuestAccess,
            "",
            json!({ "guest_access": guest }),
        ));

        for ev in &req.initial_state {
            let ty = ev
                .get("type")
                .and_then(Value::as_str)
                .ok_or_else(|| ApiError::bad_json("initial_state events need a type"))?;
            let key = ev.get("state_key").and_then(Value::as_str).unwrap_or("");
            let content = ev.get("content").cloned().unwrap_or_else(|| json!({}));
            if matches!(ty, "m.room.create" | "m.room.member") {
                return Err(ApiError::bad_json(format!(
                    "{ty} cannot be set in initial_state"
                )));
            }
            let template = EventTemplate::state(ty.into(), key, content);
            let same = |t: &EventTemplate| {
                t.event_type.to_string() == ty && t.state_key.as_deref() == Some(key)
            };
            // The power levels keep their early place (the events after
            // them are checked against them, as Synapse sends them); any
            // other later template for the same state replaces an earlier one.
            if ty == "m.room.power_levels"
                && let Some(slot) = out.iter_mut().find(|t| same(t))
            {
                *slot = template;
                continue;
            }
            out.retain(|t| !same(t));
            out.push(template);
        }

        if let Some(name) = &req.name {
            out.push(EventTemplate::state(
                StateEventType::RoomName,
                "",
                json!({ "name": name }),
            ));
        }
        if let Some(topic) = &req.topic {
            out.push(EventTemplate::state(
                StateEventType::RoomTopic,
                "",
                json!({ "topic": topic, "m.topic": [{ "body": topic, "mimetype": "text/plain" }] }),
            ));
        }
        for invitee in &req.invite {
            let mut content = self.member_content("invite", invitee, None).await?;
            if req.is_direct {
                content["is_direct"] = json!(true);
            }
            out.push(EventTemplate::state(
                StateEventType::RoomMember,
                invitee.as_str(),
                content,
            ));
        }
        Ok(out)
    }

    /// `m.room.member` content for `user` with their profile.
    pub(crate) async fn member_content(
        &self,
        membership: &str,
        user: &UserId,
        reason: Option<&str>,
    ) -> ApiResult<Value> {
        let mut content = json!({ "membership": membership });
        if matches!(membership, "join" | "invite" | "knock")
            && let Some(profile) = self.store().user(user).await?
        {
            if let Some(name) = profile.displayname {
                content["displayname"] = json!(name);
            }
            if let Some(url) = profile.avatar_url {
                content["avatar_url"] = json!(url);
            }
        }
        if let Some(reason) = reason {
            content["reason"] = json!(reason);
        }
        Ok(content)
    }
}

/// `additional_creators` of a create event's content: user IDs, or 400.
fn additional_creators(create: &Value) -> ApiResult<Vec<OwnedUserId>> {
    match create.get("additional_creators") {
        None => Ok(Vec::new()),
        Some(Value::Array(users)) => users
            .iter()
            .map(|u| {
                u.as_str()
                    .and_then(|u| UserId::parse(u).ok())
                    .ok_or_else(|| ApiError::bad_json("additional_creators must be user IDs"))
            })
            .collect(),
        Some(_) => Err(ApiError::bad_json(
            "additional_creators must be a list of user IDs",
        )),
    }
}
