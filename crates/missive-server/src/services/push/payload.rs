//! The Push Gateway API notification for one notified event and pusher,
//! built as ruma's `Notification`: the event's facts (unless the pusher
//! asked for `event_id_only`), the unread count, and the pusher's device
//! entry with its data (less `url`) and the tweaks of the matched rule.

use missive_store::PusherRecord;
use ruma::{
    OwnedEventId, OwnedRoomAliasId, OwnedRoomId, OwnedUserId, SecondsSinceUnixEpoch, UInt,
    api::push_gateway::send_event_notification::v1::{
        Device, Notification, NotificationCounts, NotificationPriority, PusherData,
    },
    events::TimelineEventType,
    push::{Action, HighlightTweakValue, HttpPusherData, PushFormat, Tweak},
};
use serde_json::Value;

/// What a full notification says about the event besides the event.
#[derive(Debug, Default)]
pub struct RoomFacts {
    pub sender_display_name: Option<String>,
    pub room_name: Option<String>,
    pub room_alias: Option<OwnedRoomAliasId>,
}

/// One notified event, as the pusher's owner may see it.
pub struct Notified<'a> {
    /// The event in the client format.
    pub event: &'a Value,
    pub room_id: OwnedRoomId,
    pub event_id: OwnedEventId,
    /// Whether it highlights (from the push actions stored when it was
    /// written).
    pub highlight: bool,
    /// The actions of the user's matching rule, for their tweaks.
    pub actions: &'a [Action],
    /// Rooms with unread notifications (the badge, as Synapse counts it).
    pub unread_rooms: u64,
    /// Whether the event is a membership event about the pusher's owner.
    pub user_is_target: bool,
}

/// The tweaks a gateway is given: the matched rule's, with the highlight
/// the event was stored with.
pub fn tweaks(actions: &[Action], highlight: bool) -> Vec<Tweak> {
    let mut tweaks: Vec<Tweak> = actions
        .iter()
        .filter_map(|a| match a {
            Action::SetTweak(t) if !matches!(t, Tweak::Highlight(_)) => Some(t.clone()),
            _ => None,
        })
        .collect();
    if highlight {
        tweaks.push(Tweak::Highlight(HighlightTweakValue::Yes));
    }
    tweaks
}

/// Synapse's priority: high for encrypted events (the app cannot tell)
/// and for events that highlight or ring, low otherwise.
fn priority(event_type: Option<&str>, tweaks: &[Tweak]) -> NotificationPriority {
    let rings = tweaks.iter().any(|t| match t {
        Tweak::Highlight(v) => *v == HighlightTweakValue::Yes,
        Tweak::Sound(_) => true,
        _ => false,
    });
    if rings || event_type == Some("m.room.encrypted") {
        NotificationPriority::High
    } else {
        NotificationPriority::Low
    }
}

/// The notification for `pusher` (whose `data` is `data`).
pub fn notification(
    pusher: &PusherRecord,
    data: HttpPusherData,
    notified: &Notified<'_>,
    facts: &RoomFacts,
) -> Notification {
    let event_id_only = data.format == Some(PushFormat::EventIdOnly);
    let tweaks = tweaks(notified.actions, notified.highlight);
    let event_type = notified.event.get("type").and_then(Value::as_str);
    let mut device = Device::new(pusher.app_id.clone(), pusher.pushkey.clone());
    device.pushkey_ts =
        UInt::new(pusher.pushkey_ts.max(0) as u64 / 1000).map(SecondsSinceUnixEpoch);
    device.data = PusherData::from(data);
    let mut n = Notification::new(Vec::new());
    n.prio = priority(event_type, &tweaks);
    device.tweaks = tweaks;
    n.devices = vec![device];
    n.event_id = Some(notified.event_id.clone());
    n.room_id = Some(notified.room_id.clone());
    n.counts = NotificationCounts::new(
        UInt::new(notified.unread_rooms).unwrap_or(UInt::MAX),
        UInt::MIN,
    );
    if event_id_only {
        return n;
    }
    n.event_type = event_type.map(TimelineEventType::from);
    n.sender = notified
        .event
        .get("sender")
        .and_then(Value::as_str)
        .and_then(|s| OwnedUserId::try_from(s).ok());
    n.sender_display_name = facts.sender_display_name.clone();
    n.room_name = facts.room_name.clone();
    n.room_alias = facts.room_alias.clone();
    n.user_is_target = notified.user_is_target;
    n.content = notified
        .event
        .get("content")
        .and_then(|c| serde_json::value::to_raw_value(c).ok());
    n
}
