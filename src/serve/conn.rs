//! One connection's life: how long it may stay without a request, and when it is closed.
//!
//! hyper's own limits start once it knows the protocol and is reading a request's head; before
//! that (a connection that sends nothing, or stops after its TLS handshake), between requests,
//! and on an idle HTTP/2 connection, nothing would ever close it. So every connection is
//! watched here, whatever stage it is at:
//!
//! - **idle** (no request being answered, nothing waiting to be written): closed once it has
//!   been so for [`IDLE`], counted from the connection's start or its last answer; bytes
//!   trickling in do not count, so a request must be complete within [`IDLE`];
//! - **busy** (a request being answered, or an answer the client is not reading): closed once
//!   neither reading nor writing has moved for [`STALL`];
//! - on a stop: idle connections are closed at once, busy ones when their answer is done.
//!
//! A connection is closed gracefully first (HTTP/2's GOAWAY), and dropped [`CLOSE_GRACE`] later
//! if it has not ended by itself.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::server::graceful::GracefulConnection;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::watch;
use tokio::time::Instant;

/// How long a connection may stay without a request being answered.
pub const IDLE: Duration = Duration::from_secs(10);
/// How long a request being answered may go without any byte read or written.
pub const STALL: Duration = Duration::from_secs(60);
/// How long a connection asked to close may take to end by itself before it is dropped.
const CLOSE_GRACE: Duration = Duration::from_millis(500);

/// What a connection is doing, shared by its I/O, its requests and its watcher.
pub struct Activity {
    /// The connection's start: the times below are milliseconds since it.
    start: Instant,
    /// Requests being answered (from their head to the end of their answer's body).
    in_flight: AtomicUsize,
    /// The last write did not go through: the client is not reading.
    write_blocked: AtomicBool,
    /// Since when the connection has been idle: its start, or the end of its last answer.
    idle_since: AtomicU64,
    /// The last time a byte was read or written, or a request began.
    progress: AtomicU64,
}

impl Activity {
    pub fn new() -> Arc<Activity> {
        Arc::new(Activity {
            start: Instant::now(),
            in_flight: AtomicUsize::new(0),
            write_blocked: AtomicBool::new(false),
            idle_since: AtomicU64::new(0),
            progress: AtomicU64::new(0),
        })
    }

    fn millis(&self, at: Instant) -> u64 {
        at.duration_since(self.start).as_millis() as u64
    }

    fn at(&self, millis: &AtomicU64) -> Instant {
        self.start + Duration::from_millis(millis.load(Ordering::Relaxed))
    }

    fn moved(&self) {
        self.progress
            .store(self.millis(Instant::now()), Ordering::Relaxed);
    }

    /// A request begins; it is in flight until the guard is dropped (with its answer's body).
    pub fn begin(self: &Arc<Activity>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.moved();
        InFlight(self.clone())
    }

    fn busy(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) > 0 || self.write_blocked.load(Ordering::Acquire)
    }

    /// When the connection is to be closed if nothing happens meanwhile, and whether it is
    /// idle.
    fn deadline(&self) -> (Instant, bool) {
        if self.busy() {
            (self.at(&self.progress) + STALL, false)
        } else {
            (self.at(&self.idle_since) + IDLE, true)
        }
    }

    fn turned_idle(&self) {
        self.idle_since
            .store(self.millis(Instant::now()), Ordering::Relaxed);
    }
}

/// A request in flight; its drop ends it (and the connection is idle from then, if it was the
/// last).
pub struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.turned_idle();
        }
    }
}

/// A connection's byte stream, telling its [`Activity`] when bytes move and when a write
/// cannot go through.
pub struct Watched<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T> Watched<T> {
    pub fn new(inner: T, activity: Arc<Activity>) -> Watched<T> {
        Watched { inner, activity }
    }

    fn wrote(&self, result: &Poll<io::Result<usize>>) {
        match result {
            Poll::Ready(Ok(n)) if *n > 0 => {
                self.activity.moved();
                // Only a write that had been blocked changes anything more.
                if self.activity.write_blocked.load(Ordering::Relaxed)
                    && self.activity.write_blocked.swap(false, Ordering::AcqRel)
                    && self.activity.in_flight.load(Ordering::Acquire) == 0
                {
                    // The end of an answer, held by a slow reader, went out.
                    self.activity.turned_idle();
                }
            }
            Poll::Pending => self.activity.write_blocked.store(true, Ordering::Release),
            _ => {}
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let result = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.activity.moved();
        }
        result
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.wrote(&result);
        result
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.wrote(&result);
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Drives `conn` until it ends, is closed for idling or stalling, or, once `stop` turns true,
/// until its requests in flight are answered.
///
/// The watcher wakes for a stop, and otherwise at most every [`IDLE`] (or at the deadline it
/// computed, if sooner) to look at the connection's [`Activity`]: nothing is done for it on each
/// request, so that a busy keep-alive connection costs nothing more than hyper's own work.
pub async fn drive<C>(conn: C, activity: &Activity, mut stop: watch::Receiver<bool>)
where
    C: GracefulConnection,
{
    tokio::pin!(conn);
    let timer = tokio::time::sleep(IDLE);
    tokio::pin!(timer);
    // When the connection was asked to close gracefully.
    let mut closing: Option<Instant> = None;
    let mut stopping = *stop.borrow_and_update();
    loop {
        let now = Instant::now();
        let (deadline, idle) = activity.deadline();
        if let Some(asked) = closing {
            // Asked to close: dropped once idle and past the grace, or once stalled.
            if (idle && now >= asked + CLOSE_GRACE) || (!idle && now >= deadline) {
                return;
            }
        } else if stopping || (idle && now >= deadline) {
            conn.as_mut().graceful_shutdown();
            closing = Some(now);
        } else if now >= deadline {
            // Busy, and nothing has moved for STALL: a client that neither sends nor reads.
            return;
        }
        let wake = match closing {
            Some(asked) if idle => asked + CLOSE_GRACE,
            // Busy: the stall's deadline, but a look at least every IDLE, since the connection
            // may turn idle meanwhile (and then be due IDLE after that).
            _ if !idle => deadline.min(now + IDLE),
            _ => deadline,
        };
        timer
            .as_mut()
            .reset(wake.max(now + Duration::from_millis(1)));
        tokio::select! {
            _ = conn.as_mut() => return,
            changed = stop.changed(), if !stopping => {
                // A dropped sender is a stop too.
                let _ = changed;
                stopping = true;
            }
            () = timer.as_mut() => {}
        }
    }
}
