//! Pusher and notification endpoints: `GET /pushers`, `POST /pushers/set`
//! and `GET /notifications`.

use axum::extract::State;
use ruma::api::client::push::{get_notifications, get_pushers, set_pusher};

use crate::{
    error::ApiResult,
    ruma_wrapper::{Ruma, RumaResponse},
    services::push::Pushers,
};

pub async fn get_pushers(
    State(pushers): State<Pushers>,
    req: Ruma<get_pushers::v3::Request>,
) -> ApiResult<RumaResponse<get_pushers::v3::Response>> {
    let me = req.user()?;
    Ok(RumaResponse(get_pushers::v3::Response::new(
        pushers.list(&me.user_id).await?,
    )))
}

pub async fn set_pusher(
    State(pushers): State<Pushers>,
    req: Ruma<set_pusher::v3::Request>,
) -> ApiResult<RumaResponse<set_pusher::v3::Response>> {
    let me = req.user()?;
    pushers.set(me, req.body.action.clone()).await?;
    Ok(RumaResponse(set_pusher::v3::Response::new()))
}

pub async fn get_notifications(
    State(pushers): State<Pushers>,
    req: Ruma<get_notifications::v3::Request>,
) -> ApiResult<RumaResponse<get_notifications::v3::Response>> {
    let me = req.user()?;
    let b = &req.body;
    Ok(RumaResponse(
        pushers
            .notifications(&me.user_id, b.from.as_deref(), b.limit, b.only.as_deref())
            .await?,
    ))
}
