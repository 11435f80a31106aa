//! Queries other servers make of this one.

use axum::extract::State;
use ruma::api::federation::query::{get_profile_information, get_room_information};
use serde_json::json;

use crate::{
    error::{ApiError, ApiResult},
    federation_request::FederationRequest,
    ruma_wrapper::RumaResponse,
    services::{directory::Directory, profiles::Profiles},
};

/// A local alias: its room and servers to join through.
pub async fn get_room_information(
    State(directory): State<Directory>,
    req: FederationRequest<get_room_information::v1::Request>,
) -> ApiResult<RumaResponse<get_room_information::v1::Response>> {
    let (room_id, servers) = directory.resolve_local_alias(&req.body.room_alias).await?;
    Ok(RumaResponse(get_room_information::v1::Response::new(
        room_id, servers,
    )))
}

/// A local user's profile, or one field of it (Synapse: 400 for a user
/// of another server, 404 for an unknown one).
pub async fn get_profile_information(
    State(profiles): State<Profiles>,
    req: FederationRequest<get_profile_information::v1::Request>,
) -> ApiResult<RumaResponse<get_profile_information::v1::Response>> {
    let user = &req.body.user_id;
    if !profiles.is_local(user) {
        return Err(ApiError::invalid_param(
            "user is not hosted on this homeserver",
        ));
    }
    let profile = profiles.get(user).await?;
    let fields = [
        ("displayname", profile.displayname),
        ("avatar_url", profile.avatar_url),
    ];
    let wanted = req.body.field.as_ref().map(|f| f.as_str().to_owned());
    Ok(RumaResponse(
        fields
            .into_iter()
            .filter(|(k, _)| wanted.as_deref().is_none_or(|w| w == *k))
            .filter_map(|(k, v)| Some((k.to_owned(), json!(v?))))
            .collect(),
    ))
}
