//! Writing to rooms: every local event goes through [`Rooms::send`], which
//! builds it on the room's current state, authorises it, and persists it
//! with everything it changes.

mod create;
mod head;
mod membership;
mod own_rooms;
mod push;
mod relation;
mod remote;
mod remote_members;
pub mod upgrade;

use std::{collections::HashMap, sync::Arc};

use missive_core::{
    Pdu,
    event_builder::{self, EventTemplate, RoomContext, Signer, StateEvents},
    room_versions,
};
use missive_store::{
    EventStore, NewEvent, PersistOutcome, RoomRecord, SqlStore, StoreError, StoredEvent, StreamPos,
};
use ruma::{
    CanonicalJsonValue, EventId, MilliSecondsSinceUnixEpoch, OwnedEventId, OwnedRoomId,
    OwnedServerName, RoomId, UserId,
    events::{StateEventType, TimelineEventType},
    room_version_rules::RoomVersionRules,
};

pub use create::CreateRoom;
pub use remote::{Received, Relay, record_of, state_entry};

use crate::{
    error::{ApiError, ApiResult},
    services::{audience, federation::outbound::Outbound, notifier::Notifier},
};

/// How often a send is rebuilt when another writer moved the room first.
const MAX_BUILD_ATTEMPTS: usize = 8;

/// The client transaction a send belongs to (for idempotency).
pub struct Txn<'a> {
    pub device_id: &'a str,
    pub txn_id: &'a str,
}

/// Writes events into rooms. Cheap to clone.
#[derive(Clone)]
pub struct Rooms {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<SqlStore>,
    signer: Signer,
    notifier: Notifier,
    /// Serialises this process's writers per room, so they rarely collide
    /// in the store's compare-and-swap on forward extremities.
    locks: std::sync::Mutex<HashMap<OwnedRoomId, Arc<tokio::sync::Mutex<()>>>>,
    /// Each room's version rules, which never change: every send
    /// needs them, and reading them is one query fewer per message.
    identities: std::sync::Mutex<HashMap<OwnedRoomId, Arc<RoomIdentity>>>,
    /// Each room's forward extremities and looked-up state (see `head`).
    heads: head::Heads,
    /// Members' parsed push rules (see `push::Rulesets`).
    rulesets: push::Rulesets,
    /// The outbound federation queue; `None` when federation is off.
    outbound: Option<Outbound>,
}

/// What a send needs of a room's record: its version's rules, fixed at
/// creation.
struct RoomIdentity {
    rules: RoomVersionRules,
}

/// Converts a stored event to a PDU.
pub fn to_pdu(event: &StoredEvent) -> ApiResult<Pdu> {
    let id = EventId::parse(&event.event_id)
        .map_err(|e| ApiError::Internal(format!("stored event ID invalid: {e}")))?;
    Pdu::from_json(id, &event.json).map_err(|e| ApiError::Internal(e.to_string()))
}

impl Rooms {
    pub fn new(
        store: Arc<SqlStore>,
        signer: Signer,
        notifier: Notifier,
        outbound: Option<Outbound>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                signer,
                notifier,
                outbound,
                locks: Default::default(),
                identities: Default::default(),
                heads: Default::default(),
                rulesets: Default::default(),
            }),
        }
    }

    pub fn server_name(&self) -> &OwnedServerName {
        &self.inner.signer.server_name
    }

    pub fn store(&self) -> &Arc<SqlStore> {
        &self.inner.store
    }

    /// This server's signing identity (federation signs joins with it).
    pub fn signer(&self) -> &Signer {
        &self.inner.signer
    }

    pub fn notifier(&self) -> &Notifier {
        &self.inner.notifier
    }

    fn room_lock(&self, room_id: &RoomId) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.inner.locks.lock().unwrap_or_else(|p| p.into_inner());
        if locks.len() > 10_000 {
            locks.retain(|_, l| Arc::strong_count(l) > 1);
        }
        locks.entry(room_id.to_owned()).or_default().clone()
    }

    /// The room's record and version rules; `M_NOT_FOUND` if unknown here.
    pub async fn room(&self, room_id: &RoomId) -> ApiResult<(RoomRecord, RoomVersionRules)> {
        let room = self
            .inner
            .store
            .room(room_id)
            .await?
            .ok_or_else(|| ApiError::not_found("room not found"))?;
        let (_, rules) = room_versions::parse(&room.room_version)?;
        Ok((room, rules))
    }

    /// The room's fixed identity (version rules), cached.
    async fn identity(&self, room_id: &RoomId) -> ApiResult<Arc<RoomIdentity>> {
        let cached = self
            .inner
            .identities
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(room_id)
            .cloned();
        if let Some(identity) = cached {
            return Ok(identity);
        }
        let (_, rules) = self.room(room_id).await?;
        let identity = Arc::new(RoomIdentity { rules });
        let mut identities = self
            .inner
            .identities
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        // A bound, not an eviction policy: the next sends simply re-read.
        if identities.len() > 10_000 {
            identities.clear();
        }
        identities.insert(room_id.to_owned(), identity.clone());
        Ok(identity)
    }

    /// Builds, authorises and persists an event from `sender`, retrying
    /// when another writer changed the room meanwhile. A repeated
    /// transaction answers with its first event.
    pub async fn send(
        &self,
        room_id: &RoomId,
        sender: &UserId,
        template: EventTemplate,
        txn: Option<Txn<'_>>,
    ) -> ApiResult<OwnedEventId> {
        let sent = self
            .build_and_persist(room_id, sender, template, &txn)
            .await;
        // The writer finds a repeat of a transaction that would be sent
        // again; one that would now be refused (the sender left the room,
        // say) is looked up only then, which spares every send a read.
        if sent.is_err()
            && let Some(txn) = &txn
            && let Some(id) = self
                .inner
                .store
                .txn_event(sender, txn.device_id.into(), txn.txn_id)
                .await?
        {
            return EventId::parse(id).map_err(|e| ApiError::Internal(e.to_string()));
        }
        sent
    }

    async fn build_and_persist(
        &self,
        room_id: &RoomId,
        sender: &UserId,
        template: EventTemplate,
        txn: &Option<Txn<'_>>,
    ) -> ApiResult<OwnedEventId> {
        let store = &self.inner.store;
        if template.event_type == TimelineEventType::RoomCanonicalAlias {
            self.check_canonical_alias(room_id, &template.content)
                .await?;
        }
        // A redaction's target, looked up in this room: the builder checks
        // the sender may redact it, whichever endpoint the redaction came by.
        let target = match template.redaction_target()? {
            Some(id) => Some(self.redaction_target(room_id, &id).await?),
            None => None,
        };
        let lock = self.room_lock(room_id);
        let _guard = lock.lock().await;
        // Under the room's lock: two identical reactions sent at once must
        // not both find the other absent.
        self.check_relation(room_id, sender, &template.event_type, &template.content)
            .await?;
        for _ in 0..MAX_BUILD_ATTEMPTS {
            let identity = self.identity(room_id).await?;
            let rules = &identity.rules;
            let wanted = event_builder::required_state(&template, sender, rules)?;
            let head = self.head(room_id, &wanted).await?;
            let state: StateEvents = wanted
                .iter()
                .filter_map(|key| {
                    let pdu = head.state.get(key).cloned().flatten()?;
                    Some((key.clone(), pdu))
                })
                .collect();
            if let Some(current) = unchanged_state(&template, sender, &state) {
                return Ok(current);
            }
            let prev = head.prev.as_slice();
            let ctx = RoomContext {
                room_id: Some(room_id),
                rules,
                prev_events: prev,
                state: &state,
                redaction_target: target.as_ref().map(|(pdu, _)| pdu),
            };
            let pdu = event_builder::build_event(
                template.clone(),
                sender,
                &ctx,
                &self.inner.signer,
                MilliSecondsSinceUnixEpoch::now(),
            )?;
            let mut new = new_event(&pdu, rules, target.as_ref().map(|(_, stored)| stored))?;
            new.txn = txn.as_ref().map(|t| {
                (
                    sender.to_string(),
                    t.device_id.to_owned(),
                    t.txn_id.to_owned(),
                )
            });
            let recipients =
                push::recipients(store, &self.inner.rulesets, &pdu, &state, rules).await?;
            new.push_actions = recipients.actions;
            let notified = recipients.with_pushers;
            new.federation_destinations = self.destinations(&pdu, recipients.members).await?;
            let destinations = new.federation_destinations.clone();
            match store.persist_event(new).await {
                Ok(PersistOutcome::Persisted { stream_ordering }) => {
                    self.inner.heads.advance(&pdu);
                    if let Some(outbound) = &self.inner.outbound {
                        outbound.wake(&destinations);
                    }
                    if !notified.is_empty() {
                        self.inner
                            .notifier
                            .notify_pushes(notified.iter().map(String::as_str));
                    }
                    let target = pdu
                        .state_key
                        .as_deref()
                        .filter(|_| pdu.event_type == TimelineEventType::RoomMember);
                    self.announce(stream_ordering, room_id.as_str(), target.as_slice())
                        .await;
                    return Ok(pdu.event_id);
                }
                Ok(PersistOutcome::DuplicateTxn { event_id }) => {
                    return EventId::parse(event_id).map_err(|e| ApiError::Internal(e.to_string()));
                }
                Err(StoreError::RoomChanged(_)) => {
                    self.inner.heads.forget(room_id);
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(ApiError::Internal(format!(
            "room {room_id} kept changing; event not sent"
        )))
    }

    /// The servers a local event is sent to (nothing when federation is
    /// off): those of the room's joined members, from `members` when the
    /// push evaluation read them (it does for every message), and for a
    /// membership event its target's. Cheap for a room with no remote
    /// member: no query, one pass over the members.
    async fn destinations(
        &self,
        pdu: &Pdu,
        members: Option<Arc<[missive_store::PushTarget]>>,
    ) -> ApiResult<Vec<String>> {
        let Some(outbound) = &self.inner.outbound else {
            return Ok(Vec::new());
        };
        let members = match members {
            Some(members) => members,
            None => {
                use missive_store::PushTargetStore;
                self.inner.store.push_targets(pdu.room_id.as_str()).await?
            }
        };
        // A kicked, banned or leaving member's server learns of it even
        // when nobody else of it is in the room; an invitee's server gets
        // its invite through `/invite` instead (not being in the room, it
        // could not check an invite sent in a transaction).
        let target = pdu
            .state_key
            .as_deref()
            .filter(|_| pdu.event_type == TimelineEventType::RoomMember)
            .filter(|_| pdu.content_value()["membership"] != "invite");
        Ok(outbound.destinations_of_members(members.iter().map(|m| m.user_id.as_str()), target))
    }

    /// Whether `sender` could send `template` in the room now: the event is
    /// built and authorised on the current state, and not written (a room
    /// upgrade checks its tombstone before creating the new room).
    pub async fn check_may_send(
        &self,
        room_id: &RoomId,
        sender: &UserId,
        template: &EventTemplate,
    ) -> ApiResult<()> {
        self.build_unsent(room_id, sender, template.clone())
            .await
            .map(|_| ())
    }

    /// The event `sender` would send now: built on the room's current
    /// state and authorised there, signed, not written (for a check, or
    /// for an event another server must see first: an invite, a join).
    pub async fn build_unsent(
        &self,
        room_id: &RoomId,
        sender: &UserId,
        template: EventTemplate,
    ) -> ApiResult<Pdu> {
        let identity = self.identity(room_id).await?;
        let rules = &identity.rules;
        let wanted = event_builder::required_state(&template, sender, rules)?;
        let head = self.head(room_id, &wanted).await?;
        let state: StateEvents = wanted
            .iter()
            .filter_map(|key| Some((key.clone(), head.state.get(key).cloned().flatten()?)))
            .collect();
        let ctx = RoomContext {
            room_id: Some(room_id),
            rules,
            prev_events: head.prev.as_slice(),
            state: &state,
            redaction_target: None,
        };
        Ok(event_builder::build_event(
            template,
            sender,
            &ctx,
            &self.inner.signer,
            MilliSecondsSinceUnixEpoch::now(),
        )?)
    }

    /// The room's forward extremities and the `wanted` current state
    /// entries, from the cached head where it has them (one query for the
    /// extremities, one for the missing state entries, otherwise).
    async fn head(
        &self,
        room_id: &RoomId,
        wanted: &[(StateEventType, String)],
    ) -> ApiResult<head::Head> {
        let store = &self.inner.store;
        let cached = self.inner.heads.get(room_id);
        let from_cache = cached.is_some();
        let mut head = match cached {
            Some(head) => head,
            None => head::Head {
                prev: Arc::new(
                    store
                        .forward_extremities(room_id)
                        .await?
                        .iter()
                        .map(to_pdu)
                        .collect::<ApiResult<_>>()?,
                ),
                state: HashMap::new(),
            },
        };
        let missing: Vec<(String, String)> = wanted
            .iter()
            .filter(|key| !head.state.contains_key(*key))
            .map(|(ty, key)| (ty.to_string(), key.clone()))
            .collect();
        let complete = missing.is_empty();
        if !complete {
            let found = store.current_state_events_for(room_id, &missing).await?;
            for (ty, key) in missing {
                let pdu = found
                    .iter()
                    .find(|ev| ev.event_type == ty && ev.state_key.as_deref() == Some(&key))
                    .map(to_pdu)
                    .transpose()?;
                head.state.insert((ty.as_str().into(), key), pdu);
            }
        }
        // A head served whole from the cache has nothing new to keep.
        if !(from_cache && complete) {
            self.inner.heads.put(room_id, head.clone());
        }
        Ok(head)
    }

    /// The event `id` as the target of a redaction in `room_id`, as a PDU
    /// (for the builder's checks) and as stored (to write its redacted
    /// form); `M_NOT_FOUND` if unknown, 400 if of another room (as Synapse).
    async fn redaction_target(
        &self,
        room_id: &RoomId,
        id: &EventId,
    ) -> ApiResult<(Pdu, StoredEvent)> {
        let stored = self
            .inner
            .store
            .event(id)
            .await?
            .ok_or_else(|| ApiError::not_found("event to redact not found"))?;
        if stored.room_id != room_id.as_str() {
            return Err(ApiError::invalid_param(
                "cannot redact an event of another room",
            ));
        }
        Ok((to_pdu(&stored)?, stored))
    }

    /// A canonical alias must be a local alias of this room.
    async fn check_canonical_alias(
        &self,
        room_id: &RoomId,
        content: &serde_json::Value,
    ) -> ApiResult<()> {
        use missive_store::DirectoryStore;
        let mut aliases: Vec<&str> = content
            .get("alias")
            .and_then(serde_json::Value::as_str)
            .into_iter()
            .collect();
        if let Some(alts) = content
            .get("alt_aliases")
            .and_then(serde_json::Value::as_array)
        {
            aliases.extend(alts.iter().filter_map(serde_json::Value::as_str));
        }
        for alias in aliases {
            let parsed = ruma::RoomAliasId::parse(alias)
                .map_err(|_| ApiError::InvalidParam(format!("{alias} is not a room alias")))?;
            if parsed.server_name() == *self.server_name() {
                let target = self.inner.store.alias(&parsed).await?;
                if target.is_none_or(|(r, _)| r != room_id.as_str()) {
                    return Err(ApiError::BadAlias(format!(
                        "{alias} does not point to this room"
                    )));
                }
            }
        }
        Ok(())
    }

    /// Tells every waiting sync about a stream position (for writes made
    /// outside this service whose audience is unknown).
    pub fn notify(&self, pos: StreamPos) {
        self.inner.notifier.notify(pos);
    }

    /// Tells the syncs of `users` about a write at `pos` that concerns
    /// them alone (their account data, push rules).
    pub fn notify_users(&self, pos: StreamPos, users: &[&str]) {
        self.inner.notifier.notify_users(pos, users.iter().copied());
    }

    /// Tells the room's members about a write at `pos` in it (typing,
    /// receipts).
    pub async fn notify_room(&self, pos: StreamPos, room_id: &str) {
        self.announce(pos, room_id, &[]).await;
    }

    /// Announces a committed write in a room to whom it concerns (see
    /// [`audience::announce_in_room`]).
    pub(crate) async fn announce(&self, pos: StreamPos, room_id: &str, targets: &[&str]) {
        audience::announce_in_room(
            &self.inner.store,
            &self.inner.notifier,
            pos,
            room_id,
            targets,
        )
        .await;
    }
}

/// The current state event `template` would replace, when it is the same
/// (same sender, same content): sending it again changes nothing, so no
/// event is made and the existing one answers, as Synapse does (a client
/// re-sending its state, or joining a room it is in, gets the same ID).
fn unchanged_state(
    template: &EventTemplate,
    sender: &UserId,
    state: &StateEvents,
) -> Option<OwnedEventId> {
    let key = template.state_key.as_ref()?;
    let current = state.get(&(template.event_type.to_string().into(), key.clone()))?;
    let same_content = serde_json::from_str::<serde_json::Value>(current.content.get())
        .is_ok_and(|content| content == template.content);
    (current.sender == sender && same_content).then(|| current.event_id.clone())
}

/// The JSON a redacted event is served as: the room version's redaction
/// algorithm, with `unsigned.redacted_because` pointing at the redaction.
fn redacted_json(
    target: &StoredEvent,
    redaction: &Pdu,
    rules: &RoomVersionRules,
) -> ApiResult<String> {
    let object: ruma::CanonicalJsonObject = serde_json::from_str(&target.json)
        .map_err(|e| ApiError::Internal(format!("stored event unreadable: {e}")))?;
    let mut redacted = ruma::canonical_json::redact(object, &rules.redaction, None)
        .map_err(|e| ApiError::Internal(format!("redaction failed: {e}")))?;
    let because = serde_json::to_value(redaction.to_client_event(None))
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let because: CanonicalJsonValue =
        serde_json::from_value(because).map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut unsigned = ruma::CanonicalJsonObject::new();
    unsigned.insert("redacted_because".into(), because);
    redacted.insert("unsigned".into(), CanonicalJsonValue::Object(unsigned));
    serde_json::to_string(&redacted).map_err(|e| ApiError::Internal(e.to_string()))
}

/// The store record for a built PDU (without txn or push actions).
fn new_event(
    pdu: &Pdu,
    rules: &RoomVersionRules,
    redacted: Option<&StoredEvent>,
) -> ApiResult<NewEvent> {
    let content = pdu.content_value();
    // Columns derived from content never hold NUL (see `api::nul_guard`):
    // such a value is left out, the event itself keeps it.
    let text = |field: &str| {
        content
            .get(field)
            .and_then(|v| v.as_str())
            .filter(|v| !v.contains('\0'))
            .map(str::to_owned)
    };
    let membership = (pdu.event_type == TimelineEventType::RoomMember)
        .then(|| text("membership"))
        .flatten();
    let join_rule = (pdu.event_type == TimelineEventType::RoomJoinRules)
        .then(|| text("join_rule"))
        .flatten();
    let redaction = match redacted {
        Some(target) => Some((target.event_id.clone(), redacted_json(target, pdu, rules)?)),
        None => None,
    };
    let event_type = pdu.event_type.to_string();
    let search_terms = missive_core::search::searchable_text(&event_type, &content)
        .and_then(missive_core::search::index_terms);
    Ok(NewEvent {
        event_id: pdu.event_id.to_string(),
        room_id: pdu.room_id.to_string(),
        sender: pdu.sender.to_string(),
        event_type,
        state_key: pdu.state_key.clone(),
        membership,
        join_rule,
        depth: u64::from(pdu.depth) as i64,
        origin_server_ts: u64::from(pdu.origin_server_ts.get()) as i64,
        json: pdu.to_json_string(),
        prev_events: pdu.prev_events.iter().map(|e| e.to_string()).collect(),
        create_room: None,
        redaction,
        txn: None,
        push_actions: Vec::new(),
        search_terms,
        relation: relation::relation_of(&content),
        // Set by the sender of a local event; a remote one is not sent on.
        federation_destinations: Vec::new(),
    })
}
