//! The room version's authorization rules applied to one event. Events this
//! server builds and events received over federation go through the same
//! two ruma checks, so both paths call [`check`].

use ruma::{EventId, events::StateEventType, room_version_rules::AuthorizationRules, state_res};

use crate::Pdu;

/// Checks `pdu` against the state-independent rules (its `auth_events`,
/// looked up with `fetch_event`), then against the state-dependent rules
/// with the state `fetch_state` reads. The error says which rule failed.
pub(crate) fn check<'a>(
    rules: &AuthorizationRules,
    pdu: &Pdu,
    fetch_event: impl Fn(&EventId) -> Option<&'a Pdu>,
    fetch_state: impl Fn(&StateEventType, &str) -> Option<&'a Pdu>,
) -> Result<(), String> {
    state_res::check_state_independent_auth_rules(rules, pdu, fetch_event)?;
    check_state(rules, pdu, fetch_state)
}

/// The state-dependent rules alone: what an event received over federation
/// is checked with again against the state before it and the room's
/// current state.
pub(crate) fn check_state<'a>(
    rules: &AuthorizationRules,
    pdu: &Pdu,
    fetch_state: impl Fn(&StateEventType, &str) -> Option<&'a Pdu>,
) -> Result<(), String> {
    state_res::check_state_dependent_auth_rules(rules, pdu, fetch_state)
}
