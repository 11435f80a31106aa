//! Room events other servers fetch: one event, the state at an event, an
//! event's auth chain, missing events and history.

use axum::extract::State;
use missive_core::Pdu;
use ruma::{
    MilliSecondsSinceUnixEpoch,
    api::federation::{
        authorization::get_event_authorization,
        backfill::get_backfill,
        event::{get_event, get_missing_events, get_room_state, get_room_state_ids},
    },
};
use serde_json::value::RawValue;

use crate::{
    error::{ApiError, ApiResult},
    federation_request::FederationRequest,
    ruma_wrapper::RumaResponse,
    services::federation::inbound::Inbound,
};

fn raw(pdu: &Pdu) -> ApiResult<Box<RawValue>> {
    serde_json::value::to_raw_value(&pdu.json).map_err(|e| ApiError::Internal(e.to_string()))
}

fn raws(pdus: &[Pdu]) -> ApiResult<Vec<Box<RawValue>>> {
    pdus.iter().map(raw).collect()
}

pub async fn get_event(
    State(inbound): State<Inbound>,
    req: FederationRequest<get_event::v1::Request>,
) -> ApiResult<RumaResponse<get_event::v1::Response>> {
    let pdu = inbound
        .served_event(&req.origin, &req.body.event_id)
        .await?;
    Ok(RumaResponse(get_event::v1::Response::new(
        inbound.server_name().to_owned(),
        MilliSecondsSinceUnixEpoch::now(),
        raw(&pdu)?,
    )))
}

pub async fn get_state(
    State(inbound): State<Inbound>,
    req: FederationRequest<get_room_state::v1::Request>,
) -> ApiResult<RumaResponse<get_room_state::v1::Response>> {
    let (state, chain) = inbound
        .served_state(&req.origin, &req.body.room_id, &req.body.event_id)
        .await?;
    Ok(RumaResponse(get_room_state::v1::Response::new(
        raws(&chain)?,
        raws(&state)?,
    )))
}

pub async fn get_state_ids(
    State(inbound): State<Inbound>,
    req: FederationRequest<get_room_state_ids::v1::Request>,
) -> ApiResult<RumaResponse<get_room_state_ids::v1::Response>> {
    let (state, chain) = inbound
        .served_state(&req.origin, &req.body.room_id, &req.body.event_id)
        .await?;
    Ok(RumaResponse(get_room_state_ids::v1::Response::new(
        chain.into_iter().map(|p| p.event_id).collect(),
        state.into_iter().map(|p| p.event_id).collect(),
    )))
}

pub async fn get_event_auth(
    State(inbound): State<Inbound>,
    req: FederationRequest<get_event_authorization::v1::Request>,
) -> ApiResult<RumaResponse<get_event_authorization::v1::Response>> {
    let chain = inbound
        .served_auth_chain(&req.origin, &req.body.room_id, &req.body.event_id)
        .await?;
    Ok(RumaResponse(get_event_authorization::v1::Response::new(
        raws(&chain)?,
    )))
}

pub async fn get_missing_events(
    State(inbound): State<Inbound>,
    req: FederationRequest<get_missing_events::v1::Request>,
) -> ApiResult<RumaResponse<get_missing_events::v1::Response>> {
    let body = &req.body;
    let events = inbound
        .served_missing_events(
            &req.origin,
            &body.room_id,
            &body.earliest_events,
            &body.latest_events,
            usize::try_from(u64::from(body.limit)).unwrap_or(usize::MAX),
            u64::from(body.min_depth),
        )
        .await?;
    Ok(RumaResponse(get_missing_events::v1::Response::new(raws(
        &events,
    )?)))
}

pub async fn backfill(
    State(inbound): State<Inbound>,
    req: FederationRequest<get_backfill::v1::Request>,
) -> ApiResult<RumaResponse<get_backfill::v1::Response>> {
    let body = &req.body;
    let events = inbound
        .served_backfill(
            &req.origin,
            &body.room_id,
            &body.v,
            usize::try_from(u64::from(body.limit)).unwrap_or(usize::MAX),
        )
        .await?;
    Ok(RumaResponse(get_backfill::v1::Response::new(
        inbound.server_name().to_owned(),
        MilliSecondsSinceUnixEpoch::now(),
        raws(&events)?,
    )))
}
