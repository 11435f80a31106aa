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
        dehydrated::DehydratedDevices, directory::Directory, e2ee::E2ee, media::Media,
        presence::Presence, profiles::Profiles, push_rules::PushRules, rate_limit::Limiter,
        reader::Reader, rooms::Rooms, sync::Syncer, uiaa::Uiaa,
    },
};

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Arc<SqlStore>,
    pub accounts: Accounts,
    pub account_data: AccountData,
    pub backup: KeyBackup,
    pub dehydrated: DehydratedDevices,
    pub directory: Directory,
    pub e2ee: E2ee,
    pub media: Media,
    pub uiaa: Uiaa,
    pub rooms: Rooms,
    pub reader: Reader,
    pub syncer: Syncer,
    pub presence: Presence,
    pub profiles: Profiles,
    pub push_rules: PushRules,
    pub limiter: Limiter,
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
    store: Arc<SqlStore>,
    accounts: Accounts,
    account_data: AccountData,
    backup: KeyBackup,
    dehydrated: DehydratedDevices,
    directory: Directory,
    e2ee: E2ee,
    media: Media,
    uiaa: Uiaa,
    rooms: Rooms,
    reader: Reader,
    syncer: Syncer,
    presence: Presence,
    profiles: Profiles,
    push_rules: PushRules,
    limiter: Limiter,
    web_client: Arc<WebClient>,
);

impl AppState {
    /// Wakes syncs after a store write that did not return its position.
    pub async fn notify_latest(&self) -> crate::error::ApiResult<()> {
        self.rooms.notify(self.store.current_position().await?);
        Ok(())
    }
}
