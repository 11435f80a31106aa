//! Idle clients: many long-poll syncs held open at once, and what holding
//! them costs the server (resident memory, CPU), read from /proc when the
//! server runs on this machine.

use std::time::Duration;

use serde_json::{Value, json};

use crate::client::{self, Client};

/// The server's resident memory (KiB) and CPU time (clock ticks) so far.
fn server_usage(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces): utime is the
    // 12th and stime the 13th of them.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some((rss, ticks))
}

fn ticks_per_second() -> u64 {
    // The kernel's USER_HZ, 100 on every Linux this runs on.
    100
}

pub async fn idle(
    url: &str,
    prefix: &str,
    users: usize,
    per_user: usize,
    hold: Duration,
    server_pid: Option<u32>,
) -> client::Result<Value> {
    let clients = idle_users(url, prefix, users).await?;
    let before = server_pid.and_then(server_usage);
    let polls = hold_polls(&clients, per_user);
    // Sample while the polls are held; the peak is what the server needed.
    let mut peak_rss_kib = 0;
    let steps = hold.as_secs().max(1);
    for _ in 0..steps {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if let Some((rss, _)) = server_pid.and_then(server_usage) {
            peak_rss_kib = peak_rss_kib.max(rss);
        }
    }
    let after = server_pid.and_then(server_usage);
    drop(polls);
    let cpu_s = match (before, after) {
        (Some((_, b)), Some((_, a))) => json!((a - b) as f64 / ticks_per_second() as f64),
        _ => Value::Null,
    };
    Ok(json!({
        "scenario": "idle",
        "syncs": users * per_user,
        "hold_s": hold.as_secs(),
        "rss_mib_while_held": peak_rss_kib / 1024,
        "rss_mib_before": before.map(|(rss, _)| rss / 1024),
        "cpu_s_while_held": cpu_s,
    }))
}

/// Registers `users` users who are in no room, each with the token of
/// their first sync: nothing that happens on the server concerns them.
pub async fn idle_users(
    url: &str,
    prefix: &str,
    users: usize,
) -> client::Result<Vec<(Client, String)>> {
    let mut clients = Vec::with_capacity(users);
    for i in 0..users {
        let c = Client::register(url, &format!("{prefix}_idle{i}")).await?;
        let since = c.sync(None, 0).await?["next_batch"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        clients.push((c, since));
    }
    Ok(clients)
}

/// Holds `per_user` long-poll syncs open for each of `clients`, polling
/// again when one ends, until the returned set is dropped.
pub fn hold_polls(clients: &[(Client, String)], per_user: usize) -> tokio::task::JoinSet<()> {
    let mut polls = tokio::task::JoinSet::new();
    for (c, since) in clients {
        for _ in 0..per_user {
            let (c, since) = (c.clone(), since.clone());
            polls.spawn(async move {
                // Each poll waits for its full timeout, then is issued again.
                loop {
                    if c.sync(Some(&since), 30_000).await.is_err() {
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                }
            });
        }
    }
    polls
}
