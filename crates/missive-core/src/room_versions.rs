//! Which room versions Missive supports: data, not code paths.

use ruma::{RoomVersionId, room_version_rules::RoomVersionRules};

use crate::CoreError;

/// The room version of new rooms unless the client asks for another.
pub const DEFAULT_ROOM_VERSION: RoomVersionId = RoomVersionId::V11;

/// Room versions this server creates and joins.
pub const SUPPORTED_ROOM_VERSIONS: &[RoomVersionId] = &[RoomVersionId::V10, RoomVersionId::V11];

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
        assert!(parse("1").is_err());
        assert!(parse("not-a-version").is_err());
        assert!(parse("11").is_ok());
    }
}
