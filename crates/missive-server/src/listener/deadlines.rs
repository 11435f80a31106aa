//! Deadlines for a connection while no request is in flight: a
//! connection that sends nothing (before its first request or between
//! keep-alive requests) is closed after the idle timeout, and one that
//! started a request header must finish it within the header timeout.
//! A request in flight, such as a long-poll `/sync` held for 30 s, is
//! never cut.
//!
//! Not hyper's `header_read_timeout`: hyper starts that timer whenever it
//! waits for a request head, so it cannot tell a silent keep-alive
//! connection from a slow header and would cut both at the same deadline.
//! Here the connection's reads are watched instead: the service marks
//! each request in flight ([`Activity::begin`]) until its response body
//! is dropped (written whole, or abandoned), and reads made meanwhile have
//! no deadline.

use std::{
    io,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use futures::task::AtomicWaker;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    time::{Instant, Sleep},
};

/// Requests of one connection: how many are in flight, how many began.
#[derive(Default)]
pub struct Activity {
    in_flight: AtomicUsize,
    started: AtomicU64,
    /// The connection's task, when its last read found nothing: the end
    /// of a request must wake it, or it would wait for the socket alone
    /// and never start the idle deadline.
    reader: AtomicWaker,
}

impl Activity {
    /// Marks a request in flight until the returned guard is dropped.
    pub fn begin(self: &Arc<Self>) -> InFlight {
        self.started.fetch_add(1, Ordering::AcqRel);
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(self.clone())
    }
}

/// A request in flight; dropped with its response body.
pub struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.reader.wake();
        }
    }
}

/// The per-connection deadlines.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub header: Duration,
    pub idle: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Nothing received since the last response (or since accept).
    Idle,
    /// Part of a request header received.
    Header,
    /// A request in flight: no deadline.
    Busy,
}

/// A connection's stream with the deadlines applied to its reads.
pub struct Deadlined<S> {
    inner: S,
    activity: Arc<Activity>,
    timeouts: Timeouts,
    phase: Phase,
    /// `Activity::started` when last looked at: a change means a request
    /// began (and may already have ended) since.
    seen_started: u64,
    deadline: Pin<Box<Sleep>>,
}

impl<S> Deadlined<S> {
    pub fn new(inner: S, activity: Arc<Activity>, timeouts: Timeouts) -> Self {
        Self {
            inner,
            activity,
            timeouts,
            phase: Phase::Idle,
            seen_started: 0,
            deadline: Box::pin(tokio::time::sleep(timeouts.idle)),
        }
    }

    /// Brings the phase up to date with the requests seen by the service.
    fn observe(&mut self) {
        let started = self.activity.started.load(Ordering::Acquire);
        if self.activity.in_flight.load(Ordering::Acquire) > 0 {
            self.phase = Phase::Busy;
        } else if self.phase == Phase::Busy || started != self.seen_started {
            // The last response is written: idle again from now.
            self.phase = Phase::Idle;
            self.deadline
                .as_mut()
                .reset(Instant::now() + self.timeouts.idle);
        }
        self.seen_started = started;
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Deadlined<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.observe();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if this.phase == Phase::Idle && buf.filled().len() > before {
                    // A request begins: its header has its own deadline.
                    this.phase = Phase::Header;
                    this.deadline
                        .as_mut()
                        .reset(Instant::now() + this.timeouts.header);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => {
                // Woken when a request ends, to start the idle deadline.
                this.activity.reader.register(cx.waker());
                if this.phase == Phase::Busy {
                    // The request may have ended between the check and
                    // the registration, with nobody left to wake us.
                    if this.activity.in_flight.load(Ordering::Acquire) == 0 {
                        cx.waker().wake_by_ref();
                    }
                    return Poll::Pending;
                }
                match this.deadline.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        match this.phase {
                            Phase::Header => "request header not received in time",
                            _ => "connection idle for too long",
                        },
                    ))),
                    Poll::Pending => Poll::Pending,
                }
            }
            other => other,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Deadlined<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A response body that keeps its request marked in flight until hyper
/// has written it whole (or the connection dropped it).
pub struct TrackedBody {
    pub body: axum::body::Body,
    pub _in_flight: InFlight,
}

impl http_body::Body for TrackedBody {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt, duplex};

    use super::*;

    const T: Timeouts = Timeouts {
        header: Duration::from_secs(5),
        idle: Duration::from_secs(60),
    };

    /// With the clock paused, tokio advances it whenever every task waits,
    /// so the deadlines pass at once and the outcome is deterministic.
    #[tokio::test(start_paused = true)]
    async fn silence_and_slow_headers_are_cut_but_requests_in_flight_are_not() {
        let (mut client, server) = duplex(64);
        let activity = Arc::new(Activity::default());
        let mut conn = Deadlined::new(server, activity.clone(), T);
        let mut buf = [0u8; 16];

        // A request begins, then its header stalls: cut.
        client.write_all(b"GET /").await.unwrap();
        assert_eq!(conn.read(&mut buf).await.unwrap(), 5);
        let err = conn.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(err.to_string().contains("header"), "{err}");

        // A request in flight: reads wait for as long as it takes.
        let (mut client, server) = duplex(64);
        let mut conn = Deadlined::new(server, activity.clone(), T);
        let guard = activity.begin();
        let reader = tokio::spawn(async move {
            let n = conn.read(&mut buf).await.unwrap();
            (conn, n)
        });
        tokio::time::sleep(Duration::from_secs(3600)).await;
        client.write_all(b"x").await.unwrap();
        let (mut conn, n) = reader.await.unwrap();
        assert_eq!(n, 1);

        // Its response done while a read waits, the connection is idle:
        // cut at the idle deadline.
        let reader = tokio::spawn(async move { conn.read(&mut [0u8; 1]).await });
        tokio::task::yield_now().await;
        drop(guard);
        let err = reader.await.unwrap().unwrap_err();
        assert!(err.to_string().contains("idle"), "{err}");
    }
}
