//! The HTTP listener: accepts TCP connections and serves the router on each
//! with hyper's HTTP/1.1 connection, within bounds: a cap on connections
//! served at once, and deadlines for idle connections and slow request
//! headers ([`deadlines`]).
//!
//! Not `axum::serve`: that one first reads ahead on every connection to
//! tell HTTP/2 from HTTP/1.1, and the bytes read ahead make hyper's read
//! buffer grow from 8 to 16 KiB for the connection's life. Every client
//! holds a long-poll `/sync` open, so that was a quarter of what an idle
//! client costs the server. Cleartext HTTP/2 is not something Matrix
//! clients speak; a TLS-terminating proxy in front of the server may offer
//! HTTP/2 to clients and talks HTTP/1.1 to us.

mod deadlines;

use std::{
    future::Future,
    io,
    pin::pin,
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{Router, extract::ConnectInfo};
use hyper_util::{rt::TokioIo, server::graceful::GracefulShutdown, service::TowerToHyperService};
use tokio::{net::TcpListener, sync::Semaphore};
use tower::ServiceExt;

pub use self::deadlines::Timeouts;
use self::deadlines::{Activity, Deadlined, TrackedBody};

/// How long requests in flight may take to finish once shutdown begins
/// (long polls are cut: their clients reconnect to the next server).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Descriptors kept for everything but client connections (database
/// pool, media files being read or written, clamd, previews, logs) when
/// the connection cap is derived from the open-files limit.
const RESERVED_FILES: u64 = 256;

/// How often, at most, reaching the connection cap is logged.
const CAP_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// How the listener bounds its connections.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub timeouts: Timeouts,
    /// Connections served at once.
    pub max_connections: usize,
}

/// Raises this process's soft open-files limit to its hard limit (a
/// shell's `ulimit -n` is often 1024, far below what a server with one
/// long poll per client needs); returns the limit now in force.
pub fn raise_open_files_limit() -> io::Result<u64> {
    rlimit::increase_nofile_limit(u64::MAX)
}

/// The connection cap: `configured`, or when 0, what the open-files
/// limit leaves after [`RESERVED_FILES`].
pub fn connection_cap(configured: usize, open_files: u64) -> usize {
    let fitting = open_files.saturating_sub(RESERVED_FILES).max(16);
    let fitting = usize::try_from(fitting).unwrap_or(usize::MAX);
    if configured == 0 {
        return fitting;
    }
    if configured > fitting {
        tracing::warn!(
            max_connections = configured,
            open_files,
            "max_connections is above what the open-files limit allows: \
             connections beyond it will fail with 'Too many open files'"
        );
    }
    configured
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets requests
/// in flight finish (up to [`SHUTDOWN_GRACE`]). With `tls`, each
/// connection is a TLS one (the federation listener), the deadlines
/// applying to the bytes under it.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    bounds: Bounds,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let http = hyper::server::conn::http1::Builder::new();
    let graceful = GracefulShutdown::new();
    let places = Arc::new(Semaphore::new(bounds.max_connections));
    let mut cap_logged: Option<Instant> = None;
    let mut shutdown = pin!(shutdown);
    loop {
        // A place first, then accept: when full, new connections wait in
        // the kernel's listen backlog (and are served as soon as a place
        // frees) instead of being accepted into a process that has no
        // descriptors or memory left for them.
        let place = match places.clone().try_acquire_owned() {
            Ok(place) => place,
            Err(_) => {
                if cap_logged.is_none_or(|at| at.elapsed() >= CAP_LOG_INTERVAL) {
                    cap_logged = Some(Instant::now());
                    tracing::warn!(
                        max_connections = bounds.max_connections,
                        "connection limit reached: new connections wait until one closes"
                    );
                }
                tokio::select! {
                    place = places.clone().acquire_owned() => match place {
                        Ok(place) => place,
                        Err(_) => break,
                    },
                    () = &mut shutdown => break,
                }
            }
        };
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Answers are written whole; Nagle's algorithm would only delay
        // the last segment of a large one.
        let _ = stream.set_nodelay(true);
        let activity = Arc::new(Activity::default());
        let app = app.clone();
        let requests = activity.clone();
        let service = tower::service_fn(move |req: http::Request<hyper::body::Incoming>| {
            let in_flight = requests.begin();
            let mut req = req.map(axum::body::Body::new);
            req.extensions_mut().insert(ConnectInfo(remote));
            let app = app.clone();
            async move {
                let response = app.oneshot(req).await?;
                Ok::<_, std::convert::Infallible>(response.map(|body| TrackedBody {
                    body,
                    _in_flight: in_flight,
                }))
            }
        });
        let io = Deadlined::new(stream, activity, bounds.timeouts);
        let watcher = graceful.watcher();
        let http = http.clone();
        let tls = tls.clone();
        let handshake_timeout = bounds.timeouts.header;
        tokio::spawn(async move {
            let service = TowerToHyperService::new(service);
            let served = match tls {
                None => {
                    watcher
                        .watch(http.serve_connection(TokioIo::new(io), service))
                        .await
                }
                // The handshake is bounded like a request header: a peer
                // that opens a connection and stalls holds a place only
                // that long.
                Some(tls) => match tokio::time::timeout(handshake_timeout, tls.accept(io)).await {
                    Ok(Ok(stream)) => {
                        watcher
                            .watch(http.serve_connection(TokioIo::new(stream), service))
                            .await
                    }
                    Ok(Err(e)) => {
                        tracing::debug!(error = %e, %remote, "TLS handshake failed");
                        Ok(())
                    }
                    Err(_) => {
                        tracing::debug!(%remote, "TLS handshake timed out");
                        Ok(())
                    }
                },
            };
            if let Err(e) = served {
                tracing::debug!(error = %e, %remote, "connection ended with an error");
            }
            drop(place);
        });
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::info!("requests still in flight after the shutdown grace period");
    }
    Ok(())
}

/// A failed accept: the peer gave up (nothing to do), or the process is
/// out of descriptors, in which case retrying at once would spin.
async fn accept_failed(e: io::Error) {
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accepting a connection failed");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// Handlers see the peer's address (per-address rate limits need it),
    /// and the server stops when told to.
    #[tokio::test]
    async fn serves_with_the_peer_address_until_shutdown() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new().route(
            "/peer",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }),
        );
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let bounds = Bounds {
            timeouts: Timeouts {
                header: Duration::from_secs(30),
                idle: Duration::from_secs(60),
            },
            max_connections: 16,
        };
        let server = tokio::spawn(serve(listener, app, bounds, None, async {
            let _ = stopped.await;
        }));

        let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let local = client.local_addr().unwrap();
        client
            .write_all(b"GET /peer HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        client.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with(&local.to_string()), "{answer}");

        stop.send(()).unwrap();
        server.await.unwrap().unwrap();
    }

    #[test]
    fn the_cap_fits_the_open_files_limit_unless_configured() {
        assert_eq!(connection_cap(0, 1024), 768);
        assert_eq!(connection_cap(0, 100), 16);
        assert_eq!(connection_cap(500, 1024), 500);
        assert_eq!(connection_cap(5000, 1024), 5000);
    }
}
