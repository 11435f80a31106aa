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
        match content
            .and_then(|c| c.get("history_visibility"))
            .and_then(|v| v.as_str())
        {
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

/// The more "joined" of two memberships (join > invite > knock > leave > ban).
fn most_joined<'a>(a: &'a str, b: Option<&'a str>) -> &'a str {
    const PRIORITY: [&str; 5] = ["join", "invite", "knock", "leave", "ban"];
    let rank = |m: &str| PRIORITY.iter().position(|p| *p == m).unwrap_or(3);
    match b {
        Some(b) if rank(b) < rank(a) => b,
        _ => a,
    }
}

/// A user's membership history and the room's visibility history, as
/// (stream position, value) pairs in order: enough to decide visibility for
/// any batch of events without further lookups.
#[derive(Debug, Clone, Default)]
pub struct RoomHistory {
    pub memberships: Vec<(i64, String)>,
    pub visibility: Vec<(i64, HistoryVisibility)>,
}

impl RoomHistory {
    /// Whether the user may see the event at stream position `pos`.
    pub fn can_see(&self, pos: i64) -> bool {
        let before = self
            .memberships
            .iter()
            .rev()
            .find(|(p, _)| *p < pos)
            .map(|(_, m)| m.as_str());
        // For the user's own membership event, use the "most joined" of the
        // memberships before and after it, and always show a leave that
        // ends a join or an invite, so the room visibly goes away.
        let own = self
            .memberships
            .iter()
            .find(|(p, _)| *p == pos)
            .map(|(_, m)| m.as_str());
        let membership_at_event = match own {
            Some("leave") if matches!(before, Some("join" | "invite")) => return true,
            Some(own) => Some(most_joined(own, before)),
            None => before,
        };
        // The visibility in the state before the event.
        let visibility = self
            .visibility
            .iter()
            .rev()
            .find(|(p, _)| *p < pos)
            .map_or(HistoryVisibility::Shared, |(_, v)| *v);
        let joined_since = self
            .memberships
            .iter()
            .any(|(p, m)| *p >= pos && m == "join");
        can_see_event(
            visibility,
            ViewerAtEvent {
                membership_at_event,
                joined_since,
            },
        )
    }

    /// The user's membership at the event at stream position `pos`, as
    /// served in its `unsigned.membership` (spec v1.11): their membership
    /// in the state before it, or the one their own membership event there
    /// gives them; `leave` when they had none.
    pub fn membership_at(&self, pos: i64) -> &str {
        self.memberships
            .iter()
            .rev()
            .find(|(p, _)| *p <= pos)
            .map_or("leave", |(_, m)| m.as_str())
    }

    /// The user's current membership, if any.
    pub fn current_membership(&self) -> Option<&str> {
        self.memberships.last().map(|(_, m)| m.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn viewer(m: Option<&str>, joined_since: bool) -> ViewerAtEvent<'_> {
        ViewerAtEvent {
            membership_at_event: m,
            joined_since,
        }
    }

    #[test]
    fn membership_at_an_event_counts_the_users_own_event() {
        let history = RoomHistory {
            memberships: vec![
                (5, "invite".into()),
                (8, "join".into()),
                (12, "leave".into()),
            ],
            visibility: Vec::new(),
        };
        assert_eq!(history.membership_at(3), "leave");
        assert_eq!(history.membership_at(5), "invite");
        assert_eq!(history.membership_at(7), "invite");
        assert_eq!(history.membership_at(8), "join");
        assert_eq!(history.membership_at(11), "join");
        assert_eq!(history.membership_at(12), "leave");
    }

    #[test]
    fn world_readable_is_open_to_everyone() {
        assert!(can_see_event(
            HistoryVisibility::WorldReadable,
            viewer(None, false)
        ));
    }

    #[test]
    fn joined_members_see_events_sent_while_joined() {
        for v in [
            HistoryVisibility::Shared,
            HistoryVisibility::Invited,
            HistoryVisibility::Joined,
        ] {
            assert!(can_see_event(v, viewer(Some("join"), false)));
        }
    }

    #[test]
    fn shared_history_opens_to_later_members_only() {
        assert!(can_see_event(HistoryVisibility::Shared, viewer(None, true)));
        assert!(!can_see_event(
            HistoryVisibility::Shared,
            viewer(None, false)
        ));
        assert!(!can_see_event(
            HistoryVisibility::Shared,
            viewer(Some("leave"), false)
        ));
    }

    #[test]
    fn invited_history_starts_at_the_invite() {
        assert!(can_see_event(
            HistoryVisibility::Invited,
            viewer(Some("invite"), true)
        ));
        assert!(!can_see_event(
            HistoryVisibility::Invited,
            viewer(None, true)
        ));
    }

    #[test]
    fn joined_history_hides_events_before_joining() {
        assert!(!can_see_event(
            HistoryVisibility::Joined,
            viewer(Some("invite"), true)
        ));
        assert!(!can_see_event(
            HistoryVisibility::Joined,
            viewer(None, true)
        ));
        assert!(!can_see_event(
            HistoryVisibility::Joined,
            viewer(Some("leave"), false)
        ));
    }

    #[test]
    fn banned_or_left_users_see_nothing_new() {
        assert!(!can_see_event(
            HistoryVisibility::Shared,
            viewer(Some("ban"), false)
        ));
        assert!(!can_see_event(
            HistoryVisibility::Invited,
            viewer(Some("leave"), false)
        ));
    }

    #[test]
    fn unknown_settings_default_to_shared() {
        let c = serde_json::json!({"history_visibility": "something"});
        assert_eq!(
            HistoryVisibility::from_content(Some(&c)),
            HistoryVisibility::Shared
        );
        assert_eq!(
            HistoryVisibility::from_content(None),
            HistoryVisibility::Shared
        );
        let c = serde_json::json!({"history_visibility": "joined"});
        assert_eq!(
            HistoryVisibility::from_content(Some(&c)),
            HistoryVisibility::Joined
        );
    }

    fn history(
        memberships: &[(i64, &str)],
        visibility: &[(i64, HistoryVisibility)],
    ) -> RoomHistory {
        RoomHistory {
            memberships: memberships
                .iter()
                .map(|(p, m)| (*p, m.to_string()))
                .collect(),
            visibility: visibility.to_vec(),
        }
    }

    #[test]
    fn a_member_who_left_keeps_history_up_to_the_leave() {
        let h = history(
            &[(5, "join"), (20, "leave")],
            &[(3, HistoryVisibility::Shared)],
        );
        assert!(h.can_see(10));
        assert!(h.can_see(20), "sees own leave");
        assert!(!h.can_see(21));
        // Shared history before the join is visible because they joined later.
        assert!(h.can_see(4));
    }

    #[test]
    fn joined_visibility_hides_history_before_the_join() {
        let h = history(
            &[(10, "invite"), (12, "join")],
            &[(3, HistoryVisibility::Joined)],
        );
        assert!(!h.can_see(8));
        assert!(!h.can_see(11));
        assert!(h.can_see(12));
        assert!(h.can_see(30));
    }

    #[test]
    fn never_members_see_nothing_unless_world_readable() {
        let h = history(&[], &[(3, HistoryVisibility::Shared)]);
        assert!(!h.can_see(10));
        let h = history(&[], &[(3, HistoryVisibility::WorldReadable)]);
        assert!(h.can_see(10));
    }
}
