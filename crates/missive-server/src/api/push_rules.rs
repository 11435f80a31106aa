//! Push rule endpoints: the user's rule set, stored as `m.push_rules`.

use axum::{
    Json,
    extract::{Path, State},
};
use http::Method;
use ruma::api::client::push::{
    PushRule, RuleKind, delete_pushrule, get_pushrule, get_pushrule_actions, get_pushrule_enabled,
    get_pushrules_all, get_pushrules_global_scope, set_pushrule, set_pushrule_actions,
    set_pushrule_enabled,
};

use super::media::Authed;
use crate::{
    error::{ApiError, ApiResult},
    request_policy::PUSH_RULE_KINDS,
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

/// Every other path under `/pushrules/` (ruma's routes take the spec's):
/// `GET /pushrules/global/{kind}/` lists the rules of one kind, as
/// Synapse does (ruma has no type for it: the answer is a list of ruma's
/// `PushRule`); any other path is malformed, answered as Synapse does with
/// 400 `M_UNRECOGNIZED` (an unknown scope, a missing rule ID or trailing
/// slash, an unknown attribute) rather than 404.
pub async fn push_rule_path(
    State(rules): State<PushRules>,
    Authed(me): Authed,
    method: Method,
    Path(rest): Path<String>,
) -> ApiResult<Json<Vec<PushRule>>> {
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        ["global", kind, ""] if method == Method::GET => {
            if !PUSH_RULE_KINDS.contains(kind) {
                return Err(ApiError::UnrecognizedRequest(format!(
                    "unknown push rule kind {kind:?}"
                )));
            }
            let kind = RuleKind::from(*kind);
            Ok(Json(rules.rules_of_kind(&me.user_id, kind).await?))
        }
        [scope, ..] if *scope != "global" => Err(ApiError::UnrecognizedRequest(format!(
            "unknown push rule scope {scope:?}"
        ))),
        ["global", _, ""] | ["global", _] => Err(ApiError::UnrecognizedRequest(
            "a push rule ID is missing from the path".into(),
        )),
        _ => Err(ApiError::UnrecognizedRequest(
            "unrecognised push rule path".into(),
        )),
    }
}
