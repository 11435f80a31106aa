//! Whom a write concerns: the users whose syncs it must wake (see
//! `notifier`). Erring wide only costs an empty answer; missing someone
//! leaves their sync waiting until its timeout.

use missive_store::{EventStore, PushTargetStore, SqlStore, StreamPos};
use ruma::UserId;

use crate::services::notifier::Notifier;

/// Announces a committed write in a room to whom it concerns: the room's
/// joined members (the push targets every message reads anyway, which
/// SQLite keeps in memory), and `targets` (of membership events: an
/// invitee, someone who left or was kicked, not or no longer joined).
/// Everyone, if the members cannot be read.
pub async fn announce_in_room(
    store: &SqlStore,
    notifier: &Notifier,
    pos: StreamPos,
    room_id: &str,
    targets: &[&str],
) {
    match store.push_targets(room_id).await {
        Ok(members) => notifier.notify_users(
            pos,
            members
                .iter()
                .map(|m| m.user_id.as_str())
                .chain(targets.iter().copied()),
        ),
        Err(e) => {
            tracing::warn!(error = %e, room_id, "room members unreadable; waking every sync");
            notifier.notify(pos);
        }
    }
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
    let sharing = match <&UserId>::try_from(user) {
        Ok(id) => store.users_sharing_rooms_with(id).await,
        Err(_) => Ok(Vec::new()),
    };
    match sharing {
        Ok(users) => notifier.notify_users(pos, users.iter().map(String::as_str).chain([user])),
        Err(e) => {
            tracing::warn!(error = %e, "members unreadable; waking every sync");
            notifier.notify(pos);
        }
    }
}
