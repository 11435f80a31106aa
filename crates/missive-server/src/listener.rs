//! The HTTP listener: accepts TCP connections and serves the router on each
//! with hyper's HTTP/1.1 connection.
//!
//! Not `axum::serve`: that one first reads ahead on every connection to
//! tell HTTP/2 from HTTP/1.1, and the bytes read ahead make hyper's read
//! buffer grow from 8 to 16 KiB for the connection's life. Every client
//! holds a long-poll `/sync` open, so that was a quarter of what an idle
//! client costs the server. Cleartext HTTP/2 is not something Matrix
//! clients speak; a TLS-terminating proxy in front of the server may offer
//! HTTP/2 to clients and talks HTTP/1.1 to us.

use std::{future::Future, io, pin::pin, time::Duration};

use axum::{Router, extract::ConnectInfo};
use hyper_util::{rt::TokioIo, server::graceful::GracefulShutdown, service::TowerToHyperService};
use tokio::net::TcpListener;
use tower::ServiceExt;

/// How long requests in flight may take to finish once shutdown begins
/// (long polls are cut: their clients reconnect to the next server).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` until `shutdown` resolves, then lets requests
/// in flight finish (up to [`SHUTDOWN_GRACE`]).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let http = hyper::server::conn::http1::Builder::new();
    let graceful = GracefulShutdown::new();
    let mut shutdown = pin!(shutdown);
    loop {
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
        let service = app
            .clone()
            .map_request(move |req: http::Request<hyper::body::Incoming>| {
                let mut req = req.map(axum::body::Body::new);
                req.extensions_mut().insert(ConnectInfo(remote));
                req
            });
        let connection =
            http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, %remote, "connection ended with an error");
            }
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
        let server = tokio::spawn(serve(listener, app, async {
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
}
