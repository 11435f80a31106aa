//! What push-rule evaluation needs about a room's members, read at once:
//! every message asks this for its room, so it must not cost a query per
//! member.

use std::sync::Arc;

use async_trait::async_trait;
use sqlx::Row;

use crate::{SqlStore, StoreResult, StreamPos};

/// A joined member of a room, with what their push rules look at.
/// The global account data type holding a user's push rules.
pub(crate) const PUSH_RULES_TYPE: &str = "m.push_rules";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushTarget {
    pub user_id: String,
    /// The global display name, if set.
    pub displayname: Option<String>,
    /// The stored `m.push_rules` account data: its stream position (which
    /// changes whenever the rules do) and content. `None`: server defaults.
    pub push_rules: Option<(StreamPos, String)>,
    /// Whether the user has a pusher: push delivery is woken only for
    /// those who do.
    pub has_pusher: bool,
}

#[async_trait]
pub trait PushTargetStore: Send + Sync {
    /// The room's joined members (local or not), ordered by user ID. On
    /// SQLite it is cached until the room's membership, a display name,
    /// someone's push rules or pushers change.
    async fn push_targets(&self, room_id: &str) -> StoreResult<Arc<[PushTarget]>>;
}

#[async_trait]
impl PushTargetStore for SqlStore {
    async fn push_targets(&self, room_id: &str) -> StoreResult<Arc<[PushTarget]>> {
        let read = async {
            let rows = sqlx::query(
                "SELECT m.user_id, u.displayname, a.stream_pos, a.content, \
                 (SELECT COUNT(*) FROM pushers p WHERE p.user_id = m.user_id) AS pushers \
                 FROM memberships m \
                 LEFT JOIN users u ON u.user_id = m.user_id \
                 LEFT JOIN account_data a ON a.user_id = m.user_id AND a.room_id = '' \
                   AND a.data_type = $2 \
                 WHERE m.room_id = $1 AND m.membership = 'join' ORDER BY m.user_id",
            )
            .bind(room_id)
            .bind(PUSH_RULES_TYPE)
            .fetch_all(&self.read)
            .await?;
            let targets: Arc<[PushTarget]> = rows
                .iter()
                .map(|r| {
                    let pos: Option<StreamPos> = r.try_get(2)?;
                    let content: Option<String> = r.try_get(3)?;
                    Ok(PushTarget {
                        user_id: r.try_get(0)?,
                        displayname: r.try_get(1)?,
                        push_rules: pos.zip(content),
                        has_pusher: r.try_get::<i64, _>(4)? > 0,
                    })
                })
                .collect::<StoreResult<_>>()?;
            Ok(Some(targets))
        };
        let targets = self.caches.push_targets.read_through(room_id, read).await?;
        Ok(targets.unwrap_or_default())
    }
}
