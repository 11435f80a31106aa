//! What bounded resources cost the server: peak memory (VmHWM) for
//! concurrent thumbnails of one large image, and for thousands of idle
//! keep-alive connections, with whether a new client is still served.
//! The server must run on this machine (`--server-pid`).

use std::{io::Cursor, time::Duration};

use futures::future::join_all;
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    time::timeout,
};

use crate::client::{self, Client};

/// The server's peak resident memory so far, in KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// A `side` x `side` PNG of large flat blocks: many pixels, a small file
/// (a screenshot or a scanned page is like this).
fn large_png(side: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(side, side, |x, y| {
        image::Rgb([(x / 400 * 16) as u8, (y / 400 * 16) as u8, 128])
    });
    let mut out = Vec::new();
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
        .expect("encode");
    out
}

/// `concurrency` thumbnail requests at once, each of a different size,
/// for one `side` x `side` PNG.
pub async fn thumbnails(
    url: &str,
    prefix: &str,
    concurrency: usize,
    side: u32,
    server_pid: u32,
) -> client::Result<Value> {
    let c = Client::register(url, &format!("{prefix}_t")).await?;
    let png = tokio::task::spawn_blocking(move || large_png(side))
        .await
        .map_err(|e| e.to_string())?;
    let file_bytes = png.len();
    let http = Client::http();
    let res = http
        .post(format!("{url}/_matrix/media/v3/upload?filename=big.png"))
        .bearer_auth(&c.token)
        .header("content-type", "image/png")
        .body(png)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let uri: Value = res.json().await.map_err(|e| e.to_string())?;
    let media = uri["content_uri"]
        .as_str()
        .ok_or(format!("upload failed: {uri}"))?
        .trim_start_matches("mxc://")
        .to_owned();
    let before = peak_rss_kib(server_pid);
    let start = std::time::Instant::now();
    let requests = (0..concurrency).map(|i| {
        let (w, h) = (40 + 23 * i, 30 + 17 * i);
        let method = if i % 2 == 0 { "scale" } else { "crop" };
        let req = http
            .get(format!(
                "{url}/_matrix/client/v1/media/thumbnail/{media}?width={w}&height={h}&method={method}"
            ))
            .bearer_auth(&c.token)
            .timeout(Duration::from_secs(600));
        async move {
            match req.send().await {
                Ok(r) => r.status().as_u16().to_string(),
                Err(e) if e.is_timeout() => "timeout".to_owned(),
                Err(_) => "connection failed".to_owned(),
            }
        }
    });
    let statuses = join_all(requests).await;
    let secs = start.elapsed().as_secs_f64();
    let mut counts = serde_json::Map::new();
    for s in statuses {
        let n = counts.entry(s).or_insert(json!(0));
        *n = json!(n.as_u64().unwrap_or(0) + 1);
    }
    Ok(json!({
        "scenario": "thumbnails", "concurrency": concurrency,
        "image": format!("{side}x{side} PNG, {file_bytes} bytes"),
        "statuses": counts, "seconds": secs,
        "server_peak_rss_kib_before": before,
        "server_peak_rss_kib_after": peak_rss_kib(server_pid),
    }))
}

const HEALTH: &[u8] = b"GET /health HTTP/1.1\r\nHost: bench\r\n\r\n";

/// Opens a connection, asks for `/health` and reads the answer; the
/// connection is then kept (idle, kept alive).
async fn served_connection(addr: &str, wait: Duration) -> Result<TcpStream, String> {
    let attempt = async {
        let mut s = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        s.write_all(HEALTH).await.map_err(|e| e.to_string())?;
        let mut buf = [0u8; 1024];
        let n = s.read(&mut buf).await.map_err(|e| e.to_string())?;
        if buf[..n].starts_with(b"HTTP/1.1 200") {
            Ok(s)
        } else {
            Err("closed without an answer".to_owned())
        }
    };
    timeout(wait, attempt)
        .await
        .map_err(|_| "no answer".to_owned())?
}

/// `count` idle keep-alive connections held for `hold_secs`, then one more
/// client: is it served?
pub async fn connections(
    url: &str,
    count: usize,
    hold_secs: u64,
    server_pid: u32,
) -> client::Result<Value> {
    let addr = url.trim_start_matches("http://").to_owned();
    let before = peak_rss_kib(server_pid);
    let mut held = Vec::new();
    let mut failures = serde_json::Map::new();
    // In batches, so that the listen backlog is not what is measured.
    for batch in (0..count).collect::<Vec<_>>().chunks(100) {
        let opened = join_all(
            batch
                .iter()
                .map(|_| served_connection(&addr, Duration::from_secs(5))),
        )
        .await;
        for r in opened {
            match r {
                Ok(s) => held.push(s),
                Err(e) => {
                    let n = failures.entry(e).or_insert(json!(0));
                    *n = json!(n.as_u64().unwrap_or(0) + 1);
                }
            }
        }
    }
    tokio::time::sleep(Duration::from_secs(hold_secs)).await;
    let newcomer = served_connection(&addr, Duration::from_secs(10)).await;
    let result = json!({
        "scenario": "connections", "asked": count, "served": held.len(),
        "failed": failures,
        "new_client_served_meanwhile": newcomer.is_ok(),
        "server_peak_rss_kib_before": before,
        "server_peak_rss_kib_after": peak_rss_kib(server_pid),
    });
    drop(held);
    Ok(result)
}
