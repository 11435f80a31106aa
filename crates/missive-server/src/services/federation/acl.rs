//! Room server ACLs (`m.room.server_acl`): whether another server may
//! take part in a room, checked on everything it sends or asks about the
//! room (PDUs, EDUs, joins, invites, queries).

use missive_store::{EventStore, SqlStore};
use ruma::{RoomId, ServerName, events::room::server_acl::RoomServerAclEventContent};

use crate::error::{ApiError, ApiResult};

/// Refuses `origin` when the room's current server ACL denies it.
pub(super) async fn check_acl(
    store: &SqlStore,
    origin: &ServerName,
    room_id: &RoomId,
) -> ApiResult<()> {
    let Some(acl) = store
        .current_state_event(room_id, "m.room.server_acl", "")
        .await?
    else {
        return Ok(());
    };
    let content = serde_json::from_str::<serde_json::Value>(&acl.json)
        .ok()
        .and_then(|v| v.get("content").cloned())
        .and_then(|c| serde_json::from_value::<RoomServerAclEventContent>(c).ok());
    match content {
        Some(acl) if !acl.is_allowed(origin) => Err(ApiError::forbidden(
            "your server is denied by the room's server ACL",
        )),
        _ => Ok(()),
    }
}
