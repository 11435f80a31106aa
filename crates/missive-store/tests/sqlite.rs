//! The conformance suite on SQLite (a fresh file per test, in a temporary
//! directory removed when the test ends).

use missive_store::{SqlStore, StoreOptions};
use tempfile::TempDir;

/// The store and its directory: the directory must outlive the store, so
/// the test holds it and drops it (removing the database) at its end.
async fn fresh_sqlite() -> (SqlStore, TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqlStore::open(&StoreOptions {
        database_url: None,
        data_dir: dir.path().to_owned(),
        max_connections: 4,
    })
    .await
    .expect("open SQLite store");
    (store, dir)
}

missive_store::store_conformance_tests!(fresh_sqlite());
