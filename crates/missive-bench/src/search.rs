//! The `search` scenario: one user fills `rooms` rooms with `messages`
//! messages in all (French and English words drawn from a fixed
//! vocabulary, the same text on every server and run), then times
//! `POST /search` for queries of different selectivity, in rank and in
//! recent order.

use std::time::Instant;

use futures::{StreamExt, TryStreamExt, stream};
use serde_json::{Value, json};

use crate::{client::Client, stats::Latencies};

/// Words messages are made of besides the generated ones: queries use
/// them, so that they match a known share of the messages. Some differ
/// only in accents or endings from what is searched.
const WORDS: [&str; 40] = [
    "réunion",
    "réunions",
    "rapport",
    "budget",
    "ministère",
    "préfecture",
    "école",
    "écoles",
    "mangeons",
    "manger",
    "dossier",
    "dossiers",
    "demain",
    "lundi",
    "vendredi",
    "projet",
    "meeting",
    "report",
    "running",
    "budgets",
    "schedule",
    "review",
    "draft",
    "agenda",
    "décret",
    "circulaire",
    "arrêté",
    "signature",
    "urgent",
    "validé",
    "relecture",
    "annexe",
    "courrier",
    "note",
    "service",
    "direction",
    "conseil",
    "séance",
    "ordre",
    "jour",
];

/// Messages in flight at once while filling (one sender per room).
const FILL_CONCURRENCY: usize = 16;

/// The queries timed, from common to rare, and with stemming or accents
/// in play: (label, search term).
const QUERIES: [(&str, &str); 5] = [
    ("common word", "reunion"),
    ("two words", "budget ministere"),
    ("stemmed", "run"),
    ("french verb", "manger"),
    ("rare word", "terme4999"),
];

/// A small deterministic generator (xorshift), so every server gets the
/// same messages.
struct Words(u64);

impl Words {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Ten words: a fifth from [`WORDS`], the rest `termeN`, low N far
    /// more often than high (a long tail, as real vocabularies have).
    fn message(&mut self) -> String {
        (0..10)
            .map(|_| {
                if self.next().is_multiple_of(5) {
                    WORDS[(self.next() % WORDS.len() as u64) as usize].to_owned()
                } else {
                    let r = (self.next() % 10_000) as f64 / 10_000.0;
                    format!("terme{}", (r * r * r * 5000.0) as u64)
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// What the scenario searches through: `messages` messages over `rooms`.
pub struct Fill {
    pub rooms: usize,
    pub messages: usize,
}

pub async fn search(
    url: &str,
    prefix: &str,
    Fill { rooms, messages }: Fill,
    queries: usize,
    after_fill: Option<&str>,
) -> crate::client::Result<Value> {
    let user = Client::register(url, &format!("{prefix}_search")).await?;
    let mut room_ids = Vec::with_capacity(rooms);
    for _ in 0..rooms.max(1) {
        room_ids.push(user.create_room(&[]).await?);
    }
    let mut words = Words(0x9E37_79B9_7F4A_7C15);
    let bodies: Vec<String> = (0..messages).map(|_| words.message()).collect();
    let fill_started = Instant::now();
    stream::iter(bodies.iter().enumerate())
        .map(|(n, body)| {
            let (user, room) = (&user, &room_ids[n % room_ids.len()]);
            async move { user.send_text(room, &format!("q{n}"), body).await }
        })
        .buffer_unordered(FILL_CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await?;
    let fill_secs = fill_started.elapsed().as_secs_f64();
    if let Some(command) = after_fill {
        run_after_fill(command).await?;
    }

    let mut per_query = Vec::new();
    let mut all = Latencies::new();
    for order in ["rank", "recent"] {
        for (label, term) in QUERIES {
            let mut lat = Latencies::new();
            let mut count = Value::Null;
            let mut returned = 0;
            for _ in 0..queries.max(1) {
                let started = Instant::now();
                let v = user
                    .post(
                        "/_matrix/client/v3/search",
                        json!({ "search_categories": { "room_events": {
                            "search_term": term, "order_by": order, "filter": { "limit": 10 }
                        } } }),
                    )
                    .await?;
                lat.record(started.elapsed());
                let found = &v["search_categories"]["room_events"];
                count = found["count"].clone();
                returned = found["results"].as_array().map_or(0, Vec::len);
            }
            all.merge(&lat);
            per_query.push(json!({
                "order": order, "query": label, "term": term, "count": count,
                "returned": returned, "latency_ms": lat.summary(),
            }));
        }
    }
    Ok(json!({
        "scenario": "search", "rooms": rooms, "messages": messages,
        "fill_messages_per_s": messages as f64 / fill_secs,
        "search_ms": all.summary(), "queries": per_query,
    }))
}

/// Runs the `--after-fill` command through the shell; its failure fails
/// the scenario, so that no figure is taken on a database left unprepared.
async fn run_after_fill(command: &str) -> crate::client::Result<()> {
    let status = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .status()
        .await
        .map_err(|e| format!("--after-fill: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("--after-fill `{command}` failed: {status}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_the_same_every_run() {
        let (mut a, mut b) = (Words(1), Words(1));
        for _ in 0..100 {
            assert_eq!(a.message(), b.message());
        }
        assert_eq!(Words(7).message().split(' ').count(), 10);
    }
}
