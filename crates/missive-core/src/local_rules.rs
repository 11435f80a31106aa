//! Rules this server applies to every event it creates for its own users,
//! on top of the room version's authorization rules: who may redact what,
//! which events are never redacted, and that encryption, once on, stays on.
//!
//! The authorization rules alone let any member redact an event of their
//! own server's users (the redaction's origin matches), so a redaction sent
//! through `PUT /send/m.room.redaction` would otherwise skip the power
//! check that `/redact` makes. [`crate::event_builder::build_event`] calls
//! [`check`] on every event it builds, so no endpoint can skip it.

use ruma::events::{StateEventType, TimelineEventType};
use serde::Deserialize;

use crate::{CoreError, Pdu, event_builder::RoomContext, power_levels};

/// Event types that stay whole: redacting the encryption event would strip
/// the room's encryption from its current state (and it could not be set
/// again), and the create event is the room's identity.
const NEVER_REDACTED: [TimelineEventType; 2] = [
    TimelineEventType::RoomEncryption,
    TimelineEventType::RoomCreate,
];

/// Checks `pdu`, built on `ctx`, against this server's rules.
pub fn check(pdu: &Pdu, ctx: &RoomContext<'_>) -> Result<(), CoreError> {
    if pdu.event_type == TimelineEventType::RoomRedaction {
        check_redaction(pdu, ctx)?;
    }
    if pdu.event_type == TimelineEventType::RoomEncryption && pdu.state_key.as_deref() == Some("") {
        check_encryption_kept(pdu, ctx)?;
    }
    Ok(())
}

fn check_redaction(pdu: &Pdu, ctx: &RoomContext<'_>) -> Result<(), CoreError> {
    let Some(target_id) = &pdu.redacts else {
        return Err(CoreError::InvalidEvent(
            "a redaction needs the ID of the event it redacts".into(),
        ));
    };
    // The caller looks the target up in this room; one it did not hand in
    // (or a different one) is a caller bug, never a pass.
    let target = ctx
        .redaction_target
        .filter(|t| t.event_id == *target_id)
        .ok_or_else(|| CoreError::InvalidEvent("the redacted event was not provided".into()))?;
    if target.room_id != pdu.room_id {
        return Err(CoreError::InvalidEvent(
            "cannot redact an event of another room".into(),
        ));
    }
    if NEVER_REDACTED.contains(&target.event_type) {
        return Err(CoreError::Forbidden(format!(
            "{} events cannot be redacted",
            target.event_type
        )));
    }
    let levels = power_levels::effective(
        ctx.state
            .get(&(StateEventType::RoomPowerLevels, String::new())),
        ctx.state.get(&(StateEventType::RoomCreate, String::new())),
        ctx.rules,
    );
    if power_levels::can_redact(&levels, &pdu.sender, &target.sender) {
        Ok(())
    } else {
        Err(CoreError::Forbidden(
            "you do not have permission to redact this event".into(),
        ))
    }
}

/// Once a room is encrypted it stays so, with the same algorithm.
fn check_encryption_kept(pdu: &Pdu, ctx: &RoomContext<'_>) -> Result<(), CoreError> {
    let Some(current) = ctx
        .state
        .get(&(StateEventType::RoomEncryption, String::new()))
    else {
        return Ok(());
    };
    #[derive(Deserialize, PartialEq)]
    struct Content {
        algorithm: Option<String>,
    }
    let algorithm = |p: &Pdu| {
        serde_json::from_str::<Content>(p.content.get())
            .ok()
            .and_then(|c| c.algorithm)
    };
    let now = algorithm(current);
    if now.is_some() && algorithm(pdu) != now {
        return Err(CoreError::Forbidden(
            "encryption cannot be removed or changed once enabled".into(),
        ));
    }
    Ok(())
}
