//! The HTTP surface: one module per endpoint group, one handler per
//! endpoint, each named after it. Routes come from ruma's endpoint metadata
//! (method and every versioned path), so paths are never typed by hand.

mod account;
mod account_data;
mod backup;
mod dehydrated;
mod devices;
mod directory;
mod discovery;
mod ephemeral;
mod events;
pub mod federation;
mod identity;
mod keys;
mod media;
pub mod nul_guard;
mod openid;
mod presence;
mod profile;
mod push_rules;
mod pushers;
mod relations;
mod reports;
mod rooms;
mod search;
mod spaces;
mod sync;
mod thirdparty;
mod threepids;
mod voip;
pub mod web_client;

use axum::{
    Router,
    handler::Handler,
    routing::{MethodFilter, delete, get, on, post, put},
};
use ruma::api::{IncomingRequest, path_builder::PathBuilder};

use crate::{error::ApiError, state::AppState};

/// Adds `handler` for every path of endpoint `R`.
fn route<R, H, T>(router: Router<AppState>, handler: H) -> Router<AppState>
where
    R: IncomingRequest,
    H: Handler<T, AppState>,
    T: 'static,
{
    let filter = MethodFilter::try_from(R::METHOD).expect("ruma endpoints use standard methods");
    R::PATH_BUILDER.all_paths().fold(router, |router, path| {
        router.route(path, on(filter, handler.clone()))
    })
}

/// Like [`route`], and also without the last path parameter (with or
/// without a trailing slash): the spec lets clients omit an empty state key.
fn route_optional_last<R, H, T>(router: Router<AppState>, handler: H) -> Router<AppState>
where
    R: IncomingRequest,
    H: Handler<T, AppState>,
    T: 'static,
{
    let filter = MethodFilter::try_from(R::METHOD).expect("ruma endpoints use standard methods");
    let router = route::<R, H, T>(router, handler.clone());
    R::PATH_BUILDER.all_paths().fold(router, |router, path| {
        let short = path.rsplit_once('/').map_or(path, |(head, _)| head);
        router
            .route(short, on(filter, handler.clone()))
            .route(&format!("{short}/"), on(filter, handler.clone()))
    })
}

/// E-mail addresses: their validation and `/account/3pid`.
fn threepid_routes(r: Router<AppState>) -> Router<AppState> {
    use ruma::api::client::account as acc;
    let r = route::<acc::request_registration_token_via_email::v3::Request, _, _>(
        r,
        threepids::request_registration_token_via_email,
    );
    let r = route::<acc::request_3pid_management_token_via_email::v3::Request, _, _>(
        r,
        threepids::request_3pid_management_token_via_email,
    );
    let r = route::<acc::request_password_change_token_via_email::v3::Request, _, _>(
        r,
        threepids::request_password_change_token_via_email,
    );
    let r = route::<acc::request_registration_token_via_msisdn::v3::Request, _, _>(
        r,
        threepids::request_registration_token_via_msisdn,
    );
    let r = route::<acc::request_3pid_management_token_via_msisdn::v3::Request, _, _>(
        r,
        threepids::request_3pid_management_token_via_msisdn,
    );
    let r = route::<acc::request_password_change_token_via_msisdn::v3::Request, _, _>(
        r,
        threepids::request_password_change_token_via_msisdn,
    );
    let r = route::<acc::get_3pids::v3::Request, _, _>(r, threepids::get_3pids);
    let r = route::<acc::add_3pid::v3::Request, _, _>(r, threepids::add_3pid);
    let r = route::<acc::delete_3pid::v3::Request, _, _>(r, threepids::delete_3pid);
    let r = route::<acc::bind_3pid::v3::Request, _, _>(r, threepids::bind_3pid);
    let r = route::<acc::unbind_3pid::v3::Request, _, _>(r, threepids::unbind_3pid);
    r.route(
        crate::services::threepids::SUBMIT_TOKEN_PATH,
        get(threepids::submit_token_page).post(threepids::submit_token_json),
    )
}

/// The identity service API this server answers for its own addresses.
fn identity_routes(r: Router<AppState>) -> Router<AppState> {
    use ruma::api::identity_service::{
        authentication as auth, discovery, invitation, keys, lookup, tos,
    };
    let r =
        route::<discovery::get_server_status::v2::Request, _, _>(r, identity::get_server_status);
    let r = route::<keys::get_public_key::v2::Request, _, _>(r, identity::get_public_key);
    let r = route::<keys::check_public_key_validity::v2::Request, _, _>(
        r,
        identity::check_public_key_validity,
    );
    let r = route::<keys::validate_ephemeral_key::v2::Request, _, _>(
        r,
        identity::validate_ephemeral_key,
    );
    let r = route::<auth::register::v2::Request, _, _>(r, identity::register);
    let r = route::<auth::get_account_information::v2::Request, _, _>(
        r,
        identity::get_account_information,
    );
    let r =
        route::<lookup::get_hash_parameters::v2::Request, _, _>(r, identity::get_hash_parameters);
    let r = route::<lookup::lookup_3pid::v2::Request, _, _>(r, identity::lookup_3pid);
    let r = route::<invitation::store_invitation::v2::Request, _, _>(r, identity::store_invitation);
    let r =
        route::<tos::get_terms_of_service::v2::Request, _, _>(r, identity::get_terms_of_service);
    r.route(
        &format!("{}/account", crate::services::identity::PREFIX),
        get(identity::get_account),
    )
}

/// All client-server endpoints, plus discovery, health and the web client.
pub fn router() -> Router<AppState> {
    use ruma::api::client::{
        account as acc, alias, backup as bk, config, context, dehydrated_device as dh, device,
        directory as dir, discovery as disc, filter, keys as k, knock, membership as mem, message,
        presence as pres, profile as prof, push, read_marker, receipt, redact, relations as rel,
        room, search as srch, session, state as st, sync as sy, tag, threads, to_device, typing,
        user_directory, voip as vo,
    };
    let r = Router::new()
        .route("/health", get(discovery::health))
        .route(
            "/.well-known/matrix/client",
            get(discovery::well_known_client),
        )
        .route(
            "/.well-known/matrix/server",
            get(discovery::well_known_server),
        );
    let r =
        route::<disc::get_supported_versions::Request, _, _>(r, discovery::get_supported_versions);
    let r = route::<disc::get_capabilities::v3::Request, _, _>(r, discovery::get_capabilities);

    let r = route::<acc::register::v3::Request, _, _>(r, account::register);
    let r = route::<acc::get_username_availability::v3::Request, _, _>(
        r,
        account::get_username_availability,
    );
    let r = route::<acc::check_registration_token_validity::v1::Request, _, _>(
        r,
        account::check_registration_token_validity,
    );
    let r = route::<session::get_login_types::v3::Request, _, _>(r, account::get_login_types);
    let r = route::<session::login::v3::Request, _, _>(r, account::login);
    let r = route::<session::logout::v3::Request, _, _>(r, account::logout);
    let r = route::<session::logout_all::v3::Request, _, _>(r, account::logout_all);
    let r = route::<acc::whoami::v3::Request, _, _>(r, account::whoami);
    let r = route::<acc::change_password::v3::Request, _, _>(r, account::change_password);
    let r = route::<acc::deactivate::v3::Request, _, _>(r, account::deactivate);
    let r = threepid_routes(r);
    let r = identity_routes(r);
    let r = route::<acc::request_openid_token::v3::Request, _, _>(r, openid::request_openid_token);
    let r = route::<ruma::api::federation::openid::get_openid_userinfo::v1::Request, _, _>(
        r,
        openid::get_openid_userinfo,
    );
    let r = route::<ruma::api::client::admin::get_user_info::v3::Request, _, _>(
        r,
        devices::get_user_info,
    );

    let r = route::<device::get_devices::v3::Request, _, _>(r, devices::get_devices);
    let r = route::<device::get_device::v3::Request, _, _>(r, devices::get_device);
    let r = route::<device::update_device::v3::Request, _, _>(r, devices::update_device);
    let r = route::<device::delete_device::v3::Request, _, _>(r, devices::delete_device);
    let r = route::<device::delete_devices::v3::Request, _, _>(r, devices::delete_devices);

    let r = route::<prof::get_profile::v3::Request, _, _>(r, profile::get_profile);
    let r = route::<prof::get_display_name::v3::Request, _, _>(r, profile::get_display_name);
    let r = route::<prof::get_avatar_url::v3::Request, _, _>(r, profile::get_avatar_url);
    let r = route::<prof::set_display_name::v3::Request, _, _>(r, profile::set_display_name);
    let r = route::<prof::set_avatar_url::v3::Request, _, _>(r, profile::set_avatar_url);

    let r = route::<room::create_room::v3::Request, _, _>(r, rooms::create_room);
    let r = route::<room::upgrade_room::v3::Request, _, _>(r, rooms::upgrade_room);
    let r = route::<mem::joined_rooms::v3::Request, _, _>(r, rooms::joined_rooms);
    let r = route::<mem::join_room_by_id::v3::Request, _, _>(r, rooms::join_room_by_id);
    let r = route::<mem::join_room_by_id_or_alias::v3::Request, _, _>(
        r,
        rooms::join_room_by_id_or_alias,
    );
    let r = route::<knock::knock_room::v3::Request, _, _>(r, rooms::knock_room);
    let r = route::<mem::invite_user::v3::Request, _, _>(r, rooms::invite_user);
    let r = route::<mem::leave_room::v3::Request, _, _>(r, rooms::leave_room);
    let r = route::<mem::kick_user::v3::Request, _, _>(r, rooms::kick_user);
    let r = route::<mem::ban_user::v3::Request, _, _>(r, rooms::ban_user);
    let r = route::<mem::unban_user::v3::Request, _, _>(r, rooms::unban_user);
    let r = route::<mem::forget_room::v3::Request, _, _>(r, rooms::forget_room);

    let r = route::<message::send_message_event::v3::Request, _, _>(r, events::send_message_event);
    let r =
        route_optional_last::<st::send_state_event::v3::Request, _, _>(r, events::send_state_event);
    let r = route::<redact::redact_event::v3::Request, _, _>(r, events::redact_event);
    let r = route::<st::get_state_events::v3::Request, _, _>(r, events::get_state_events);
    let r = route_optional_last::<st::get_state_event_for_key::v3::Request, _, _>(
        r,
        events::get_state_event_for_key,
    );
    let r = route::<room::get_room_event::v3::Request, _, _>(r, events::get_room_event);
    let r = thirdparty_routes(r);
    let r =
        route::<room::get_event_by_timestamp::v1::Request, _, _>(r, events::get_event_by_timestamp);
    let r = route::<message::get_message_events::v3::Request, _, _>(r, events::get_message_events);
    let r = route::<context::get_context::v3::Request, _, _>(r, events::get_context);
    let r = route::<rel::get_relating_events::v1::Request, _, _>(r, relations::get_relating_events);
    let r = route::<rel::get_relating_events_with_rel_type::v1::Request, _, _>(
        r,
        relations::get_relating_events_with_rel_type,
    );
    let r = route::<rel::get_relating_events_with_rel_type_and_event_type::v1::Request, _, _>(
        r,
        relations::get_relating_events_with_rel_type_and_event_type,
    );
    let r = route::<threads::get_threads::v1::Request, _, _>(r, relations::get_threads);
    let r = route::<ruma::api::client::space::get_hierarchy::v1::Request, _, _>(
        r,
        spaces::get_hierarchy,
    );
    let r = route::<mem::get_member_events::v3::Request, _, _>(r, events::get_member_events);
    let r = route::<mem::joined_members::v3::Request, _, _>(r, events::joined_members);

    let r = route::<sy::sync_events::v3::Request, _, _>(r, sync::sync_events);
    let r = route::<filter::create_filter::v3::Request, _, _>(r, sync::create_filter);
    let r = route::<filter::get_filter::v3::Request, _, _>(r, sync::get_filter);

    let r =
        route::<typing::create_typing_event::v3::Request, _, _>(r, ephemeral::create_typing_event);
    let r = route::<receipt::create_receipt::v3::Request, _, _>(r, ephemeral::create_receipt);
    let r = route::<read_marker::set_read_marker::v3::Request, _, _>(r, ephemeral::set_read_marker);

    let r = route::<config::set_global_account_data::v3::Request, _, _>(
        r,
        account_data::set_global_account_data,
    );
    let r = route::<config::get_global_account_data::v3::Request, _, _>(
        r,
        account_data::get_global_account_data,
    );
    let r = route::<config::set_room_account_data::v3::Request, _, _>(
        r,
        account_data::set_room_account_data,
    );
    let r = route::<config::get_room_account_data::v3::Request, _, _>(
        r,
        account_data::get_room_account_data,
    );
    let r = route::<tag::get_tags::v3::Request, _, _>(r, account_data::get_tags);
    let r = route::<tag::create_tag::v3::Request, _, _>(r, account_data::create_tag);
    let r = route::<tag::delete_tag::v3::Request, _, _>(r, account_data::delete_tag);

    let r = route::<push::get_pushrules_all::v3::Request, _, _>(r, push_rules::get_pushrules_all);
    let r = route::<push::get_pushrules_global_scope::v3::Request, _, _>(
        r,
        push_rules::get_pushrules_global_scope,
    );
    let r = route::<push::get_pushrule::v3::Request, _, _>(r, push_rules::get_pushrule);
    let r =
        route::<push::get_pushrule_enabled::v3::Request, _, _>(r, push_rules::get_pushrule_enabled);
    let r =
        route::<push::get_pushrule_actions::v3::Request, _, _>(r, push_rules::get_pushrule_actions);
    let r = route::<push::set_pushrule::v3::Request, _, _>(r, push_rules::set_pushrule);
    let r = route::<push::delete_pushrule::v3::Request, _, _>(r, push_rules::delete_pushrule);
    let r =
        route::<push::set_pushrule_enabled::v3::Request, _, _>(r, push_rules::set_pushrule_enabled);
    let r =
        route::<push::set_pushrule_actions::v3::Request, _, _>(r, push_rules::set_pushrule_actions);
    let r = route::<push::get_pushers::v3::Request, _, _>(r, pushers::get_pushers);
    let r = route::<push::set_pusher::v3::Request, _, _>(r, pushers::set_pusher);
    let r = route::<push::get_notifications::v3::Request, _, _>(r, pushers::get_notifications);
    // Push rule paths ruma's routes do not take: listings of one kind and
    // malformed paths (answered 400, as Synapse does, not 404).
    let r = ["r0", "v3"].into_iter().fold(r, |r, version| {
        r.route(
            &format!("/_matrix/client/{version}/pushrules/{{*rest}}"),
            axum::routing::any(push_rules::push_rule_path),
        )
    });

    let r = route::<alias::create_alias::v3::Request, _, _>(r, directory::create_alias);
    let r = route::<alias::get_alias::v3::Request, _, _>(r, directory::get_alias);
    let r = route::<alias::delete_alias::v3::Request, _, _>(r, directory::delete_alias);
    let r = route::<room::aliases::v3::Request, _, _>(r, directory::get_room_aliases);
    let r = route::<dir::get_room_visibility::v3::Request, _, _>(r, directory::get_room_visibility);
    let r = route::<dir::set_room_visibility::v3::Request, _, _>(r, directory::set_room_visibility);
    let r = route::<dir::get_public_rooms::v3::Request, _, _>(r, directory::get_public_rooms);
    let r = route::<dir::get_public_rooms_filtered::v3::Request, _, _>(
        r,
        directory::get_public_rooms_filtered,
    );
    let r = route::<user_directory::search_users::v3::Request, _, _>(r, directory::search_users);

    let r = route::<srch::search_events::v3::Request, _, _>(r, search::search_events);
    let r = route::<room::report_content::v3::Request, _, _>(r, reports::report_content);
    let r = route::<room::report_room::v3::Request, _, _>(r, reports::report_room);

    let r = route::<vo::get_turn_server_info::v3::Request, _, _>(r, voip::get_turn_server_info);

    let r = route::<pres::set_presence::v3::Request, _, _>(r, presence::set_presence);
    let r = route::<pres::get_presence::v3::Request, _, _>(r, presence::get_presence);

    let r = route::<k::upload_keys::v3::Request, _, _>(r, keys::upload_keys);
    let r = route::<k::get_keys::v3::Request, _, _>(r, keys::get_keys);
    let r = route::<k::claim_keys::v3::Request, _, _>(r, keys::claim_keys);
    let r = route::<k::get_key_changes::v3::Request, _, _>(r, keys::get_key_changes);
    let r = route::<k::upload_signing_keys::v3::Request, _, _>(r, keys::upload_signing_keys);
    let r = route::<k::upload_signatures::v3::Request, _, _>(r, keys::upload_signatures);
    let r =
        route::<to_device::send_event_to_device::v3::Request, _, _>(r, keys::send_event_to_device);

    let r = route::<bk::create_backup_version::v3::Request, _, _>(r, backup::create_backup_version);
    let r =
        route::<bk::get_latest_backup_info::v3::Request, _, _>(r, backup::get_latest_backup_info);
    let r = route::<bk::get_backup_info::v3::Request, _, _>(r, backup::get_backup_info);
    let r = route::<bk::update_backup_version::v3::Request, _, _>(r, backup::update_backup_version);
    let r = route::<bk::delete_backup_version::v3::Request, _, _>(r, backup::delete_backup_version);
    let r = route::<bk::add_backup_keys::v3::Request, _, _>(r, backup::add_backup_keys);
    let r = route::<bk::add_backup_keys_for_room::v3::Request, _, _>(
        r,
        backup::add_backup_keys_for_room,
    );
    let r = route::<bk::add_backup_keys_for_session::v3::Request, _, _>(
        r,
        backup::add_backup_keys_for_session,
    );
    let r = route::<bk::get_backup_keys::v3::Request, _, _>(r, backup::get_backup_keys);
    let r = route::<bk::get_backup_keys_for_room::v3::Request, _, _>(
        r,
        backup::get_backup_keys_for_room,
    );
    let r = route::<bk::get_backup_keys_for_session::v3::Request, _, _>(
        r,
        backup::get_backup_keys_for_session,
    );
    let r = route::<bk::delete_backup_keys::v3::Request, _, _>(r, backup::delete_backup_keys);
    let r = route::<bk::delete_backup_keys_for_room::v3::Request, _, _>(
        r,
        backup::delete_backup_keys_for_room,
    );
    let r = route::<bk::delete_backup_keys_for_session::v3::Request, _, _>(
        r,
        backup::delete_backup_keys_for_session,
    );

    let r = route::<dh::put_dehydrated_device::unstable::Request, _, _>(
        r,
        dehydrated::put_dehydrated_device,
    );
    let r = route::<dh::get_dehydrated_device::unstable::Request, _, _>(
        r,
        dehydrated::get_dehydrated_device,
    );
    let r = route::<dh::delete_dehydrated_device::unstable::Request, _, _>(
        r,
        dehydrated::delete_dehydrated_device,
    );
    let r = route::<dh::get_events::unstable::Request, _, _>(r, dehydrated::get_dehydrated_events);

    let r = r
        .route("/_matrix/media/v3/upload", post(media::upload))
        .route("/_matrix/media/r0/upload", post(media::upload))
        .route("/_matrix/media/v1/create", post(media::create_mxc_uri))
        .route(
            "/_matrix/media/v3/upload/{server}/{media_id}",
            put(media::upload_pending),
        )
        .route("/_matrix/client/v1/media/config", get(media::config))
        .route("/_matrix/media/v3/config", get(media::config))
        .route(
            "/_matrix/client/v1/media/download/{server}/{media_id}",
            get(media::download),
        )
        .route(
            "/_matrix/client/v1/media/download/{server}/{media_id}/{filename}",
            get(media::download),
        )
        .route(
            "/_matrix/client/v1/media/thumbnail/{server}/{media_id}",
            get(media::thumbnail),
        )
        .route(
            "/_matrix/client/v1/media/preview_url",
            get(media::preview_url),
        )
        .route("/_matrix/media/v3/preview_url", get(media::preview_url))
        .route(
            "/_matrix/media/v3/download/{server}/{media_id}",
            get(media::legacy_download),
        )
        .route(
            "/_matrix/media/v3/download/{server}/{media_id}/{filename}",
            get(media::legacy_download),
        )
        .route(
            "/_matrix/media/r0/download/{server}/{media_id}",
            get(media::legacy_download),
        )
        .route(
            "/_matrix/media/v3/thumbnail/{server}/{media_id}",
            get(media::legacy_thumbnail),
        )
        .route(
            "/_matrix/media/r0/thumbnail/{server}/{media_id}",
            get(media::legacy_thumbnail),
        )
        .route(
            "/_matrix/media_proxy/unstable/scan_encrypted",
            post(media::scan_encrypted),
        )
        .route(
            "/_matrix/media_proxy/unstable/download_encrypted",
            post(media::download_encrypted),
        )
        .route(
            "/_matrix/media_proxy/unstable/scan/{server}/{media_id}",
            get(media::scan_plain),
        )
        .route(
            "/_matrix/media_proxy/unstable/download/{server}/{media_id}",
            get(media::download),
        )
        .route(
            "/_synapse/admin/v1/media/{server}/{media_id}",
            delete(media::admin_delete_media),
        )
        .route(
            "/_synapse/admin/v1/users/{user_id}/media",
            delete(media::admin_delete_user_media),
        )
        .route(
            "/_synapse/admin/v1/event_reports",
            get(reports::admin_event_reports),
        );

    // Our key on the client listener too: tools and peers check it there.
    let r = federation::key_routes(r);

    r.route("/config.json", get(web_client::client_config))
        .fallback(web_client::serve)
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
}

/// `/thirdparty/...`: no bridges run here (see `thirdparty`).
fn thirdparty_routes(r: Router<AppState>) -> Router<AppState> {
    use ruma::api::client::thirdparty as tp;
    let r = route::<tp::get_protocols::v3::Request, _, _>(r, thirdparty::get_protocols);
    let r = route::<tp::get_protocol::v3::Request, _, _>(r, thirdparty::get_protocol);
    let r = route::<tp::get_location_for_protocol::v3::Request, _, _>(
        r,
        thirdparty::get_location_for_protocol,
    );
    let r =
        route::<tp::get_user_for_protocol::v3::Request, _, _>(r, thirdparty::get_user_for_protocol);
    let r = route::<tp::get_location_for_room_alias::v3::Request, _, _>(
        r,
        thirdparty::get_location_for_room_alias,
    );
    route::<tp::get_user_for_user_id::v3::Request, _, _>(r, thirdparty::get_user_for_user_id)
}
