//! `PUT /_matrix/federation/v1/send/{txnId}`: another server's events.

use axum::extract::State;
use ruma::api::federation::transactions::send_transaction_message;

use crate::{
    error::{ApiError, ApiResult},
    federation_request::FederationRequest,
    ruma_wrapper::RumaResponse,
    services::federation::inbound::Inbound,
};

pub async fn send_transaction(
    State(inbound): State<Inbound>,
    req: FederationRequest<send_transaction_message::v1::Request>,
) -> ApiResult<RumaResponse<send_transaction_message::v1::Response>> {
    let body = req.body;
    // The body's `origin` must be the server that signed the request.
    if body.origin != req.origin {
        return Err(ApiError::forbidden(
            "the transaction's origin is not the server that sent it",
        ));
    }
    let results = inbound
        .transaction(&req.origin, &body.transaction_id, &body.pdus, &body.edus)
        .await?;
    Ok(RumaResponse(send_transaction_message::v1::Response::new(
        results,
    )))
}
