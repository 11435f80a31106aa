//! `missive-bench`: a load generator for any Matrix homeserver. Each run
//! prints one JSON line of results; bench/compare.sh runs the scenarios
//! against missive-server and Synapse and writes BENCHMARKS.md.

#![forbid(unsafe_code)]

mod client;
mod federation;
mod idle;
mod resources;
mod rooms;
mod search;
mod stats;

use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use client::Client;
use serde_json::json;
use stats::Latencies;

#[derive(Parser)]
#[command(about = "Load generator for Matrix homeservers (Client-Server API)")]
struct Cli {
    /// Homeserver base URL.
    #[arg(long, default_value = "http://127.0.0.1:8008")]
    url: String,
    /// Prefix for the user names this run registers (unique per run).
    #[arg(long, default_value = "bench")]
    prefix: String,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// N clients, each sending messages into its own room for a while.
    Send {
        #[arg(long, default_value_t = 16)]
        clients: usize,
        /// Messages per client.
        #[arg(long, default_value_t = 200)]
        messages: usize,
    },
    /// Delivery latency: messages sent at a fixed total rate (open loop:
    /// a slow answer does not slow the offered load) into `rooms` rooms,
    /// one receiver in all of them long-polling /sync.
    Latency {
        /// Messages per second, all rooms together.
        #[arg(long, default_value_t = 20)]
        rate: u64,
        #[arg(long, default_value_t = 200)]
        messages: usize,
        /// Rooms (each with its own sender) the load is spread over.
        #[arg(long, default_value_t = 1)]
        rooms: usize,
        /// Users in no room holding 100 long-poll syncs each meanwhile
        /// (idle clients the traffic does not concern).
        #[arg(long, default_value_t = 0)]
        idle_users: usize,
    },
    /// Initial sync of a user in many rooms full of history, and an
    /// incremental sync after.
    InitialSync {
        #[arg(long, default_value_t = 200)]
        rooms: usize,
        #[arg(long, default_value_t = 50)]
        messages: usize,
    },
    /// Idle clients: `users` x `per_user` long-poll syncs held open for
    /// `hold_secs`; with `--server-pid`, the server's memory and CPU then.
    Idle {
        #[arg(long, default_value_t = 50)]
        users: usize,
        #[arg(long, default_value_t = 100)]
        per_user: usize,
        #[arg(long, default_value_t = 20)]
        hold_secs: u64,
        #[arg(long)]
        server_pid: Option<u32>,
    },
    /// Bursts of registrations and logins.
    Accounts {
        #[arg(long, default_value_t = 50)]
        users: usize,
    },
    /// Fan-out: one room of `members`, `syncing` of them long-polling,
    /// one sender.
    Fanout {
        #[arg(long, default_value_t = 1000)]
        members: usize,
        #[arg(long, default_value_t = 200)]
        syncing: usize,
        #[arg(long, default_value_t = 50)]
        messages: usize,
        /// Messages per second the sender offers.
        #[arg(long, default_value_t = 10)]
        rate: u64,
    },
    /// Joining a room whose state holds `members` members.
    BigRoom {
        #[arg(long, default_value_t = 10_000)]
        members: usize,
        /// Joins measured once the room is full.
        #[arg(long, default_value_t = 20)]
        joins: usize,
    },
    /// `concurrency` thumbnail requests of distinct sizes at once for one
    /// `side` x `side` PNG; the server's peak memory before and after.
    Thumbnails {
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        #[arg(long, default_value_t = 6000)]
        side: u32,
        #[arg(long)]
        server_pid: u32,
    },
    /// `count` idle keep-alive connections (one request each) held for
    /// `hold_secs`, then a new client; the server's peak memory.
    Connections {
        #[arg(long, default_value_t = 2000)]
        count: usize,
        #[arg(long, default_value_t = 5)]
        hold_secs: u64,
        #[arg(long)]
        server_pid: u32,
    },
    /// Server-side search: `messages` messages over `rooms` rooms, then
    /// `queries` timed searches of each kind, in rank and recent order.
    Search {
        #[arg(long, default_value_t = 10)]
        rooms: usize,
        #[arg(long, default_value_t = 100_000)]
        messages: usize,
        #[arg(long, default_value_t = 20)]
        queries: usize,
        /// A shell command run once the messages are in, before the first
        /// timed search: on PostgreSQL, `ANALYZE`, which autovacuum would
        /// have run on a production server by then.
        #[arg(long)]
        after_fill: Option<String>,
    },
    /// Messages from users of this server (`--url`) to a user of
    /// another, federating server: delivery rate and latency.
    FederatedLatency {
        /// The receiving user's server (client API base URL).
        #[arg(long)]
        remote_url: String,
        #[arg(long, default_value_t = 20)]
        rate: u64,
        #[arg(long, default_value_t = 200)]
        messages: usize,
        #[arg(long, default_value_t = 1)]
        rooms: usize,
    },
    /// A user of another server (`--remote-url`) joins rooms of this one
    /// holding `members` members each.
    RemoteJoin {
        #[arg(long)]
        remote_url: String,
        #[arg(long, default_value_t = 1000)]
        members: usize,
        #[arg(long, default_value_t = 3)]
        rooms: usize,
    },
    /// A burst of room creation: `clients` users creating `rooms` each.
    CreateRooms {
        #[arg(long, default_value_t = 8)]
        clients: usize,
        #[arg(long, default_value_t = 25)]
        rooms: usize,
    },
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let result = match cli.scenario {
        Scenario::Send { clients, messages } => {
            send(&cli.url, &cli.prefix, clients, messages).await
        }
        Scenario::Latency {
            rate,
            messages,
            rooms,
            idle_users,
        } => latency(&cli.url, &cli.prefix, rate, messages, rooms, idle_users).await,
        Scenario::InitialSync { rooms, messages } => {
            initial_sync(&cli.url, &cli.prefix, rooms, messages).await
        }
        Scenario::Accounts { users } => accounts(&cli.url, &cli.prefix, users).await,
        Scenario::Fanout {
            members,
            syncing,
            messages,
            rate,
        } => rooms::fanout(&cli.url, &cli.prefix, members, syncing, messages, rate).await,
        Scenario::BigRoom { members, joins } => {
            rooms::big_room(&cli.url, &cli.prefix, members, joins).await
        }
        Scenario::Thumbnails {
            concurrency,
            side,
            server_pid,
        } => resources::thumbnails(&cli.url, &cli.prefix, concurrency, side, server_pid).await,
        Scenario::Connections {
            count,
            hold_secs,
            server_pid,
        } => resources::connections(&cli.url, count, hold_secs, server_pid).await,
        Scenario::Search {
            rooms,
            messages,
            queries,
            after_fill,
        } => {
            let fill = search::Fill { rooms, messages };
            search::search(&cli.url, &cli.prefix, fill, queries, after_fill.as_deref()).await
        }
        Scenario::FederatedLatency {
            remote_url,
            rate,
            messages,
            rooms,
        } => {
            federation::federated_latency(&cli.url, &remote_url, &cli.prefix, rate, messages, rooms)
                .await
        }
        Scenario::RemoteJoin {
            remote_url,
            members,
            rooms,
        } => federation::remote_join(&cli.url, &remote_url, &cli.prefix, members, rooms).await,
        Scenario::CreateRooms { clients, rooms } => {
            rooms::create_rooms(&cli.url, &cli.prefix, clients, rooms).await
        }
        Scenario::Idle {
            users,
            per_user,
            hold_secs,
            server_pid,
        } => {
            idle::idle(
                &cli.url,
                &cli.prefix,
                users,
                per_user,
                Duration::from_secs(hold_secs),
                server_pid,
            )
            .await
        }
    };
    match result {
        Ok(v) => println!("{v}"),
        Err(e) => {
            eprintln!("missive-bench: {e}");
            std::process::exit(1);
        }
    }
}

async fn send(
    url: &str,
    prefix: &str,
    clients: usize,
    messages: usize,
) -> client::Result<serde_json::Value> {
    let mut users = Vec::new();
    for i in 0..clients {
        let c = Client::register(url, &format!("{prefix}_s{i}")).await?;
        let room = c.create_room(&[]).await?;
        users.push((c, room));
    }
    let start = Instant::now();
    let tasks = users.into_iter().map(|(c, room)| {
        tokio::spawn(async move {
            let mut lat = Latencies::new();
            for n in 0..messages {
                let t = Instant::now();
                c.send_text(&room, &format!("t{n}"), "benchmark message")
                    .await?;
                lat.record(t.elapsed());
            }
            Ok::<_, String>(lat)
        })
    });
    let mut all = Latencies::new();
    for r in futures::future::join_all(tasks).await {
        all.merge(&r.map_err(|e| e.to_string())??);
    }
    let secs = start.elapsed().as_secs_f64();
    let total = clients * messages;
    Ok(
        json!({ "scenario": "send", "clients": clients, "messages": total,
               "throughput_per_s": total as f64 / secs, "latency_ms": all.summary() }),
    )
}

async fn latency(
    url: &str,
    prefix: &str,
    rate: u64,
    messages: usize,
    rooms: usize,
    idle_users: usize,
) -> client::Result<serde_json::Value> {
    let idle = idle::idle_users(url, prefix, idle_users).await?;
    let idle_polls = idle::hold_polls(&idle, 100);
    let receiver = Client::register(url, &format!("{prefix}_lr")).await?;
    let mut senders = Vec::new();
    for i in 0..rooms.max(1) {
        let sender = Client::register(url, &format!("{prefix}_ls{i}")).await?;
        let room = sender
            .create_room(std::slice::from_ref(&receiver.user_id))
            .await?;
        receiver.join(&room).await?;
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
        let mut syncs = 0u64;
        while seen < messages {
            let s = receiver.sync(Some(&since), 30_000).await?;
            syncs += 1;
            let now = t0.elapsed();
            since = s["next_batch"].as_str().unwrap_or_default().to_owned();
            let Some(joined) = s["rooms"]["join"].as_object() else {
                continue;
            };
            for room in joined.values() {
                for e in room["timeline"]["events"].as_array().into_iter().flatten() {
                    if let Some(sent_us) = e["content"]["sent_at_us"].as_u64() {
                        lat.record(now.saturating_sub(Duration::from_micros(sent_us)));
                        seen += 1;
                    }
                }
            }
        }
        Ok::<_, String>((lat, syncs))
    });
    // Open loop: each message is its own task, so the offered rate holds
    // even when answers slow down (a closed loop would hide queueing).
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
                "/_matrix/client/v3/rooms/{}/send/m.room.message/l{n}",
                client::enc(&room)
            );
            let started = Instant::now();
            sender
                .put(
                    &path,
                    json!({ "msgtype": "m.text", "body": "ping", "sent_at_us": sent_at }),
                )
                .await?;
            Ok::<_, String>(started.elapsed())
        });
    }
    let offered_s = t0.elapsed().as_secs_f64();
    // How long the server took to acknowledge (commit) each send: the part
    // of the delivery latency spent before the event reaches any sync.
    let mut acked = Latencies::new();
    while let Some(sent) = sends.join_next().await {
        acked.record(sent.map_err(|e| e.to_string())??);
    }
    let (lat, syncs) = tokio::time::timeout(Duration::from_secs(120), recv)
        .await
        .map_err(|_| "receiver did not get every message in 120 s".to_owned())?
        .map_err(|e| e.to_string())??;
    drop(idle_polls);
    Ok(json!({
        "scenario": "latency",
        "idle_syncs": idle_users * 100,
        "rate_per_s": rate,
        "achieved_rate_per_s": (messages as f64 / offered_s).round(),
        "rooms": rooms,
        "messages": messages,
        "delivery_ms": lat.summary(),
        "send_ms": acked.summary(),
        "receiver_syncs": syncs,
    }))
}

async fn initial_sync(
    url: &str,
    prefix: &str,
    rooms: usize,
    messages: usize,
) -> client::Result<serde_json::Value> {
    let user = Client::register(url, &format!("{prefix}_is")).await?;
    // Fill the rooms concurrently (8 at a time) to keep set-up short.
    let ids: Vec<String> = {
        let mut ids = Vec::new();
        for _ in 0..rooms {
            ids.push(user.create_room(&[]).await?);
        }
        ids
    };
    let chunks: Vec<Vec<String>> = ids
        .chunks(rooms.div_ceil(8).max(1))
        .map(<[String]>::to_vec)
        .collect();
    let fills = chunks.into_iter().map(|chunk| {
        let user = user.clone();
        tokio::spawn(async move {
            for room in chunk {
                for n in 0..messages {
                    user.send_text(&room, &format!("f{n}"), "history").await?;
                }
            }
            Ok::<_, String>(())
        })
    });
    for r in futures::future::join_all(fills).await {
        r.map_err(|e| e.to_string())??;
    }
    // A fresh device, as a new login would do.
    let fresh = Client::login(url, &format!("{prefix}_is")).await?;
    let mut initial = Latencies::new();
    let mut token = String::new();
    for _ in 0..3 {
        let t = Instant::now();
        let s = fresh.sync(None, 0).await?;
        initial.record(t.elapsed());
        token = s["next_batch"].as_str().unwrap_or_default().to_owned();
    }
    user.send_text(&ids[0], "after", "one more").await?;
    let mut incremental = Latencies::new();
    for _ in 0..20 {
        let t = Instant::now();
        let s = fresh.sync(Some(&token), 0).await?;
        incremental.record(t.elapsed());
        token = s["next_batch"].as_str().unwrap_or_default().to_owned();
    }
    Ok(
        json!({ "scenario": "initial_sync", "rooms": rooms, "messages_per_room": messages,
               "initial_sync_ms": initial.summary(), "incremental_sync_ms": incremental.summary() }),
    )
}

async fn accounts(url: &str, prefix: &str, users: usize) -> client::Result<serde_json::Value> {
    let mut reg = Latencies::new();
    let start = Instant::now();
    for i in 0..users {
        let t = Instant::now();
        Client::register(url, &format!("{prefix}_a{i}")).await?;
        reg.record(t.elapsed());
    }
    let reg_rate = users as f64 / start.elapsed().as_secs_f64();
    let mut login = Latencies::new();
    let start = Instant::now();
    for i in 0..users {
        let t = Instant::now();
        Client::login(url, &format!("{prefix}_a{i}")).await?;
        login.record(t.elapsed());
    }
    let login_rate = users as f64 / start.elapsed().as_secs_f64();
    Ok(
        json!({ "scenario": "accounts", "users": users, "registrations_per_s": reg_rate, "register_ms": reg.summary(),
               "logins_per_s": login_rate, "login_ms": login.summary() }),
    )
}
