//! Scenarios across two federating servers: delivery of messages sent by
//! users of one server to a user of the other (rate, latency), and how long
//! a user of one server takes to join a large room of the other.

use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt, stream};
use serde_json::{Value, json};

use crate::{
    client::{self, Client},
    stats::Latencies,
};

/// Registrations and joins in flight at once while setting up.
const SETUP_CONCURRENCY: usize = 8;

/// The server name part of a user ID.
fn server_of(user_id: &str) -> &str {
    user_id.split_once(':').map_or("", |(_, server)| server)
}

/// Long-polls `c`'s sync until it shows an invite to `room` (at most two
/// minutes: an invite crosses servers asynchronously), then joins it
/// through the inviter's server.
async fn join_when_invited(c: &Client, room: &str, via: &str) -> client::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut since: Option<String> = None;
    loop {
        let s = c.sync(since.as_deref(), 5_000).await?;
        if s["rooms"]["invite"].get(room).is_some() {
            return c.join_via(room, via).await;
        }
        if Instant::now() > deadline {
            return Err(format!(
                "no invite to {room} reached {} in 120 s",
                c.user_id
            ));
        }
        since = s["next_batch"].as_str().map(str::to_owned);
    }
}

/// `rooms` senders on the server at `url` each invite one receiver of the
/// server at `remote_url` into their room; then `messages` are sent at
/// `rate` per second in all (open loop) and the receiver long-polls its
/// own server: how long each message takes from the send to the other
/// server's client, and how many arrive per second.
pub async fn federated_latency(
    url: &str,
    remote_url: &str,
    prefix: &str,
    rate: u64,
    messages: usize,
    rooms: usize,
) -> client::Result<Value> {
    let receiver = Client::register(remote_url, &format!("{prefix}_fr")).await?;
    let mut senders = Vec::new();
    for i in 0..rooms.max(1) {
        let sender = Client::register(url, &format!("{prefix}_fs{i}")).await?;
        let room = sender
            .create_room(std::slice::from_ref(&receiver.user_id))
            .await?;
        join_when_invited(&receiver, &room, server_of(&sender.user_id)).await?;
        senders.push((sender, room));
    }
    let mut since = receiver.sync(None, 0).await?["next_batch"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let t0 = Instant::now();
    let recv = tokio::spawn(async move {
        let mut lat = Latencies::new();
        let mut seen = 0;
        while seen < messages {
            let s = receiver.sync(Some(&since), 30_000).await?;
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
        Ok::<_, String>((lat, t0.elapsed()))
    });
    // Open loop, as in the one-server latency scenario: a slow answer does
    // not lower the offered rate.
    let interval = Duration::from_micros(1_000_000 / rate.max(1));
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut sends = tokio::task::JoinSet::new();
    for n in 0..messages {
        tick.tick().await;
        let (sender, room) = senders[n % senders.len()].clone();
        let sent_at = t0.elapsed().as_micros() as u64;
        sends.spawn(async move {
            let path = format!(
                "/_matrix/client/v3/rooms/{}/send/m.room.message/f{n}",
                client::enc(&room)
            );
            sender
                .put(
                    &path,
                    json!({ "msgtype": "m.text", "body": "ping", "sent_at_us": sent_at }),
                )
                .await
                .map(|_| ())
        });
    }
    while let Some(sent) = sends.join_next().await {
        sent.map_err(|e| e.to_string())??;
    }
    let (lat, all_in) = tokio::time::timeout(Duration::from_secs(300), recv)
        .await
        .map_err(|_| "the remote receiver did not get every message in 300 s".to_owned())?
        .map_err(|e| e.to_string())??;
    Ok(json!({
        "scenario": "federated_latency",
        "rate_per_s": rate,
        "rooms": rooms,
        "messages": messages,
        "delivered_per_s": (messages as f64 / all_in.as_secs_f64()).round(),
        "delivery_ms": lat.summary(),
    }))
}

/// Fills `rooms` public rooms of the server at `url` to `members` members
/// each, then one new user of the server at `remote_url` joins each room
/// (through the room's server): how long each remote join takes, from the
/// request to the joining server's answer.
pub async fn remote_join(
    url: &str,
    remote_url: &str,
    prefix: &str,
    members: usize,
    rooms: usize,
) -> client::Result<Value> {
    let creator = Client::register(url, &format!("{prefix}_rjc")).await?;
    let http = Client::http();
    let fillers: Vec<Client> = stream::iter(0..members.saturating_sub(1))
        .map(|i| {
            let (http, name) = (http.clone(), format!("{prefix}_rjf{i}"));
            async move { Client::register_on(http, url, &name).await }
        })
        .buffered(SETUP_CONCURRENCY)
        .try_collect()
        .await?;
    let mut room_ids = Vec::new();
    for _ in 0..rooms.max(1) {
        let room = creator.create_public_room().await?;
        stream::iter(&fillers)
            .map(|c| c.join(&room))
            .buffer_unordered(SETUP_CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await?;
        room_ids.push(room);
    }
    let via = server_of(&creator.user_id).to_owned();
    let joiner = Client::register(remote_url, &format!("{prefix}_rjj")).await?;
    let mut lat = Latencies::new();
    // Each room is new to the joining server: every join is a remote join
    // (make_join, send_join with the room's state and auth chain).
    for room in &room_ids {
        let t = Instant::now();
        joiner.join_via(room, &via).await?;
        lat.record(t.elapsed());
    }
    Ok(json!({
        "scenario": "remote_join",
        "members": members,
        "rooms": rooms,
        "join_ms": lat.summary(),
    }))
}
