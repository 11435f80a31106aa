//! Full-text search over room events: the index, fed from the queue each
//! event's transaction writes to (`search_pending`, see its migration),
//! removed by redactions, and the searches.
//!
//! The terms come normalised from `missive_core::search`; each backend only
//! matches and ranks them: SQLite with an FTS5 table (`bm25`), PostgreSQL
//! with a `tsvector` column behind a GIN index (`ts_rank`). Which rooms a
//! user may search is decided here, from their memberships (rooms they are
//! in, and rooms they left up to their leave); which events they may see
//! there is the server's visibility gate's call, on what this returns.

use async_trait::async_trait;
use ruma::{OwnedRoomId, OwnedUserId};
use sqlx::{Any, Row, Transaction};

use crate::{
    Backend, NewEvent, SqlStore, StoreResult, StoredEvent, StreamPos,
    events::{EVENT_COLUMNS, event_from_row},
    message_batch::{placeholders, row_chunks},
};

/// Most index rows per INSERT (two parameters each).
const ROWS_PER_STATEMENT: usize = 64;

/// Queued events moved into the index per transaction.
pub(crate) const INDEX_STEP: i64 = 500;

/// Events read per step of the backfill.
const BACKFILL_STEP: i64 = 500;

/// What to search, and where.
#[derive(Debug, Clone)]
pub struct SearchQuery {
    /// Whose rooms: joined ones, and left or banned ones up to the leave.
    pub user_id: OwnedUserId,
    /// Every group must match; a group matches when any of its terms does
    /// (`missive_core::search::query_terms`). Must not be empty.
    pub terms: Vec<Vec<String>>,
    /// The event types searched (some of the searchable ones).
    pub types: Vec<String>,
    pub rooms: Option<Vec<OwnedRoomId>>,
    pub not_rooms: Vec<OwnedRoomId>,
    pub senders: Option<Vec<OwnedUserId>>,
    pub not_senders: Vec<OwnedUserId>,
    pub order: SearchOrder,
}

/// The order of search results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchOrder {
    /// Best match first (ties: newest first).
    Rank,
    /// Newest first.
    Recent,
}

/// Where a page of results starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchFrom {
    Start,
    /// Rank order: after this many results.
    Offset(i64),
    /// Recent order: events strictly before this position.
    Before(StreamPos),
}

/// A matching event and how well it matched (higher is better).
#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    pub event: StoredEvent,
    pub rank: f64,
}

#[async_trait]
pub trait SearchStore: Send + Sync {
    /// Up to `limit` matching events from `from`, in the query's order.
    async fn search_events(
        &self,
        query: &SearchQuery,
        from: SearchFrom,
        limit: i64,
    ) -> StoreResult<Vec<SearchHit>>;
    /// How many events match in all (before the visibility gate).
    async fn count_search_matches(&self, query: &SearchQuery) -> StoreResult<i64>;
    /// Indexes up to one step of the events written before the search
    /// index existed, newest first; `index_terms` gives an event's terms
    /// from its type and JSON. Returns whether older events remain.
    async fn backfill_search_index(
        &self,
        index_terms: &(dyn for<'x> Fn(&'x str, &'x str) -> Option<String> + Sync),
    ) -> StoreResult<bool>;
}

impl SqlStore {
    /// Queues the searchable events among `events` (each at its position)
    /// for the index, many rows per statement, inside the events'
    /// transaction.
    pub(crate) async fn queue_for_search(
        &self,
        tx: &mut Transaction<'static, Any>,
        events: &[(&NewEvent, StreamPos)],
    ) -> StoreResult<()> {
        let rows: Vec<(StreamPos, &str)> = events
            .iter()
            .filter_map(|(e, pos)| e.search_terms.as_deref().map(|t| (*pos, t)))
            .collect();
        for range in row_chunks(rows.len(), ROWS_PER_STATEMENT) {
            let chunk = &rows[range];
            let sql = format!(
                "INSERT INTO search_pending (stream_ordering, terms) VALUES {}",
                placeholders(chunk.len(), 2)
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (pos, terms) in chunk {
                query = query.bind(*pos).bind(*terms);
            }
            query.execute(&mut **tx).await?;
        }
        Ok(())
    }

    /// Moves up to `limit` queued events into the index, in one
    /// transaction; returns how many. Concurrent callers (the event writer,
    /// searches, other processes) each take rows no other has taken.
    pub(crate) async fn index_queued(&self, limit: i64) -> StoreResult<usize> {
        let mut tx = self.begin().await?;
        let rows = sqlx::query(
            "DELETE FROM search_pending WHERE stream_ordering IN \
             (SELECT stream_ordering FROM search_pending ORDER BY stream_ordering LIMIT $1) \
             RETURNING stream_ordering, terms",
        )
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        let taken: Vec<(StreamPos, String)> = rows
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<StoreResult<_>>()?;
        let rows: Vec<(StreamPos, &str)> = taken.iter().map(|(p, t)| (*p, t.as_str())).collect();
        self.insert_search_rows(&mut tx, &rows).await?;
        tx.commit().await?;
        Ok(rows.len())
    }

    /// Indexes every queued event, so that a search sees each event
    /// committed before it.
    pub(crate) async fn index_all_queued(&self) -> StoreResult<()> {
        while self.index_queued(INDEX_STEP).await? == INDEX_STEP as usize {}
        Ok(())
    }

    async fn insert_search_rows(
        &self,
        tx: &mut Transaction<'static, Any>,
        rows: &[(StreamPos, &str)],
    ) -> StoreResult<()> {
        for range in row_chunks(rows.len(), ROWS_PER_STATEMENT) {
            let chunk = &rows[range];
            let sql = match self.backend {
                Backend::Sqlite => format!(
                    "INSERT INTO event_search (rowid, terms) VALUES {}",
                    placeholders(chunk.len(), 2)
                ),
                Backend::Postgres => format!(
                    "INSERT INTO event_search (stream_ordering, terms) VALUES {} \
                     ON CONFLICT (stream_ordering) DO NOTHING",
                    tsvector_placeholders(chunk.len())
                ),
            };
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (pos, terms) in chunk {
                query = query.bind(*pos);
                query = match self.backend {
                    Backend::Sqlite => query.bind(*terms),
                    Backend::Postgres => query.bind(tsvector_literal(terms)),
                };
            }
            query.execute(&mut **tx).await?;
        }
        Ok(())
    }

    /// Drops a redacted event from the index (a no-op for events that
    /// were never in it).
    pub(crate) async fn unindex_redacted(
        &self,
        tx: &mut Transaction<'static, Any>,
        event_id: &str,
    ) -> StoreResult<()> {
        let sql = match self.backend {
            Backend::Sqlite => {
                "DELETE FROM event_search WHERE rowid = \
                 (SELECT stream_ordering FROM events WHERE event_id = $1)"
            }
            Backend::Postgres => {
                "DELETE FROM event_search WHERE stream_ordering = \
                 (SELECT stream_ordering FROM events WHERE event_id = $1)"
            }
        };
        sqlx::query(sql).bind(event_id).execute(&mut **tx).await?;
        sqlx::query(
            "DELETE FROM search_pending WHERE stream_ordering = \
             (SELECT stream_ordering FROM events WHERE event_id = $1)",
        )
        .bind(event_id)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}

/// `($1, CAST($2 AS tsvector)), ...`: PostgreSQL index rows.
fn tsvector_placeholders(rows: usize) -> String {
    (0..rows)
        .map(|r| format!("(${}, CAST(${} AS tsvector))", 2 * r + 1, 2 * r + 2))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Space-separated terms as a `tsvector` literal with their positions,
/// each term a quoted lexeme taken as it is (no parser or dictionary).
/// Positions stop at PostgreSQL's largest, 16383.
fn tsvector_literal(terms: &str) -> String {
    terms
        .split(' ')
        .filter(|t| !t.is_empty())
        .enumerate()
        .map(|(i, t)| format!("'{}':{}", t.replace('\'', "''"), (i + 1).min(16383)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The match expression for the backend: FTS5's query syntax or a
/// `tsquery` literal, every term quoted so it is taken as it is.
fn match_expression(backend: Backend, groups: &[Vec<String>]) -> String {
    let (quote, or, and): (fn(&str) -> String, &str, &str) = match backend {
        Backend::Sqlite => (
            |t| format!("\"{}\"", t.replace('"', "\"\"")),
            " OR ",
            " AND ",
        ),
        Backend::Postgres => (|t| format!("'{}'", t.replace('\'', "''")), " | ", " & "),
    };
    groups
        .iter()
        .map(|g| {
            let terms: Vec<String> = g.iter().map(|t| quote(t)).collect();
            format!("({})", terms.join(or))
        })
        .collect::<Vec<_>>()
        .join(and)
}

/// The column recent order sorts and pages on. On SQLite it is the FTS5
/// table's rowid (the event's position): FTS5 then hands out matches
/// newest first and the query stops at its limit, instead of sorting every
/// match of a common word.
fn position_column(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "s.rowid",
        Backend::Postgres => "e.stream_ordering",
    }
}

/// The `FROM ... WHERE ...` shared by searches and counts, and its
/// parameters after the match expression ($1) and the user ($2).
struct Conditions {
    sql: String,
    binds: Vec<String>,
    /// Recent order's bound, the last parameter when present.
    before: Option<StreamPos>,
}

fn conditions(backend: Backend, query: &SearchQuery, from: SearchFrom) -> Conditions {
    let (source, matching) = match backend {
        Backend::Sqlite => (
            "event_search s JOIN events e ON e.stream_ordering = s.rowid",
            "event_search MATCH $1",
        ),
        Backend::Postgres => (
            "event_search s JOIN events e ON e.stream_ordering = s.stream_ordering",
            "s.terms @@ CAST($1 AS tsquery)",
        ),
    };
    let mut binds: Vec<String> = Vec::new();
    let list = |values: Vec<String>, binds: &mut Vec<String>| -> String {
        let start = binds.len() + 3;
        binds.extend(values);
        (start..binds.len() + 3)
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    // A member's rooms whole; a former member's up to their leave.
    let mut sql = format!(
        "FROM {source} JOIN memberships m ON m.room_id = e.room_id AND m.user_id = $2 \
         AND m.forgotten = 0 AND (m.membership = 'join' OR \
         (m.membership IN ('leave', 'ban') AND e.stream_ordering <= m.stream_ordering)) \
         WHERE {matching} AND e.redacted_by IS NULL"
    );
    let types = list(query.types.clone(), &mut binds);
    sql.push_str(&format!(" AND e.event_type IN ({types})"));
    let names = |ids: &[OwnedRoomId]| ids.iter().map(|r| r.to_string()).collect::<Vec<_>>();
    if let Some(rooms) = &query.rooms {
        let rooms = list(names(rooms), &mut binds);
        sql.push_str(&format!(" AND e.room_id IN ({rooms})"));
    }
    if !query.not_rooms.is_empty() {
        let rooms = list(names(&query.not_rooms), &mut binds);
        sql.push_str(&format!(" AND e.room_id NOT IN ({rooms})"));
    }
    let users = |ids: &[OwnedUserId]| ids.iter().map(|u| u.to_string()).collect::<Vec<_>>();
    if let Some(senders) = &query.senders {
        let senders = list(users(senders), &mut binds);
        sql.push_str(&format!(" AND e.sender IN ({senders})"));
    }
    if !query.not_senders.is_empty() {
        let senders = list(users(&query.not_senders), &mut binds);
        sql.push_str(&format!(" AND e.sender NOT IN ({senders})"));
    }
    let before = match from {
        SearchFrom::Before(pos) => {
            let column = position_column(backend);
            sql.push_str(&format!(" AND {column} < ${}", binds.len() + 3));
            Some(pos)
        }
        _ => None,
    };
    Conditions { sql, binds, before }
}

#[async_trait]
impl SearchStore for SqlStore {
    async fn search_events(
        &self,
        query: &SearchQuery,
        from: SearchFrom,
        limit: i64,
    ) -> StoreResult<Vec<SearchHit>> {
        if query.terms.is_empty() || query.types.is_empty() || limit <= 0 {
            return Ok(Vec::new());
        }
        self.index_all_queued().await?;
        let cond = conditions(self.backend, query, from);
        // SQLite's bm25 is lower for better matches; both give higher.
        let rank = match self.backend {
            Backend::Sqlite => "-bm25(event_search)",
            Backend::Postgres => "CAST(ts_rank(s.terms, CAST($1 AS tsquery)) AS DOUBLE PRECISION)",
        };
        let order = match query.order {
            SearchOrder::Rank => "rank DESC, e.stream_ordering DESC".to_owned(),
            SearchOrder::Recent => format!("{} DESC", position_column(self.backend)),
        };
        let offset = match from {
            SearchFrom::Offset(n) => n.max(0),
            _ => 0,
        };
        let n = cond.binds.len() + usize::from(cond.before.is_some());
        let sql = format!(
            "SELECT {EVENT_COLUMNS}, {rank} AS rank {} ORDER BY {order} LIMIT ${} OFFSET ${}",
            cond.sql,
            n + 3,
            n + 4
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(match_expression(self.backend, &query.terms))
            .bind(query.user_id.as_str());
        for b in &cond.binds {
            q = q.bind(b);
        }
        if let Some(before) = cond.before {
            q = q.bind(before);
        }
        let rows = q.bind(limit).bind(offset).fetch_all(&self.read).await?;
        rows.iter()
            .map(|r| {
                Ok(SearchHit {
                    event: event_from_row(r)?,
                    rank: r.try_get(12)?,
                })
            })
            .collect()
    }

    async fn count_search_matches(&self, query: &SearchQuery) -> StoreResult<i64> {
        if query.terms.is_empty() || query.types.is_empty() {
            return Ok(0);
        }
        self.index_all_queued().await?;
        let cond = conditions(self.backend, query, SearchFrom::Start);
        let sql = format!("SELECT COUNT(*) {}", cond.sql);
        let mut q = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(match_expression(self.backend, &query.terms))
            .bind(query.user_id.as_str());
        for b in &cond.binds {
            q = q.bind(b);
        }
        Ok(q.fetch_one(&self.read).await?)
    }

    async fn backfill_search_index(
        &self,
        index_terms: &(dyn for<'x> Fn(&'x str, &'x str) -> Option<String> + Sync),
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let below: Option<StreamPos> = sqlx::query_scalar("SELECT next_below FROM search_backfill")
            .fetch_optional(&mut *tx)
            .await?;
        let Some(below) = below.filter(|b| *b > StreamPos::ZERO) else {
            return Ok(false);
        };
        let types: Vec<&str> = missive_core::search::SEARCHABLE
            .iter()
            .map(|(t, _)| *t)
            .collect();
        let rows = sqlx::query(
            "SELECT stream_ordering, event_type, json FROM events WHERE stream_ordering < $1 \
             AND redacted_by IS NULL AND event_type IN ($2, $3, $4) \
             ORDER BY stream_ordering DESC LIMIT $5",
        )
        .bind(below)
        .bind(types[0])
        .bind(types[1])
        .bind(types[2])
        .bind(BACKFILL_STEP)
        .fetch_all(&mut *tx)
        .await?;
        let mut found: Vec<(StreamPos, String)> = Vec::with_capacity(rows.len());
        let mut lowest = StreamPos::ZERO;
        for row in &rows {
            let pos: StreamPos = row.try_get(0)?;
            let event_type: String = row.try_get(1)?;
            let json: String = row.try_get(2)?;
            if let Some(terms) = index_terms(&event_type, &json) {
                found.push((pos, terms));
            }
            lowest = pos;
        }
        let more = rows.len() as i64 == BACKFILL_STEP;
        let next = if more { lowest } else { StreamPos::ZERO };
        let found: Vec<(StreamPos, &str)> = found.iter().map(|(p, t)| (*p, t.as_str())).collect();
        // Only events from before the index existed are read (each step
        // commits with the new bound), so none is indexed yet; on
        // PostgreSQL two processes may both run a step, and the second
        // one's rows are skipped.
        self.insert_search_rows(&mut tx, &found).await?;
        sqlx::query("UPDATE search_backfill SET next_below = $1")
            .bind(next)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(more)
    }
}
