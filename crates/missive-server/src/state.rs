//! The handles the HTTP layer is given. Handlers take only the ones they
//! use (axum's `State<T>` with `FromRef`), never the whole set.

use std::sync::Arc;

use axum::extract::FromRef;
use missive_store::SqlStore;

use crate::{
    config::Config,
    services::{
        accounts::Accounts, rate_limit::Limiter, reader::Reader, rooms::Rooms, sync::Syncer,
        uiaa::Uiaa,
    },
};

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Arc<SqlStore>,
    pub accounts: Accounts,
    pub uiaa: Uiaa,
    pub rooms: Rooms,
    pub reader: Reader,
    pub syncer: Syncer,
    pub limiter: Limiter,
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
    uiaa: Uiaa,
    rooms: Rooms,
    reader: Reader,
    syncer: Syncer,
    limiter: Limiter,
);
