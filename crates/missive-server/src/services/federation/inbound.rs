//! Events other servers send us: transactions (`PUT /send/{txnId}`) and
//! the events a join, an invite or a fetch brings. Each PDU goes through
//! the spec's checks on receipt in order: format and event ID, signatures
//! and content hash ([`missive_core::incoming`], with keys from
//! [`super::keys::ServerKeys`]), the authorization rules against its own
//! auth events (fetched from the sender when unknown), then
//! [`Rooms::receive`] for the state before it and the room's current
//! state. Unknown prev events are fetched with `get_missing_events`.
//!
//! A transaction is answered once per origin and transaction ID: a repeat
//! gets the first answer and changes nothing.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
};

use missive_core::{
    Pdu,
    incoming::{self, Received as Verified, Rejected},
    room_versions,
};
use missive_store::{EventStore, RemoteEventStore, RemoteWrite, SqlStore};
use ruma::{
    EventId, OwnedEventId, OwnedRoomId, RoomId, RoomVersionId, ServerName, TransactionId, UInt,
    api::federation::{
        authorization::get_event_authorization, event::get_missing_events, transactions::edu::Edu,
    },
    room_version_rules::RoomVersionRules,
    serde::{Base64, Raw},
    signatures::PublicKeyMap,
};
use serde_json::value::RawValue;

use super::{Federation, edus::Edus};
use crate::{
    error::{ApiError, ApiResult},
    services::rooms::{Received, Relay, Rooms, record_of, to_pdu},
    time::now_ms,
};

/// The spec's limits on one transaction.
const MAX_PDUS: usize = 50;
const MAX_EDUS: usize = 100;
/// Events asked for at once when prev events are missing.
const MISSING_EVENTS_LIMIT: u32 = 10;
/// How deep a chain of missing prev events is followed from one PDU.
const MAX_FETCH_DEPTH: u8 = 2;

/// The answer to a transaction: each PDU's event ID and outcome.
pub type PduResults = BTreeMap<OwnedEventId, Result<(), String>>;

#[derive(Clone)]
pub struct Inbound {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<SqlStore>,
    federation: Federation,
    rooms: Rooms,
    edus: Edus,
    /// Rooms a local user is joining over federation, each locked until
    /// the room's state from `send_join` is written: a PDU of the room
    /// arriving meanwhile (the resident server relays the join at once)
    /// waits for it rather than being checked against a room we do not
    /// hold yet.
    joining: std::sync::Mutex<HashMap<OwnedRoomId, Arc<tokio::sync::Mutex<()>>>>,
}

/// How long a PDU waits for a join in progress in its room.
const JOIN_WAIT: std::time::Duration = std::time::Duration::from_secs(120);

/// Held while a local user joins a room over federation (see
/// [`Inbound::joining`]); the room is released when dropped.
pub(super) struct JoinInProgress {
    inbound: Inbound,
    room_id: OwnedRoomId,
    _held: tokio::sync::OwnedMutexGuard<()>,
}

impl Drop for JoinInProgress {
    fn drop(&mut self) {
        self.inbound
            .inner
            .joining
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.room_id);
    }
}

impl Inbound {
    pub fn new(store: Arc<SqlStore>, federation: Federation, rooms: Rooms, edus: Edus) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                federation,
                rooms,
                edus,
                joining: std::sync::Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Handles `origin`'s transaction `txn_id` (see the module docs).
    pub async fn transaction(
        &self,
        origin: &ServerName,
        txn_id: &TransactionId,
        pdus: &[Box<RawValue>],
        edus: &[Raw<Edu>],
    ) -> ApiResult<PduResults> {
        let store = &self.inner.store;
        if let Some(answer) = store.inbound_txn(origin.as_str(), txn_id.as_str()).await? {
            return serde_json::from_str(&answer)
                .map_err(|e| ApiError::Internal(format!("stored answer unreadable: {e}")));
        }
        if pdus.len() > MAX_PDUS || edus.len() > MAX_EDUS {
            return Err(ApiError::invalid_param(format!(
                "a transaction carries at most {MAX_PDUS} PDUs and {MAX_EDUS} EDUs"
            )));
        }
        let mut results = PduResults::new();
        for raw in pdus {
            match self.pdu(origin, raw).await {
                Ok((id, outcome)) => {
                    results.insert(id, outcome);
                }
                Err(reason) => {
                    tracing::info!(%origin, %reason, "PDU dropped");
                }
            }
        }
        self.inner.edus.receive(origin, edus).await;
        let answer =
            serde_json::to_string(&results).map_err(|e| ApiError::Internal(e.to_string()))?;
        store
            .record_inbound_txn(origin.as_str(), txn_id.as_str(), &answer, now_ms())
            .await?;
        Ok(results)
    }

    /// One PDU of a transaction: its event ID and outcome, or why it was
    /// dropped before it had an ID (an unknown room, a malformed event).
    async fn pdu(
        &self,
        origin: &ServerName,
        raw: &RawValue,
    ) -> Result<(OwnedEventId, Result<(), String>), String> {
        let room_id =
            incoming::claimed_room_id(raw).ok_or_else(|| "no valid room ID".to_owned())?;
        self.wait_for_join(&room_id).await;
        let (version, rules) = self
            .room_version(&room_id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("room {room_id} is not known here"))?;
        let parsed = incoming::parse(raw, &version, &room_id).map_err(|e| e.to_string())?;
        let id = parsed.event_id().to_owned();
        if let Err(e) = self.check_acl(origin, &room_id).await {
            return Ok((id, Err(e.to_string())));
        }
        let outcome = self
            .check_and_write(origin, parsed, &rules, 0)
            .await
            .map_err(|e| e.to_string());
        Ok((id, outcome))
    }

    /// Marks a federation join into `room_id` as in progress until the
    /// returned guard is dropped (a second join of the same room waits).
    pub(super) async fn joining(&self, room_id: &RoomId) -> JoinInProgress {
        loop {
            let lock = Arc::new(tokio::sync::Mutex::new(()));
            let held = lock
                .clone()
                .try_lock_owned()
                .unwrap_or_else(|_| unreachable!("a new mutex is unlocked"));
            let other = {
                let mut joining = self.inner.joining.lock().unwrap_or_else(|p| p.into_inner());
                match joining.get(room_id) {
                    Some(other) => other.clone(),
                    None => {
                        joining.insert(room_id.to_owned(), lock);
                        return JoinInProgress {
                            inbound: self.clone(),
                            room_id: room_id.to_owned(),
                            _held: held,
                        };
                    }
                }
            };
            drop(other.lock().await);
        }
    }

    /// Waits (bounded) for a join in progress in `room_id`, if any.
    async fn wait_for_join(&self, room_id: &RoomId) {
        let joining = self
            .inner
            .joining
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(room_id)
            .cloned();
        if let Some(lock) = joining {
            let _ = tokio::time::timeout(JOIN_WAIT, lock.lock()).await;
        }
    }

    pub(super) fn store(&self) -> &Arc<SqlStore> {
        &self.inner.store
    }

    /// This server's name.
    pub fn server_name(&self) -> &ServerName {
        self.inner.rooms.server_name()
    }

    pub(super) fn rooms(&self) -> &Rooms {
        &self.inner.rooms
    }

    pub(super) fn federation(&self) -> &Federation {
        &self.inner.federation
    }

    pub(super) fn signer(&self) -> &missive_core::event_builder::Signer {
        self.inner.rooms.signer()
    }

    /// Refuses `origin` when the room's `m.room.server_acl` denies it
    /// (checked on everything another server sends or asks about a room).
    pub(super) async fn check_acl(&self, origin: &ServerName, room_id: &RoomId) -> ApiResult<()> {
        super::acl::check_acl(&self.inner.store, origin, room_id).await
    }

    /// The room's version, if the room is known here.
    pub(super) async fn room_version(
        &self,
        room_id: &RoomId,
    ) -> ApiResult<Option<(RoomVersionId, RoomVersionRules)>> {
        let Some(room) = self.inner.store.room(room_id).await? else {
            return Ok(None);
        };
        Ok(Some(room_versions::parse(&room.room_version)?))
    }

    /// Steps 2 to 6 for a parsed PDU, fetching what it needs from `origin`.
    pub(super) async fn check_and_write(
        &self,
        origin: &ServerName,
        parsed: incoming::Incoming,
        rules: &RoomVersionRules,
        depth: u8,
    ) -> ApiResult<()> {
        let store = &self.inner.store;
        let id = parsed.event_id().to_owned();
        if store.event(&id).await?.is_some() {
            return Ok(());
        }
        if let Some(reason) = self.rejection_of(&id).await? {
            return Err(ApiError::forbidden(reason));
        }
        let pdu = self.verify_pdu(parsed).await?;
        let auth = self.auth_events_of(origin, &pdu, rules).await?;
        // An auth event we could not get is no proof the event is invalid:
        // it is dropped, not kept as rejected (one that was rejected is).
        let missing = self.missing_auth_events(&pdu, rules, &auth).await?;
        if !missing.is_empty() {
            return Err(ApiError::forbidden(format!(
                "auth events of {} unavailable: {missing:?}",
                pdu.event_id
            )));
        }
        if let Err(e) = incoming::check_auth_events(&pdu, rules, &auth) {
            return self.reject(&pdu, &e).await;
        }
        let mut received = self.inner.rooms.receive(&pdu, rules, Relay::No).await?;
        if let Received::MissingPrevs(missing) = &received
            && depth < MAX_FETCH_DEPTH
        {
            tracing::debug!(event_id = %pdu.event_id, ?missing, "fetching missing prev events");
            self.fetch_missing(origin, &pdu, rules, depth).await?;
            received = self.inner.rooms.receive(&pdu, rules, Relay::No).await?;
        }
        match received {
            Received::Timeline(_) | Received::Known | Received::SoftFailed => Ok(()),
            Received::Rejected(reason) => Err(ApiError::forbidden(reason)),
            Received::MissingPrevs(missing) => Err(ApiError::invalid_param(format!(
                "prev events unknown and not fetched: {missing:?}"
            ))),
        }
    }

    /// Why `id` was rejected, if it was.
    async fn rejection_of(&self, id: &EventId) -> ApiResult<Option<String>> {
        let rejected = self.inner.store.rejected_among(&[id.to_string()]).await?;
        Ok((!rejected.is_empty()).then(|| format!("event {id} was rejected")))
    }

    /// Steps 2 and 3: the keys the PDU needs, then its signatures and
    /// content hash (a mismatch keeps it redacted).
    pub(super) async fn verify_pdu(&self, parsed: incoming::Incoming) -> ApiResult<Pdu> {
        let wanted = parsed.required_keys().map_err(refused)?;
        let at = i64::try_from(u64::from(parsed.origin_server_ts().get())).unwrap_or(i64::MAX);
        let mut keys = PublicKeyMap::new();
        for (server, key_ids) in wanted {
            let mut found = BTreeMap::<String, Base64>::new();
            for key_id in key_ids {
                if let Some(key) = self
                    .inner
                    .federation
                    .keys()
                    .public_key(&server, &key_id, at)
                    .await?
                {
                    found.insert(key_id.to_string(), key);
                }
            }
            keys.insert(server.to_string(), found);
        }
        match parsed.verify(&keys).map_err(refused)? {
            Verified::Accepted(pdu) => Ok(pdu),
            Verified::Redacted(pdu) => {
                tracing::info!(event_id = %pdu.event_id, "content hash mismatch: event kept redacted");
                Ok(pdu)
            }
        }
    }

    /// Keeps `pdu` as rejected and answers with why.
    async fn reject(&self, pdu: &Pdu, why: &Rejected) -> ApiResult<()> {
        let reason = why.to_string();
        self.inner
            .store
            .reject_event(
                pdu.room_id.as_str(),
                pdu.event_id.as_str(),
                &pdu.to_json_string(),
                &reason,
            )
            .await?;
        Err(ApiError::forbidden(reason))
    }

    /// The PDU's auth events that are not rejected (and, in room version
    /// 12, the create event), fetched from `origin` when unknown.
    pub(super) async fn auth_events_of(
        &self,
        origin: &ServerName,
        pdu: &Pdu,
        rules: &RoomVersionRules,
    ) -> ApiResult<Vec<Pdu>> {
        let mut ids: Vec<String> = pdu.auth_events.iter().map(ToString::to_string).collect();
        if rules.authorization.room_create_event_id_as_room_id {
            ids.push(format!("${}", pdu.room_id.strip_sigil()));
        }
        let mut found = self.known(&ids).await?;
        if found.len() < ids.len() {
            self.fetch_auth_chain(origin, pdu, rules).await?;
            found = self.known(&ids).await?;
        }
        let rejected = self.inner.store.rejected_among(&ids).await?;
        Ok(found
            .into_iter()
            .filter(|p| !rejected.contains(p.event_id.as_str()))
            .collect())
    }

    /// The auth events of `pdu` that are neither in `auth` nor rejected:
    /// unknown here and not fetched.
    async fn missing_auth_events(
        &self,
        pdu: &Pdu,
        rules: &RoomVersionRules,
        auth: &[Pdu],
    ) -> ApiResult<Vec<String>> {
        let mut ids: Vec<String> = pdu.auth_events.iter().map(ToString::to_string).collect();
        if rules.authorization.room_create_event_id_as_room_id {
            ids.push(format!("${}", pdu.room_id.strip_sigil()));
        }
        let have: std::collections::HashSet<&str> =
            auth.iter().map(|p| p.event_id.as_str()).collect();
        ids.retain(|id| !have.contains(id.as_str()));
        if ids.is_empty() {
            return Ok(ids);
        }
        let rejected = self.inner.store.rejected_among(&ids).await?;
        ids.retain(|id| !rejected.contains(id.as_str()));
        Ok(ids)
    }

    async fn known(&self, ids: &[String]) -> ApiResult<Vec<Pdu>> {
        self.inner
            .store
            .events(ids)
            .await?
            .iter()
            .map(to_pdu)
            .collect()
    }

    /// Fetches `pdu`'s auth chain from `origin` and keeps what passes the
    /// checks as outliers (those failing as rejected), oldest first so
    /// each is checked against events already kept.
    async fn fetch_auth_chain(
        &self,
        origin: &ServerName,
        pdu: &Pdu,
        rules: &RoomVersionRules,
    ) -> ApiResult<()> {
        let answer = self
            .inner
            .federation
            .client()?
            .send(
                origin,
                get_event_authorization::v1::Request::new(
                    pdu.room_id.clone(),
                    pdu.event_id.clone(),
                ),
            )
            .await?;
        self.keep_outliers(&pdu.room_id, &answer.auth_chain, rules)
            .await
    }

    /// Checks `raws` (events of `room_id`) and keeps them as outliers,
    /// oldest first; those failing their auth events are kept as rejected.
    pub async fn keep_outliers(
        &self,
        room_id: &RoomId,
        raws: &[Box<RawValue>],
        rules: &RoomVersionRules,
    ) -> ApiResult<()> {
        let version = self
            .room_version(room_id)
            .await?
            .map(|(v, _)| v)
            .ok_or_else(|| ApiError::not_found("room not known here"))?;
        let mut pdus = Vec::new();
        for raw in raws {
            let parsed = match incoming::parse(raw, &version, room_id) {
                Ok(p) => p,
                Err(e) => {
                    tracing::info!(error = %e, "auth chain event dropped");
                    continue;
                }
            };
            match self.verify_pdu(parsed).await {
                Ok(pdu) => pdus.push(pdu),
                Err(e) => tracing::info!(error = %e, "auth chain event dropped"),
            }
        }
        pdus.sort_by_key(|p| p.depth);
        let mut by_id: std::collections::HashMap<OwnedEventId, Pdu> = self
            .known(
                &pdus
                    .iter()
                    .flat_map(|p| p.auth_events.iter().map(ToString::to_string))
                    .collect::<Vec<_>>(),
            )
            .await?
            .into_iter()
            .map(|p| (p.event_id.clone(), p))
            .collect();
        let mut keep = Vec::new();
        for pdu in pdus {
            let auth: Vec<Pdu> = pdu
                .auth_events
                .iter()
                .chain(
                    rules
                        .authorization
                        .room_create_event_id_as_room_id
                        .then(|| OwnedEventId::try_from(format!("${}", room_id.strip_sigil())).ok())
                        .flatten()
                        .as_ref(),
                )
                .filter_map(|id| by_id.get(id).cloned())
                .collect();
            match incoming::check_auth_events(&pdu, rules, &auth) {
                Ok(()) => {
                    keep.push(record_of(&pdu, rules)?);
                    by_id.insert(pdu.event_id.clone(), pdu);
                }
                Err(e) => {
                    self.reject(&pdu, &e).await.ok();
                }
            }
        }
        if keep.is_empty() {
            return Ok(());
        }
        let extremities = self
            .inner
            .store
            .forward_extremities(room_id)
            .await?
            .into_iter()
            .map(|e| e.event_id)
            .collect();
        self.inner
            .store
            .persist_remote(RemoteWrite {
                room_id: room_id.to_string(),
                outliers: keep,
                extremities_before: extremities,
                ..Default::default()
            })
            .await?;
        Ok(())
    }

    /// Fetches the events between the room's forward extremities and
    /// `pdu` from `origin`, and processes them oldest first.
    async fn fetch_missing(
        &self,
        origin: &ServerName,
        pdu: &Pdu,
        rules: &RoomVersionRules,
        depth: u8,
    ) -> ApiResult<()> {
        let earliest: Vec<OwnedEventId> = self
            .inner
            .store
            .forward_extremities(&pdu.room_id)
            .await?
            .iter()
            .filter_map(|e| OwnedEventId::try_from(e.event_id.as_str()).ok())
            .collect();
        let mut request = get_missing_events::v1::Request::new(
            pdu.room_id.clone(),
            earliest,
            vec![pdu.event_id.clone()],
        );
        request.limit = UInt::from(MISSING_EVENTS_LIMIT);
        let answer = self
            .inner
            .federation
            .client()?
            .send(origin, request)
            .await?;
        let version = self
            .room_version(&pdu.room_id)
            .await?
            .map(|(v, _)| v)
            .ok_or_else(|| ApiError::not_found("room not known here"))?;
        let mut parsed: Vec<incoming::Incoming> = answer
            .events
            .iter()
            .filter_map(|raw| incoming::parse(raw, &version, &pdu.room_id).ok())
            .collect();
        parsed.sort_by_key(|p| p.depth());
        for event in parsed {
            let id = event.event_id().to_owned();
            if let Err(e) = Box::pin(self.check_and_write(origin, event, rules, depth + 1)).await {
                tracing::info!(event_id = %id, error = %e, "missing event not written");
            }
        }
        Ok(())
    }
}

fn refused(e: Rejected) -> ApiError {
    ApiError::forbidden(e.to_string())
}
