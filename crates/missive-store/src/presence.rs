//! Presence (`PresenceStore`): each user's state and status message, and
//! the changes a syncing user may see (those of users sharing a room).

use async_trait::async_trait;
use sqlx::Row;

use ruma::UserId;

use crate::{SqlStore, StoreResult, StreamPos};

/// A user's presence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresenceRecord {
    pub user_id: String,
    /// `online`, `offline` or `unavailable`.
    pub state: String,
    pub status_msg: Option<String>,
    pub last_active_ts: i64,
}

#[async_trait]
pub trait PresenceStore: Send + Sync {
    async fn set_presence(&self, presence: &PresenceRecord) -> StoreResult<StreamPos>;
    async fn presence(&self, user_id: &UserId) -> StoreResult<Option<PresenceRecord>>;
    /// Presence changes after `since` of users sharing a room with `user_id`.
    async fn presence_since(
        &self,
        user_id: &UserId,
        since: StreamPos,
    ) -> StoreResult<Vec<PresenceRecord>>;
    /// The presence of each of `users` who ever set one.
    async fn presence_of(&self, users: &[&UserId]) -> StoreResult<Vec<PresenceRecord>>;
}

fn presence_from_row(r: &sqlx::any::AnyRow) -> StoreResult<PresenceRecord> {
    Ok(PresenceRecord {
        user_id: r.try_get(0)?,
        state: r.try_get(1)?,
        status_msg: r.try_get(2)?,
        last_active_ts: r.try_get(3)?,
    })
}

#[async_trait]
impl PresenceStore for SqlStore {
    async fn set_presence(&self, p: &PresenceRecord) -> StoreResult<StreamPos> {
        let mut tx = self.begin().await?;
        let pos = self
            .next_positions(&mut tx, 1, crate::StreamKind::Presence)
            .await?;
        sqlx::query(
            "INSERT INTO presence (user_id, state, status_msg, last_active_ts, stream_pos) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id) DO UPDATE SET state = excluded.state, \
             status_msg = excluded.status_msg, last_active_ts = excluded.last_active_ts, \
             stream_pos = excluded.stream_pos",
        )
        .bind(&p.user_id)
        .bind(&p.state)
        .bind(&p.status_msg)
        .bind(p.last_active_ts)
        .bind(pos)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(pos)
    }

    async fn presence(&self, user_id: &UserId) -> StoreResult<Option<PresenceRecord>> {
        let row = sqlx::query(
            "SELECT user_id, state, status_msg, last_active_ts FROM presence WHERE user_id = $1",
        )
        .bind(user_id.as_str())
        .fetch_optional(&self.read)
        .await?;
        row.as_ref().map(presence_from_row).transpose()
    }

    async fn presence_since(
        &self,
        user_id: &UserId,
        since: StreamPos,
    ) -> StoreResult<Vec<PresenceRecord>> {
        if !self.changed_since(crate::StreamKind::Presence, since) {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(
            "SELECT p.user_id, p.state, p.status_msg, p.last_active_ts FROM presence p \
             WHERE p.stream_pos > $2 AND (p.user_id = $1 OR EXISTS ( \
                 SELECT 1 FROM memberships a JOIN memberships b ON a.room_id = b.room_id \
                 WHERE a.user_id = $1 AND b.user_id = p.user_id \
                   AND a.membership = 'join' AND b.membership = 'join')) \
             ORDER BY p.stream_pos",
        )
        .bind(user_id.as_str())
        .bind(since)
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(presence_from_row).collect()
    }

    async fn presence_of(&self, users: &[&UserId]) -> StoreResult<Vec<PresenceRecord>> {
        let mut out = Vec::new();
        for chunk in users.chunks(200) {
            let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT user_id, state, status_msg, last_active_ts FROM presence \
                 WHERE user_id IN ({}) ORDER BY user_id",
                placeholders.join(", ")
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()));
            for user in chunk {
                query = query.bind(user.as_str());
            }
            for row in query.fetch_all(&self.read).await? {
                out.push(presence_from_row(&row)?);
            }
        }
        Ok(out)
    }
}
