//! Third-party identifiers (`ThreepidStore`): the e-mail addresses bound to
//! accounts, and the validation sessions proving that someone holds an
//! address. Addresses arrive canonical from the server; an address belongs
//! to one account at most. Mailed tokens are kept only as hashes.

use async_trait::async_trait;
use ruma::UserId;
use sqlx::Row;

use crate::{SqlStore, StoreError, StoreResult, error::is_unique_violation};

/// A third-party identifier bound to an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserThreepid {
    pub medium: String,
    pub address: String,
    pub user_id: String,
    pub validated_ts: i64,
    pub added_ts: i64,
}

/// A validation session: a token mailed to `address`, asked for by the
/// holder of `client_secret`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreepidSession {
    pub session_id: String,
    pub medium: String,
    pub address: String,
    pub client_secret: String,
    pub send_attempt: i64,
    pub token_hash: String,
    pub token_expires_ts: i64,
    pub created_ts: i64,
    /// When the token was presented; `None` until then.
    pub validated_ts: Option<i64>,
}

#[async_trait]
pub trait ThreepidStore: Send + Sync {
    /// Creates the session, or replaces its send attempt, token and
    /// token expiry (a new mail for the same session).
    async fn save_threepid_session(&self, session: &ThreepidSession) -> StoreResult<()>;
    async fn threepid_session(&self, session_id: &str) -> StoreResult<Option<ThreepidSession>>;
    /// The newest session not yet validated that `client_secret` opened
    /// for this address (`send_attempt` idempotency).
    async fn pending_threepid_session(
        &self,
        client_secret: &str,
        medium: &str,
        address: &str,
    ) -> StoreResult<Option<ThreepidSession>>;
    /// Marks the session validated when `token_hash` is its token and has
    /// not expired at `now_ts`; true then (and for a session already
    /// validated with that token).
    async fn validate_threepid_session(
        &self,
        session_id: &str,
        token_hash: &str,
        now_ts: i64,
    ) -> StoreResult<bool>;
    /// Deletes sessions created before `before_ts`.
    async fn expire_threepid_sessions(&self, before_ts: i64) -> StoreResult<()>;

    /// Binds an address to a user; `AlreadyExists` if another account has
    /// it (binding it again to its own account changes nothing).
    async fn add_user_threepid(&self, threepid: &UserThreepid) -> StoreResult<()>;
    async fn user_threepids(&self, user_id: &UserId) -> StoreResult<Vec<UserThreepid>>;
    /// The account an address is bound to.
    async fn threepid_user(&self, medium: &str, address: &str) -> StoreResult<Option<String>>;
    /// Unbinds an address from the user; false if it was not theirs.
    async fn delete_user_threepid(
        &self,
        user_id: &UserId,
        medium: &str,
        address: &str,
    ) -> StoreResult<bool>;
    /// Every published e-mail address and its account (identity lookups
    /// by hash), at most `limit`.
    async fn all_email_threepids(&self, limit: i64) -> StoreResult<Vec<(String, String)>>;
    /// The account an address is published for (discovery), if any.
    async fn published_threepid_user(
        &self,
        medium: &str,
        address: &str,
    ) -> StoreResult<Option<String>>;
    /// Publishes (or withdraws) one of the user's addresses for discovery;
    /// false if the address is not theirs.
    async fn set_threepid_published(
        &self,
        user_id: &UserId,
        medium: &str,
        address: &str,
        published: bool,
    ) -> StoreResult<bool>;
    /// Unbinds every address of the user (deactivation).
    async fn delete_user_threepids(&self, user_id: &UserId) -> StoreResult<()>;
}

const SESSION_COLUMNS: &str = "session_id, medium, address, client_secret, send_attempt, \
     token_hash, token_expires_ts, created_ts, validated_ts";

fn session_from_row(r: &sqlx::any::AnyRow) -> StoreResult<ThreepidSession> {
    Ok(ThreepidSession {
        session_id: r.try_get(0)?,
        medium: r.try_get(1)?,
        address: r.try_get(2)?,
        client_secret: r.try_get(3)?,
        send_attempt: r.try_get(4)?,
        token_hash: r.try_get(5)?,
        token_expires_ts: r.try_get(6)?,
        created_ts: r.try_get(7)?,
        validated_ts: r.try_get(8)?,
    })
}

#[async_trait]
impl ThreepidStore for SqlStore {
    async fn save_threepid_session(&self, s: &ThreepidSession) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO threepid_sessions (session_id, medium, address, client_secret, \
             send_attempt, token_hash, token_expires_ts, created_ts, validated_ts) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (session_id) DO UPDATE SET send_attempt = excluded.send_attempt, \
             token_hash = excluded.token_hash, token_expires_ts = excluded.token_expires_ts",
        )
        .bind(&s.session_id)
        .bind(&s.medium)
        .bind(&s.address)
        .bind(&s.client_secret)
        .bind(s.send_attempt)
        .bind(&s.token_hash)
        .bind(s.token_expires_ts)
        .bind(s.created_ts)
        .bind(s.validated_ts)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn threepid_session(&self, session_id: &str) -> StoreResult<Option<ThreepidSession>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SESSION_COLUMNS} FROM threepid_sessions WHERE session_id = $1"
        )))
        .bind(session_id)
        .fetch_optional(&self.write)
        .await?;
        row.as_ref().map(session_from_row).transpose()
    }

    async fn pending_threepid_session(
        &self,
        client_secret: &str,
        medium: &str,
        address: &str,
    ) -> StoreResult<Option<ThreepidSession>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SESSION_COLUMNS} FROM threepid_sessions \
             WHERE client_secret = $1 AND medium = $2 AND address = $3 AND validated_ts IS NULL \
             ORDER BY created_ts DESC LIMIT 1"
        )))
        .bind(client_secret)
        .bind(medium)
        .bind(address)
        .fetch_optional(&self.write)
        .await?;
        row.as_ref().map(session_from_row).transpose()
    }

    async fn validate_threepid_session(
        &self,
        session_id: &str,
        token_hash: &str,
        now_ts: i64,
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "UPDATE threepid_sessions SET validated_ts = $3 \
             WHERE session_id = $1 AND token_hash = $2 AND validated_ts IS NULL \
             AND token_expires_ts > $3",
        )
        .bind(session_id)
        .bind(token_hash)
        .bind(now_ts)
        .execute(&mut *tx)
        .await?;
        let validated: Option<i64> = sqlx::query_scalar(
            "SELECT COUNT(*) FROM threepid_sessions \
             WHERE session_id = $1 AND token_hash = $2 AND validated_ts IS NOT NULL",
        )
        .bind(session_id)
        .bind(token_hash)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(validated.unwrap_or(0) > 0)
    }

    async fn expire_threepid_sessions(&self, before_ts: i64) -> StoreResult<()> {
        sqlx::query("DELETE FROM threepid_sessions WHERE created_ts < $1")
            .bind(before_ts)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn add_user_threepid(&self, t: &UserThreepid) -> StoreResult<()> {
        let inserted = sqlx::query(
            "INSERT INTO user_threepids (medium, address, user_id, validated_ts, added_ts) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&t.medium)
        .bind(&t.address)
        .bind(&t.user_id)
        .bind(t.validated_ts)
        .bind(t.added_ts)
        .execute(&self.write)
        .await;
        match inserted {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => {
                match self.threepid_user(&t.medium, &t.address).await? {
                    Some(owner) if owner == t.user_id => Ok(()),
                    _ => Err(StoreError::AlreadyExists(format!(
                        "{} {}",
                        t.medium, t.address
                    ))),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn user_threepids(&self, user_id: &UserId) -> StoreResult<Vec<UserThreepid>> {
        let rows = sqlx::query(
            "SELECT medium, address, user_id, validated_ts, added_ts FROM user_threepids \
             WHERE user_id = $1 ORDER BY added_ts, medium, address",
        )
        .bind(user_id.as_str())
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(UserThreepid {
                    medium: r.try_get(0)?,
                    address: r.try_get(1)?,
                    user_id: r.try_get(2)?,
                    validated_ts: r.try_get(3)?,
                    added_ts: r.try_get(4)?,
                })
            })
            .collect()
    }

    async fn threepid_user(&self, medium: &str, address: &str) -> StoreResult<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT user_id FROM user_threepids WHERE medium = $1 AND address = $2",
        )
        .bind(medium)
        .bind(address)
        .fetch_optional(&self.write)
        .await?)
    }

    async fn delete_user_threepid(
        &self,
        user_id: &UserId,
        medium: &str,
        address: &str,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "DELETE FROM user_threepids WHERE user_id = $1 AND medium = $2 AND address = $3",
        )
        .bind(user_id.as_str())
        .bind(medium)
        .bind(address)
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn all_email_threepids(&self, limit: i64) -> StoreResult<Vec<(String, String)>> {
        let rows = sqlx::query(
            "SELECT address, user_id FROM user_threepids WHERE medium = 'email' \
             AND published <> 0 ORDER BY address LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    async fn published_threepid_user(
        &self,
        medium: &str,
        address: &str,
    ) -> StoreResult<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT user_id FROM user_threepids WHERE medium = $1 AND address = $2 \
             AND published <> 0",
        )
        .bind(medium)
        .bind(address)
        .fetch_optional(&self.read)
        .await?)
    }

    async fn set_threepid_published(
        &self,
        user_id: &UserId,
        medium: &str,
        address: &str,
        published: bool,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE user_threepids SET published = $1 \
             WHERE user_id = $2 AND medium = $3 AND address = $4",
        )
        .bind(i64::from(published))
        .bind(user_id.as_str())
        .bind(medium)
        .bind(address)
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_user_threepids(&self, user_id: &UserId) -> StoreResult<()> {
        sqlx::query("DELETE FROM user_threepids WHERE user_id = $1")
            .bind(user_id.as_str())
            .execute(&self.write)
            .await?;
        Ok(())
    }
}
