//! History visibility: which events a user may read.
//!
//! The rules of the spec's "history visibility" section, as a pure function
//! of what the server knows about the user and the event.

/// A room's `m.room.history_visibility` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryVisibility {
    WorldReadable,
    Shared,
    Invited,
    Joined,
}

impl HistoryVisibility {
    /// Parses the content's `history_visibility`; unknown or missing values
    /// count as `shared`, the spec's default.
    pub fn from_content(content: Option<&serde_json::Value>) -> Self {
        match content.and_then(|c| c.get("history_visibility")).and_then(|v| v.as_str()) {
            Some("world_readable") => Self::WorldReadable,
            Some("invited") => Self::Invited,
            Some("joined") => Self::Joined,
            _ => Self::Shared,
        }
    }
}

/// What the server knows about the user at one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ViewerAtEvent<'a> {
    /// The user's membership in the state at the event (for the user's own
    /// membership event, the membership it sets), if any.
    pub membership_at_event: Option<&'a str>,
    /// Whether the user was joined at some point at or after the event, up
    /// to now (so `shared` history opens to members, and stays open to the
    /// point they left).
    pub joined_since: bool,
}

/// Whether the user may see the event.
pub fn can_see_event(visibility: HistoryVisibility, viewer: ViewerAtEvent<'_>) -> bool {
    match visibility {
        HistoryVisibility::WorldReadable => true,
        _ if viewer.membership_at_event == Some("join") => true,
        HistoryVisibility::Shared => viewer.joined_since,
        HistoryVisibility::Invited => viewer.membership_at_event == Some("invite"),
        HistoryVisibility::Joined => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn viewer(m: Option<&str>, joined_since: bool) -> ViewerAtEvent<'_> {
        ViewerAtEvent { membership_at_event: m, joined_since }
    }

    #[test]
    fn world_readable_is_open_to_everyone() {
        assert!(can_see_event(HistoryVisibility::WorldReadable, viewer(None, false)));
    }

    #[test]
    fn joined_members_see_events_sent_while_joined() {
        for v in [HistoryVisibility::Shared, HistoryVisibility::Invited, HistoryVisibility::Joined] {
            assert!(can_see_event(v, viewer(Some("join"), false)));
        }
    }

    #[test]
    fn shared_history_opens_to_later_members_only() {
        assert!(can_see_event(HistoryVisibility::Shared, viewer(None, true)));
        assert!(!can_see_event(HistoryVisibility::Shared, viewer(None, false)));
        assert!(!can_see_event(HistoryVisibility::Shared, viewer(Some("leave"), false)));
    }

    #[test]
    fn invited_history_starts_at_the_invite() {
        assert!(can_see_event(HistoryVisibility::Invited, viewer(Some("invite"), true)));
        assert!(!can_see_event(HistoryVisibility::Invited, viewer(None, true)));
    }

    #[test]
    fn joined_history_hides_events_before_joining() {
        assert!(!can_see_event(HistoryVisibility::Joined, viewer(Some("invite"), true)));
        assert!(!can_see_event(HistoryVisibility::Joined, viewer(None, true)));
        assert!(!can_see_event(HistoryVisibility::Joined, viewer(Some("leave"), false)));
    }

    #[test]
    fn banned_or_left_users_see_nothing_new() {
        assert!(!can_see_event(HistoryVisibility::Shared, viewer(Some("ban"), false)));
        assert!(!can_see_event(HistoryVisibility::Invited, viewer(Some("leave"), false)));
    }

    #[test]
    fn unknown_settings_default_to_shared() {
        let c = serde_json::json!({"history_visibility": "something"});
        assert_eq!(HistoryVisibility::from_content(Some(&c)), HistoryVisibility::Shared);
        assert_eq!(HistoryVisibility::from_content(None), HistoryVisibility::Shared);
        let c = serde_json::json!({"history_visibility": "joined"});
        assert_eq!(HistoryVisibility::from_content(Some(&c)), HistoryVisibility::Joined);
    }
}
