//! Ignored users (`m.ignored_user_list`): the spec says their messages and
//! invites are not delivered to the user who ignores them. State events
//! are still served (the room's state must stay whole), as Synapse does.

use std::collections::HashSet;

use missive_store::{AccountDataStore, StoredEvent};
use ruma::UserId;

use super::Reader;
use crate::error::ApiResult;

/// The account data type of the ignore list.
pub const IGNORED_USER_LIST: &str = "m.ignored_user_list";

/// The users someone ignores.
#[derive(Debug, Clone, Default)]
pub struct Ignored(HashSet<String>);

impl Ignored {
    /// From the account data's content (`{"ignored_users": {id: {}}}`).
    pub fn from_content(content: &str) -> Self {
        let users = serde_json::from_str::<serde_json::Value>(content)
            .ok()
            .and_then(|v| {
                v.get("ignored_users")?
                    .as_object()
                    .map(|o| o.keys().cloned().collect())
            })
            .unwrap_or_default();
        Self(users)
    }

    /// Whether the event is kept from the user: a non-state event sent by
    /// someone they ignore.
    pub fn hides(&self, event: &StoredEvent) -> bool {
        event.state_key.is_none() && self.0.contains(&event.sender)
    }

    /// Whether the user ignores `sender` (their invites are dropped).
    pub fn ignores(&self, sender: &str) -> bool {
        self.0.contains(sender)
    }
}

impl Reader {
    /// Whom `user` ignores.
    pub async fn ignored(&self, user: &UserId) -> ApiResult<Ignored> {
        Ok(self
            .store
            .account_data(user, None, IGNORED_USER_LIST)
            .await?
            .map(|c| Ignored::from_content(&c))
            .unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignored_senders_lose_messages_not_state() {
        let ignored = Ignored::from_content(r#"{"ignored_users": {"@spam:x": {}}}"#);
        let mut e = StoredEvent {
            stream_ordering: missive_store::StreamPos::new(1),
            event_id: "$1".into(),
            room_id: "!r:x".into(),
            sender: "@spam:x".into(),
            event_type: "m.room.message".into(),
            state_key: None,
            membership: None,
            depth: 1,
            origin_server_ts: 0,
            state_group: 0,
            json: "{}".into(),
            redacted_by: None,
        };
        assert!(ignored.hides(&e));
        e.state_key = Some(String::new());
        assert!(!ignored.hides(&e));
        assert!(!Ignored::from_content("not json").ignores("@spam:x"));
    }
}
