//! Other servers' users joining (`make_join`, `send_join` v2), leaving
//! (`make_leave`, `send_leave` v2) and knocking (`make_knock`,
//! `send_knock` v1), invites of this server's users (`invite` v2), and
//! third-party invites (`exchange_third_party_invite`, `3pid/onbind`).

use axum::extract::State;
use ruma::api::federation::{
    membership::{
        create_invite, create_join_event, create_knock_event, create_leave_event,
        prepare_join_event, prepare_knock_event, prepare_leave_event,
    },
    thirdparty::{bind_callback, exchange_invite},
};

use crate::{
    error::ApiResult,
    federation_request::FederationRequest,
    ruma_wrapper::{Ruma, RumaResponse},
    services::federation::inbound::Inbound,
};

pub async fn make_join(
    State(inbound): State<Inbound>,
    req: FederationRequest<prepare_join_event::v1::Request>,
) -> ApiResult<RumaResponse<prepare_join_event::v1::Response>> {
    let body = &req.body;
    let (version, event) = inbound
        .make_join(&req.origin, &body.room_id, &body.user_id, &body.ver)
        .await?;
    let mut response = prepare_join_event::v1::Response::new(event);
    response.room_version = Some(version);
    Ok(RumaResponse(response))
}

pub async fn send_join(
    State(inbound): State<Inbound>,
    req: FederationRequest<create_join_event::v2::Request>,
) -> ApiResult<RumaResponse<create_join_event::v2::Response>> {
    let body = &req.body;
    let joined = inbound
        .send_join(&req.origin, &body.room_id, &body.event_id, &body.pdu)
        .await?;
    let mut state = create_join_event::v2::RoomState::new();
    state.state = joined.state;
    state.auth_chain = joined.auth_chain;
    state.servers_in_room = Some(joined.servers_in_room);
    state.event = joined.event;
    Ok(RumaResponse(create_join_event::v2::Response::new(state)))
}

pub async fn invite(
    State(inbound): State<Inbound>,
    req: FederationRequest<create_invite::v2::Request>,
) -> ApiResult<RumaResponse<create_invite::v2::Response>> {
    let body = &req.body;
    let signed = inbound
        .receive_invite(
            &req.origin,
            &body.room_id,
            &body.event_id,
            &body.room_version,
            &body.event,
            &body.invite_room_state,
        )
        .await?;
    Ok(RumaResponse(create_invite::v2::Response::new(signed)))
}

pub async fn make_leave(
    State(inbound): State<Inbound>,
    req: FederationRequest<prepare_leave_event::v1::Request>,
) -> ApiResult<RumaResponse<prepare_leave_event::v1::Response>> {
    let body = &req.body;
    let (version, event) = inbound
        .make_leave(&req.origin, &body.room_id, &body.user_id)
        .await?;
    Ok(RumaResponse(prepare_leave_event::v1::Response::new(
        Some(version),
        event,
    )))
}

pub async fn send_leave(
    State(inbound): State<Inbound>,
    req: FederationRequest<create_leave_event::v2::Request>,
) -> ApiResult<RumaResponse<create_leave_event::v2::Response>> {
    let body = &req.body;
    inbound
        .send_leave(&req.origin, &body.room_id, &body.event_id, &body.pdu)
        .await?;
    Ok(RumaResponse(create_leave_event::v2::Response::new()))
}

pub async fn make_knock(
    State(inbound): State<Inbound>,
    req: FederationRequest<prepare_knock_event::v1::Request>,
) -> ApiResult<RumaResponse<prepare_knock_event::v1::Response>> {
    let body = &req.body;
    let (version, event) = inbound
        .make_knock(&req.origin, &body.room_id, &body.user_id, &body.ver)
        .await?;
    Ok(RumaResponse(prepare_knock_event::v1::Response::new(
        version, event,
    )))
}

pub async fn send_knock(
    State(inbound): State<Inbound>,
    req: FederationRequest<create_knock_event::v1::Request>,
) -> ApiResult<RumaResponse<create_knock_event::v1::Response>> {
    let body = &req.body;
    let shown = inbound
        .send_knock(&req.origin, &body.room_id, &body.event_id, &body.pdu)
        .await?;
    Ok(RumaResponse(create_knock_event::v1::Response::new(shown)))
}

pub async fn exchange_third_party_invite(
    State(inbound): State<Inbound>,
    req: FederationRequest<exchange_invite::v1::Request>,
) -> ApiResult<RumaResponse<exchange_invite::v1::Response>> {
    let body = &req.body;
    inbound
        .exchange_third_party_invite(
            &req.origin,
            &body.room_id,
            &body.kind,
            &body.sender,
            &body.state_key,
            &body.content,
        )
        .await?;
    Ok(RumaResponse(exchange_invite::v1::Response::new()))
}

/// From an identity server, which signs what matters (each invite's
/// `signed` block, checked by the room's rules), so no request signature.
pub async fn on_bind(
    State(inbound): State<Inbound>,
    req: Ruma<bind_callback::v1::Request>,
) -> ApiResult<RumaResponse<bind_callback::v1::Response>> {
    let body = &req.body;
    inbound
        .on_bind(&body.address, &body.mxid, &body.invites)
        .await?;
    Ok(RumaResponse(bind_callback::v1::Response::new()))
}
