//! The storage layer's error type, mapped to Matrix errors by the server.

use thiserror::Error;

/// Errors of the storage layer. Callers map them to Matrix errors in the
/// server's single error-mapping place.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The database failed or could not be reached.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Schema migrations could not be applied.
    #[error("migration error: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// A row that must be unique already exists.
    #[error("already exists: {0}")]
    AlreadyExists(String),
    /// The room moved on while an event was being built for it: its forward
    /// extremities are no longer the event's prev_events. Build it again.
    #[error("room {0} changed concurrently")]
    RoomChanged(String),
    /// The shared transaction an event was written in could not commit.
    #[error("event batch failed: {0}")]
    BatchFailed(String),
    /// The event writer task has stopped (the store is shutting down).
    #[error("the event writer has stopped")]
    WriterGone,
    /// The database URL names a database this server cannot use.
    #[error(
        "unsupported database URL scheme {0:?}: use postgres://... or leave it unset for SQLite"
    )]
    UnsupportedDatabase(String),
    /// Stored data could not be decoded (a bug or a damaged database).
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

impl StoreError {
    pub(crate) fn corrupt(what: impl std::fmt::Display) -> Self {
        StoreError::Corrupt(what.to_string())
    }
}

/// True when `e` is a unique-constraint violation, in either backend.
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            matches!(db.kind(), sqlx::error::ErrorKind::UniqueViolation)
                || db.code().as_deref() == Some("23505")
                || db.message().contains("UNIQUE constraint failed")
        }
        _ => false,
    }
}

/// True when `e` is a conflict the database resolved by aborting this
/// transaction (a deadlock, a serialization failure, PostgreSQL): the same
/// writes may succeed when tried again.
pub(crate) fn is_transient(e: &StoreError) -> bool {
    match e {
        StoreError::Database(sqlx::Error::Database(db)) => {
            matches!(db.code().as_deref(), Some("40P01" | "40001"))
        }
        _ => false,
    }
}
