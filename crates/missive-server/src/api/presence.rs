//! Presence.

use std::time::Duration;

use axum::extract::State;
use ruma::{
    api::client::presence::{get_presence, set_presence},
    presence::PresenceState,
};

use crate::{
    error::ApiResult,
    ruma_wrapper::{Ruma, RumaResponse},
    services::presence::Presence,
    time::now_ms,
};

pub async fn set_presence(
    State(presence): State<Presence>,
    req: Ruma<set_presence::v3::Request>,
) -> ApiResult<RumaResponse<set_presence::v3::Response>> {
    let me = req.user()?;
    let b = &req.body;
    presence
        .set_own(&me.user_id, &b.user_id, &b.presence, b.status_msg.clone())
        .await?;
    Ok(RumaResponse(set_presence::v3::Response::new()))
}

pub async fn get_presence(
    State(presence): State<Presence>,
    req: Ruma<get_presence::v3::Request>,
) -> ApiResult<RumaResponse<get_presence::v3::Response>> {
    let me = req.user()?;
    let p = presence.status(&me.user_id, &req.body.user_id).await?;
    let ago = u64::try_from(now_ms() - p.last_active_ts).unwrap_or(0);
    let mut res = get_presence::v3::Response::new(PresenceState::from(p.state.as_str()));
    res.currently_active = Some(p.state == "online");
    // Never active: no "last active" to tell.
    res.last_active_ago = (p.last_active_ts > 0).then(|| Duration::from_millis(ago));
    res.status_msg = p.status_msg;
    Ok(RumaResponse(res))
}
