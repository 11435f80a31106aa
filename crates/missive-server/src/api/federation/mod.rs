//! The Server-Server API, served on the federation listener (TLS). Every
//! endpoint authenticated by server signatures takes its request through
//! [`FederationRequest`](crate::federation_request::FederationRequest);
//! the key endpoints are unauthenticated by the spec.

mod directory;
mod events;
mod keys;
mod media;
mod membership;
mod query;
mod transactions;
mod user_keys;

use axum::{Router, routing::get};
use ruma::api::federation::{discovery, query as q};

use super::{openid, route};
use crate::{error::ApiError, state::AppState};

/// The federation listener's routes.
pub fn router() -> Router<AppState> {
    let r = Router::new().route("/health", get(super::discovery::health));
    let r = key_routes(r);
    let r = route::<discovery::get_server_version::v1::Request, _, _>(r, keys::get_server_version);
    let r =
        route::<q::get_profile_information::v1::Request, _, _>(r, query::get_profile_information);
    let r = route::<q::get_room_information::v1::Request, _, _>(r, query::get_room_information);
    let r = route::<ruma::api::federation::membership::prepare_join_event::v1::Request, _, _>(
        r,
        membership::make_join,
    );
    let r = route::<ruma::api::federation::membership::create_join_event::v2::Request, _, _>(
        r,
        membership::send_join,
    );
    let r = membership_routes(r);
    let r = event_routes(r);
    let r = route::<ruma::api::federation::membership::create_invite::v2::Request, _, _>(
        r,
        membership::invite,
    );
    let r = route::<ruma::api::federation::transactions::send_transaction_message::v1::Request, _, _>(
        r,
        transactions::send_transaction,
    );
    let r = route::<ruma::api::federation::device::get_devices::v1::Request, _, _>(
        r,
        user_keys::get_devices,
    );
    let r =
        route::<ruma::api::federation::keys::get_keys::v1::Request, _, _>(r, user_keys::query_keys);
    let r = route::<ruma::api::federation::keys::claim_keys::v1::Request, _, _>(
        r,
        user_keys::claim_keys,
    );
    let r = route::<ruma::api::federation::openid::get_openid_userinfo::v1::Request, _, _>(
        r,
        openid::get_openid_userinfo,
    );
    let r = media_routes(r);
    let r = route::<ruma::api::federation::directory::get_public_rooms::v1::Request, _, _>(
        r,
        directory::get_public_rooms,
    );
    let r = route::<ruma::api::federation::directory::get_public_rooms_filtered::v1::Request, _, _>(
        r,
        directory::get_public_rooms_filtered,
    );
    r.fallback(|| async { ApiError::Unrecognized })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
}

/// The key endpoints (our key, and the notary's), which the client
/// listener serves too.
pub fn key_routes(r: Router<AppState>) -> Router<AppState> {
    let r = route::<discovery::get_server_keys::v2::Request, _, _>(r, keys::get_server_keys);
    let r = route::<discovery::get_remote_server_keys::v2::Request, _, _>(
        r,
        keys::get_remote_server_keys,
    );
    route::<discovery::get_remote_server_keys_batch::v2::Request, _, _>(
        r,
        keys::get_remote_server_keys_batch,
    )
}

/// Other servers' users leaving and knocking.
fn membership_routes(r: Router<AppState>) -> Router<AppState> {
    use ruma::api::federation::membership::{
        create_knock_event, create_leave_event, prepare_knock_event, prepare_leave_event,
    };
    let r = route::<prepare_leave_event::v1::Request, _, _>(r, membership::make_leave);
    let r = route::<create_leave_event::v2::Request, _, _>(r, membership::send_leave);
    let r = route::<prepare_knock_event::v1::Request, _, _>(r, membership::make_knock);
    let r = route::<create_knock_event::v1::Request, _, _>(r, membership::send_knock);
    let r = route::<ruma::api::federation::thirdparty::exchange_invite::v1::Request, _, _>(
        r,
        membership::exchange_third_party_invite,
    );
    route::<ruma::api::federation::thirdparty::bind_callback::v1::Request, _, _>(
        r,
        membership::on_bind,
    )
}

/// Room events other servers fetch.
fn event_routes(r: Router<AppState>) -> Router<AppState> {
    use ruma::api::federation::{
        authorization::get_event_authorization,
        backfill::get_backfill,
        event::{get_event, get_missing_events, get_room_state, get_room_state_ids},
    };
    let r = route::<get_event::v1::Request, _, _>(r, events::get_event);
    let r = route::<get_room_state::v1::Request, _, _>(r, events::get_state);
    let r = route::<get_room_state_ids::v1::Request, _, _>(r, events::get_state_ids);
    let r = route::<get_event_authorization::v1::Request, _, _>(r, events::get_event_auth);
    let r = route::<get_missing_events::v1::Request, _, _>(r, events::get_missing_events);
    route::<get_backfill::v1::Request, _, _>(r, events::backfill)
}

/// Authenticated media for other servers.
fn media_routes(r: Router<AppState>) -> Router<AppState> {
    use ruma::api::federation::authenticated_media::{get_content, get_content_thumbnail};
    let r = route::<get_content::v1::Request, _, _>(r, media::download);
    route::<get_content_thumbnail::v1::Request, _, _>(r, media::thumbnail)
}
