//! The handles the HTTP layer is given. Handlers take only the ones they
//! use (axum's `State<T>` with `FromRef`), never the whole set.

use std::sync::Arc;

use axum::extract::FromRef;
use missive_store::SqlStore;

use crate::{
    api::web_client::WebClient,
    config::Config,
    services::{
        account_data::AccountData, accounts::Accounts, backup::KeyBackup,
        deactivation::Deactivation, dehydrated::DehydratedDevices, devices::Devices,
        directory::Directory, e2ee::E2ee, ephemeral::Ephemeral, federation::Federation,
        federation::inbound::Inbound, federation::remote_keys::RemoteKeys, filters::Filters,
        identity::IdentityServer, media::Media, openid::OpenId, passwords::Passwords,
        presence::Presence, profiles::Profiles, push::Pushers, push_rules::PushRules,
        rate_limit::Limiter, reader::Reader, registration::Registration, reports::Reports,
        rooms::Rooms, rooms::upgrade::RoomUpgrades, search::Search, spaces::Spaces, sync::Syncer,
        threepids::Threepids, turn::Turn, uiaa::Uiaa,
    },
};

/// Every service, shared: handlers that take the whole set (`State<AppState>`)
/// clone one `Arc` per request, not each service with its strings and maps.
#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl AppState {
    pub fn new(services: Services) -> Self {
        Self(Arc::new(services))
    }
}

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

pub struct Services {
    pub config: Arc<Config>,
    pub store: Arc<SqlStore>,
    pub accounts: Accounts,
    pub devices: Devices,
    pub deactivation: Deactivation,
    pub account_data: AccountData,
    pub backup: KeyBackup,
    pub dehydrated: DehydratedDevices,
    pub directory: Directory,
    pub e2ee: E2ee,
    pub federation: Federation,
    pub inbound: Inbound,
    pub remote_keys: RemoteKeys,
    pub ephemeral: Ephemeral,
    pub filters: Filters,
    pub media: Media,
    pub uiaa: Uiaa,
    pub threepids: Threepids,
    pub identity: IdentityServer,
    pub registration: Registration,
    pub openid: OpenId,
    pub passwords: Passwords,
    pub rooms: Rooms,
    pub upgrades: RoomUpgrades,
    pub reader: Reader,
    pub search: Search,
    pub reports: Reports,
    pub spaces: Spaces,
    pub syncer: Syncer,
    pub presence: Presence,
    pub profiles: Profiles,
    pub push_rules: PushRules,
    pub pushers: Pushers,
    pub limiter: Limiter,
    pub turn: Turn,
    pub web_client: Arc<WebClient>,
}

macro_rules! from_ref {
    ($($field:ident: $ty:ty),* $(,)?) => {
        $(impl FromRef<AppState> for $ty {
            fn from_ref(state: &AppState) -> Self {
                state.$field.clone()
            }
        })*
    };
}

from_ref!(
    config: Arc<Config>,
    accounts: Accounts,
    devices: Devices,
    deactivation: Deactivation,
    account_data: AccountData,
    backup: KeyBackup,
    dehydrated: DehydratedDevices,
    directory: Directory,
    e2ee: E2ee,
    federation: Federation,
    inbound: Inbound,
    remote_keys: RemoteKeys,
    ephemeral: Ephemeral,
    filters: Filters,
    media: Media,
    uiaa: Uiaa,
    threepids: Threepids,
    identity: IdentityServer,
    registration: Registration,
    openid: OpenId,
    passwords: Passwords,
    rooms: Rooms,
    upgrades: RoomUpgrades,
    reader: Reader,
    search: Search,
    reports: Reports,
    spaces: Spaces,
    syncer: Syncer,
    presence: Presence,
    profiles: Profiles,
    push_rules: PushRules,
    pushers: Pushers,
    limiter: Limiter,
    turn: Turn,
    web_client: Arc<WebClient>,
);
