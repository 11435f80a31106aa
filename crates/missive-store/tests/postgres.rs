//! The conformance suite on PostgreSQL: a fresh database per test, on the
//! server named by MISSIVE_TEST_POSTGRES (default: the local one).

use missive_store::{SqlStore, StoreOptions};
use sqlx::{Connection, Executor, PgConnection};

fn admin_url() -> String {
    std::env::var("MISSIVE_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// A store on a new database; nothing to hold (the database is dropped by
/// `scripts/clean-test-dbs.sh` before the next run).
async fn fresh_postgres() -> (SqlStore, ()) {
    let name = format!("missive_conf_{}", uuid_like());
    let mut admin = PgConnection::connect(&format!("{}/postgres", admin_url()))
        .await
        .expect("PostgreSQL must be running for the conformance suite (see README)");
    admin
        .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await
        .expect("create test database");
    let store = SqlStore::open(&StoreOptions {
        database_url: Some(format!("{}/{name}", admin_url())),
        data_dir: std::env::temp_dir(),
        max_connections: 4,
    })
    .await
    .expect("open PostgreSQL store");
    (store, ())
}

fn uuid_like() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{}_{}_{}", std::process::id(), t % 1_000_000_000, n)
}

missive_store::store_conformance_tests!(fresh_postgres());
