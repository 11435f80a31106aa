//! Server keys (ours, and others' as a notary) and the version.

use axum::extract::State;
use ruma::api::federation::discovery::{
    get_remote_server_keys, get_remote_server_keys_batch, get_server_keys, get_server_version,
};

use crate::{
    error::ApiResult,
    ruma_wrapper::{Ruma, RumaResponse},
    services::federation::Federation,
};

pub async fn get_server_keys(
    State(federation): State<Federation>,
    _req: Ruma<get_server_keys::v2::Request>,
) -> ApiResult<RumaResponse<get_server_keys::v2::Response>> {
    Ok(RumaResponse(get_server_keys::v2::Response::new(
        federation.keys().own_answer()?,
    )))
}

pub async fn get_remote_server_keys(
    State(federation): State<Federation>,
    req: Ruma<get_remote_server_keys::v2::Request>,
) -> ApiResult<RumaResponse<get_remote_server_keys::v2::Response>> {
    let server = &req.body.server_name;
    let minimum = i64::from(req.body.minimum_valid_until_ts.get());
    let keys = federation
        .keys()
        .notary_answer(server, Some(minimum), federation.accepts_from(server))
        .await?;
    Ok(RumaResponse(get_remote_server_keys::v2::Response::new(
        keys,
    )))
}

/// Servers asked about in one batch, at most (each may be a fetch).
const MAX_BATCH_SERVERS: usize = 100;

pub async fn get_remote_server_keys_batch(
    State(federation): State<Federation>,
    req: Ruma<get_remote_server_keys_batch::v2::Request>,
) -> ApiResult<RumaResponse<get_remote_server_keys_batch::v2::Response>> {
    if req.body.server_keys.len() > MAX_BATCH_SERVERS {
        return Err(crate::error::ApiError::invalid_param(format!(
            "at most {MAX_BATCH_SERVERS} servers per query"
        )));
    }
    let mut answers = Vec::new();
    for (server, wanted) in &req.body.server_keys {
        let minimum = wanted
            .values()
            .filter_map(|c| c.minimum_valid_until_ts)
            .map(|t| i64::from(t.get()))
            .max();
        answers.extend(
            federation
                .keys()
                .notary_answer(server, minimum, federation.accepts_from(server))
                .await?,
        );
    }
    Ok(RumaResponse(
        get_remote_server_keys_batch::v2::Response::new(answers),
    ))
}

pub async fn get_server_version(
    _req: Ruma<get_server_version::v1::Request>,
) -> ApiResult<RumaResponse<get_server_version::v1::Response>> {
    let mut server = get_server_version::v1::Server::new();
    server.name = Some("Missive".to_owned());
    server.version = Some(env!("CARGO_PKG_VERSION").to_owned());
    let mut answer = get_server_version::v1::Response::new();
    answer.server = Some(server);
    Ok(RumaResponse(answer))
}
