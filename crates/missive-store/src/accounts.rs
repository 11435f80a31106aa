//! Accounts (`AccountStore`): users, password hashes, profiles,
//! deactivation, the user directory search and registration tokens.

use async_trait::async_trait;
use sqlx::Row;

use ruma::UserId;

use crate::{SqlStore, StoreError, StoreResult, error::is_unique_violation};

/// A user to create.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub user_id: String,
    pub password_hash: Option<String>,
    pub is_admin: bool,
    /// A guest account (restricted until upgraded).
    pub is_guest: bool,
    pub displayname: Option<String>,
    pub created_ts: i64,
}

/// A stored account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub user_id: String,
    pub password_hash: Option<String>,
    pub is_admin: bool,
    pub deactivated: bool,
    pub is_guest: bool,
    pub displayname: Option<String>,
    pub avatar_url: Option<String>,
}

/// A registration token for `m.login.registration_token`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationToken {
    pub token: String,
    pub uses_allowed: Option<i64>,
    pub completed: i64,
    pub expiry_ts: Option<i64>,
}

/// Accounts, profiles and registration tokens.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Creates a user; `AlreadyExists` if the ID is taken.
    async fn create_user(&self, user: NewUser) -> StoreResult<()>;
    async fn user(&self, user_id: &UserId) -> StoreResult<Option<UserRecord>>;
    async fn set_password_hash(&self, user_id: &UserId, hash: &str) -> StoreResult<()>;
    /// Makes a guest account a full one with the given password hash;
    /// false if the account is not a guest's (already upgraded, say).
    async fn upgrade_guest(&self, user_id: &UserId, password_hash: &str) -> StoreResult<bool>;
    /// Marks the user deactivated and clears password and profile.
    async fn deactivate_user(&self, user_id: &UserId) -> StoreResult<()>;
    async fn set_displayname(&self, user_id: &UserId, name: Option<&str>) -> StoreResult<()>;
    async fn set_avatar_url(&self, user_id: &UserId, url: Option<&str>) -> StoreResult<()>;
    /// Users whose ID or display name contains `term` (case-insensitive),
    /// limited to those `searcher` shares a room with or who are in public
    /// rooms, as the user directory requires.
    async fn search_users(
        &self,
        searcher: &UserId,
        term: &str,
        scope: UserSearchScope,
        limit: i64,
    ) -> StoreResult<Vec<UserRecord>>;

    async fn create_registration_token(&self, token: RegistrationToken) -> StoreResult<()>;
    async fn registration_token(&self, token: &str) -> StoreResult<Option<RegistrationToken>>;
    /// Counts one completed use of the token.
    async fn use_registration_token(&self, token: &str) -> StoreResult<()>;
}

/// Whom the user directory lets a user find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserSearchScope {
    /// Users sharing a room with the searcher or in a public room (the
    /// spec's minimum, Synapse's default).
    SharedRooms,
    /// Every active local user: an organisation's directory of colleagues.
    AllLocal,
}

pub(crate) fn user_from_row(row: &sqlx::any::AnyRow) -> StoreResult<UserRecord> {
    Ok(UserRecord {
        user_id: row.try_get("user_id")?,
        password_hash: row.try_get("password_hash")?,
        is_admin: row.try_get::<i64, _>("is_admin")? != 0,
        deactivated: row.try_get::<i64, _>("deactivated")? != 0,
        is_guest: row.try_get::<i64, _>("is_guest")? != 0,
        displayname: row.try_get("displayname")?,
        avatar_url: row.try_get("avatar_url")?,
    })
}

pub(crate) const USER_COLUMNS: &str = "u.user_id, u.password_hash, u.is_admin, u.deactivated, u.is_guest, u.displayname, \
     u.avatar_url";

#[async_trait]
impl AccountStore for SqlStore {
    async fn create_user(&self, user: NewUser) -> StoreResult<()> {
        let result = sqlx::query(
            "INSERT INTO users (user_id, password_hash, is_admin, displayname, created_ts, \
             is_guest) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&user.user_id)
        .bind(&user.password_hash)
        .bind(i64::from(user.is_admin))
        .bind(&user.displayname)
        .bind(user.created_ts)
        .bind(i64::from(user.is_guest))
        .execute(&self.write)
        .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(StoreError::AlreadyExists(user.user_id)),
            Err(e) => Err(e.into()),
        }
    }

    async fn user(&self, user_id: &UserId) -> StoreResult<Option<UserRecord>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM users u WHERE u.user_id = $1"
        )))
        .bind(user_id.as_str())
        .fetch_optional(&self.read)
        .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn upgrade_guest(&self, user_id: &UserId, password_hash: &str) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE users SET is_guest = 0, password_hash = $1 \
             WHERE user_id = $2 AND is_guest = 1 AND deactivated = 0",
        )
        .bind(password_hash)
        .bind(user_id.as_str())
        .execute(&self.write)
        .await?;
        // Tokens of the account authenticate as a guest no longer.
        self.caches.tokens.forget_all();
        Ok(done.rows_affected() == 1)
    }

    async fn set_password_hash(&self, user_id: &UserId, hash: &str) -> StoreResult<()> {
        sqlx::query("UPDATE users SET password_hash = $1 WHERE user_id = $2")
            .bind(hash)
            .bind(user_id.as_str())
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn deactivate_user(&self, user_id: &UserId) -> StoreResult<()> {
        sqlx::query(
            "UPDATE users SET deactivated = 1, password_hash = NULL, displayname = NULL, \
             avatar_url = NULL WHERE user_id = $1",
        )
        .bind(user_id.as_str())
        .execute(&self.write)
        .await?;
        self.caches.tokens.forget_all();
        self.caches.push_targets.forget_all();
        Ok(())
    }

    async fn set_displayname(&self, user_id: &UserId, name: Option<&str>) -> StoreResult<()> {
        sqlx::query("UPDATE users SET displayname = $1 WHERE user_id = $2")
            .bind(name)
            .bind(user_id.as_str())
            .execute(&self.write)
            .await?;
        // Push rules match on display names, in every room of the user.
        self.caches.push_targets.forget_all();
        Ok(())
    }

    async fn set_avatar_url(&self, user_id: &UserId, url: Option<&str>) -> StoreResult<()> {
        sqlx::query("UPDATE users SET avatar_url = $1 WHERE user_id = $2")
            .bind(url)
            .bind(user_id.as_str())
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn search_users(
        &self,
        searcher: &UserId,
        term: &str,
        scope: UserSearchScope,
        limit: i64,
    ) -> StoreResult<Vec<UserRecord>> {
        let pattern = format!("%{}%", escape_like(&term.to_lowercase()));
        let all_local = i64::from(scope == UserSearchScope::AllLocal);
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM users u \
             WHERE u.deactivated = 0 \
               AND (LOWER(u.user_id) LIKE $1 ESCAPE '\\' OR LOWER(COALESCE(u.displayname, '')) LIKE $1 ESCAPE '\\') \
               AND ($4 = 1 OR u.user_id = $2 OR EXISTS ( \
                     SELECT 1 FROM memberships m1 JOIN memberships m2 ON m1.room_id = m2.room_id \
                     WHERE m1.user_id = $2 AND m1.membership = 'join' \
                       AND m2.user_id = u.user_id AND m2.membership = 'join') \
                 OR EXISTS ( \
                     SELECT 1 FROM memberships m3 JOIN rooms r ON r.room_id = m3.room_id \
                     WHERE m3.user_id = u.user_id AND m3.membership = 'join' \
                       AND (r.join_rule = 'public' OR r.published = 1))) \
             ORDER BY u.user_id LIMIT $3"
        )))
        .bind(pattern)
        .bind(searcher.as_str())
        .bind(limit)
        .bind(all_local)
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(user_from_row).collect()
    }

    async fn create_registration_token(&self, token: RegistrationToken) -> StoreResult<()> {
        let result = sqlx::query(
            "INSERT INTO registration_tokens (token, uses_allowed, completed, expiry_ts) \
             VALUES ($1, $2, 0, $3)",
        )
        .bind(&token.token)
        .bind(token.uses_allowed)
        .bind(token.expiry_ts)
        .execute(&self.write)
        .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(StoreError::AlreadyExists(token.token)),
            Err(e) => Err(e.into()),
        }
    }

    async fn registration_token(&self, token: &str) -> StoreResult<Option<RegistrationToken>> {
        let row = sqlx::query(
            "SELECT token, uses_allowed, completed, expiry_ts FROM registration_tokens WHERE token = $1",
        )
        .bind(token)
        .fetch_optional(&self.read)
        .await?;
        row.map(|r| {
            Ok(RegistrationToken {
                token: r.try_get("token")?,
                uses_allowed: r.try_get("uses_allowed")?,
                completed: r.try_get("completed")?,
                expiry_ts: r.try_get("expiry_ts")?,
            })
        })
        .transpose()
    }

    async fn use_registration_token(&self, token: &str) -> StoreResult<()> {
        sqlx::query("UPDATE registration_tokens SET completed = completed + 1 WHERE token = $1")
            .bind(token)
            .execute(&self.write)
            .await?;
        Ok(())
    }
}

/// Escapes LIKE wildcards so a search term matches literally.
pub(crate) fn escape_like(term: &str) -> String {
    term.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}
