//! Power-level questions the authorization rules leave to the server.

use ruma::{
    OwnedUserId, UserId,
    events::room::power_levels::{
        RoomPowerLevels, RoomPowerLevelsEventContent, RoomPowerLevelsSource,
    },
    room_version_rules::RoomVersionRules,
};
use serde::Deserialize;

use crate::Pdu;

/// The room's effective power levels from its `m.room.power_levels` event
/// (if any) and its create event. From room version 12 the creators (the
/// create event's sender and its `additional_creators`) have unlimited
/// power and are never listed in `users`.
pub fn effective(
    power_levels: Option<&Pdu>,
    create: Option<&Pdu>,
    rules: &RoomVersionRules,
) -> RoomPowerLevels {
    let content: Option<RoomPowerLevelsEventContent> =
        power_levels.and_then(|p| serde_json::from_str(p.content.get()).ok());
    RoomPowerLevels::new(
        RoomPowerLevelsSource::from(content),
        &rules.authorization,
        creators(create, rules),
    )
}

/// The room's privileged creators: empty before room version 12.
pub fn creators(create: Option<&Pdu>, rules: &RoomVersionRules) -> Vec<OwnedUserId> {
    if !rules.authorization.explicitly_privilege_room_creators {
        return Vec::new();
    }
    let Some(create) = create else {
        return Vec::new();
    };
    #[derive(Deserialize)]
    struct Content {
        #[serde(default)]
        additional_creators: Vec<OwnedUserId>,
    }
    let mut creators = serde_json::from_str::<Content>(create.content.get())
        .map(|c| c.additional_creators)
        .unwrap_or_default();
    creators.insert(0, create.sender.clone());
    creators
}

/// Whether `user` may redact an event sent by `target_sender`.
pub fn can_redact(levels: &RoomPowerLevels, user: &UserId, target_sender: &UserId) -> bool {
    if user == target_sender {
        levels.user_can_redact_own_event(user)
    } else {
        levels.user_can_redact_event_of_other(user)
    }
}
