//! Scenarios around large rooms and room creation: fan-out of messages to
//! many syncing members, joining a room with a large membership, and
//! bursts of room creation.

use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt, stream};
use serde_json::{Value, json};

use crate::{
    client::{self, Client},
    stats::Latencies,
};

/// Registrations in flight at once while setting up (password hashing is
/// the bottleneck on both servers; a few at a time use every core).
const SETUP_CONCURRENCY: usize = 8;

/// Only the members who sent something are sent with a room's state, so
/// the syncs of a 1,000-member room stay about the messages.
const LAZY_FILTER: &str = r#"{"room":{"state":{"lazy_load_members":true}}}"#;

/// Registers `n` users named `{prefix}_{tag}{i}`, all over one HTTP client.
async fn register_many(
    url: &str,
    prefix: &str,
    tag: &str,
    n: usize,
) -> client::Result<Vec<Client>> {
    let http = Client::http();
    stream::iter(0..n)
        .map(|i| {
            let (http, name) = (http.clone(), format!("{prefix}_{tag}{i}"));
            async move { Client::register_on(http, url, &name).await }
        })
        .buffered(SETUP_CONCURRENCY)
        .try_collect()
        .await
}

async fn join_all(clients: &[Client], room: &str) -> client::Result<()> {
    stream::iter(clients)
        .map(|c| c.join(room))
        .buffer_unordered(SETUP_CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await
        .map(|_| ())
}

/// Long-polls `/sync` (lazily loaded members) until `expected` benchmark
/// messages arrived, recording each one's delivery latency.
async fn receive(
    c: Client,
    since: String,
    expected: usize,
    t0: Instant,
) -> client::Result<Latencies> {
    let mut lat = Latencies::new();
    let mut since = since;
    let mut seen = 0;
    while seen < expected {
        let s = c
            .get(&format!(
                "/_matrix/client/v3/sync?timeout=30000&since={since}&filter={}",
                client::enc_query(LAZY_FILTER)
            ))
            .await?;
        let now = t0.elapsed();
        since = s["next_batch"].as_str().unwrap_or_default().to_owned();
        for room in s["rooms"]["join"]
            .as_object()
            .into_iter()
            .flat_map(|j| j.values())
        {
            for e in room["timeline"]["events"].as_array().into_iter().flatten() {
                if let Some(sent_us) = e["content"]["sent_at_us"].as_u64() {
                    lat.record(now.saturating_sub(Duration::from_micros(sent_us)));
                    seen += 1;
                }
            }
        }
    }
    Ok(lat)
}

/// One room of `members`, `syncing` of them long-polling, one sender
/// sending `messages` at `rate` per second: how long until every syncing
/// member has each message.
pub async fn fanout(
    url: &str,
    prefix: &str,
    members: usize,
    syncing: usize,
    messages: usize,
    rate: u64,
) -> client::Result<Value> {
    let sender = Client::register(url, &format!("{prefix}_fos")).await?;
    let room = sender.create_public_room().await?;
    let others = register_many(url, prefix, "fo", members.saturating_sub(1)).await?;
    join_all(&others, &room).await?;

    let t0 = Instant::now();
    let mut receivers = tokio::task::JoinSet::new();
    for c in others.iter().take(syncing) {
        let since = c
            .get(&format!(
                "/_matrix/client/v3/sync?timeout=0&filter={}",
                client::enc_query(LAZY_FILTER)
            ))
            .await?["next_batch"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        receivers.spawn(receive(c.clone(), since, messages, t0));
    }
    // Let every long-poll reach the server before the first message.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let mut send_lat = Latencies::new();
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate.max(1)));
    let started = Instant::now();
    for n in 0..messages {
        tick.tick().await;
        let sent_at = t0.elapsed().as_micros() as u64;
        let t = Instant::now();
        let path = format!(
            "/_matrix/client/v3/rooms/{}/send/m.room.message/f{n}",
            client::enc(&room)
        );
        sender
            .put(
                &path,
                json!({ "msgtype": "m.text", "body": "to everyone", "sent_at_us": sent_at }),
            )
            .await?;
        send_lat.record(t.elapsed());
    }
    let mut delivery = Latencies::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    while let Some(r) = tokio::time::timeout_at(deadline, receivers.join_next())
        .await
        .map_err(|_| "syncing members did not get every message in 300 s".to_owned())?
    {
        delivery.merge(&r.map_err(|e| e.to_string())??);
    }
    let secs = started.elapsed().as_secs_f64();
    Ok(json!({
        "scenario": "fanout",
        "members": members,
        "syncing": syncing,
        "messages": messages,
        "rate_per_s": rate,
        "deliveries_per_s": (messages * syncing) as f64 / secs,
        "send_ms": send_lat.summary(),
        "delivery_ms": delivery.summary(),
    }))
}

/// Fills a public room to `members`, then `joins` more users join it one
/// after another: how long a join takes when the room's state is large.
pub async fn big_room(
    url: &str,
    prefix: &str,
    members: usize,
    joins: usize,
) -> client::Result<Value> {
    let creator = Client::register(url, &format!("{prefix}_brc")).await?;
    let room = creator.create_public_room().await?;
    let fillers = register_many(url, prefix, "brf", members.saturating_sub(1)).await?;
    let late = register_many(url, prefix, "brl", joins).await?;
    let fill_start = Instant::now();
    join_all(&fillers, &room).await?;
    let fill_rate = fillers.len() as f64 / fill_start.elapsed().as_secs_f64();
    let mut lat = Latencies::new();
    for c in &late {
        let t = Instant::now();
        c.join(&room).await?;
        lat.record(t.elapsed());
    }
    Ok(json!({
        "scenario": "big_room",
        "members": members,
        "fill_joins_per_s": fill_rate,
        "join_ms": lat.summary(),
    }))
}

/// `clients` users each create `rooms` rooms one after another, at once.
pub async fn create_rooms(
    url: &str,
    prefix: &str,
    clients: usize,
    rooms: usize,
) -> client::Result<Value> {
    let users = register_many(url, prefix, "cr", clients).await?;
    let start = Instant::now();
    let tasks = users.into_iter().map(|c| {
        tokio::spawn(async move {
            let mut lat = Latencies::new();
            for _ in 0..rooms {
                let t = Instant::now();
                c.create_room(&[]).await?;
                lat.record(t.elapsed());
            }
            Ok::<_, String>(lat)
        })
    });
    let mut all = Latencies::new();
    for r in futures::future::join_all(tasks).await {
        all.merge(&r.map_err(|e| e.to_string())??);
    }
    Ok(json!({
        "scenario": "create_rooms",
        "rooms": clients * rooms,
        "rooms_per_s": (clients * rooms) as f64 / start.elapsed().as_secs_f64(),
        "create_ms": all.summary(),
    }))
}
