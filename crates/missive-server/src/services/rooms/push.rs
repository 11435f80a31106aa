//! Who an event notifies: each local member's push rules, evaluated when
//! the event is written so unread counts are a simple count at sync time.

use missive_core::{
    Pdu, event_builder::StateEvents, power_levels, push as core_push, room_versions,
};
use missive_store::{AccountStore, EventStore, SqlStore};
use ruma::{
    events::{StateEventType, TimelineEventType},
    serde::Raw,
};

use crate::{error::ApiResult, services::push_rules};

/// (user ID, highlight) for every local user the event notifies.
pub async fn recipients(
    store: &SqlStore,
    pdu: &Pdu,
    state: &StateEvents,
) -> ApiResult<Vec<(String, bool)>> {
    let server = pdu.sender.server_name();
    let members = store.room_members(pdu.room_id.as_str()).await?;
    let joined = members.iter().filter(|m| m.membership == "join").count() as u64;
    let mut candidates: Vec<String> = members
        .iter()
        .filter(|m| m.membership == "join")
        .map(|m| m.user_id.clone())
        .collect();
    if pdu.event_type == TimelineEventType::RoomMember
        && let Some(target) = &pdu.state_key
        && pdu
            .content_value()
            .get("membership")
            .and_then(|m| m.as_str())
            == Some("invite")
    {
        candidates.push(target.clone());
    }
    candidates.retain(|u| u != pdu.sender.as_str() && u.ends_with(&format!(":{server}")));
    if candidates.is_empty() {
        return Ok(Vec::new());
    }

    let room = store.room(pdu.room_id.as_str()).await?;
    let power_levels = match room.as_ref().map(|r| room_versions::parse(&r.room_version)) {
        Some(Ok((_, rules))) => Some(power_levels::effective(
            state.get(&(StateEventType::RoomPowerLevels, String::new())),
            &rules,
            Vec::new(),
        )),
        _ => None,
    };
    let event: Raw<serde_json::Value> = Raw::new(&pdu.to_client_event(None))
        .map_err(|e| crate::error::ApiError::Internal(e.to_string()))?;

    let mut out = Vec::new();
    for user in candidates {
        let Ok(user_id) = ruma::UserId::parse(&user) else {
            continue;
        };
        let ruleset = push_rules::load(store, &user_id).await?;
        let display_name = store
            .user(&user)
            .await?
            .and_then(|u| u.displayname)
            .unwrap_or_else(|| user_id.localpart().to_owned());
        let outcome = core_push::evaluate(
            &ruleset,
            &event,
            core_push::Recipient {
                user_id: user_id.clone(),
                display_name,
                room_id: pdu.room_id.clone(),
                member_count: joined,
                power_levels: power_levels.clone().map(Into::into),
            },
        )
        .await;
        if outcome.notify {
            out.push((user, outcome.highlight));
        }
    }
    Ok(out)
}
