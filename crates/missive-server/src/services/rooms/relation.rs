//! Relations of sent events: what an event's content declares (indexed by
//! the store with the event), and the checks Synapse makes before sending
//! one.

use missive_store::{EventStore, NewRelation};
use ruma::{EventId, RoomId};
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

impl Rooms {
    /// As Synapse: a relation may not point into another room, and a
    /// thread may not start from an event that itself relates to another
    /// (a reply in a thread, an edit). An unknown parent is let through.
    pub(super) async fn check_relation(&self, room_id: &RoomId, content: &Value) -> ApiResult<()> {
        let Some(relation) = relation_of(content) else {
            return Ok(());
        };
        let Ok(parent_id) = EventId::parse(&relation.relates_to) else {
            return Ok(());
        };
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
