//! VoIP: TURN server discovery.

use axum::{
    Json,
    extract::State,
    response::{IntoResponse, Response},
};
use ruma::api::client::voip::get_turn_server_info;
use serde_json::json;

use crate::{
    error::ApiResult,
    ruma_wrapper::{Ruma, RumaResponse},
    services::turn::Turn,
};

/// `GET /voip/turnServer`: time-limited credentials for this server's
/// TURN relay. Without one configured the answer is an empty object, as
/// Synapse's: clients then call without a relay instead of failing.
pub async fn get_turn_server_info(
    State(turn): State<Turn>,
    req: Ruma<get_turn_server_info::v3::Request>,
) -> ApiResult<Response> {
    let Some(server) = turn.credentials_for(req.user()?)? else {
        return Ok(Json(json!({})).into_response());
    };
    Ok(RumaResponse(get_turn_server_info::v3::Response::new(
        server.username,
        server.password,
        server.uris,
        server.ttl,
    ))
    .into_response())
}
