//! VoIP: TURN server discovery.

use axum::Json;
use ruma::api::client::voip::get_turn_server_info;
use serde_json::{Value, json};

use crate::{error::ApiResult, ruma_wrapper::Ruma};

/// `GET /voip/turnServer`. No TURN server is configured yet, so, as
/// Synapse does then, the answer is an empty object: clients call over
/// STUN-free direct connections or their own fallback instead of failing.
pub async fn get_turn_server_info(
    req: Ruma<get_turn_server_info::v3::Request>,
) -> ApiResult<Json<Value>> {
    req.user()?;
    Ok(Json(json!({})))
}
