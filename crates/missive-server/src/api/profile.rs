//! Profiles: display name and avatar, carried into member events.

use axum::extract::State;
use ruma::api::client::profile::{
    get_avatar_url, get_display_name, get_profile, set_avatar_url, set_display_name,
};
use serde_json::json;

use crate::{
    error::ApiResult,
    ruma_wrapper::{Ruma, RumaResponse},
    services::profiles::Profiles,
};

pub async fn get_profile(
    State(profiles): State<Profiles>,
    req: Ruma<get_profile::v3::Request>,
) -> ApiResult<RumaResponse<get_profile::v3::Response>> {
    let p = profiles.lookup(&req.body.user_id).await?;
    let fields = [("displayname", p.displayname), ("avatar_url", p.avatar_url)];
    Ok(RumaResponse(
        fields
            .into_iter()
            .filter_map(|(k, v)| Some((k.to_owned(), json!(v?))))
            .collect(),
    ))
}

pub async fn get_display_name(
    State(profiles): State<Profiles>,
    req: Ruma<get_display_name::v3::Request>,
) -> ApiResult<RumaResponse<get_display_name::v3::Response>> {
    let p = profiles.lookup(&req.body.user_id).await?;
    Ok(RumaResponse(get_display_name::v3::Response::new(
        p.displayname,
    )))
}

pub async fn get_avatar_url(
    State(profiles): State<Profiles>,
    req: Ruma<get_avatar_url::v3::Request>,
) -> ApiResult<RumaResponse<get_avatar_url::v3::Response>> {
    let p = profiles.lookup(&req.body.user_id).await?;
    Ok(RumaResponse(get_avatar_url::v3::Response::new(
        p.avatar_url.map(Into::into),
    )))
}

pub async fn set_display_name(
    State(profiles): State<Profiles>,
    req: Ruma<set_display_name::v3::Request>,
) -> ApiResult<RumaResponse<set_display_name::v3::Response>> {
    let me = req.user()?;
    profiles
        .set_display_name(
            &me.user_id,
            &req.body.user_id,
            req.body.displayname.as_deref(),
        )
        .await?;
    Ok(RumaResponse(set_display_name::v3::Response::new()))
}

pub async fn set_avatar_url(
    State(profiles): State<Profiles>,
    req: Ruma<set_avatar_url::v3::Request>,
) -> ApiResult<RumaResponse<set_avatar_url::v3::Response>> {
    let me = req.user()?;
    profiles
        .set_avatar_url(
            &me.user_id,
            &req.body.user_id,
            req.body.avatar_url.as_deref(),
        )
        .await?;
    Ok(RumaResponse(set_avatar_url::v3::Response::new()))
}
