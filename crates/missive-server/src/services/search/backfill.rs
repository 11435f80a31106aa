//! Indexing the events written before the search index existed: a task
//! started with the server walks them back from the newest, one short
//! transaction at a time, so new events (indexed as they are written) and
//! the most recent history are searchable first.

use std::{sync::Arc, time::Duration};

use missive_core::search;
use missive_store::{SearchStore, SqlStore};

/// Pause between steps, leaving the database to the server's requests.
const PAUSE: Duration = Duration::from_millis(50);

/// The terms of a stored event (its type and PDU JSON), if searchable.
fn terms_of(event_type: &str, json: &str) -> Option<String> {
    let pdu: serde_json::Value = serde_json::from_str(json).ok()?;
    let text = search::searchable_text(event_type, pdu.get("content")?)?;
    search::index_terms(text)
}

/// Starts the backfill; it ends when nothing is left to index (at once on
/// a database created with the index). A failed step is logged and the
/// task stops; the next start goes on where it left off.
pub fn start(store: Arc<SqlStore>) {
    tokio::spawn(async move {
        loop {
            match store.backfill_search_index(&terms_of).await {
                Ok(true) => tokio::time::sleep(PAUSE).await,
                Ok(false) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "indexing older events for search failed");
                    break;
                }
            }
        }
    });
}
