//! Whom a write concerns: the users whose syncs it must wake (see
//! `notifier`). Erring wide only costs an empty answer; missing someone
//! leaves their sync waiting until its timeout.

use std::collections::HashSet;

use missive_store::{EventStore, PushTargetStore, SqlStore, StoreResult, StreamPos};

use crate::services::notifier::Notifier;

/// The room's joined members (from the push targets, which every message
/// reads anyway and SQLite keeps in memory).
pub async fn room_members(store: &SqlStore, room_id: &str) -> StoreResult<Vec<String>> {
    Ok(store
        .push_targets(room_id)
        .await?
        .iter()
        .map(|t| t.user_id.clone())
        .collect())
}

/// The user and everyone sharing a joined room with them: who sees their
/// presence and their device list changes.
pub async fn sharing_rooms_with(store: &SqlStore, user_id: &str) -> StoreResult<HashSet<String>> {
    let mut users = HashSet::from([user_id.to_owned()]);
    for m in store.user_memberships(user_id).await? {
        if m.membership == "join" {
            users.extend(room_members(store, &m.room_id).await?);
        }
    }
    Ok(users)
}

/// Announces a write at `pos` about `user` (their presence, their keys) to
/// the user and everyone sharing a room with them; to everyone if their
/// rooms cannot be read.
pub async fn announce_to_sharing(
    store: &SqlStore,
    notifier: &Notifier,
    pos: StreamPos,
    user: &str,
) {
    match sharing_rooms_with(store, user).await {
        Ok(users) => notifier.notify_users(pos, users.iter().map(String::as_str)),
        Err(e) => {
            tracing::warn!(error = %e, "members unreadable; waking every sync");
            notifier.notify(pos);
        }
    }
}
