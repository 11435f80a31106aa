//! Users' push rules, kept as `m.push_rules` account data as the spec
//! exposes them. The free functions serve other services (sync, push
//! evaluation); [`PushRules`] is what the push rule endpoints call.

use std::sync::Arc;

use missive_store::{AccountDataStore, SqlStore, StreamPos};
use ruma::{
    RoomId, UserId,
    api::client::push::PushRule,
    push::{
        Action, EventMatchConditionData, InsertPushRuleError, NewConditionalPushRule, NewPushRule,
        NewSimplePushRule, PushCondition, RemovePushRuleError, RuleKind, Ruleset,
    },
};

use crate::{
    error::{ApiError, ApiResult},
    services::notifier::Notifier,
};

pub const ACCOUNT_DATA_TYPE: &str = "m.push_rules";

/// The user's rule set: stored rules, or the server defaults.
pub async fn load(store: &SqlStore, user: &UserId) -> ApiResult<Ruleset> {
    Ok(stored(store, user.as_str())
        .await?
        .and_then(|json| parse(&json))
        .unwrap_or_else(|| Ruleset::server_default(user)))
}

/// The stored account data content, if any.
pub async fn stored(store: &SqlStore, user: &str) -> ApiResult<Option<String>> {
    let user = <&UserId>::try_from(user).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(store.account_data(user, None, ACCOUNT_DATA_TYPE).await?)
}

/// The rule set in stored account data content; `None` if unreadable.
pub fn parse(json: &str) -> Option<Ruleset> {
    serde_json::from_str::<serde_json::Value>(json)
        .ok()
        .and_then(|v| v.get("global").cloned())
        .and_then(|g| serde_json::from_value::<Ruleset>(g).ok())
}

/// Saves the rule set; returns the stream position of the change.
pub async fn save(store: &SqlStore, user: &UserId, rules: &Ruleset) -> ApiResult<StreamPos> {
    let content = serde_json::json!({ "global": rules });
    let text = serde_json::to_string(&content).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(store
        .set_account_data(user, None, ACCOUNT_DATA_TYPE, &text)
        .await?)
}

/// The push rule endpoints: each change read, applied, stored and
/// announced to the user's syncs.
#[derive(Clone)]
pub struct PushRules {
    store: Arc<SqlStore>,
    notifier: Notifier,
}

impl PushRules {
    pub fn new(store: Arc<SqlStore>, notifier: Notifier) -> Self {
        Self { store, notifier }
    }

    /// The user's whole rule set.
    pub async fn ruleset(&self, user: &UserId) -> ApiResult<Ruleset> {
        load(&self.store, user).await
    }

    /// The user's rules of one kind, in their order of priority.
    pub async fn rules_of_kind(&self, user: &UserId, kind: RuleKind) -> ApiResult<Vec<PushRule>> {
        let rules = self.ruleset(user).await?;
        let of_kind: Vec<PushRule> = match kind {
            RuleKind::Override => rules.override_.into_iter().map(Into::into).collect(),
            RuleKind::Underride => rules.underride.into_iter().map(Into::into).collect(),
            RuleKind::Sender => rules.sender.into_iter().map(Into::into).collect(),
            RuleKind::Room => rules.room.into_iter().map(Into::into).collect(),
            RuleKind::Content => rules.content.into_iter().map(Into::into).collect(),
            _ => {
                return Err(ApiError::UnrecognizedRequest(format!(
                    "unknown push rule kind {kind}"
                )));
            }
        };
        Ok(of_kind)
    }

    /// One rule; `M_NOT_FOUND` if the user has no such rule.
    pub async fn rule(&self, user: &UserId, kind: RuleKind, id: &str) -> ApiResult<PushRule> {
        let rules = self.ruleset(user).await?;
        rules
            .get(kind, id)
            .map(|r| r.to_owned().into())
            .ok_or_else(|| ApiError::not_found("push rule not found"))
    }

    /// Adds (or replaces) a rule, placed after or before another of its kind.
    pub async fn insert(
        &self,
        user: &UserId,
        rule: NewPushRule,
        after: Option<&str>,
        before: Option<&str>,
    ) -> ApiResult<()> {
        self.change(user, |rules| {
            rules.insert(rule, after, before).map_err(|e| match e {
                InsertPushRuleError::UnknownRuleId => {
                    ApiError::not_found("no rule to place this one beside")
                }
                other => ApiError::invalid_param(other.to_string()),
            })
        })
        .await
    }

    /// Removes a user-defined rule.
    pub async fn remove(&self, user: &UserId, kind: RuleKind, id: &str) -> ApiResult<()> {
        self.change(user, |rules| {
            rules.remove(kind, id).map_err(|e| match e {
                RemovePushRuleError::NotFound => ApiError::not_found("push rule not found"),
                other => ApiError::invalid_param(other.to_string()),
            })
        })
        .await
    }

    /// Enables or disables a rule.
    pub async fn set_enabled(
        &self,
        user: &UserId,
        kind: RuleKind,
        id: &str,
        enabled: bool,
    ) -> ApiResult<()> {
        self.change(user, |rules| {
            rules
                .set_enabled(kind, id, enabled)
                .map_err(|_| ApiError::not_found("push rule not found"))
        })
        .await
    }

    /// Replaces a rule's actions.
    pub async fn set_actions(
        &self,
        user: &UserId,
        kind: RuleKind,
        id: &str,
        actions: Vec<Action>,
    ) -> ApiResult<()> {
        self.change(user, |rules| {
            rules
                .set_actions(kind, id, actions)
                .map_err(|_| ApiError::not_found("push rule not found"))
        })
        .await
    }

    /// Copies `user`'s enabled rules about room `old` (its room rule, and
    /// rules matching its `room_id`) to its replacement `new`, as Synapse
    /// does on a room upgrade. Nothing is written when there are none.
    pub async fn follow_upgrade(&self, user: &UserId, old: &RoomId, new: &RoomId) -> ApiResult<()> {
        let rules = self.ruleset(user).await?;
        let mut copies = Vec::new();
        for rule in rules.room.iter().filter(|r| r.enabled && r.rule_id == old) {
            copies.push(NewPushRule::Room(NewSimplePushRule::new(
                new.to_owned(),
                rule.actions.clone(),
            )));
        }
        let about_old = |c: &PushCondition| matches!(c, PushCondition::EventMatch(m) if m.key == "room_id" && m.pattern == old.as_str());
        for (kind, list) in [
            (RuleKind::Override, &rules.override_),
            (RuleKind::Underride, &rules.underride),
        ] {
            for rule in list
                .iter()
                .filter(|r| r.enabled && !r.default && r.conditions.iter().any(about_old))
            {
                let conditions = rule
                    .conditions
                    .iter()
                    .map(|c| match c {
                        PushCondition::EventMatch(m) if about_old(c) => PushCondition::EventMatch(
                            EventMatchConditionData::new(m.key.clone(), new.to_string()),
                        ),
                        other => other.clone(),
                    })
                    .collect();
                let id = rule.rule_id.replace(old.as_str(), new.as_str());
                let copy = NewConditionalPushRule::new(id, conditions, rule.actions.clone());
                copies.push(match kind {
                    RuleKind::Override => NewPushRule::Override(copy),
                    _ => NewPushRule::Underride(copy),
                });
            }
        }
        if copies.is_empty() {
            return Ok(());
        }
        self.change(user, |rules| {
            for copy in copies {
                rules
                    .insert(copy, None, None)
                    .map_err(|e| ApiError::Internal(format!("copying a push rule: {e}")))?;
            }
            Ok(())
        })
        .await
    }

    /// Applies `edit` to the stored set, saves it and wakes the user's syncs.
    async fn change(
        &self,
        user: &UserId,
        edit: impl FnOnce(&mut Ruleset) -> ApiResult<()>,
    ) -> ApiResult<()> {
        let mut rules = self.ruleset(user).await?;
        edit(&mut rules)?;
        let pos = save(&self.store, user, &rules).await?;
        self.notifier.notify_users(pos, [user.as_str()]);
        Ok(())
    }
}
