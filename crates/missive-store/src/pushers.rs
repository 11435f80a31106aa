//! Pushers and the notifications they deliver (`PusherStore`): a user's
//! HTTP pushers, each with the stream position its delivery is done up to,
//! and the user's notified events (push actions with their events) read
//! after such a position or, for `GET /notifications`, newest first.

use async_trait::async_trait;
use ruma::{OwnedDeviceId, OwnedUserId, UserId};
use sqlx::Row;

use crate::{
    SqlStore, StoreResult, StreamPos,
    event_types::StoredEvent,
    events::{EVENT_COLUMNS, event_from_row},
};

/// The advisory lock key of push delivery (any constant of our own).
const DELIVERY_LOCK: i64 = 0x6d69_7373_7075_7368; // "misspush"

/// Held by the one server process that delivers notifications (see
/// [`SqlStore::try_lock_push_delivery`]); released when dropped.
pub struct PushDeliveryLock {
    /// On PostgreSQL, the session holding the advisory lock: taken out of
    /// the pool, so that dropping it ends the session and the lock with it
    /// (back in the pool, the lock would stay held by an idle session).
    _session: Option<sqlx::AnyConnection>,
}

impl SqlStore {
    /// Makes this process the one that delivers notifications, if no other
    /// is: on PostgreSQL a session advisory lock, held by a connection kept
    /// for as long as the returned guard (another process may take over
    /// once this one ends); on SQLite, where one process owns the database,
    /// always granted. `None`: another process delivers.
    pub async fn try_lock_push_delivery(&self) -> StoreResult<Option<PushDeliveryLock>> {
        if self.backend() == crate::Backend::Sqlite {
            return Ok(Some(PushDeliveryLock { _session: None }));
        }
        let mut session = self.write.acquire().await?;
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(DELIVERY_LOCK)
            .fetch_one(&mut *session)
            .await?;
        Ok(locked.then(|| PushDeliveryLock {
            _session: Some(session.detach()),
        }))
    }
}

/// A pusher as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PusherRecord {
    pub user_id: OwnedUserId,
    /// The device whose access token set it.
    pub device_id: OwnedDeviceId,
    pub app_id: String,
    pub pushkey: String,
    /// `http` (the only kind delivered) or another kind a client set.
    pub kind: String,
    pub app_display_name: String,
    pub device_display_name: String,
    pub profile_tag: Option<String>,
    pub lang: String,
    /// The pusher's `data` object as JSON (with `url` and `format`).
    pub data: String,
    /// When the pushkey was set (ms since the epoch).
    pub pushkey_ts: i64,
    /// Notifications up to here are done (ignored by `set_pusher`, which
    /// starts a new pusher at the current position and keeps an existing
    /// pusher's).
    pub last_pushed: StreamPos,
}

/// One of a user's notified events.
#[derive(Debug, Clone)]
pub struct NotifiedEvent {
    pub highlight: bool,
    pub event: StoredEvent,
}

#[async_trait]
pub trait PusherStore: Send + Sync {
    /// Adds or updates the pusher keyed by its app ID, pushkey and user.
    /// A new one starts at the current stream position (only what happens
    /// from now on is pushed). Unless `append`, pushers of other users with
    /// the same app ID and pushkey are deleted (the spec's rule: one app
    /// instance has one owner).
    async fn set_pusher(&self, pusher: &PusherRecord, append: bool) -> StoreResult<()>;
    /// Deletes the user's pusher; whether there was one.
    async fn delete_pusher(
        &self,
        user_id: &UserId,
        app_id: &str,
        pushkey: &str,
    ) -> StoreResult<bool>;
    /// The user's pushers, by app ID and pushkey.
    async fn pushers(&self, user_id: &UserId) -> StoreResult<Vec<PusherRecord>>;
    /// Every pusher of every user (delivery works through them).
    async fn all_pushers(&self) -> StoreResult<Vec<PusherRecord>>;
    /// Records that the pusher's notifications up to `pos` are done. Never
    /// moves it back.
    async fn advance_pusher(
        &self,
        user_id: &UserId,
        app_id: &str,
        pushkey: &str,
        pos: StreamPos,
    ) -> StoreResult<()>;
    /// The user's notified events after `after`, oldest first, at most
    /// `limit`.
    async fn notified_after(
        &self,
        user_id: &UserId,
        after: StreamPos,
        limit: i64,
    ) -> StoreResult<Vec<NotifiedEvent>>;
    /// The user's notified events before `before` (all if `None`), newest
    /// first, at most `limit`; only highlights if `only_highlight`.
    async fn notified_before(
        &self,
        user_id: &UserId,
        before: Option<StreamPos>,
        limit: i64,
        only_highlight: bool,
    ) -> StoreResult<Vec<NotifiedEvent>>;
}

const PUSHER_COLUMNS: &str = "user_id, device_id, app_id, pushkey, kind, app_display_name, \
    device_display_name, profile_tag, lang, data, pushkey_ts, last_pushed";

fn pusher_from_row(row: &sqlx::any::AnyRow) -> StoreResult<PusherRecord> {
    let user: String = row.try_get(0)?;
    let device: String = row.try_get(1)?;
    Ok(PusherRecord {
        user_id: UserId::parse(&user).map_err(|e| crate::StoreError::Corrupt(e.to_string()))?,
        device_id: device.into(),
        app_id: row.try_get(2)?,
        pushkey: row.try_get(3)?,
        kind: row.try_get(4)?,
        app_display_name: row.try_get(5)?,
        device_display_name: row.try_get(6)?,
        profile_tag: row.try_get(7)?,
        lang: row.try_get(8)?,
        data: row.try_get(9)?,
        pushkey_ts: row.try_get(10)?,
        last_pushed: row.try_get(11)?,
    })
}

fn notified_from_row(row: &sqlx::any::AnyRow) -> StoreResult<NotifiedEvent> {
    let highlight: i64 = row.try_get(12)?;
    Ok(NotifiedEvent {
        highlight: highlight != 0,
        event: event_from_row(row)?,
    })
}

#[async_trait]
impl PusherStore for SqlStore {
    async fn set_pusher(&self, p: &PusherRecord, append: bool) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        if !append {
            sqlx::query("DELETE FROM pushers WHERE app_id = $1 AND pushkey = $2 AND user_id <> $3")
                .bind(&p.app_id)
                .bind(&p.pushkey)
                .bind(p.user_id.as_str())
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "INSERT INTO pushers (user_id, device_id, app_id, pushkey, kind, app_display_name, \
               device_display_name, profile_tag, lang, data, pushkey_ts, last_pushed) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, \
               (SELECT position FROM stream_counter WHERE id = 1)) \
             ON CONFLICT (app_id, pushkey, user_id) DO UPDATE SET device_id = excluded.device_id, \
               kind = excluded.kind, app_display_name = excluded.app_display_name, \
               device_display_name = excluded.device_display_name, \
               profile_tag = excluded.profile_tag, lang = excluded.lang, data = excluded.data, \
               pushkey_ts = excluded.pushkey_ts",
        )
        .bind(p.user_id.as_str())
        .bind(p.device_id.as_str())
        .bind(&p.app_id)
        .bind(&p.pushkey)
        .bind(&p.kind)
        .bind(&p.app_display_name)
        .bind(&p.device_display_name)
        .bind(p.profile_tag.as_deref())
        .bind(&p.lang)
        .bind(&p.data)
        .bind(p.pushkey_ts)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        // Without `append`, other users' pushers with this key went too.
        self.caches.pushers_changed(None);
        Ok(())
    }

    async fn delete_pusher(
        &self,
        user_id: &UserId,
        app_id: &str,
        pushkey: &str,
    ) -> StoreResult<bool> {
        let done =
            sqlx::query("DELETE FROM pushers WHERE user_id = $1 AND app_id = $2 AND pushkey = $3")
                .bind(user_id.as_str())
                .bind(app_id)
                .bind(pushkey)
                .execute(&self.write)
                .await?;
        self.caches.pushers_changed(Some(user_id.as_str()));
        Ok(done.rows_affected() > 0)
    }

    async fn pushers(&self, user_id: &UserId) -> StoreResult<Vec<PusherRecord>> {
        let read = async {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {PUSHER_COLUMNS} FROM pushers WHERE user_id = $1 ORDER BY app_id, pushkey"
            )))
            .bind(user_id.as_str())
            .fetch_all(&self.read)
            .await?;
            rows.iter()
                .map(pusher_from_row)
                .collect::<StoreResult<Vec<_>>>()
                .map(Some)
        };
        let pushers = self
            .caches
            .pushers
            .read_through(user_id.as_str(), read)
            .await?;
        Ok(pushers.unwrap_or_default())
    }

    async fn all_pushers(&self) -> StoreResult<Vec<PusherRecord>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {PUSHER_COLUMNS} FROM pushers ORDER BY user_id, app_id, pushkey"
        )))
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(pusher_from_row).collect()
    }

    async fn advance_pusher(
        &self,
        user_id: &UserId,
        app_id: &str,
        pushkey: &str,
        pos: StreamPos,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE pushers SET last_pushed = $1 \
             WHERE user_id = $2 AND app_id = $3 AND pushkey = $4 AND last_pushed < $1",
        )
        .bind(pos)
        .bind(user_id.as_str())
        .bind(app_id)
        .bind(pushkey)
        .execute(&self.write)
        .await?;
        self.caches.pushers.forget(user_id.as_str());
        Ok(())
    }

    async fn notified_after(
        &self,
        user_id: &UserId,
        after: StreamPos,
        limit: i64,
    ) -> StoreResult<Vec<NotifiedEvent>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {EVENT_COLUMNS}, pa.highlight FROM event_push_actions pa \
             JOIN events e ON e.stream_ordering = pa.stream_ordering \
             WHERE pa.user_id = $1 AND pa.stream_ordering > $2 \
             ORDER BY pa.stream_ordering LIMIT $3"
        )))
        .bind(user_id.as_str())
        .bind(after)
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(notified_from_row).collect()
    }

    async fn notified_before(
        &self,
        user_id: &UserId,
        before: Option<StreamPos>,
        limit: i64,
        only_highlight: bool,
    ) -> StoreResult<Vec<NotifiedEvent>> {
        // Not a hot path: the user's push actions are read by user (the
        // key's prefix) and sorted by position across rooms.
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {EVENT_COLUMNS}, pa.highlight FROM event_push_actions pa \
             JOIN events e ON e.stream_ordering = pa.stream_ordering \
             WHERE pa.user_id = $1 AND pa.stream_ordering < $2 AND pa.highlight >= $3 \
             ORDER BY pa.stream_ordering DESC LIMIT $4"
        )))
        .bind(user_id.as_str())
        .bind(before.unwrap_or(StreamPos::END))
        .bind(i64::from(only_highlight))
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(notified_from_row).collect()
    }
}
