//! Power-level questions the authorization rules leave to the server.

use ruma::{
    OwnedUserId, UserId,
    events::room::power_levels::{
        RoomPowerLevels, RoomPowerLevelsEventContent, RoomPowerLevelsSource,
    },
    room_version_rules::RoomVersionRules,
};

use crate::Pdu;

/// The room's effective power levels from its `m.room.power_levels` event
/// (if any) and its creators.
pub fn effective(
    power_levels: Option<&Pdu>,
    rules: &RoomVersionRules,
    creators: Vec<OwnedUserId>,
) -> RoomPowerLevels {
    let content: Option<RoomPowerLevelsEventContent> =
        power_levels.and_then(|p| serde_json::from_str(p.content.get()).ok());
    RoomPowerLevels::new(
        RoomPowerLevelsSource::from(content),
        &rules.authorization,
        creators,
    )
}

/// Whether `user` may redact an event sent by `target_sender`.
pub fn can_redact(levels: &RoomPowerLevels, user: &UserId, target_sender: &UserId) -> bool {
    if user == target_sender {
        levels.user_can_redact_own_event(user)
    } else {
        levels.user_can_redact_event_of_other(user)
    }
}
