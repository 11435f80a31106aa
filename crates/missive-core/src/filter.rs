//! Applying client event filters (`types`, `senders`, `rooms`, wildcards).

use ruma::api::client::filter::{Filter, RoomEventFilter};

/// Whether an event type matches a filter pattern, where `*` matches any
/// run of characters (as the spec allows in `types` / `not_types`).
pub fn type_matches(pattern: &str, event_type: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == event_type,
        Some((prefix, rest)) => {
            let Some(tail) = event_type.strip_prefix(prefix) else {
                return false;
            };
            if rest.is_empty() {
                return true;
            }
            (0..=tail.len()).any(|i| tail.is_char_boundary(i) && type_matches(rest, &tail[i..]))
        }
    }
}

/// Whether a non-room event (account data, presence) passes a filter.
pub fn non_room_event_matches(filter: &Filter, event_type: &str, sender: &str) -> bool {
    if filter.not_types.iter().any(|p| type_matches(p, event_type)) {
        return false;
    }
    if let Some(types) = &filter.types
        && !types.iter().any(|p| type_matches(p, event_type))
    {
        return false;
    }
    if filter.not_senders.iter().any(|s| s.as_str() == sender) {
        return false;
    }
    if let Some(senders) = &filter.senders
        && !senders.iter().any(|s| s.as_str() == sender)
    {
        return false;
    }
    true
}

/// The most events a filter's `limit` lets through (all without one).
pub fn filter_limit(filter: &Filter) -> usize {
    filter.limit.map_or(usize::MAX, |l| {
        usize::try_from(u64::from(l)).unwrap_or(usize::MAX)
    })
}

/// Whether an event passes a room event filter.
pub fn event_matches(
    filter: &RoomEventFilter,
    event_type: &str,
    sender: &str,
    room_id: &str,
) -> bool {
    if filter.not_types.iter().any(|p| type_matches(p, event_type)) {
        return false;
    }
    if let Some(types) = &filter.types
        && !types.iter().any(|p| type_matches(p, event_type))
    {
        return false;
    }
    if filter.not_senders.iter().any(|s| s.as_str() == sender) {
        return false;
    }
    if let Some(senders) = &filter.senders
        && !senders.iter().any(|s| s.as_str() == sender)
    {
        return false;
    }
    if filter.not_rooms.iter().any(|r| r.as_str() == room_id) {
        return false;
    }
    if let Some(rooms) = &filter.rooms
        && !rooms.iter().any(|r| r.as_str() == room_id)
    {
        return false;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_prefixes_and_infixes() {
        assert!(type_matches("m.room.*", "m.room.message"));
        assert!(type_matches("*", "anything"));
        assert!(type_matches("m.*.message", "m.room.message"));
        assert!(!type_matches("m.room.*", "m.call.invite"));
        assert!(type_matches("m.room.message", "m.room.message"));
        assert!(!type_matches("m.room.message", "m.room.messages"));
    }

    #[test]
    fn non_room_filters_select_types_and_senders() {
        let mut f = Filter::default();
        f.types = Some(vec!["org.example.*".into()]);
        assert!(non_room_event_matches(&f, "org.example.pref", "@a:x"));
        assert!(!non_room_event_matches(&f, "m.push_rules", "@a:x"));
        f.types = None;
        f.not_senders = vec![ruma::owned_user_id!("@a:x")];
        assert!(!non_room_event_matches(&f, "m.presence", "@a:x"));
        assert!(non_room_event_matches(&f, "m.presence", "@b:x"));
        assert_eq!(filter_limit(&f), usize::MAX);
    }

    #[test]
    fn not_types_win_over_types() {
        let mut f = RoomEventFilter::default();
        f.types = Some(vec!["m.room.*".into()]);
        f.not_types = vec!["m.room.member".into()];
        assert!(event_matches(&f, "m.room.message", "@a:x", "!r:x"));
        assert!(!event_matches(&f, "m.room.member", "@a:x", "!r:x"));
        assert!(!event_matches(&f, "m.reaction", "@a:x", "!r:x"));
    }

    #[test]
    fn senders_and_rooms_filter() {
        let mut f = RoomEventFilter::default();
        f.not_senders = vec!["@spam:x".try_into().unwrap()];
        f.rooms = Some(vec!["!r:x".try_into().unwrap()]);
        assert!(event_matches(&f, "m.room.message", "@a:x", "!r:x"));
        assert!(!event_matches(&f, "m.room.message", "@spam:x", "!r:x"));
        assert!(!event_matches(&f, "m.room.message", "@a:x", "!other:x"));
    }
}
