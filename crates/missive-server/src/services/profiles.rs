//! Profiles: a user's display name and avatar, checked against the limits
//! Synapse applies, stored, and carried into their member events.

use std::sync::Arc;

use missive_store::{AccountStore, SqlStore};
use ruma::{MxcUri, UserId};

use crate::{
    error::{ApiError, ApiResult},
    services::{federation::Federation, rooms::Rooms},
};

/// Longest display name, in bytes (Synapse's limit).
pub const MAX_DISPLAYNAME_BYTES: usize = 256;
/// Longest avatar URL, in bytes (Synapse's limit). With the display name's,
/// it keeps every member event far below the 65,536-byte event limit, so a
/// profile change can always be carried into every room.
pub const MAX_AVATAR_URL_BYTES: usize = 1000;

/// A user's public profile.
pub struct Profile {
    pub displayname: Option<String>,
    pub avatar_url: Option<String>,
}

#[derive(Clone)]
pub struct Profiles {
    store: Arc<SqlStore>,
    rooms: Rooms,
    federation: Federation,
}

impl Profiles {
    pub fn new(store: Arc<SqlStore>, rooms: Rooms, federation: Federation) -> Self {
        Self {
            store,
            rooms,
            federation,
        }
    }

    /// Whether `user` is an account of this server.
    pub fn is_local(&self, user: &UserId) -> bool {
        user.server_name() == self.rooms.server_name()
    }

    /// Anyone's profile: a local account's, or a remote user's asked of
    /// their server over federation (as Synapse does, errors mapped its
    /// way: see `From<FederationError> for ApiError`).
    pub async fn lookup(&self, user: &UserId) -> ApiResult<Profile> {
        if self.is_local(user) {
            self.get(user).await
        } else {
            self.federation.remote_profile(user).await
        }
    }

    /// The profile of an active account; `M_NOT_FOUND` otherwise.
    pub async fn get(&self, user: &UserId) -> ApiResult<Profile> {
        let record = self
            .store
            .user(user)
            .await?
            .filter(|u| !u.deactivated)
            .ok_or_else(|| ApiError::not_found("profile not found"))?;
        Ok(Profile {
            displayname: record.displayname,
            avatar_url: record.avatar_url,
        })
    }

    /// Sets (or with `None` or "", clears) `user`'s display name, as `by`.
    pub async fn set_display_name(
        &self,
        by: &UserId,
        user: &UserId,
        name: Option<&str>,
    ) -> ApiResult<()> {
        own_profile(by, user)?;
        let name = name.filter(|n| !n.is_empty());
        if name.is_some_and(|n| n.len() > MAX_DISPLAYNAME_BYTES) {
            return Err(ApiError::invalid_param(format!(
                "display name too long (at most {MAX_DISPLAYNAME_BYTES} bytes)"
            )));
        }
        self.store.set_displayname(user, name).await?;
        self.rooms.propagate_profile(user).await
    }

    /// Sets (or with `None` or "", clears) `user`'s avatar, as `by`: an
    /// `mxc://` URI.
    pub async fn set_avatar_url(
        &self,
        by: &UserId,
        user: &UserId,
        url: Option<&MxcUri>,
    ) -> ApiResult<()> {
        own_profile(by, user)?;
        let url = url.map(MxcUri::as_str).filter(|u| !u.is_empty());
        if let Some(url) = url {
            if url.len() > MAX_AVATAR_URL_BYTES {
                return Err(ApiError::invalid_param(format!(
                    "avatar URL too long (at most {MAX_AVATAR_URL_BYTES} bytes)"
                )));
            }
            if !<&MxcUri>::from(url).is_valid() {
                return Err(ApiError::invalid_param("avatar_url must be an mxc:// URI"));
            }
        }
        self.store.set_avatar_url(user, url).await?;
        self.rooms.propagate_profile(user).await
    }
}

fn own_profile(by: &UserId, user: &UserId) -> ApiResult<()> {
    if by == user {
        Ok(())
    } else {
        Err(ApiError::forbidden("you can only change your own profile"))
    }
}
