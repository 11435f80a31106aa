//! The server as its own identity server (`IdentityStore`): its long-term
//! signing key, the ephemeral keys of invites, identity-service access
//! tokens (hashed), and third-party invites waiting for their address to
//! become an account's.

use async_trait::async_trait;
use ruma::UserId;
use sqlx::Row;

use crate::{SqlStore, StoreResult};

/// An invite of an e-mail address into a room, not yet exchanged for an
/// invite of the account the address will belong to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThirdPartyInvite {
    /// The `m.room.third_party_invite` event's state key.
    pub token: String,
    pub medium: String,
    pub address: String,
    pub room_id: String,
    pub sender: String,
    pub display_name: String,
    pub created_ts: i64,
}

#[async_trait]
pub trait IdentityStore: Send + Sync {
    /// Keeps `pkcs8` as the key `key_id` unless one is kept already; returns
    /// the one kept (so processes sharing a database agree on one key).
    async fn keep_identity_key(
        &self,
        key_id: &str,
        pkcs8: &str,
        now_ts: i64,
    ) -> StoreResult<String>;
    async fn add_ephemeral_key(&self, public_key: &str, now_ts: i64) -> StoreResult<()>;
    async fn ephemeral_key_exists(&self, public_key: &str) -> StoreResult<bool>;
    async fn add_identity_token(
        &self,
        token_hash: &str,
        user_id: &str,
        now_ts: i64,
    ) -> StoreResult<()>;
    async fn identity_token_user(&self, token_hash: &str) -> StoreResult<Option<String>>;
    /// Revokes every identity token of the user (password change,
    /// deactivation).
    async fn delete_identity_tokens(&self, user_id: &UserId) -> StoreResult<()>;
    async fn add_third_party_invite(&self, invite: &ThirdPartyInvite) -> StoreResult<()>;
    /// The invites waiting for an address, oldest first.
    async fn third_party_invites_for(
        &self,
        medium: &str,
        address: &str,
    ) -> StoreResult<Vec<ThirdPartyInvite>>;
    async fn delete_third_party_invite(&self, token: &str) -> StoreResult<()>;
}

#[async_trait]
impl IdentityStore for SqlStore {
    async fn keep_identity_key(
        &self,
        key_id: &str,
        pkcs8: &str,
        now_ts: i64,
    ) -> StoreResult<String> {
        sqlx::query(
            "INSERT INTO identity_keys (key_id, pkcs8, created_ts) VALUES ($1, $2, $3) \
             ON CONFLICT (key_id) DO NOTHING",
        )
        .bind(key_id)
        .bind(pkcs8)
        .bind(now_ts)
        .execute(&self.write)
        .await?;
        Ok(
            sqlx::query_scalar("SELECT pkcs8 FROM identity_keys WHERE key_id = $1")
                .bind(key_id)
                .fetch_one(&self.write)
                .await?,
        )
    }

    async fn add_ephemeral_key(&self, public_key: &str, now_ts: i64) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO identity_ephemeral_keys (public_key, created_ts) VALUES ($1, $2) \
             ON CONFLICT (public_key) DO NOTHING",
        )
        .bind(public_key)
        .bind(now_ts)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn ephemeral_key_exists(&self, public_key: &str) -> StoreResult<bool> {
        let found: Option<String> = sqlx::query_scalar(
            "SELECT public_key FROM identity_ephemeral_keys WHERE public_key = $1",
        )
        .bind(public_key)
        .fetch_optional(&self.read)
        .await?;
        Ok(found.is_some())
    }

    async fn add_identity_token(
        &self,
        token_hash: &str,
        user_id: &str,
        now_ts: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO identity_tokens (token_hash, user_id, created_ts) VALUES ($1, $2, $3)",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(now_ts)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn delete_identity_tokens(&self, user_id: &UserId) -> StoreResult<()> {
        sqlx::query("DELETE FROM identity_tokens WHERE user_id = $1")
            .bind(user_id.as_str())
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn identity_token_user(&self, token_hash: &str) -> StoreResult<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT user_id FROM identity_tokens WHERE token_hash = $1")
                .bind(token_hash)
                .fetch_optional(&self.read)
                .await?,
        )
    }

    async fn add_third_party_invite(&self, i: &ThirdPartyInvite) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO third_party_invites \
             (token, medium, address, room_id, sender, display_name, created_ts) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&i.token)
        .bind(&i.medium)
        .bind(&i.address)
        .bind(&i.room_id)
        .bind(&i.sender)
        .bind(&i.display_name)
        .bind(i.created_ts)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn third_party_invites_for(
        &self,
        medium: &str,
        address: &str,
    ) -> StoreResult<Vec<ThirdPartyInvite>> {
        let rows = sqlx::query(
            "SELECT token, medium, address, room_id, sender, display_name, created_ts \
             FROM third_party_invites WHERE medium = $1 AND address = $2 \
             ORDER BY created_ts, token",
        )
        .bind(medium)
        .bind(address)
        .fetch_all(&self.write)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ThirdPartyInvite {
                    token: r.try_get(0)?,
                    medium: r.try_get(1)?,
                    address: r.try_get(2)?,
                    room_id: r.try_get(3)?,
                    sender: r.try_get(4)?,
                    display_name: r.try_get(5)?,
                    created_ts: r.try_get(6)?,
                })
            })
            .collect()
    }

    async fn delete_third_party_invite(&self, token: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM third_party_invites WHERE token = $1")
            .bind(token)
            .execute(&self.write)
            .await?;
        Ok(())
    }
}
