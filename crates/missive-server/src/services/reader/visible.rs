//! [`Visible`]: a room event the visibility gate let through. The HTTP
//! layer can serve only these, and only services can make one, so no
//! handler can hand a client an event nobody checked.

use std::ops::Deref;

use missive_core::pdu::ClientFields;
use missive_store::StoredEvent;
use ruma::{EventId, serde::Raw};
use serde_json::{Value, json};

use crate::{
    error::{ApiError, ApiResult},
    time::now_ms,
};

/// A stored event its reader may see.
#[derive(Debug, Clone)]
pub struct Visible {
    event: StoredEvent,
    /// The reader's membership at the event, where the gate knew it
    /// (served as `unsigned.membership`).
    membership: Option<&'static str>,
    /// Bundled aggregations (`unsigned["m.relations"]`), where read.
    relations: Option<Value>,
}

/// How events are served (a filter's `event_format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EventFormat {
    /// The client format: the fields clients read.
    #[default]
    Client,
    /// The event as servers exchange it (hashes, signatures, auth and
    /// previous events), with its ID and `unsigned`.
    Federation,
}

impl Visible {
    /// Marks `event` as checked. Only services call this, right after the
    /// check (history visibility, membership, or state at a position the
    /// reader may see).
    pub(in crate::services) fn checked(event: StoredEvent) -> Self {
        Self {
            event,
            membership: None,
            relations: None,
        }
    }

    /// Marks `event` as checked by the history gate, which knew the
    /// reader's membership at it.
    pub(in crate::services) fn gated(event: StoredEvent, membership: &str) -> Self {
        Self {
            event,
            membership: Some(static_membership(membership)),
            relations: None,
        }
    }

    /// Marks each of `events` as checked (see [`Visible::checked`]).
    pub(in crate::services) fn all_checked(events: Vec<StoredEvent>) -> Vec<Self> {
        events.into_iter().map(Self::checked).collect()
    }

    /// The reader's membership at the event, if known.
    pub fn membership(&self) -> Option<&'static str> {
        self.membership
    }

    /// Bundles aggregations of events relating to this one (served as
    /// `unsigned["m.relations"]`).
    pub(in crate::services) fn set_relations(&mut self, relations: Value) {
        self.relations = Some(relations);
    }

    /// The event in the client format.
    pub fn to_client(&self) -> Value {
        self.serve(EventFormat::Client)
    }

    /// The event in the given format, with `unsigned.membership` where known.
    pub fn serve(&self, format: EventFormat) -> Value {
        let mut v = match format {
            EventFormat::Client => serve_event(&self.event),
            EventFormat::Federation => federation_event(&self.event),
        };
        if let Some(object) = v.as_object_mut()
            && (self.membership.is_some() || self.relations.is_some())
        {
            let unsigned = object.entry("unsigned").or_insert_with(|| json!({}));
            if let Some(m) = self.membership {
                unsigned["membership"] = json!(m);
            }
            if let Some(relations) = &self.relations {
                unsigned["m.relations"] = relations.clone();
            }
        }
        v
    }

    /// The event in the client format, as a ruma response field.
    pub fn to_raw<T>(&self) -> ApiResult<Raw<T>> {
        to_raw(&self.to_client())
    }
}

impl Deref for Visible {
    type Target = StoredEvent;

    fn deref(&self) -> &StoredEvent {
        &self.event
    }
}

/// A JSON value as a ruma `Raw` field.
pub fn to_raw<T>(value: &Value) -> ApiResult<Raw<T>> {
    serde_json::value::to_raw_value(value)
        .map(Raw::from_json)
        .map_err(|e| ApiError::Internal(format!("cannot serialise an event: {e}")))
}

/// A stored event in the client format. Services use it for what they
/// serve on their own terms (stripped state of an invite, say); handlers
/// serve [`Visible`] events.
pub(in crate::services) fn serve_event(e: &StoredEvent) -> Value {
    let Ok(fields) = serde_json::from_str::<ClientFields>(&e.json) else {
        return json!({});
    };
    let Ok(id) = EventId::parse(&e.event_id) else {
        return json!({});
    };
    let age = (now_ms() - e.origin_server_ts).max(0);
    fields.into_client(&id, [("age".to_owned(), json!(age))])
}

/// A stored event as servers see it, plus its ID and `unsigned.age` (the
/// `federation` event format of filters, as Synapse serves it).
fn federation_event(e: &StoredEvent) -> Value {
    let Ok(mut v) = serde_json::from_str::<Value>(&e.json) else {
        return json!({});
    };
    let age = (now_ms() - e.origin_server_ts).max(0);
    if let Some(object) = v.as_object_mut() {
        object.insert("event_id".to_owned(), json!(e.event_id));
        let unsigned = object.entry("unsigned").or_insert_with(|| json!({}));
        unsigned["age"] = json!(age);
    }
    v
}

/// The membership names the spec has, as static text (anything else is
/// served as `leave`, as the visibility rules read it).
fn static_membership(m: &str) -> &'static str {
    match m {
        "join" => "join",
        "invite" => "invite",
        "knock" => "knock",
        "ban" => "ban",
        _ => "leave",
    }
}
