//! Membership changes: join, invite, leave, kick, ban, unban, knock, and
//! profile updates carried into member events.

use missive_core::{Pdu, event_builder::EventTemplate};
use missive_store::{AccountStore, DirectoryStore, EventStore};
use ruma::{OwnedEventId, OwnedRoomId, RoomId, RoomOrAliasId, UserId, events::StateEventType};
use serde_json::{Value, json};

use super::Rooms;
use crate::error::{ApiError, ApiResult};
use ruma::events::room::member::MembershipState;

/// Member event fields the server sets, never taken from a join's body.
const SERVER_SET_MEMBER_FIELDS: [&str; 6] = [
    "membership",
    "displayname",
    "avatar_url",
    "join_authorised_via_users_server",
    "third_party_invite",
    "third_party_signed",
];

impl Rooms {
    /// Resolves a room ID or a local alias to a room ID.
    pub async fn resolve_room(&self, room: &RoomOrAliasId) -> ApiResult<OwnedRoomId> {
        match <&RoomId>::try_from(room) {
            Ok(id) => Ok(id.to_owned()),
            Err(alias) => {
                let (room_id, _) = self
                    .store()
                    .alias(alias)
                    .await?
                    .ok_or_else(|| ApiError::not_found("room alias not found"))?;
                RoomId::parse(room_id).map_err(|e| ApiError::Internal(e.to_string()))
            }
        }
    }

    async fn set_membership(
        &self,
        room_id: &RoomId,
        sender: &UserId,
        target: &UserId,
        content: Value,
    ) -> ApiResult<OwnedEventId> {
        self.send(
            room_id,
            sender,
            EventTemplate::state(StateEventType::RoomMember, target.as_str(), content),
            None,
        )
        .await
    }

    /// Whether the room's `m.room.guest_access` is `can_join`.
    async fn guests_can_join(&self, room_id: &RoomId) -> ApiResult<bool> {
        let event = self
            .store()
            .current_state_event(room_id, "m.room.guest_access", "")
            .await?;
        Ok(event
            .and_then(|e| serde_json::from_str::<Value>(&e.json).ok())
            .is_some_and(|v| v["content"]["guest_access"] == "can_join"))
    }

    /// Joins `user` to the room (already-joined users re-send their profile,
    /// as the spec allows). `body` is the request's JSON: fields of it
    /// the server does not set itself are kept in the member event, as
    /// Synapse keeps them.
    pub async fn join(
        &self,
        room_id: &RoomId,
        user: &UserId,
        reason: Option<&str>,
        body: Option<&Value>,
        guest: bool,
    ) -> ApiResult<OwnedEventId> {
        let (room, _) = self.room(room_id).await?;
        if guest && !self.guests_can_join(room_id).await? {
            return Err(ApiError::forbidden(
                "guests may not join this room (its guest access is not can_join)",
            ));
        }
        let mut content = self.member_content("join", user, reason).await?;
        if let (Some(extra), Some(content)) =
            (body.and_then(Value::as_object), content.as_object_mut())
        {
            for (key, value) in extra {
                if !SERVER_SET_MEMBER_FIELDS.contains(&key.as_str()) && !content.contains_key(key) {
                    content.insert(key.clone(), value.clone());
                }
            }
        }
        let current = self.store().membership(room_id, user).await?;
        let invited_or_joined = current.as_ref().is_some_and(|m| {
            m.membership == MembershipState::Invite || m.membership == MembershipState::Join
        });
        if let Some(authoriser) = self.join_authoriser(room_id, &room.join_rule, user).await? {
            content["join_authorised_via_users_server"] = json!(authoriser);
        }
        self.set_membership(room_id, user, user, content)
            .await
            .map_err(|e| match e {
                ApiError::Forbidden(_)
                    if current
                        .as_ref()
                        .is_some_and(|m| m.membership == MembershipState::Ban) =>
                {
                    ApiError::forbidden("you are banned from this room")
                }
                ApiError::Forbidden(_) if !invited_or_joined => {
                    ApiError::forbidden("you are not invited to this room")
                }
                other => other,
            })
    }

    /// The local member who authorises `user`'s join of a restricted room
    /// (with `join_rule`), when the join needs one: not for a user already
    /// invited or joined, nor in a room of another join rule.
    pub(super) async fn join_authoriser(
        &self,
        room_id: &RoomId,
        join_rule: &str,
        user: &UserId,
    ) -> ApiResult<Option<String>> {
        if !matches!(join_rule, "restricted" | "knock_restricted") {
            return Ok(None);
        }
        let invited_or_joined = self
            .store()
            .membership(room_id, user)
            .await?
            .is_some_and(|m| {
                m.membership == MembershipState::Invite || m.membership == MembershipState::Join
            });
        if invited_or_joined {
            return Ok(None);
        }
        self.restricted_join_authoriser(room_id, user)
            .await
            .map(Some)
    }

    /// For restricted rooms: a local member who may invite, if `user` is in
    /// one of the rooms the join rule allows. Refused (403) when `user` is
    /// in none of them; `M_UNABLE_TO_AUTHORISE_JOIN` when this server is
    /// not in an allowed room to tell (another server may be);
    /// `M_UNABLE_TO_GRANT_JOIN` when no member of this server may invite.
    pub(crate) async fn restricted_join_authoriser(
        &self,
        room_id: &RoomId,
        user: &UserId,
    ) -> ApiResult<String> {
        let store = self.store();
        let join_rules = store
            .current_state_event(room_id, "m.room.join_rules", "")
            .await?
            .ok_or_else(|| ApiError::forbidden("room has no join rules"))?;
        let content = super::to_pdu(&join_rules)?.content_value();
        let allowed_rooms: Vec<String> = content
            .get("allow")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter(|c| c.get("type").and_then(Value::as_str) == Some("m.room_membership"))
                    .filter_map(|c| c.get("room_id").and_then(Value::as_str).map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let mut qualifies = false;
        let mut cannot_tell = false;
        for allowed in allowed_rooms
            .iter()
            .filter_map(|r| <&RoomId>::try_from(r.as_str()).ok())
        {
            if store
                .membership(allowed, user)
                .await?
                .is_some_and(|m| m.membership == MembershipState::Join)
            {
                qualifies = true;
                break;
            }
            // Only a resident server knows who is in a room; a local user's
            // memberships are all known here.
            let local_user = user.server_name() == &**self.server_name();
            if !local_user && !self.is_resident(allowed).await? {
                cannot_tell = true;
            }
        }
        if !qualifies && cannot_tell {
            return Err(ApiError::UnableToAuthoriseJoin(
                "this server is not in the rooms that grant access to tell".into(),
            ));
        }
        if !qualifies {
            return Err(ApiError::forbidden(
                "you are not a member of a room that grants access",
            ));
        }
        let (_, rules) = self.room(room_id).await?;
        let pl_event = store
            .current_state_event(room_id, "m.room.power_levels", "")
            .await?;
        let pl_pdu = pl_event.as_ref().map(super::to_pdu).transpose()?;
        let create = store
            .current_state_event(room_id, "m.room.create", "")
            .await?
            .as_ref()
            .map(super::to_pdu)
            .transpose()?;
        let levels =
            missive_core::power_levels::effective(pl_pdu.as_ref(), create.as_ref(), &rules);
        let server_suffix = format!(":{}", self.server_name());
        for member in store.room_members(room_id).await? {
            if member.membership != MembershipState::Join
                || !member.user_id.ends_with(&server_suffix)
            {
                continue;
            }
            let Ok(member_id) = UserId::parse(&member.user_id) else {
                continue;
            };
            if levels.for_user(&member_id) >= levels.invite {
                return Ok(member.user_id);
            }
        }
        Err(ApiError::UnableToGrantJoin(
            "no member of this server can authorise the join".into(),
        ))
    }

    pub async fn invite(
        &self,
        room_id: &RoomId,
        sender: &UserId,
        target: &UserId,
        reason: Option<&str>,
        is_direct: bool,
    ) -> ApiResult<OwnedEventId> {
        let template = self
            .invite_template(room_id, target, reason, is_direct)
            .await?;
        self.send(room_id, sender, template, None).await
    }

    /// The invite of `target`, once checked that they can be invited (a
    /// local user exists and is active, nobody joined or banned).
    pub async fn invite_template(
        &self,
        room_id: &RoomId,
        target: &UserId,
        reason: Option<&str>,
        is_direct: bool,
    ) -> ApiResult<EventTemplate> {
        let (_, _) = self.room(room_id).await?;
        if target.server_name() == *self.server_name()
            && self
                .store()
                .user(target)
                .await?
                .is_none_or(|u| u.deactivated)
        {
            return Err(ApiError::not_found("user not found"));
        }
        if let Some(m) = self.store().membership(room_id, target).await?
            && matches!(m.membership, MembershipState::Join | MembershipState::Ban)
        {
            return Err(ApiError::forbidden(format!(
                "user is already {}ed",
                if m.membership == MembershipState::Join {
                    "join"
                } else {
                    "bann"
                }
            )));
        }
        let mut content = self.member_content("invite", target, reason).await?;
        if is_direct {
            content["is_direct"] = json!(true);
        }
        Ok(EventTemplate::state(
            StateEventType::RoomMember,
            target.as_str(),
            content,
        ))
    }

    /// What an invitee is shown of the room before joining: its create,
    /// name, avatar, topic, join rules, canonical alias and encryption
    /// events, and the inviter's membership, as full events.
    pub async fn invite_room_state(
        &self,
        room_id: &RoomId,
        inviter: &UserId,
    ) -> ApiResult<Vec<Pdu>> {
        let wanted: Vec<(String, String)> = [
            "m.room.create",
            "m.room.name",
            "m.room.avatar",
            "m.room.topic",
            "m.room.join_rules",
            "m.room.canonical_alias",
            "m.room.encryption",
        ]
        .iter()
        .map(|ty| ((*ty).to_owned(), String::new()))
        .chain([("m.room.member".to_owned(), inviter.to_string())])
        .collect();
        self.store()
            .current_state_events_for(room_id, &wanted)
            .await?
            .iter()
            .map(super::to_pdu)
            .collect()
    }

    /// Leave, kick, ban and unban: a membership set by `sender` on `target`.
    pub async fn set_other_membership(
        &self,
        room_id: &RoomId,
        sender: &UserId,
        target: &UserId,
        membership: &str,
        reason: Option<&str>,
    ) -> ApiResult<OwnedEventId> {
        let (_, _) = self.room(room_id).await?;
        let current = self.store().membership(room_id, target).await?;
        if membership == "leave" && sender == target && current.is_none() {
            return Err(ApiError::forbidden("you are not in this room"));
        }
        let content = self.member_content(membership, target, reason).await?;
        self.set_membership(room_id, sender, target, content).await
    }

    pub async fn knock(
        &self,
        room_id: &RoomId,
        user: &UserId,
        reason: Option<&str>,
    ) -> ApiResult<OwnedEventId> {
        let content = self.member_content("knock", user, reason).await?;
        self.set_membership(room_id, user, user, content).await
    }

    /// Re-sends the user's member event in every joined room after a
    /// profile change.
    pub async fn propagate_profile(&self, user: &UserId) -> ApiResult<()> {
        let memberships = self.store().user_memberships(user).await?;
        for m in memberships
            .into_iter()
            .filter(|m| m.membership == MembershipState::Join)
        {
            let Ok(room_id) = RoomId::parse(&m.room_id) else {
                continue;
            };
            let content = self.member_content("join", user, None).await?;
            if let Err(e) = self.set_membership(&room_id, user, user, content).await {
                tracing::warn!(room = %room_id, error = %e, "profile update not sent to room");
            }
        }
        Ok(())
    }
}
