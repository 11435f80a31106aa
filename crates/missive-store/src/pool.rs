//! [`SqlStore`] itself and opening it: the SQLite or PostgreSQL pools (one
//! for reads, one for writes), migrations, and the stream-position counter
//! every writer takes its positions from.

use std::{path::Path, str::FromStr, time::Duration};

use sqlx::{
    Any, AnyPool, Executor, Transaction,
    any::{AnyConnectOptions, AnyPoolOptions},
};
use tokio::sync::mpsc;

use crate::{
    StoreResult, StreamPos,
    read_cache::Caches,
    stream_changes::{StreamChanges, StreamKind},
};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The PostgreSQL channel on which writers announce new stream positions, so
/// that every server process sharing the database wakes its waiting syncs.
const STREAM_CHANNEL: &str = "missive_stream";

/// Which database a [`SqlStore`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// How to open the store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// `postgres://...` for PostgreSQL; `None` for SQLite in `data_dir`.
    pub database_url: Option<String>,
    /// Directory holding the SQLite file.
    pub data_dir: std::path::PathBuf,
    /// Connections in the PostgreSQL pool (per server process).
    pub max_connections: u32,
}

/// The one storage implementation: the SQL is shared by both backends.
#[derive(Clone)]
pub struct SqlStore {
    pub(crate) backend: Backend,
    /// Reads. On SQLite, WAL lets these run beside the writer.
    pub(crate) read: AnyPool,
    /// Writes. On SQLite this pool has one connection, so writers queue in
    /// the pool instead of failing with SQLITE_BUSY.
    pub(crate) write: AnyPool,
    database_url: String,
    /// Where events are written (see `group_commit`); `None` in the writer
    /// task's own copy of the store.
    pub(crate) events_writer: Option<crate::group_commit::GroupCommit>,
    /// Which kinds of stream data changed lately (see `stream_changes`).
    pub(crate) changes: std::sync::Arc<StreamChanges>,
    /// Hot reads kept in memory where this process sees every write.
    pub(crate) caches: std::sync::Arc<Caches>,
}

impl SqlStore {
    /// Opens (creating if needed) the database and applies pending migrations.
    pub async fn open(options: &StoreOptions) -> StoreResult<Self> {
        sqlx::any::install_default_drivers();
        match &options.database_url {
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Self::open_postgres(url, options.max_connections).await
            }
            Some(url) if url.starts_with("sqlite:") => Self::open_sqlite(url).await,
            Some(other) => Err(crate::StoreError::UnsupportedDatabase(
                other.split(':').next().unwrap_or_default().to_owned(),
            )),
            None => {
                let path = options.data_dir.join("missive.db");
                Self::open_sqlite(&sqlite_url(&path)).await
            }
        }
    }

    async fn open_sqlite(url: &str) -> StoreResult<Self> {
        let opts = AnyConnectOptions::from_str(url)?;
        fn pragmas(
            conn: &mut sqlx::AnyConnection,
            _meta: sqlx::pool::PoolConnectionMetadata,
        ) -> futures::future::BoxFuture<'_, Result<(), sqlx::Error>> {
            Box::pin(async move {
                // WAL: readers never block the writer. synchronous=FULL: a
                // commit is on disk before the client hears about it.
                conn.execute(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                     PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;",
                )
                .await?;
                Ok(())
            })
        }
        // A SQLite connection cannot go stale, and testing one before each
        // use is a round trip to its worker thread: twice the thread hops of
        // a one-statement read.
        let write = AnyPoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(60))
            .after_connect(pragmas)
            .connect_with(opts.clone())
            .await?;
        SQLITE_MIGRATIONS.run(&write).await?;
        let read = AnyPoolOptions::new()
            .max_connections(8)
            .test_before_acquire(false)
            .after_connect(pragmas)
            .connect_with(opts)
            .await?;
        let start = Self::position_in(&read).await?;
        Ok(Self {
            backend: Backend::Sqlite,
            read,
            write,
            database_url: url.to_owned(),
            events_writer: None,
            // One process owns the file: it sees every write.
            changes: std::sync::Arc::new(StreamChanges::new(start, true)),
            caches: Caches::new(true),
        }
        .with_group_commit())
    }

    async fn open_postgres(url: &str, max_connections: u32) -> StoreResult<Self> {
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections.max(2))
            .acquire_timeout(Duration::from_secs(30))
            .connect(url)
            .await?;
        POSTGRES_MIGRATIONS.run(&pool).await?;
        let start = Self::position_in(&pool).await?;
        Ok(Self {
            backend: Backend::Postgres,
            read: pool.clone(),
            write: pool,
            database_url: url.to_owned(),
            events_writer: None,
            // Other server processes write to the same database.
            changes: std::sync::Arc::new(StreamChanges::new(start, false)),
            caches: Caches::new(false),
        }
        .with_group_commit())
    }

    fn with_group_commit(mut self) -> Self {
        self.events_writer = Some(crate::group_commit::GroupCommit::start(self.clone()));
        self
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Checks the database answers (for the health endpoint).
    pub async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    /// Closes all connections (graceful shutdown).
    pub async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
    }

    /// Whether this process makes every write to the database: on SQLite
    /// one server process owns the file. What its writers announce after
    /// each commit is then the committed stream position, and reading the
    /// counter again tells nothing new.
    pub fn sees_every_write(&self) -> bool {
        self.backend == Backend::Sqlite
    }

    /// The newest stream position that has been committed.
    pub async fn current_position(&self) -> StoreResult<StreamPos> {
        Self::position_in(&self.read).await
    }

    async fn position_in(pool: &AnyPool) -> StoreResult<StreamPos> {
        let pos: StreamPos = sqlx::query_scalar("SELECT position FROM stream_counter WHERE id = 1")
            .fetch_one(pool)
            .await?;
        Ok(pos)
    }

    /// Whether data of `kind` may have changed after `since` (`true` when
    /// this process cannot know; see `stream_changes`).
    pub fn changed_since(&self, kind: StreamKind, since: StreamPos) -> bool {
        self.changes.changed_since(kind, since)
    }

    /// On PostgreSQL, a channel of stream positions committed by any server
    /// process sharing the database. `None` on SQLite, where one process owns
    /// the file and wakes its own syncs.
    pub async fn subscribe_positions(&self) -> StoreResult<Option<mpsc::Receiver<StreamPos>>> {
        if self.backend != Backend::Postgres {
            return Ok(None);
        }
        let mut listener = sqlx::postgres::PgListener::connect(&self.database_url).await?;
        listener.listen(STREAM_CHANNEL).await?;
        let (tx, rx) = mpsc::channel(1024);
        tokio::spawn(async move {
            loop {
                match listener.recv().await {
                    Ok(n) => {
                        if let Ok(pos) = n.payload().parse::<StreamPos>()
                            && tx.send(pos).await.is_err()
                        {
                            return;
                        }
                    }
                    Err(e) => {
                        // PgListener reconnects by itself on the next recv.
                        tracing::warn!(error = %e, "stream listener error");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                }
            }
        });
        Ok(Some(rx))
    }

    pub(crate) async fn begin(&self) -> StoreResult<Transaction<'static, Any>> {
        Ok(self.write.begin().await?)
    }

    /// Takes the next `n` stream positions for data of `kind` inside `tx`
    /// and returns the last ([`StreamPos::run_ending_at`] gives them all).
    /// The counter row stays locked until `tx` ends, so positions become
    /// visible in the order they were taken, even across server processes.
    pub(crate) async fn next_positions(
        &self,
        tx: &mut Transaction<'static, Any>,
        n: usize,
        kind: StreamKind,
    ) -> StoreResult<StreamPos> {
        let pos: StreamPos = sqlx::query_scalar(
            "UPDATE stream_counter SET position = position + $1 WHERE id = 1 RETURNING position",
        )
        .bind(i64::try_from(n).expect("a batch is far smaller than the stream"))
        .fetch_one(&mut **tx)
        .await?;
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(STREAM_CHANNEL)
                .bind(pos.to_string())
                .execute(&mut **tx)
                .await?;
        }
        self.changes.record(kind, pos);
        Ok(pos)
    }
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `.cargo/config.toml` builds SQLite with the query planner stability
    /// guarantee; without it every statement with a bound LIMIT is compiled
    /// again on each run (see that file).
    #[tokio::test]
    async fn sqlite_is_built_with_stable_query_plans() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqlStore::open(&StoreOptions {
            database_url: None,
            data_dir: dir.path().to_owned(),
            max_connections: 1,
        })
        .await
        .unwrap();
        let options: Vec<String> = sqlx::query_scalar("PRAGMA compile_options")
            .fetch_all(&store.read)
            .await
            .unwrap();
        assert!(
            options.iter().any(|o| o == "ENABLE_QPSG"),
            "SQLite compile options: {options:?}"
        );
    }
}
