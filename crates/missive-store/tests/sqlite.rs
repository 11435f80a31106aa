//! The conformance suite on SQLite (a fresh file per test).

use missive_store::{SqlStore, StoreOptions};

async fn fresh_sqlite() -> SqlStore {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqlStore::open(&StoreOptions {
        database_url: None,
        data_dir: dir.path().to_owned(),
        max_connections: 4,
    })
    .await
    .expect("open SQLite store");
    // The directory must outlive the store: leak it for the test's duration.
    std::mem::forget(dir);
    store
}

missive_store::store_conformance_tests!(fresh_sqlite());
