//! The Identity Service API v2 (`/_matrix/identity/v2/...`), the parts
//! third-party invites need, served for this server's own users and the
//! addresses it validated itself. Its access tokens are identity tokens
//! (from `/account/register`), never client access tokens: the extractor
//! ignores tokens here (`request_policy`) and handlers read the bearer.

use std::collections::BTreeMap;

use axum::{Json, extract::State, http::HeaderMap};
use ruma::{
    api::identity_service::{
        authentication::{get_account_information, register},
        discovery::get_server_status,
        invitation::store_invitation,
        keys::{check_public_key_validity, get_public_key, validate_ephemeral_key},
        lookup::{IdentifierHashingAlgorithm, get_hash_parameters, lookup_3pid},
        tos::get_terms_of_service,
    },
    third_party_invite::IdentityServerBase64PublicKey,
};
use serde_json::{Value, json};

use crate::{
    error::{ApiError, ApiResult},
    ruma_wrapper::{Ruma, RumaResponse},
    services::identity::IdentityServer,
};

/// The identity access token of the `Authorization` header.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

pub async fn get_server_status(
    _req: Ruma<get_server_status::v2::Request>,
) -> RumaResponse<get_server_status::v2::Response> {
    RumaResponse(get_server_status::v2::Response::new())
}

pub async fn get_public_key(
    State(identity): State<IdentityServer>,
    req: Ruma<get_public_key::v2::Request>,
) -> ApiResult<RumaResponse<get_public_key::v2::Response>> {
    let key = identity.pubkey(req.body.key_id.as_str())?;
    Ok(RumaResponse(get_public_key::v2::Response::new(
        IdentityServerBase64PublicKey(key),
    )))
}

pub async fn check_public_key_validity(
    State(identity): State<IdentityServer>,
    req: Ruma<check_public_key_validity::v2::Request>,
) -> RumaResponse<check_public_key_validity::v2::Response> {
    let valid = identity.long_term_key_valid(&req.body.public_key.0);
    RumaResponse(check_public_key_validity::v2::Response::new(valid))
}

pub async fn validate_ephemeral_key(
    State(identity): State<IdentityServer>,
    req: Ruma<validate_ephemeral_key::v2::Request>,
) -> ApiResult<RumaResponse<validate_ephemeral_key::v2::Response>> {
    let valid = identity.ephemeral_key_valid(&req.body.public_key.0).await?;
    Ok(RumaResponse(validate_ephemeral_key::v2::Response::new(
        valid,
    )))
}

pub async fn register(
    State(identity): State<IdentityServer>,
    req: Ruma<register::v2::Request>,
) -> ApiResult<RumaResponse<register::v2::Response>> {
    let token = identity
        .register(&req.body.access_token, req.body.matrix_server_name.as_str())
        .await?;
    Ok(RumaResponse(register::v2::Response::new(token)))
}

/// ruma declares `POST /account`; the spec (and Sydent) serve `GET`,
/// answered by [`get_account`].
pub async fn get_account_information(
    State(identity): State<IdentityServer>,
    headers: HeaderMap,
    _req: Ruma<get_account_information::v2::Request>,
) -> ApiResult<RumaResponse<get_account_information::v2::Response>> {
    let user = identity.account(bearer(&headers)).await?;
    Ok(RumaResponse(get_account_information::v2::Response::new(
        user,
    )))
}

/// `GET /_matrix/identity/v2/account`.
pub async fn get_account(
    State(identity): State<IdentityServer>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let user = identity.account(bearer(&headers)).await?;
    Ok(Json(json!({ "user_id": user })))
}

pub async fn get_hash_parameters(
    State(identity): State<IdentityServer>,
    headers: HeaderMap,
    _req: Ruma<get_hash_parameters::v2::Request>,
) -> ApiResult<RumaResponse<get_hash_parameters::v2::Response>> {
    identity.account(bearer(&headers)).await?;
    Ok(RumaResponse(get_hash_parameters::v2::Response::new(
        identity.lookup_pepper().to_owned(),
        vec![
            IdentifierHashingAlgorithm::Sha256,
            IdentifierHashingAlgorithm::None,
        ],
    )))
}

pub async fn lookup_3pid(
    State(identity): State<IdentityServer>,
    headers: HeaderMap,
    req: Ruma<lookup_3pid::v2::Request>,
) -> ApiResult<RumaResponse<lookup_3pid::v2::Response>> {
    identity.account(bearer(&headers)).await?;
    let b = &req.body;
    let found = identity
        .lookup(b.algorithm.as_str(), &b.pepper, &b.addresses)
        .await?;
    Ok(RumaResponse(lookup_3pid::v2::Response::new(
        found.into_iter().collect(),
    )))
}

/// Only for rooms of this server, invited into by the token's owner.
pub async fn store_invitation(
    State(identity): State<IdentityServer>,
    headers: HeaderMap,
    req: Ruma<store_invitation::v2::Request>,
) -> ApiResult<RumaResponse<store_invitation::v2::Response>> {
    let user = identity.account(bearer(&headers)).await?;
    let b = &req.body;
    if b.sender != user {
        return Err(ApiError::forbidden(
            "invites are stored for their sender only",
        ));
    }
    let stored = identity
        .store_invite(&b.room_id, &b.sender, b.medium.as_str(), &b.address)
        .await?;
    let (long_term, ephemeral) = identity.invite_keys(&stored);
    Ok(RumaResponse(store_invitation::v2::Response::new(
        stored.token,
        store_invitation::v2::PublicKeys {
            server_key: long_term,
            ephemeral_key: ephemeral,
        },
        stored.display_name,
    )))
}

/// No terms to accept: the administration's own service.
pub async fn get_terms_of_service(
    _req: Ruma<get_terms_of_service::v2::Request>,
) -> RumaResponse<get_terms_of_service::v2::Response> {
    RumaResponse(get_terms_of_service::v2::Response::new(BTreeMap::new()))
}
