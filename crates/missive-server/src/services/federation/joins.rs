//! Joining rooms across servers, both halves.
//!
//! Resident (`make_join`, `send_join` v2): another server's user asks for
//! a join event built on our view of the room, signs it and sends it back;
//! it goes through the checks on receipt like any PDU, and the answer is
//! the room's state before it with its auth chain. The checks are those
//! of every `make_*`/`send_*` pair (leaves and knocks use them too).
//!
//! Joining ([`Inbound::join_remote`]): a local user joins a room this
//! server is not in. A resident server (from the client's `via` or the
//! room ID's server) builds the join; this server checks it is the join
//! asked for, signs it, sends it, then verifies the state and auth chain it
//! gets back (signatures, and each event against its auth events) and
//! writes the room: that state outside the timeline, the join as the
//! room's first timeline event.

use std::collections::{BTreeMap, HashMap};

use missive_core::{Pdu, incoming, membership_template, room_versions};
use missive_store::{
    EventStore, FederationOutboxStore, RemoteEventStore, RemoteWrite, RoomRecord, StateEntry,
};
use ruma::{
    CanonicalJsonObject, OwnedEventId, OwnedServerName, RoomId, RoomVersionId, ServerName, UserId,
    api::federation::membership::{create_join_event, prepare_join_event},
    events::{StateEventType, TimelineEventType},
    room_version_rules::RoomVersionRules,
};
use serde_json::value::RawValue;

use super::inbound::Inbound;
use crate::{
    error::{ApiError, ApiResult},
    services::rooms::{Received, Relay, record_of, state_entry},
};

/// The state a `send_join` answers with, as PDUs.
pub struct JoinState {
    pub state: Vec<Box<RawValue>>,
    pub auth_chain: Vec<Box<RawValue>>,
    pub servers_in_room: Vec<String>,
    /// The join as this server signed it too (a restricted join it
    /// authorised), which the joining server uses instead of its own.
    pub event: Option<Box<RawValue>>,
}

impl Inbound {
    /// `make_join`: the join template for `user` (of `origin`).
    pub async fn make_join(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
        user: &UserId,
        supported: &[RoomVersionId],
    ) -> ApiResult<(RoomVersionId, Box<RawValue>)> {
        let (version, template) = self.make_membership(origin, room_id, user, "join").await?;
        check_supported(&version, supported)?;
        Ok((version, raw(&template)?))
    }

    /// What every `make_*` shares: `user` must be of `origin`, this server
    /// in the room, `origin` allowed by its ACL; then `user`'s membership
    /// event built (and authorised) on the room's current state, as the
    /// template `origin` signs.
    pub(super) async fn make_membership(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
        user: &UserId,
        membership: &str,
    ) -> ApiResult<(RoomVersionId, CanonicalJsonObject)> {
        if user.server_name() != origin {
            return Err(ApiError::forbidden(
                "the user is not of the requesting server",
            ));
        }
        let rooms = self.rooms();
        if self.store().room(room_id).await?.is_none() || !rooms.is_resident(room_id).await? {
            return Err(ApiError::not_found("this server is not in that room"));
        }
        self.check_acl(origin, room_id).await?;
        rooms
            .remote_membership_template(room_id, user, membership)
            .await
    }

    /// `send_join` (v2): writes `origin`'s signed join and answers with the
    /// room's state before it.
    pub async fn send_join(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
        event_id: &OwnedEventId,
        pdu: &RawValue,
    ) -> ApiResult<JoinState> {
        let countersigned = self.authorise_restricted_join(room_id, pdu).await?;
        let join = self
            .send_membership(
                origin,
                room_id,
                event_id,
                countersigned.as_deref().unwrap_or(pdu),
                "join",
            )
            .await?;
        let (state, auth_chain) = self.rooms().state_for_joiner(room_id, event_id).await?;
        let mut servers: Vec<String> = state
            .iter()
            .filter(|p| {
                p.event_type == TimelineEventType::RoomMember
                    && p.content_value().get("membership").and_then(|m| m.as_str()) == Some("join")
            })
            .filter_map(|p| p.state_key.as_deref())
            .filter_map(|u| UserId::parse(u).ok())
            .map(|u| u.server_name().to_string())
            .collect();
        servers.sort();
        servers.dedup();
        Ok(JoinState {
            state: state
                .iter()
                .map(|p| raw(&p.json))
                .collect::<ApiResult<_>>()?,
            auth_chain: auth_chain
                .iter()
                .map(|p| raw(&p.json))
                .collect::<ApiResult<_>>()?,
            servers_in_room: servers,
            event: countersigned.map(|_| raw(&join.json)).transpose()?,
        })
    }

    /// A join naming a user of this server in `join_authorised_via_users_server`
    /// (a restricted room's join this server's `make_join` built), signed
    /// by this server as the spec wants: once more checked that the user
    /// is in a room granting access and that the named member may let them
    /// in. `None` for any other join, which goes on as it came.
    async fn authorise_restricted_join(
        &self,
        room_id: &RoomId,
        pdu: &RawValue,
    ) -> ApiResult<Option<Box<RawValue>>> {
        let mut object: CanonicalJsonObject = serde_json::from_str(pdu.get())
            .map_err(|e| ApiError::bad_json(format!("the join is not an event: {e}")))?;
        let named = object
            .get("content")
            .and_then(|c| match c {
                ruma::CanonicalJsonValue::Object(c) => c.get("join_authorised_via_users_server"),
                _ => None,
            })
            .and_then(|v| match v {
                ruma::CanonicalJsonValue::String(s) => UserId::parse(s.as_str()).ok(),
                _ => None,
            });
        let joiner = object.get("sender").and_then(|v| match v {
            ruma::CanonicalJsonValue::String(s) => UserId::parse(s.as_str()).ok(),
            _ => None,
        });
        let (Some(named), Some(joiner)) = (named, joiner) else {
            return Ok(None);
        };
        if named.server_name() != self.server_name() {
            return Ok(None);
        }
        let (_, rules) = self
            .room_version(room_id)
            .await?
            .ok_or_else(|| ApiError::not_found("this server is not in that room"))?;
        // The user still qualifies; whether `named` may invite is the
        // room's authorisation rules', checked on receipt.
        self.rooms()
            .restricted_join_authoriser(room_id, &joiner)
            .await?;
        membership_template::countersign(&mut object, self.signer(), &rules)?;
        raw(&object).map(Some)
    }

    /// What every `send_*` shares: `pdu` must be `event_id`, the own
    /// membership `membership` of a user of `origin` (so signed by
    /// `origin`), from a server the room's ACL allows, and pass the checks
    /// on receipt; it is then written and sent on to the room's servers.
    pub(super) async fn send_membership(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
        event_id: &OwnedEventId,
        pdu: &RawValue,
        membership: &str,
    ) -> ApiResult<Pdu> {
        let (version, rules) = self
            .room_version(room_id)
            .await?
            .ok_or_else(|| ApiError::not_found("this server is not in that room"))?;
        self.check_acl(origin, room_id).await?;
        let parsed = incoming::parse(pdu, &version, room_id)
            .map_err(|e| ApiError::bad_json(e.to_string()))?;
        if parsed.event_id() != &**event_id {
            return Err(ApiError::invalid_param(
                "the event ID does not match the event",
            ));
        }
        let event = self.verify_pdu(parsed).await?;
        let is_own = event.event_type == TimelineEventType::RoomMember
            && event.state_key.as_deref() == Some(event.sender.as_str())
            && event
                .content_value()
                .get("membership")
                .and_then(|m| m.as_str())
                == Some(membership);
        if !is_own || event.sender.server_name() != origin {
            return Err(ApiError::invalid_param(format!(
                "not a {membership} of a user of the requesting server"
            )));
        }
        self.check_and_receive(origin, &event, &rules, membership)
            .await?;
        Ok(event)
    }

    /// Joins local `user` to `room_id`: as any local membership change
    /// when a user of this server is in the room, otherwise through another
    /// server (the first of `servers`, or the room ID's, that answers).
    pub async fn join(
        &self,
        room_id: &RoomId,
        user: &UserId,
        servers: &[OwnedServerName],
        reason: Option<&str>,
        body: Option<&serde_json::Value>,
        guest: bool,
    ) -> ApiResult<OwnedEventId> {
        let rooms = self.rooms();
        let federating = self.federation().client().is_ok();
        let known = self.store().room(room_id).await?.is_some();
        // Without federation every room is this server's, resident or not
        // (a room everyone left can still be joined where its rules allow).
        if !federating || (known && rooms.is_resident(room_id).await?) {
            return match rooms.join(room_id, user, reason, body, guest).await {
                // A restricted room no member of this server may let the
                // user into: a server whose members may (Synapse does too).
                Err(ApiError::UnableToGrantJoin(_)) if federating && !guest => {
                    let mut through = servers.to_vec();
                    for server in self.store().room_servers(room_id.as_str()).await? {
                        if let Ok(server) = OwnedServerName::try_from(server) {
                            through.push(server);
                        }
                    }
                    self.join_remote(room_id, user, &through).await
                }
                other => other,
            };
        }
        // An invited user joins through the inviting server first.
        let mut through = Vec::new();
        if let Some(m) = self.store().membership(room_id, user).await?
            && m.membership == ruma::events::room::member::MembershipState::Invite
            && let Ok(id) = <&ruma::EventId>::try_from(m.event_id.as_str())
            && let Some(invite) = self.store().event(id).await?
            && let Ok(inviter) = UserId::parse(&invite.sender)
        {
            through.push(inviter.server_name().to_owned());
        }
        through.extend_from_slice(servers);
        let ours = rooms.server_name();
        let elsewhere = through
            .iter()
            .map(|s| &**s)
            .chain(room_id.server_name())
            .any(|s| s != ours);
        if known && !elsewhere {
            // A room of this server that its users all left: joined here,
            // where its rules allow, as without federation.
            return rooms.join(room_id, user, reason, body, guest).await;
        }
        if guest {
            return Err(ApiError::forbidden(
                "guests may not join rooms of other servers",
            ));
        }
        self.join_remote(room_id, user, &through).await
    }

    /// Joins local `user` to `room_id`, which this server is not in,
    /// through the first of `servers` that answers.
    pub async fn join_remote(
        &self,
        room_id: &RoomId,
        user: &UserId,
        servers: &[OwnedServerName],
    ) -> ApiResult<OwnedEventId> {
        let mut candidates: Vec<OwnedServerName> = servers.to_vec();
        if let Some(server) = room_id.server_name() {
            candidates.push(server.to_owned());
        }
        let ours = self.rooms().server_name().clone();
        candidates.retain(|s| *s != ours);
        candidates.dedup();
        if candidates.is_empty() {
            return Err(ApiError::not_found(
                "room not known here, and no server to join it through",
            ));
        }
        let mut last_error = None;
        for server in &candidates {
            match self.join_through(room_id, user, server).await {
                Ok(id) => return Ok(id),
                Err(e) => {
                    tracing::info!(%room_id, %server, error = %e, "remote join failed");
                    last_error = Some(e);
                }
            }
        }
        Err(last_error.unwrap_or_else(|| ApiError::not_found("room not found")))
    }

    async fn join_through(
        &self,
        room_id: &RoomId,
        user: &UserId,
        server: &ServerName,
    ) -> ApiResult<OwnedEventId> {
        let client = self.federation().client()?;
        // PDUs of the room arriving before its state is written wait.
        let _joining = self.joining(room_id).await;
        // Already in the room (a restricted join only another server may
        // authorise): the join is then one more event of it.
        let resident = self.store().room(room_id).await?.is_some()
            && self.rooms().is_resident(room_id).await?;
        let mut ask = prepare_join_event::v1::Request::new(room_id.to_owned(), user.to_owned());
        ask.ver = room_versions::SUPPORTED_ROOM_VERSIONS.to_vec();
        let made = client.send(server, ask).await?;
        let version = made.room_version.unwrap_or(RoomVersionId::V1);
        let (_, rules) = room_versions::parse(version.as_str())?;
        // The user's display name and avatar, as in a local join (the
        // template carries only the membership).
        let profile = self.rooms().member_content("join", user, None).await?;
        let join = self.sign_made(&made.event, room_id, user, "join", &profile, &rules)?;
        let sent = client
            .send(
                server,
                create_join_event::v2::Request::new(
                    room_id.to_owned(),
                    join.event_id.clone(),
                    raw(&join.json)?,
                ),
            )
            .await?;
        let mut answer = sent.room_state;
        // A restricted room's join, which the authorising member's server
        // signs too: its copy is the join.
        let join = if join
            .content_value()
            .get("join_authorised_via_users_server")
            .is_some()
        {
            let signed = answer.event.take().ok_or_else(|| {
                ApiError::BadGateway(
                    "the restricted join came back without its authorisation".into(),
                )
            })?;
            self.authorised_join(room_id, &version, &join, &signed)
                .await?
        } else {
            join
        };
        if resident {
            let parsed = incoming::parse(&raw(&join.json)?, &version, room_id)
                .map_err(|e| ApiError::Internal(e.to_string()))?;
            self.check_and_write(server, parsed, &rules, 0).await?;
            return Ok(join.event_id);
        }
        self.write_joined_room(room_id, &version, &rules, &join, answer)
            .await?;
        Ok(join.event_id)
    }

    /// The restricted join `sent` as the resident server returned it: the
    /// same event, now carrying the authorising server's signature, which
    /// the checks on receipt require.
    async fn authorised_join(
        &self,
        room_id: &RoomId,
        version: &RoomVersionId,
        sent: &Pdu,
        returned: &RawValue,
    ) -> ApiResult<Pdu> {
        let parsed = incoming::parse(returned, version, room_id)
            .map_err(|e| ApiError::BadGateway(format!("the signed join is unreadable: {e}")))?;
        if parsed.event_id() != &*sent.event_id {
            return Err(ApiError::BadGateway(
                "the resident server returned another join than ours".into(),
            ));
        }
        self.verify_pdu(parsed).await
    }

    /// Verifies what `send_join` answered and writes the room with the
    /// join as its first timeline event.
    async fn write_joined_room(
        &self,
        room_id: &RoomId,
        version: &RoomVersionId,
        rules: &RoomVersionRules,
        join: &Pdu,
        answer: create_join_event::v2::RoomState,
    ) -> ApiResult<()> {
        let mut events: HashMap<OwnedEventId, Pdu> = HashMap::new();
        for raw in answer.auth_chain.iter().chain(&answer.state) {
            let parsed = match incoming::parse(raw, version, room_id) {
                Ok(p) => p,
                Err(e) => {
                    tracing::info!(%room_id, error = %e, "event of a join's state dropped");
                    continue;
                }
            };
            if events.contains_key(parsed.event_id()) {
                continue;
            }
            match self.verify_pdu(parsed).await {
                Ok(pdu) => {
                    events.insert(pdu.event_id.clone(), pdu);
                }
                Err(e) => tracing::info!(%room_id, error = %e, "event of a join's state dropped"),
            }
        }
        // Each event against its own auth events, oldest first: one that
        // fails, or cites one that failed, is left out.
        let mut ordered: Vec<&Pdu> = events.values().collect();
        ordered.sort_by_key(|p| p.depth);
        let mut passed: HashMap<OwnedEventId, Pdu> = HashMap::new();
        let create_id = rules
            .authorization
            .room_create_event_id_as_room_id
            .then(|| OwnedEventId::try_from(format!("${}", room_id.strip_sigil())).ok())
            .flatten();
        for pdu in ordered {
            let auth: Vec<Pdu> = pdu
                .auth_events
                .iter()
                .chain(create_id.as_ref())
                .filter_map(|id| passed.get(id).cloned())
                .collect();
            match incoming::check_auth_events(pdu, rules, &auth) {
                Ok(()) => {
                    passed.insert(pdu.event_id.clone(), pdu.clone());
                }
                Err(e) => {
                    tracing::info!(event_id = %pdu.event_id, error = %e, "join state event fails its auth events")
                }
            }
        }
        // The state before the join: the answer's state events that passed.
        let mut state: BTreeMap<(String, String), &Pdu> = BTreeMap::new();
        for raw in &answer.state {
            let Some(id) = incoming::parse(raw, version, room_id)
                .ok()
                .map(|p| p.event_id().to_owned())
            else {
                continue;
            };
            if let Some(pdu) = passed.get(&id)
                && let Some(key) = &pdu.state_key
            {
                state.insert((pdu.event_type.to_string(), key.clone()), pdu);
            }
        }
        let create = state
            .get(&(StateEventType::RoomCreate.to_string(), String::new()))
            .copied()
            .ok_or_else(|| ApiError::BadGateway("the room's state has no create event".into()))?;
        let auth: Vec<Pdu> = join
            .auth_events
            .iter()
            .chain(create_id.as_ref())
            .filter_map(|id| passed.get(id).cloned())
            .collect();
        incoming::check_auth_events(join, rules, &auth)
            .map_err(|e| ApiError::forbidden(format!("the join is not allowed: {e}")))?;
        incoming::check_state(join, rules, |ty, key| {
            state.get(&(ty.to_string(), key.to_owned())).copied()
        })
        .map_err(|e| ApiError::forbidden(format!("the join is not allowed: {e}")))?;

        let before: Vec<StateEntry> = state.values().map(|p| state_entry(p)).collect();
        let mut after = before.clone();
        after.retain(|e| !(e.event_type == "m.room.member" && e.state_key == join.sender.as_str()));
        after.push(state_entry(join));
        let join_rule = state
            .get(&("m.room.join_rules".to_owned(), String::new()))
            .and_then(|p| {
                p.content_value()
                    .get("join_rule")
                    .and_then(|v| v.as_str())
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| "invite".into());
        let outliers = passed
            .values()
            .map(|p| record_of(p, rules))
            .collect::<ApiResult<Vec<_>>>()?;
        let store = self.store();
        let extremities = store
            .forward_extremities(room_id)
            .await?
            .into_iter()
            .map(|e| e.event_id)
            .collect();
        let mut event = record_of(join, rules)?;
        event.push_actions = Vec::new();
        let outcome = store
            .persist_remote(RemoteWrite {
                room_id: room_id.to_string(),
                new_room: Some(RoomRecord {
                    room_id: room_id.to_string(),
                    room_version: version.to_string(),
                    creator: create.sender.to_string(),
                    published: false,
                    join_rule,
                }),
                outliers,
                event: Some(event),
                state_before: before,
                current_state: after,
                extremities_before: extremities,
                memberships: Vec::new(),
            })
            .await?;
        if let Some(pos) = outcome.stream_ordering {
            self.rooms()
                .announce_remote_member(pos, room_id, &join.sender)
                .await;
        }
        Ok(())
    }

    /// Checks a verified PDU against its auth events and writes it, as a
    /// transaction's PDU is.
    async fn check_and_receive(
        &self,
        origin: &ServerName,
        pdu: &Pdu,
        rules: &RoomVersionRules,
        membership: &str,
    ) -> ApiResult<()> {
        let auth = self.auth_events_of(origin, pdu, rules).await?;
        if let Err(e) = incoming::check_auth_events(pdu, rules, &auth) {
            return Err(ApiError::forbidden(e.to_string()));
        }
        match self.rooms().receive(pdu, rules, Relay::ToRoom).await? {
            Received::Timeline(_) | Received::Known => Ok(()),
            Received::SoftFailed => Err(ApiError::forbidden(format!(
                "the {membership} is not allowed by the room's current state"
            ))),
            Received::Rejected(reason) => Err(ApiError::forbidden(reason)),
            Received::MissingPrevs(_) => Err(ApiError::invalid_param(format!(
                "the {membership}'s prev events are not known here"
            ))),
        }
    }
}

/// Refuses a room of `version` to a server supporting only `supported`
/// (none named: the spec's default, version 1).
pub(super) fn check_supported(
    version: &RoomVersionId,
    supported: &[RoomVersionId],
) -> ApiResult<()> {
    let supported_default = [RoomVersionId::V1];
    let supported = if supported.is_empty() {
        &supported_default[..]
    } else {
        supported
    };
    if supported.contains(version) {
        Ok(())
    } else {
        Err(ApiError::IncompatibleRoomVersion(version.clone()))
    }
}

/// A PDU as raw JSON.
pub(super) fn raw(object: &CanonicalJsonObject) -> ApiResult<Box<RawValue>> {
    serde_json::value::to_raw_value(object).map_err(|e| ApiError::Internal(e.to_string()))
}
