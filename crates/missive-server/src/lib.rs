//! missive-server: a Matrix homeserver.
//!
//! `main.rs` parses the command line; this library assembles the server
//! from its parts so that tests can drive the same router without a socket.

pub mod api;
pub mod config;
pub mod error;
pub mod federation_request;
pub mod guest_policy;
pub mod listener;
pub mod request_policy;
pub mod ruma_wrapper;
pub mod services;
pub mod state;
pub mod time;

use std::{sync::Arc, time::Duration};

use axum::Router;
use missive_core::event_builder::Signer;
use missive_store::{FsBlobStore, SqlStore, StoreOptions, TypingStore, default_blob_root};
use ruma::ServerName;
use tower_http::{catch_panic::CatchPanicLayer, cors::CorsLayer, trace::TraceLayer};

use crate::{
    config::Config,
    error::ApiError,
    services::push::{Pushers, gateway::Gateway},
    services::{
        account_data::AccountData,
        accounts::Accounts,
        backup::KeyBackup,
        deactivation::Deactivation,
        dehydrated::DehydratedDevices,
        devices::Devices,
        directory::Directory,
        e2ee::E2ee,
        ephemeral::Ephemeral,
        federation::{Federation, keys::ServerKeys},
        filters::Filters,
        identity::IdentityServer,
        media::Media,
        notifier::Notifier,
        openid::OpenId,
        presence::Presence,
        profiles::Profiles,
        push_rules::PushRules,
        rate_limit::Limiter,
        reader::Reader,
        registration::Registration,
        reports::Reports,
        rooms::Rooms,
        search::Search,
        signing_key,
        spaces::Spaces,
        sync::Syncer,
        threepids::Threepids,
        uiaa::Uiaa,
    },
    state::{AppState, Services},
};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("invalid server name {0:?}")]
    ServerName(String),
    #[error("data directory: {0}")]
    DataDir(std::io::Error),
    #[error("signing key: {0}")]
    SigningKey(std::io::Error),
    #[error("mail: {0}")]
    Smtp(String),
    #[error("identity server: {0}")]
    Identity(String),
    #[error("database: {0}")]
    Store(#[from] missive_store::StoreError),
}

/// Opens storage and wires the services together.
pub async fn build_state(config: Config) -> Result<AppState, StartError> {
    let server_name = ServerName::parse(&config.server_name)
        .map_err(|_| StartError::ServerName(config.server_name.clone()))?;
    std::fs::create_dir_all(&config.data_dir).map_err(StartError::DataDir)?;
    let key = signing_key::load_or_create(&config.data_dir).map_err(StartError::SigningKey)?;
    // The same key again for federation (`Ed25519KeyPair` is not `Clone`):
    // requests and key answers are signed with the key events are.
    let federation_key =
        Arc::new(signing_key::load_or_create(&config.data_dir).map_err(StartError::SigningKey)?);
    let store = Arc::new(
        SqlStore::open(&StoreOptions {
            database_url: config.database_url.clone(),
            data_dir: config.data_dir.clone(),
            max_connections: config.database_max_connections,
        })
        .await?,
    );
    let notifier = Notifier::new(store.current_position().await?);
    if let Some(positions) = store.subscribe_positions().await? {
        notifier.follow(positions);
    }
    let limiter = Limiter::new(&config.rate_limits);
    let old_keys = signing_key::load_old(&config.data_dir).map_err(StartError::SigningKey)?;
    let federation = federation_service(
        &config,
        &server_name,
        federation_key,
        old_keys,
        store.clone(),
    );
    let accounts = Accounts::new(
        store.clone(),
        server_name.clone(),
        limiter.clone(),
        notifier.clone(),
    )
    .with_outbound(federation.outbound().cloned());
    let reader = Reader::new(store.clone());
    let rooms = Rooms::new(
        store.clone(),
        Signer { server_name, key },
        notifier.clone(),
        federation.outbound().cloned(),
    );
    let devices = Devices::new(
        store.clone(),
        notifier.clone(),
        federation.outbound().cloned(),
    );
    let e2ee = E2ee::new(
        store.clone(),
        notifier.clone(),
        federation.outbound().cloned(),
        accounts.server_name().clone(),
    );
    let mailer = match &config.smtp.url {
        Some(url) => {
            let from = config
                .smtp
                .from
                .clone()
                .unwrap_or_else(|| format!("noreply@{}", accounts.server_name()));
            Some(services::mail::Mailer::new(url, &from).map_err(StartError::Smtp)?)
        }
        None => None,
    };
    let openid = OpenId::new(store.clone(), accounts.server_name().clone());
    let identity = IdentityServer::load(
        store.clone(),
        accounts.server_name().to_string(),
        config.public_baseurl(),
        rooms.clone(),
        mailer.clone(),
        openid.clone(),
        limiter.clone(),
    )
    .await
    .map_err(|e| StartError::Identity(e.to_string()))?;
    let threepids = Threepids::new(
        store.clone(),
        mailer,
        limiter.clone(),
        accounts.server_name().to_string(),
        config.public_baseurl(),
        identity.clone(),
    );
    let uiaa = Uiaa::new(store.clone(), accounts.clone(), threepids.clone());
    services::search::backfill::start(store.clone());
    let account_data = AccountData::new(store.clone(), notifier.clone());
    let push_rules = PushRules::new(store.clone(), notifier.clone());
    let presence = Presence::new(
        store.clone(),
        notifier.clone(),
        config.presence,
        federation.outbound().cloned(),
    );
    let ephemeral = Ephemeral::new(
        store.clone(),
        reader.clone(),
        rooms.clone(),
        federation.outbound().cloned(),
    );
    let remote_keys = services::federation::remote_keys::RemoteKeys::new(
        store.clone(),
        federation.clone(),
        notifier.clone(),
        e2ee.clone(),
        accounts.server_name().clone(),
    );
    let edus = services::federation::edus::Edus::new(
        store.clone(),
        ephemeral.clone(),
        presence.clone(),
        e2ee.clone(),
        remote_keys.clone(),
        accounts.server_name().clone(),
    );
    let inbound = services::federation::inbound::Inbound::new(
        store.clone(),
        federation.clone(),
        rooms.clone(),
        edus,
    );
    Ok(AppState::new(Services {
        upgrades: services::rooms::upgrade::RoomUpgrades::new(
            rooms.clone(),
            account_data.clone(),
            push_rules.clone(),
        ),
        account_data,
        push_rules,
        pushers: Pushers::new(store.clone(), reader.clone(), notifier.clone()),
        backup: KeyBackup::new(store.clone()),
        directory: Directory::new(
            store.clone(),
            reader.clone(),
            rooms.clone(),
            federation.clone(),
            accounts.server_name().clone(),
            config.user_directory_search_all,
        ),
        registration: Registration::new(
            accounts.clone(),
            uiaa.clone(),
            limiter.clone(),
            config.registration,
            config.guest_access,
            threepids.clone(),
            config.registration_requires_email,
        ),
        passwords: services::passwords::Passwords::new(
            accounts.clone(),
            devices.clone(),
            threepids.clone(),
            uiaa.clone(),
        ),
        uiaa,
        openid,
        identity,
        dehydrated: DehydratedDevices::new(store.clone(), e2ee.clone()),
        e2ee,
        media: Media::new(
            store.clone(),
            Arc::new(FsBlobStore::new(default_blob_root(&config.data_dir))?),
            config.media.clone(),
            accounts.server_name().clone(),
            federation.clone(),
        ),
        presence,
        profiles: Profiles::new(store.clone(), rooms.clone(), federation.clone()),
        inbound: inbound.clone(),
        remote_keys,
        federation,
        deactivation: Deactivation::new(store.clone(), inbound, devices.clone()),
        threepids,
        ephemeral,
        filters: Filters::new(store.clone()),
        search: Search::new(store.clone(), reader.clone()),
        reports: Reports::new(store.clone(), reader.clone()),
        spaces: Spaces::new(store.clone()),
        devices,
        syncer: Syncer::new(store.clone(), reader.clone(), notifier),
        limiter,
        turn: services::turn::Turn::new(config.turn.clone()),
        web_client: Arc::new(api::web_client::WebClient::new(
            config.web_client_dir.clone(),
        )),
        config: Arc::new(config),
        store,
        accounts,
        rooms,
        reader,
    }))
}

/// Federation's client (when on), policy and key cache.
fn federation_service(
    config: &Config,
    server_name: &ruma::OwnedServerName,
    key: Arc<ruma::signatures::Ed25519KeyPair>,
    old_keys: Vec<signing_key::OldKey>,
    store: Arc<SqlStore>,
) -> Federation {
    let policy = Federation::policy_of(&config.federation);
    let client = config.federation.listen.map(|_| {
        missive_federation::FederationClient::new(
            server_name.clone(),
            key.clone(),
            policy.clone(),
            config.federation.verify_tls,
        )
    });
    let keys = ServerKeys::new(
        server_name.clone(),
        key,
        store.clone(),
        client.clone(),
        old_keys,
    );
    Federation::new(client, policy, keys, store)
}

/// The federation listener's application: the Server-Server API only.
pub fn federation_app(state: AppState) -> Router {
    let trace = TraceLayer::new_for_http().make_span_with(|req: &http::Request<_>| {
        tracing::info_span!("federation", method = %req.method(), path = %req.uri().path())
    });
    guarded(api::federation::router().with_state(state)).layer(trace)
}

/// What every listener's routes are wrapped in: NUL bytes in paths refused,
/// a panicking handler answered as a Matrix error.
fn guarded(router: Router) -> Router {
    router
        .layer(axum::middleware::from_fn(
            api::nul_guard::refuse_nul_in_path,
        ))
        .layer(CatchPanicLayer::custom(|_| {
            axum::response::IntoResponse::into_response(ApiError::Internal(
                "handler panicked".into(),
            ))
        }))
}

/// The HTTP application: routes plus cross-cutting layers.
pub fn app(state: AppState) -> Router {
    let cors = CorsLayer::new()
        .allow_origin(tower_http::cors::Any)
        .allow_methods([
            http::Method::GET,
            http::Method::POST,
            http::Method::PUT,
            http::Method::DELETE,
            http::Method::OPTIONS,
        ])
        .allow_headers([
            http::header::AUTHORIZATION,
            http::header::CONTENT_TYPE,
            "x-requested-with".parse().expect("valid header"),
        ]);
    // Log the method and path only: query strings may carry access tokens.
    let trace = TraceLayer::new_for_http().make_span_with(|req: &http::Request<_>| {
        tracing::info_span!("request", method = %req.method(), path = %req.uri().path())
    });
    guarded(api::router().with_state(state))
        .layer(trace)
        .layer(cors)
}

/// Push delivery (unless turned off in this process's configuration): a
/// background task posting notifications to push gateways.
pub fn spawn_push_delivery(state: &AppState) -> Option<tokio::task::JoinHandle<()>> {
    if !state.config.push.enabled {
        return None;
    }
    let allowed = state
        .config
        .push
        .ip_allowlist
        .iter()
        .filter_map(|n| n.parse().ok())
        .collect();
    Some(state.pushers.delivery(Gateway::new(allowed)).spawn())
}

/// The federation sender (when federation is on): a background task
/// sending the outbound queue to other servers.
pub fn spawn_federation_sender(state: &AppState) -> Option<tokio::task::JoinHandle<()>> {
    state
        .federation
        .spawn_sender(Some(state.rooms.notifier().positions()))
}

/// Periodic housekeeping: expire typing notices, UIA sessions and idle
/// rate-limit buckets. Each tick also announces the committed stream
/// position read from the database, which bounds how long a write whose
/// writer forgot to announce it stays out of syncs.
pub fn spawn_housekeeping(state: &AppState) -> tokio::task::JoinHandle<()> {
    let state = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(2));
        let mut n: u64 = 0;
        loop {
            tick.tick().await;
            n += 1;
            let now = time::now_ms();
            match state.store.expire_typing(now).await {
                Ok(()) => {
                    if let Ok(pos) = state.store.current_position().await {
                        state.rooms.notify(pos);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "typing expiry failed"),
            }
            if n.is_multiple_of(30) {
                state.limiter.shrink();
            }
        }
    })
}
