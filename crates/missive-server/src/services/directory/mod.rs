//! The directories: room aliases, which rooms are published, and the user
//! directory. The public room list itself is in `public_rooms`.

mod public_rooms;

use std::sync::Arc;

use missive_store::{
    AccountStore, DirectoryStore, EventStore, SqlStore, StoreError, UserSearchScope,
};
use ruma::{
    OwnedRoomAliasId, OwnedRoomId, OwnedServerName, RoomAliasId, RoomId, UInt, UserId,
    api::{
        client::user_directory::search_users::v3::User, federation::query::get_room_information,
    },
    events::{StateEventType, room::member::MembershipState},
};

pub use public_rooms::PublicRoomsPage;

use missive_core::event_builder::EventTemplate;

use crate::{
    error::{ApiError, ApiResult},
    services::{accounts::Identity, federation::Federation, reader::Reader, rooms::Rooms},
};

#[derive(Clone)]
pub struct Directory {
    store: Arc<SqlStore>,
    reader: Reader,
    rooms: Rooms,
    /// Asks other servers about their aliases.
    federation: Federation,
    server_name: OwnedServerName,
    /// Whether user search covers every local user, not only those
    /// sharing a room with the searcher (`user_directory_search_all`).
    search_all_users: bool,
}

impl Directory {
    pub fn new(
        store: Arc<SqlStore>,
        reader: Reader,
        rooms: Rooms,
        federation: Federation,
        server_name: OwnedServerName,
        search_all_users: bool,
    ) -> Self {
        Self {
            store,
            reader,
            rooms,
            federation,
            server_name,
            search_all_users,
        }
    }

    /// Points `alias` (on this server) at `room`, as `by`, a member of it.
    pub async fn create_alias(
        &self,
        by: &UserId,
        alias: &RoomAliasId,
        room: &RoomId,
    ) -> ApiResult<()> {
        if alias.server_name() != self.server_name {
            return Err(ApiError::invalid_param("aliases must be on this server"));
        }
        if self.store.room(room).await?.is_none() {
            return Err(ApiError::not_found("room not found"));
        }
        self.reader.require_joined(room, by).await?;
        match self.store.create_alias(alias, room, by).await {
            Err(StoreError::AlreadyExists(_)) => {
                Err(ApiError::Exists("room alias already exists".into()))
            }
            other => Ok(other?),
        }
    }

    /// The room `alias` points at, and servers to join it through: for a
    /// local alias this server and those of the room's joined members,
    /// for another server's alias what that server answers.
    pub async fn resolve_alias(
        &self,
        alias: &RoomAliasId,
    ) -> ApiResult<(OwnedRoomId, Vec<OwnedServerName>)> {
        if alias.server_name() != self.server_name {
            let answer = self
                .federation
                .client()
                .map_err(|_| ApiError::not_found("room alias not found"))?
                .send(
                    alias.server_name(),
                    get_room_information::v1::Request::new(alias.to_owned()),
                )
                .await?;
            return Ok((answer.room_id, answer.servers));
        }
        let (room_id, _) = self
            .store
            .alias(alias)
            .await?
            .ok_or_else(|| ApiError::not_found("room alias not found"))?;
        let room_id =
            OwnedRoomId::try_from(room_id).map_err(|e| ApiError::Internal(e.to_string()))?;
        let mut servers = vec![self.server_name.clone()];
        for member in self.store.room_members(&room_id).await? {
            if member.membership == MembershipState::Join
                && let Ok(user) = UserId::parse(&member.user_id)
                && !servers.iter().any(|s| s == user.server_name())
            {
                servers.push(user.server_name().to_owned());
            }
        }
        Ok((room_id, servers))
    }

    /// A local alias, as another server asks for it (`query/directory`).
    pub async fn resolve_local_alias(
        &self,
        alias: &RoomAliasId,
    ) -> ApiResult<(OwnedRoomId, Vec<OwnedServerName>)> {
        if alias.server_name() != self.server_name {
            return Err(ApiError::not_found("room alias not found"));
        }
        self.resolve_alias(alias).await
    }

    /// Removes `alias`: allowed to its creator, an admin, or whoever may
    /// set the room's canonical alias.
    pub async fn delete_alias(&self, by: &Identity, alias: &RoomAliasId) -> ApiResult<()> {
        let (room_id, creator) = self
            .store
            .alias(alias)
            .await?
            .ok_or_else(|| ApiError::not_found("room alias not found"))?;
        if creator != by.user_id.as_str()
            && !by.is_admin
            && !self
                .can_send_state(&room_id, &by.user_id, "m.room.canonical_alias")
                .await?
        {
            return Err(ApiError::forbidden("you may not remove this alias"));
        }
        self.store.delete_alias(alias).await?;
        self.drop_from_canonical_alias(&room_id, &by.user_id, alias)
            .await;
        Ok(())
    }

    /// Takes a deleted alias out of the room's `m.room.canonical_alias`, so
    /// that it no longer names the room (as Synapse does: best effort, as
    /// the deleting user; one who may not change it leaves it as it is).
    async fn drop_from_canonical_alias(&self, room_id: &str, by: &UserId, alias: &RoomAliasId) {
        let Ok(room) = <&RoomId>::try_from(room_id) else {
            return;
        };
        let current = match self
            .store
            .current_state_event(room, "m.room.canonical_alias", "")
            .await
        {
            Ok(Some(e)) => e,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!("reading the canonical alias of {room_id}: {e}");
                return;
            }
        };
        let Some(mut content) = serde_json::from_str::<serde_json::Value>(&current.json)
            .ok()
            .and_then(|v| v.get("content").cloned())
        else {
            return;
        };
        let Some(new_content) = without_alias(&mut content, alias.as_str()) else {
            return;
        };
        let template = EventTemplate::state(StateEventType::RoomCanonicalAlias, "", new_content);
        if let Err(e) = self.rooms.send(room, by, template, None).await {
            tracing::info!("alias {alias} deleted but left in the canonical alias: {e:?}");
        }
    }

    /// The room's local aliases, to whoever may read the room.
    pub async fn room_aliases(
        &self,
        by: &UserId,
        room: &RoomId,
    ) -> ApiResult<Vec<OwnedRoomAliasId>> {
        self.reader.read_scope(room, by).await?;
        Ok(self
            .store
            .room_aliases(room)
            .await?
            .into_iter()
            // Stored aliases were parsed on creation; skip any that are not.
            .filter_map(|a| OwnedRoomAliasId::try_from(a).ok())
            .collect())
    }

    /// Whether the room is listed in the public directory.
    pub async fn is_published(&self, room: &RoomId) -> ApiResult<bool> {
        Ok(self
            .store
            .room(room)
            .await?
            .ok_or_else(|| ApiError::not_found("room not found"))?
            .published)
    }

    /// Lists or unlists the room, as `by`: an admin, or whoever may set
    /// the room's canonical alias.
    pub async fn set_published(
        &self,
        by: &Identity,
        room: &RoomId,
        published: bool,
    ) -> ApiResult<()> {
        let room_id = room.as_str();
        if self.store.room(room).await?.is_none() {
            return Err(ApiError::not_found("room not found"));
        }
        if !by.is_admin
            && !self
                .can_send_state(room_id, &by.user_id, "m.room.canonical_alias")
                .await?
        {
            return Err(ApiError::forbidden("you may not publish this room"));
        }
        self.store.set_room_published(room, published).await?;
        Ok(())
    }

    /// Users matching `term` whom `by` may find, at most `limit` (1 to
    /// 100); and whether more matched.
    pub async fn search_users(
        &self,
        by: &UserId,
        term: &str,
        limit: UInt,
    ) -> ApiResult<(Vec<User>, bool)> {
        let limit = i64::try_from(u64::from(limit)).unwrap_or(50).clamp(1, 100);
        let scope = if self.search_all_users {
            UserSearchScope::AllLocal
        } else {
            UserSearchScope::SharedRooms
        };
        let found = self.store.search_users(by, term, scope, limit + 1).await?;
        let limited = found.len() as i64 > limit;
        let results = found
            .into_iter()
            .take(limit as usize)
            // Stored user IDs were parsed on registration.
            .filter_map(|u| {
                let mut user = User::new(u.user_id.try_into().ok()?);
                user.display_name = u.displayname;
                user.avatar_url = u.avatar_url.map(Into::into);
                Some(user)
            })
            .collect();
        Ok((results, limited))
    }

    /// Whether the user's power level lets them send this state event.
    async fn can_send_state(&self, room_id: &str, user: &UserId, ty: &str) -> ApiResult<bool> {
        let Ok(room) = RoomId::parse(room_id) else {
            return Ok(false);
        };
        let (_, rules) = self.rooms.room(&room).await?;
        let pl = self
            .store
            .current_state_event(&room, "m.room.power_levels", "")
            .await?;
        let pl = pl
            .as_ref()
            .map(crate::services::rooms::to_pdu)
            .transpose()?;
        let create = self
            .store
            .current_state_event(&room, "m.room.create", "")
            .await?
            .as_ref()
            .map(crate::services::rooms::to_pdu)
            .transpose()?;
        let levels = missive_core::power_levels::effective(pl.as_ref(), create.as_ref(), &rules);
        Ok(levels.user_can_send_state(user, ty.into()))
    }
}

/// The canonical alias content without `alias` (as `alias` or among
/// `alt_aliases`), or `None` if it did not name it.
fn without_alias(content: &mut serde_json::Value, alias: &str) -> Option<serde_json::Value> {
    let object = content.as_object_mut()?;
    let mut changed = false;
    if object.get("alias").and_then(|a| a.as_str()) == Some(alias) {
        object.remove("alias");
        changed = true;
    }
    if let Some(alt) = object.get_mut("alt_aliases").and_then(|a| a.as_array_mut()) {
        let before = alt.len();
        alt.retain(|a| a.as_str() != Some(alias));
        changed |= alt.len() != before;
    }
    changed.then(|| content.clone())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::without_alias;

    #[test]
    fn a_deleted_alias_leaves_the_canonical_alias() {
        let mut c = json!({ "alias": "#a:x", "alt_aliases": ["#a:x", "#b:x"] });
        assert_eq!(
            without_alias(&mut c, "#a:x"),
            Some(json!({ "alt_aliases": ["#b:x"] }))
        );
        let mut c = json!({ "alias": "#b:x" });
        assert_eq!(without_alias(&mut c, "#a:x"), None);
    }
}
