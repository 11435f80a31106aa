//! [`Visible`]: a room event the visibility gate let through. The HTTP
//! layer can serve only these, and only services can make one, so no
//! handler can hand a client an event nobody checked.

use std::ops::Deref;

use missive_core::pdu::client_event;
use missive_store::StoredEvent;
use ruma::{EventId, serde::Raw};
use serde_json::{Value, json};

use crate::{
    error::{ApiError, ApiResult},
    time::now_ms,
};

/// A stored event its reader may see.
#[derive(Debug, Clone)]
pub struct Visible(StoredEvent);

impl Visible {
    /// Marks `event` as checked. Only services call this, right after the
    /// check (history visibility, membership, or state at a position the
    /// reader may see).
    pub(in crate::services) fn checked(event: StoredEvent) -> Self {
        Self(event)
    }

    /// Marks each of `events` as checked (see [`Visible::checked`]).
    pub(in crate::services) fn all_checked(events: Vec<StoredEvent>) -> Vec<Self> {
        events.into_iter().map(Self).collect()
    }

    /// The event in the client format.
    pub fn to_client(&self) -> Value {
        serve_event(&self.0)
    }

    /// The event in the client format, as a ruma response field.
    pub fn to_raw<T>(&self) -> ApiResult<Raw<T>> {
        to_raw(&self.to_client())
    }
}

impl Deref for Visible {
    type Target = StoredEvent;

    fn deref(&self) -> &StoredEvent {
        &self.0
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
    let Ok(object) = serde_json::from_str::<ruma::CanonicalJsonObject>(&e.json) else {
        return json!({});
    };
    let Ok(id) = EventId::parse(&e.event_id) else {
        return json!({});
    };
    let age = (now_ms() - e.origin_server_ts).max(0);
    client_event(&id, &object, Some(json!({ "age": age })))
}
