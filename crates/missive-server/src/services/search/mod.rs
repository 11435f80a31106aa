//! Server-side search (`POST /search`): room events of the rooms a user is
//! or was in, matched by the store's full-text index, then passed through
//! the visibility gate, so a user finds only what they may see.
//!
//! As in Synapse, only `m.room.message` bodies, room names and topics are
//! indexed (encrypted events have no text to index), the default order is
//! `rank`, and `count` is the number of matches before the visibility gate
//! (the spec calls it approximate). Unlike Synapse, both orders paginate
//! (`next_batch`), and rooms the user left are searched up to their leave
//! (Synapse searches joined rooms only).

pub mod backfill;
mod batch;
mod results;

use std::{collections::HashMap, sync::Arc};

use missive_core::{filter::type_matches, search, visibility::RoomHistory};
use missive_store::{SearchFrom, SearchHit, SearchOrder, SearchQuery, SearchStore, SqlStore};
use ruma::{
    OwnedRoomId, UInt, UserId,
    api::client::search::search_events::v3::{
        Criteria, GroupingKey, OrderBy, ResultRoomEvents, SearchKeys,
    },
};

use self::batch::Batch;
use super::reader::{Reader, Visible, gate};
use crate::error::{ApiError, ApiResult};

/// Results per page when the filter sets no limit (Synapse's).
const DEFAULT_LIMIT: i64 = 10;
/// Most results per page.
const MAX_LIMIT: i64 = 100;
/// Most store reads for one page: past them the page ends short, with a
/// `next_batch` to go on, rather than walk every match of a room whose
/// history the user may not see.
const MAX_ROUNDS: usize = 8;

/// Searches room events. Cheap to clone.
#[derive(Clone)]
pub struct Search {
    store: Arc<SqlStore>,
    reader: Reader,
}

/// A `/search` request's room events criteria, as the service takes them.
pub struct SearchRequest<'a> {
    pub criteria: &'a Criteria,
    pub next_batch: Option<&'a str>,
    /// Whether the request had an `event_context` (ruma fills in the
    /// default when it is absent; Synapse gives context only when asked).
    pub with_context: bool,
}

impl Search {
    pub fn new(store: Arc<SqlStore>, reader: Reader) -> Self {
        Self { store, reader }
    }

    /// One page of results for `user`.
    pub async fn search(
        &self,
        user: &UserId,
        req: SearchRequest<'_>,
    ) -> ApiResult<ResultRoomEvents> {
        let criteria = req.criteria;
        let order = match &criteria.order_by {
            None | Some(OrderBy::Rank) => SearchOrder::Rank,
            Some(OrderBy::Recent) => SearchOrder::Recent,
            Some(other) => {
                return Err(ApiError::invalid_param(format!(
                    "invalid order_by: {}",
                    other.as_str()
                )));
            }
        };
        for grouping in &criteria.groupings.group_by {
            if let Some(key) = &grouping.key
                && !matches!(key, GroupingKey::RoomId | GroupingKey::Sender)
            {
                return Err(ApiError::invalid_param(format!(
                    "invalid group_by key: {}",
                    key.as_str()
                )));
            }
        }
        let batch = req.next_batch.map(Batch::parse).transpose()?;
        let from = match (batch.as_ref().map(|b| b.from), order) {
            (None, _) => SearchFrom::Start,
            (Some(from @ SearchFrom::Offset(_)), SearchOrder::Rank)
            | (Some(from @ SearchFrom::Before(_)), SearchOrder::Recent) => from,
            _ => return Err(ApiError::invalid_param("next_batch is for the other order")),
        };
        let filter = &criteria.filter;
        let mut rooms = filter.rooms.clone();
        if let Some(room) = batch.as_ref().and_then(|b| b.room.clone()) {
            // A group's next_batch goes on within that room.
            rooms = Some(match rooms {
                Some(rs) => rs.into_iter().filter(|r| *r == room).collect(),
                None => vec![room],
            });
        }
        let query = SearchQuery {
            user_id: user.to_owned(),
            terms: search::query_terms(&criteria.search_term),
            types: searched_types(criteria)?,
            rooms,
            not_rooms: filter.not_rooms.clone(),
            senders: filter.senders.clone(),
            not_senders: filter.not_senders.clone(),
            order,
        };
        let limit = filter
            .limit
            .map_or(DEFAULT_LIMIT, |l| {
                i64::try_from(u64::from(l)).unwrap_or(MAX_LIMIT)
            })
            .clamp(1, MAX_LIMIT);

        let (hits, next) = self.visible_hits(user, &query, from, limit).await?;
        let count = self.store.count_search_matches(&query).await?;
        let mut out = ResultRoomEvents::new();
        out.count = Some(UInt::try_from(count.max(0)).unwrap_or(UInt::MAX));
        out.next_batch = next.map(|from| Batch { from, room: None }.to_string());
        out.highlights = results::highlights(&criteria.search_term, &query.terms, &hits);
        results::fill(self, user, criteria, req.with_context, hits, next, &mut out).await?;
        Ok(out)
    }

    /// Up to `limit` hits the user may see from `from`, and where the next
    /// page starts when there may be one.
    async fn visible_hits(
        &self,
        user: &UserId,
        query: &SearchQuery,
        mut from: SearchFrom,
        limit: i64,
    ) -> ApiResult<(Vec<(Visible, f64)>, Option<SearchFrom>)> {
        let mut histories: HashMap<OwnedRoomId, RoomHistory> = HashMap::new();
        let mut out: Vec<(Visible, f64)> = Vec::new();
        // Read more than asked for: some matches may be hidden.
        let step = (limit * 2).max(20);
        for _ in 0..MAX_ROUNDS {
            let hits = self.store.search_events(query, from, step).await?;
            let exhausted = (hits.len() as i64) < step;
            for SearchHit { event, rank } in hits {
                from = match (query.order, from) {
                    (SearchOrder::Recent, _) => SearchFrom::Before(event.stream_ordering),
                    (SearchOrder::Rank, SearchFrom::Offset(n)) => SearchFrom::Offset(n + 1),
                    (SearchOrder::Rank, _) => SearchFrom::Offset(1),
                };
                let room = OwnedRoomId::try_from(event.room_id.as_str())
                    .map_err(|e| ApiError::Internal(format!("stored room ID invalid: {e}")))?;
                let history = match histories.get(&room) {
                    Some(h) => h,
                    None => {
                        let h = self.reader.history(&room, user).await?;
                        histories.entry(room).or_insert(h)
                    }
                };
                if let Some(visible) = gate(history, vec![event]).pop() {
                    out.push((visible, rank));
                    if out.len() as i64 == limit {
                        // Whatever is left may hold more.
                        return Ok((out, Some(from)));
                    }
                }
            }
            if exhausted {
                return Ok((out, None));
            }
        }
        Ok((out, Some(from)))
    }
}

/// The event types searched: those the request's `keys` name (all three
/// by default) that its filter's `types` and `not_types` let through.
fn searched_types(criteria: &Criteria) -> ApiResult<Vec<String>> {
    let keys: Vec<&str> = match &criteria.keys {
        None => search::SEARCHABLE.iter().map(|(t, _)| *t).collect(),
        Some(keys) => keys
            .iter()
            .map(|k| {
                let name = match k {
                    SearchKeys::ContentBody => "content.body",
                    SearchKeys::ContentName => "content.name",
                    SearchKeys::ContentTopic => "content.topic",
                    other => other.as_str(),
                };
                search::type_for_key(name)
                    .ok_or_else(|| ApiError::invalid_param(format!("unknown search key {name}")))
            })
            .collect::<ApiResult<_>>()?,
    };
    let filter = &criteria.filter;
    Ok(keys
        .into_iter()
        .filter(|t| !filter.not_types.iter().any(|p| type_matches(p, t)))
        .filter(|t| {
            filter
                .types
                .as_ref()
                .is_none_or(|ps| ps.iter().any(|p| type_matches(p, t)))
        })
        .map(str::to_owned)
        .collect())
}
