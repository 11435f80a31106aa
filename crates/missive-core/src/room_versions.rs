//! Which room versions Missive supports: data, not code paths. Everything a
//! version changes (event and room ID formats, the shape of `prev_events`
//! and `auth_events`, redaction, authorization) is read from ruma's
//! [`RoomVersionRules`] of the room's version.

use ruma::{RoomVersionId, room_version_rules::RoomVersionRules};

use crate::CoreError;

/// The room version of new rooms unless the client asks for another: the
/// version the specification recommends since v1.16 (MSC4304), and what
/// Synapse creates by default.
pub const DEFAULT_ROOM_VERSION: RoomVersionId = RoomVersionId::V12;

/// Room versions this server creates and joins: every stable version.
pub const SUPPORTED_ROOM_VERSIONS: &[RoomVersionId] = &[
    RoomVersionId::V1,
    RoomVersionId::V2,
    RoomVersionId::V3,
    RoomVersionId::V4,
    RoomVersionId::V5,
    RoomVersionId::V6,
    RoomVersionId::V7,
    RoomVersionId::V8,
    RoomVersionId::V9,
    RoomVersionId::V10,
    RoomVersionId::V11,
    RoomVersionId::V12,
];

/// The rules of a supported room version.
pub fn rules(version: &RoomVersionId) -> Result<RoomVersionRules, CoreError> {
    if !SUPPORTED_ROOM_VERSIONS.contains(version) {
        return Err(CoreError::UnsupportedRoomVersion(version.to_string()));
    }
    version
        .rules()
        .ok_or_else(|| CoreError::UnsupportedRoomVersion(version.to_string()))
}

/// Parses and checks a stored or requested room version.
pub fn parse(version: &str) -> Result<(RoomVersionId, RoomVersionRules), CoreError> {
    let id = RoomVersionId::try_from(version)
        .map_err(|_| CoreError::UnsupportedRoomVersion(version.to_owned()))?;
    let rules = rules(&id)?;
    Ok((id, rules))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supported_versions_have_rules() {
        for v in SUPPORTED_ROOM_VERSIONS {
            assert!(rules(v).is_ok(), "{v}");
        }
        assert!(parse("0").is_err());
        assert!(parse("13").is_err());
        assert!(parse("org.matrix.msc2870").is_err());
        assert!(parse("not a version").is_err());
        assert!(parse("1").is_ok());
        assert!(parse("12").is_ok());
        assert!(SUPPORTED_ROOM_VERSIONS.contains(&DEFAULT_ROOM_VERSION));
    }
}
