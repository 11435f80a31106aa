//! OpenID: a token for a third party (client API), and the federation
//! endpoint on which the third party checks it (no server signature: the
//! token is the credential).

use axum::extract::State;
use ruma::api::{client::account::request_openid_token, federation::openid::get_openid_userinfo};

use crate::{
    error::ApiResult,
    ruma_wrapper::{Ruma, RumaResponse},
    services::openid::OpenId,
};

pub async fn request_openid_token(
    State(openid): State<OpenId>,
    req: Ruma<request_openid_token::v3::Request>,
) -> ApiResult<RumaResponse<request_openid_token::v3::Response>> {
    let me = req.user()?;
    let token = openid.request_token(&me.user_id, &req.body.user_id).await?;
    Ok(RumaResponse(request_openid_token::v3::Response::new(
        token.access_token,
        ruma::authentication::TokenType::Bearer,
        token.server_name,
        token.expires_in,
    )))
}

pub async fn get_openid_userinfo(
    State(openid): State<OpenId>,
    req: Ruma<get_openid_userinfo::v1::Request>,
) -> ApiResult<RumaResponse<get_openid_userinfo::v1::Response>> {
    let user = openid.userinfo(&req.body.access_token).await?;
    Ok(RumaResponse(get_openid_userinfo::v1::Response::new(user)))
}
