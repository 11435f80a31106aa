//! User-interactive authentication sessions (`UiaaStore`), in the
//! database so that any server process can continue one.

use async_trait::async_trait;
use sqlx::Row;

use crate::{SqlStore, StoreResult};

/// A user-interactive authentication session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UiaaSession {
    pub session_id: String,
    /// Stage types completed so far.
    pub completed: Vec<String>,
    /// What the session is for (user ID, registration token used...), as
    /// JSON set by the server; bound to the session so a later request
    /// cannot borrow another's progress.
    pub params: String,
    pub created_ts: i64,
}

/// User-interactive auth sessions, in the database so that any server
/// process can continue a session another one started.
#[async_trait]
pub trait UiaaStore: Send + Sync {
    async fn save_uiaa_session(&self, session: &UiaaSession) -> StoreResult<()>;
    async fn uiaa_session(&self, session_id: &str) -> StoreResult<Option<UiaaSession>>;
    async fn delete_uiaa_session(&self, session_id: &str) -> StoreResult<()>;
    /// Deletes sessions created before `before_ts`.
    async fn expire_uiaa_sessions(&self, before_ts: i64) -> StoreResult<()>;
}

#[async_trait]
impl UiaaStore for SqlStore {
    async fn save_uiaa_session(&self, s: &UiaaSession) -> StoreResult<()> {
        let completed = serde_json::to_string(&s.completed).map_err(crate::StoreError::corrupt)?;
        sqlx::query(
            "INSERT INTO uiaa_sessions (session_id, completed, params, created_ts) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (session_id) DO UPDATE SET completed = excluded.completed, params = excluded.params",
        )
        .bind(&s.session_id)
        .bind(completed)
        .bind(&s.params)
        .bind(s.created_ts)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn uiaa_session(&self, session_id: &str) -> StoreResult<Option<UiaaSession>> {
        let row = sqlx::query(
            "SELECT session_id, completed, params, created_ts FROM uiaa_sessions WHERE session_id = $1",
        )
        .bind(session_id)
        .fetch_optional(&self.read)
        .await?;
        row.map(|r| {
            let completed: String = r.try_get(1)?;
            Ok(UiaaSession {
                session_id: r.try_get(0)?,
                completed: serde_json::from_str(&completed).map_err(crate::StoreError::corrupt)?,
                params: r.try_get(2)?,
                created_ts: r.try_get(3)?,
            })
        })
        .transpose()
    }

    async fn delete_uiaa_session(&self, session_id: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM uiaa_sessions WHERE session_id = $1")
            .bind(session_id)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn expire_uiaa_sessions(&self, before_ts: i64) -> StoreResult<()> {
        sqlx::query("DELETE FROM uiaa_sessions WHERE created_ts < $1")
            .bind(before_ts)
            .execute(&self.write)
            .await?;
        Ok(())
    }
}
