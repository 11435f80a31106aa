//! Push rule endpoints: the user's rule set, stored as `m.push_rules`.

use axum::extract::State;
use ruma::api::client::push::{
    delete_pushrule, get_pushers, get_pushrule, get_pushrule_actions, get_pushrule_enabled,
    get_pushrules_all, get_pushrules_global_scope, set_pushrule, set_pushrule_actions,
    set_pushrule_enabled,
};

use crate::{
    error::ApiResult,
    ruma_wrapper::{Ruma, RumaResponse},
    services::push_rules::PushRules,
};

pub async fn get_pushrules_all(
    State(rules): State<PushRules>,
    req: Ruma<get_pushrules_all::v3::Request>,
) -> ApiResult<RumaResponse<get_pushrules_all::v3::Response>> {
    let me = req.user()?;
    Ok(RumaResponse(get_pushrules_all::v3::Response::new(
        rules.ruleset(&me.user_id).await?,
    )))
}

pub async fn get_pushrules_global_scope(
    State(rules): State<PushRules>,
    req: Ruma<get_pushrules_global_scope::v3::Request>,
) -> ApiResult<RumaResponse<get_pushrules_global_scope::v3::Response>> {
    let me = req.user()?;
    Ok(RumaResponse(get_pushrules_global_scope::v3::Response::new(
        rules.ruleset(&me.user_id).await?,
    )))
}

pub async fn get_pushrule(
    State(rules): State<PushRules>,
    req: Ruma<get_pushrule::v3::Request>,
) -> ApiResult<RumaResponse<get_pushrule::v3::Response>> {
    let me = req.user()?;
    let b = &req.body;
    let rule = rules.rule(&me.user_id, b.kind.clone(), &b.rule_id).await?;
    Ok(RumaResponse(get_pushrule::v3::Response::new(rule)))
}

pub async fn get_pushrule_enabled(
    State(rules): State<PushRules>,
    req: Ruma<get_pushrule_enabled::v3::Request>,
) -> ApiResult<RumaResponse<get_pushrule_enabled::v3::Response>> {
    let me = req.user()?;
    let b = &req.body;
    let rule = rules.rule(&me.user_id, b.kind.clone(), &b.rule_id).await?;
    Ok(RumaResponse(get_pushrule_enabled::v3::Response::new(
        rule.enabled,
    )))
}

pub async fn get_pushrule_actions(
    State(rules): State<PushRules>,
    req: Ruma<get_pushrule_actions::v3::Request>,
) -> ApiResult<RumaResponse<get_pushrule_actions::v3::Response>> {
    let me = req.user()?;
    let b = &req.body;
    let rule = rules.rule(&me.user_id, b.kind.clone(), &b.rule_id).await?;
    Ok(RumaResponse(get_pushrule_actions::v3::Response::new(
        rule.actions,
    )))
}

pub async fn set_pushrule(
    State(rules): State<PushRules>,
    req: Ruma<set_pushrule::v3::Request>,
) -> ApiResult<RumaResponse<set_pushrule::v3::Response>> {
    let me = req.user()?;
    let b = &req.body;
    rules
        .insert(
            &me.user_id,
            b.rule.clone(),
            b.after.as_deref(),
            b.before.as_deref(),
        )
        .await?;
    Ok(RumaResponse(set_pushrule::v3::Response::new()))
}

pub async fn delete_pushrule(
    State(rules): State<PushRules>,
    req: Ruma<delete_pushrule::v3::Request>,
) -> ApiResult<RumaResponse<delete_pushrule::v3::Response>> {
    let me = req.user()?;
    let b = &req.body;
    rules
        .remove(&me.user_id, b.kind.clone(), &b.rule_id)
        .await?;
    Ok(RumaResponse(delete_pushrule::v3::Response::new()))
}

pub async fn set_pushrule_enabled(
    State(rules): State<PushRules>,
    req: Ruma<set_pushrule_enabled::v3::Request>,
) -> ApiResult<RumaResponse<set_pushrule_enabled::v3::Response>> {
    let me = req.user()?;
    let b = &req.body;
    rules
        .set_enabled(&me.user_id, b.kind.clone(), &b.rule_id, b.enabled)
        .await?;
    Ok(RumaResponse(set_pushrule_enabled::v3::Response::new()))
}

pub async fn set_pushrule_actions(
    State(rules): State<PushRules>,
    req: Ruma<set_pushrule_actions::v3::Request>,
) -> ApiResult<RumaResponse<set_pushrule_actions::v3::Response>> {
    let me = req.user()?;
    let b = &req.body;
    rules
        .set_actions(&me.user_id, b.kind.clone(), &b.rule_id, b.actions.clone())
        .await?;
    Ok(RumaResponse(set_pushrule_actions::v3::Response::new()))
}

/// Pushers (push gateways) come with the notifications work; until then a
/// client sees an empty list rather than an error.
pub async fn get_pushers(
    req: Ruma<get_pushers::v3::Request>,
) -> ApiResult<RumaResponse<get_pushers::v3::Response>> {
    req.user()?;
    Ok(RumaResponse(get_pushers::v3::Response::new(Vec::new())))
}
