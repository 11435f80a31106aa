//! OpenID tokens (`OpenIdStore`): short-lived proofs of a user's identity
//! for third parties, looked up by hash only and never past their expiry.

use async_trait::async_trait;
use ruma::UserId;

use crate::{SqlStore, StoreResult};

#[async_trait]
pub trait OpenIdStore: Send + Sync {
    /// Records a token (by its hash) of `user_id`, valid until `expires_ts`
    /// (ms); tokens expired before `now_ts` are removed on the way.
    async fn add_openid_token(
        &self,
        token_hash: &str,
        user_id: &UserId,
        expires_ts: i64,
        now_ts: i64,
    ) -> StoreResult<()>;
    /// The owner of the token, if it exists and has not expired at `now_ts`.
    async fn openid_token_user(&self, token_hash: &str, now_ts: i64)
    -> StoreResult<Option<String>>;
}

#[async_trait]
impl OpenIdStore for SqlStore {
    async fn add_openid_token(
        &self,
        token_hash: &str,
        user_id: &UserId,
        expires_ts: i64,
        now_ts: i64,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query("DELETE FROM openid_tokens WHERE expires_ts <= $1")
            .bind(now_ts)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO openid_tokens (token_hash, user_id, expires_ts) VALUES ($1, $2, $3)",
        )
        .bind(token_hash)
        .bind(user_id.as_str())
        .bind(expires_ts)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn openid_token_user(
        &self,
        token_hash: &str,
        now_ts: i64,
    ) -> StoreResult<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT user_id FROM openid_tokens WHERE token_hash = $1 AND expires_ts > $2",
        )
        .bind(token_hash)
        .bind(now_ts)
        .fetch_optional(&self.read)
        .await?)
    }
}
