//! Third-party networks (`/thirdparty/...`): bridges registered as
//! application services would list their protocols here. This server runs
//! no bridges, so there are none (as Synapse without application services
//! answers): the list is empty, a protocol is unknown, a lookup finds none.

use ruma::api::client::thirdparty::{
    get_location_for_protocol, get_location_for_room_alias, get_protocol, get_protocols,
    get_user_for_protocol, get_user_for_user_id,
};

use crate::{
    error::{ApiError, ApiResult},
    ruma_wrapper::{Ruma, RumaResponse},
};

fn unknown_protocol() -> ApiError {
    ApiError::not_found("unknown third-party protocol")
}

pub async fn get_protocols(
    req: Ruma<get_protocols::v3::Request>,
) -> ApiResult<RumaResponse<get_protocols::v3::Response>> {
    req.user()?;
    Ok(RumaResponse(get_protocols::v3::Response::new(
        Default::default(),
    )))
}

pub async fn get_protocol(
    req: Ruma<get_protocol::v3::Request>,
) -> ApiResult<RumaResponse<get_protocol::v3::Response>> {
    req.user()?;
    Err(unknown_protocol())
}

pub async fn get_location_for_protocol(
    req: Ruma<get_location_for_protocol::v3::Request>,
) -> ApiResult<RumaResponse<get_location_for_protocol::v3::Response>> {
    req.user()?;
    Err(unknown_protocol())
}

pub async fn get_user_for_protocol(
    req: Ruma<get_user_for_protocol::v3::Request>,
) -> ApiResult<RumaResponse<get_user_for_protocol::v3::Response>> {
    req.user()?;
    Err(unknown_protocol())
}

pub async fn get_location_for_room_alias(
    req: Ruma<get_location_for_room_alias::v3::Request>,
) -> ApiResult<RumaResponse<get_location_for_room_alias::v3::Response>> {
    req.user()?;
    Ok(RumaResponse(
        get_location_for_room_alias::v3::Response::new(Vec::new()),
    ))
}

pub async fn get_user_for_user_id(
    req: Ruma<get_user_for_user_id::v3::Request>,
) -> ApiResult<RumaResponse<get_user_for_user_id::v3::Response>> {
    req.user()?;
    Ok(RumaResponse(get_user_for_user_id::v3::Response::new(
        Vec::new(),
    )))
}
