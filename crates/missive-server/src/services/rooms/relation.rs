//! Relations of sent events: what an event's content declares (indexed by
//! the store with the event), and the checks Synapse makes before sending
//! one.

use missive_store::{EventStore, NewRelation, RelationStore};
use ruma::{EventId, RoomId, UserId, events::TimelineEventType};
use serde_json::Value;

use super::Rooms;
use crate::error::{ApiError, ApiResult};

/// The relation `content["m.relates_to"]` declares: a `rel_type` and a
/// valid event ID (a reply's `m.in_reply_to` alone is none, as in Synapse).
/// Text with NUL is left out, as every column derived from content.
pub(super) fn relation_of(content: &Value) -> Option<NewRelation> {
    let relates_to = content.get("m.relates_to")?;
    let rel_type = relates_to.get("rel_type")?.as_str()?;
    let parent = relates_to.get("event_id")?.as_str()?;
    if rel_type.is_empty() || rel_type.contains('\0') || EventId::parse(parent).is_err() {
        return None;
    }
    Some(NewRelation {
        relates_to: parent.to_owned(),
        rel_type: rel_type.to_owned(),
    })
}

/// Synapse's bound on a reaction's key.
const MAX_ANNOTATION_KEY_BYTES: usize = 500;

impl Rooms {
    /// As Synapse: a reaction needs a key of bounded length and may not be
    /// sent twice (same sender, type, target and key; a redacted one no
    /// longer counts); a relation may not point into another room, and a
    /// thread may not start from an event that itself relates to another
    /// (a reply in a thread, an edit). An unknown parent is let through.
    pub(super) async fn check_relation(
        &self,
        room_id: &RoomId,
        sender: &UserId,
        event_type: &TimelineEventType,
        content: &Value,
    ) -> ApiResult<()> {
        let Some(relation) = relation_of(content) else {
            return Ok(());
        };
        let Ok(parent_id) = EventId::parse(&relation.relates_to) else {
            return Ok(());
        };
        if relation.rel_type == "m.annotation" {
            self.check_annotation(&parent_id, sender, event_type, content)
                .await?;
        }
        let Some(parent) = self.inner.store.event(&parent_id).await? else {
            return Ok(());
        };
        if parent.room_id != room_id.as_str() {
            return Err(ApiError::invalid_param(
                "an event cannot relate to an event of another room",
            ));
        }
        if relation.rel_type == "m.thread" {
            let parent_relation = serde_json::from_str::<Value>(&parent.json)
                .ok()
                .and_then(|v| relation_of(&v["content"]));
            if parent_relation.is_some() {
                return Err(ApiError::invalid_param(
                    "cannot start a thread from an event with a relation",
                ));
            }
        }
        Ok(())
    }
}

impl Rooms {
    async fn check_annotation(
        &self,
        parent: &EventId,
        sender: &UserId,
        event_type: &TimelineEventType,
        content: &Value,
    ) -> ApiResult<()> {
        let key = match content["m.relates_to"].get("key").and_then(Value::as_str) {
            Some(key) if !key.is_empty() => key,
            _ => return Err(ApiError::bad_json("a reaction needs a key")),
        };
        if key.len() > MAX_ANNOTATION_KEY_BYTES {
            return Err(ApiError::bad_json("the reaction's key is too long"));
        }
        let earlier = self
            .inner
            .store
            .relations_by_sender(parent, sender, "m.annotation")
            .await?;
        let repeated = earlier.iter().any(|e| {
            e.event_type == event_type.to_string()
                && serde_json::from_str::<Value>(&e.json)
                    .is_ok_and(|v| v["content"]["m.relates_to"]["key"] == key)
        });
        if repeated {
            return Err(ApiError::DuplicateAnnotation);
        }
        Ok(())
    }
}
