//! Who an event notifies: each local member's push rules, evaluated when
//! the event is written so unread counts are a simple count at sync time.

use missive_core::{Pdu, event_builder::StateEvents, power_levels, push as core_push};
use missive_store::{AccountStore, PushTarget, PushTargetStore, SqlStore};
use ruma::{
    events::{StateEventType, TimelineEventType},
    push::{FlattenedJson, Ruleset},
    room_version_rules::RoomVersionRules,
    serde::Raw,
};

use crate::{
    error::{ApiError, ApiResult},
    services::push_rules,
};

/// (user ID, highlight) for every local user the event notifies.
pub async fn recipients(
    store: &SqlStore,
    pdu: &Pdu,
    state: &StateEvents,
    rules: &RoomVersionRules,
) -> ApiResult<Vec<(String, bool)>> {
    // One read for every member's profile and rules: a message to a large
    // room must not cost a query per member.
    let mut targets = store.push_targets(pdu.room_id.as_str()).await?;
    let joined = targets.len() as u64;
    if pdu.event_type == TimelineEventType::RoomMember
        && let Some(target) = &pdu.state_key
        && pdu
            .content_value()
            .get("membership")
            .and_then(|m| m.as_str())
            == Some("invite")
        && !targets.iter().any(|t| &t.user_id == target)
    {
        targets.push(invitee(store, target).await?);
    }
    let local_suffix = format!(":{}", pdu.sender.server_name());
    targets.retain(|t| t.user_id != pdu.sender.as_str() && t.user_id.ends_with(&local_suffix));
    if targets.is_empty() {
        return Ok(Vec::new());
    }

    let power_levels = power_levels::effective(
        state.get(&(StateEventType::RoomPowerLevels, String::new())),
        rules,
        Vec::new(),
    );
    let event: Raw<serde_json::Value> =
        Raw::new(&pdu.to_client_event(None)).map_err(|e| ApiError::Internal(e.to_string()))?;
    let event = FlattenedJson::from_raw(&event);

    let mut out = Vec::new();
    for target in targets {
        let Ok(user_id) = ruma::UserId::parse(&target.user_id) else {
            continue;
        };
        let ruleset = match &target.push_rules {
            Some((_, json)) => push_rules::parse(json),
            None => None,
        }
        .unwrap_or_else(|| Ruleset::server_default(&user_id));
        let display_name = target
            .displayname
            .unwrap_or_else(|| user_id.localpart().to_owned());
        let outcome = core_push::evaluate_flattened(
            &ruleset,
            &event,
            core_push::Recipient {
                user_id,
                display_name,
                room_id: pdu.room_id.clone(),
                member_count: joined,
                power_levels: Some(power_levels.clone().into()),
            },
        )
        .await;
        if outcome.notify {
            out.push((target.user_id, outcome.highlight));
        }
    }
    Ok(out)
}

/// An invited user is not a member yet: read their profile and rules alone.
async fn invitee(store: &SqlStore, user_id: &str) -> ApiResult<PushTarget> {
    let displayname = store.user(user_id).await?.and_then(|u| u.displayname);
    let push_rules = push_rules::stored(store, user_id).await?;
    Ok(PushTarget {
        user_id: user_id.to_owned(),
        displayname,
        push_rules: push_rules.map(|json| (0, json)),
    })
}
