//! Who an event notifies: each local member's push rules, evaluated when
//! the event is written so unread counts are a simple count at sync time.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use missive_core::{Pdu, event_builder::StateEvents, power_levels, push as core_push};
use missive_store::{AccountStore, PushTarget, PushTargetStore, PusherStore, SqlStore, StreamPos};
use ruma::{
    UserId,
    events::{StateEventType, TimelineEventType},
    push::{FlattenedJson, Ruleset},
    room_version_rules::RoomVersionRules,
    serde::Raw,
};

use crate::{
    error::{ApiError, ApiResult},
    services::push_rules,
};

/// Most users whose parsed rules are kept (a bound; when full the memo
/// starts over).
const MAX_RULESETS: usize = 100_000;

/// Users' parsed push rules, by the stream position of their stored rules
/// (a new position for every change; `None`: the server defaults), so a
/// message to a large room does not parse every member's rules again.
/// Exact whatever else writes: a changed rule set comes with a new position.
#[derive(Default)]
pub struct Rulesets {
    parsed: Mutex<HashMap<String, Parsed>>,
}

/// A user's rules and the position of the stored rules they came from.
type Parsed = (Option<StreamPos>, Arc<Ruleset>);

impl Rulesets {
    fn of(&self, user_id: &UserId, stored: Option<&(StreamPos, String)>) -> Arc<Ruleset> {
        let pos = stored.map(|(pos, _)| *pos);
        let mut parsed = self.parsed.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, ruleset)) = parsed.get(user_id.as_str())
            && *at == pos
        {
            return ruleset.clone();
        }
        let ruleset = Arc::new(
            stored
                .and_then(|(_, json)| push_rules::parse(json))
                .unwrap_or_else(|| Ruleset::server_default(user_id)),
        );
        if parsed.len() >= MAX_RULESETS {
            parsed.clear();
        }
        parsed.insert(user_id.to_string(), (pos, ruleset.clone()));
        ruleset
    }
}

/// Whom an event notifies.
#[derive(Debug, Default)]
pub struct Recipients {
    /// (user ID, highlight) for every local user the event notifies.
    pub actions: Vec<(String, bool)>,
    /// Those of them with a pusher: push delivery is woken for these
    /// alone (most users have none, and waking for them costs a round).
    pub with_pushers: Vec<String>,
    /// The room's joined members, when they were read (the outbound
    /// queue's destinations come from them without another read).
    pub members: Option<Arc<[PushTarget]>>,
}

/// Whom the event notifies, by every local member's push rules.
pub async fn recipients(
    store: &SqlStore,
    rulesets: &Rulesets,
    pdu: &Pdu,
    state: &StateEvents,
    rules: &RoomVersionRules,
) -> ApiResult<Recipients> {
    let local_suffix = format!(":{}", pdu.sender.server_name());
    // A membership event is evaluated for its target alone, and only when
    // someone else changed their membership (an invite, a kick, a ban), as
    // Synapse does: the spec lets any member's rules match it, but nobody
    // has such rules, and otherwise every join or leave of a room of
    // 10,000 members would evaluate 10,000 rule sets (the default rules
    // never notify for membership events but the invitee's own).
    let only = if pdu.event_type == TimelineEventType::RoomMember {
        match &pdu.state_key {
            Some(target) if target != pdu.sender.as_str() && target.ends_with(&local_suffix) => {
                Some(target.as_str())
            }
            _ => return Ok(Recipients::default()),
        }
    } else {
        None
    };
    // One read for every member's profile and rules (cached by the store
    // where it can): a message to a large room must not cost a query per
    // member.
    let members = store.push_targets(pdu.room_id.as_str()).await?;
    let joined = members.len() as u64;
    let invited = match &pdu.state_key {
        Some(target)
            if pdu.event_type == TimelineEventType::RoomMember
                && pdu
                    .content_value()
                    .get("membership")
                    .and_then(|m| m.as_str())
                    == Some("invite")
                && !members.iter().any(|t| &t.user_id == target) =>
        {
            Some(invitee(store, target).await?)
        }
        _ => None,
    };
    let targets: Vec<&PushTarget> = members
        .iter()
        .chain(invited.as_ref())
        .filter(|t| t.user_id != pdu.sender.as_str() && t.user_id.ends_with(&local_suffix))
        .filter(|t| only.is_none_or(|only| t.user_id == only))
        .collect();
    if targets.is_empty() {
        return Ok(Recipients {
            members: Some(members.clone()),
            ..Default::default()
        });
    }

    let power_levels = power_levels::effective(
        state.get(&(StateEventType::RoomPowerLevels, String::new())),
        state.get(&(StateEventType::RoomCreate, String::new())),
        rules,
    );
    let event: Raw<serde_json::Value> =
        Raw::new(&pdu.to_client_event(None)).map_err(|e| ApiError::Internal(e.to_string()))?;
    let event = FlattenedJson::from_raw(&event);

    let mut out = Recipients {
        members: Some(members.clone()),
        ..Default::default()
    };
    for target in targets {
        let Ok(user_id) = ruma::UserId::parse(&target.user_id) else {
            continue;
        };
        let ruleset = rulesets.of(&user_id, target.push_rules.as_ref());
        let display_name = target
            .displayname
            .clone()
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
            out.actions
                .push((target.user_id.clone(), outcome.highlight));
            if target.has_pusher {
                out.with_pushers.push(target.user_id.clone());
            }
        }
    }
    Ok(out)
}

/// An invited user is not a member yet: read their profile and rules alone.
async fn invitee(store: &SqlStore, user_id: &str) -> ApiResult<PushTarget> {
    let parsed = UserId::parse(user_id).map_err(|e| ApiError::Internal(e.to_string()))?;
    let displayname = store.user(&parsed).await?.and_then(|u| u.displayname);
    let push_rules = push_rules::stored(store, user_id).await?;
    let has_pusher = !store.pushers(&parsed).await?.is_empty();
    Ok(PushTarget {
        user_id: user_id.to_owned(),
        displayname,
        push_rules: push_rules.map(|json| (StreamPos::ZERO, json)),
        has_pusher,
    })
}
