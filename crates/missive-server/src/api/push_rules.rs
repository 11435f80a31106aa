//! Push rule endpoints: the user's rule set, stored as `m.push_rules`.

use axum::{Json, extract::State};
use ruma::{
    api::client::push::{
        delete_pushrule, get_pushers, get_pushrule, get_pushrule_actions, get_pushrule_enabled,
        get_pushrules_all, get_pushrules_global_scope, set_pushrule, set_pushrule_actions,
        set_pushrule_enabled,
    },
    push::{InsertPushRuleError, RemovePushRuleError},
};
use serde_json::{Value, json};

use crate::{
    error::{ApiError, ApiResult},
    ruma_wrapper::Ruma,
    services::push_rules,
    state::AppState,
};

pub async fn get_pushrules_all(
    State(s): State<AppState>,
    req: Ruma<get_pushrules_all::v3::Request>,
) -> ApiResult<Json<Value>> {
    let me = req.user()?;
    let rules = push_rules::load(&s.store, &me.user_id).await?;
    Ok(Json(json!({ "global": rules })))
}

pub async fn get_pushrules_global_scope(
    State(s): State<AppState>,
    req: Ruma<get_pushrules_global_scope::v3::Request>,
) -> ApiResult<Json<Value>> {
    let me = req.user()?;
    Ok(Json(json!(push_rules::load(&s.store, &me.user_id).await?)))
}

/// One rule as the client API shows it, looked up in the serialised set.
fn rule_json(
    rules: &ruma::push::Ruleset,
    kind: ruma::push::RuleKind,
    id: &str,
) -> ApiResult<Value> {
    let all = serde_json::to_value(rules).map_err(|e| ApiError::Internal(e.to_string()))?;
    all.get(kind.as_str())
        .and_then(Value::as_array)
        .and_then(|list| {
            list.iter()
                .find(|r| r.get("rule_id").and_then(Value::as_str) == Some(id))
        })
        .cloned()
        .ok_or_else(|| ApiError::not_found("push rule not found"))
}

pub async fn get_pushrule(
    State(s): State<AppState>,
    req: Ruma<get_pushrule::v3::Request>,
) -> ApiResult<Json<Value>> {
    let me = req.user()?;
    let rules = push_rules::load(&s.store, &me.user_id).await?;
    Ok(Json(rule_json(
        &rules,
        req.body.kind.clone(),
        &req.body.rule_id,
    )?))
}

pub async fn get_pushrule_enabled(
    State(s): State<AppState>,
    req: Ruma<get_pushrule_enabled::v3::Request>,
) -> ApiResult<Json<Value>> {
    let me = req.user()?;
    let rules = push_rules::load(&s.store, &me.user_id).await?;
    let rule = rule_json(&rules, req.body.kind.clone(), &req.body.rule_id)?;
    Ok(Json(
        json!({ "enabled": rule.get("enabled").cloned().unwrap_or(json!(true)) }),
    ))
}

pub async fn get_pushrule_actions(
    State(s): State<AppState>,
    req: Ruma<get_pushrule_actions::v3::Request>,
) -> ApiResult<Json<Value>> {
    let me = req.user()?;
    let rules = push_rules::load(&s.store, &me.user_id).await?;
    let rule = rule_json(&rules, req.body.kind.clone(), &req.body.rule_id)?;
    Ok(Json(
        json!({ "actions": rule.get("actions").cloned().unwrap_or(json!([])) }),
    ))
}

async fn save(
    s: &AppState,
    user: &ruma::UserId,
    rules: &ruma::push::Ruleset,
) -> ApiResult<Json<Value>> {
    let pos = push_rules::save(&s.store, user, rules).await?;
    s.rooms.notify_users(pos, &[user.as_str()]);
    Ok(Json(json!({})))
}

pub async fn set_pushrule(
    State(s): State<AppState>,
    req: Ruma<set_pushrule::v3::Request>,
) -> ApiResult<Json<Value>> {
    let me = req.user()?;
    let mut rules = push_rules::load(&s.store, &me.user_id).await?;
    let b = &req.body;
    rules
        .insert(b.rule.clone(), b.after.as_deref(), b.before.as_deref())
        .map_err(|e| match e {
            InsertPushRuleError::UnknownRuleId => {
                ApiError::not_found("no rule to place this one beside")
            }
            other => ApiError::invalid_param(other.to_string()),
        })?;
    save(&s, &me.user_id, &rules).await
}

pub async fn delete_pushrule(
    State(s): State<AppState>,
    req: Ruma<delete_pushrule::v3::Request>,
) -> ApiResult<Json<Value>> {
    let me = req.user()?;
    let mut rules = push_rules::load(&s.store, &me.user_id).await?;
    rules
        .remove(req.body.kind.clone(), &req.body.rule_id)
        .map_err(|e| match e {
            RemovePushRuleError::NotFound => ApiError::not_found("push rule not found"),
            other => ApiError::invalid_param(other.to_string()),
        })?;
    save(&s, &me.user_id, &rules).await
}

pub async fn set_pushrule_enabled(
    State(s): State<AppState>,
    req: Ruma<set_pushrule_enabled::v3::Request>,
) -> ApiResult<Json<Value>> {
    let me = req.user()?;
    let mut rules = push_rules::load(&s.store, &me.user_id).await?;
    rules
        .set_enabled(req.body.kind.clone(), &req.body.rule_id, req.body.enabled)
        .map_err(|_| ApiError::not_found("push rule not found"))?;
    save(&s, &me.user_id, &rules).await
}

pub async fn set_pushrule_actions(
    State(s): State<AppState>,
    req: Ruma<set_pushrule_actions::v3::Request>,
) -> ApiResult<Json<Value>> {
    let me = req.user()?;
    let mut rules = push_rules::load(&s.store, &me.user_id).await?;
    rules
        .set_actions(
            req.body.kind.clone(),
            &req.body.rule_id,
            req.body.actions.clone(),
        )
        .map_err(|_| ApiError::not_found("push rule not found"))?;
    save(&s, &me.user_id, &rules).await
}

/// Pushers (push gateways) come with the notifications work; until then a
/// client sees an empty list rather than an error.
pub async fn get_pushers(req: Ruma<get_pushers::v3::Request>) -> ApiResult<Json<Value>> {
    req.user()?;
    Ok(Json(json!({ "pushers": [] })))
}
