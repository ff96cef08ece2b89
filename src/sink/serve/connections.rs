//! Accepting connections: HTTP/1.1 with a header-read timeout (slowloris), an idle timeout, a
//! cap on connections served at once, and a reserve for the probes.
//!
//! - A request's head must arrive within `server.headerReadTimeout` from the moment the server
//!   waits for it; that is also how long a kept-alive connection may wait for its next request.
//! - A connection on which no byte moves for `server.idleTimeout` is closed (a body or a
//!   response read that stalls).
//! - A request's body must arrive whole within `server.bodyReadTimeout` from the end of its
//!   head ([`body_deadline`]): a body trickled a byte at a time, which keeps the idle timer from
//!   firing, gets 408 and its connection is closed. Reading a request is thus bounded by
//!   `headerReadTimeout + bodyReadTimeout`; writing a response is not (a slow reader of a
//!   large shard is bounded by the idle timeout only).
//! - At most `server.maxConnections` connections are served at once, lowered to what the
//!   open-file limit leaves after the daemon's own needs ([`effective_cap`]), so that `accept`
//!   never fails for want of a file descriptor.
//! - Beyond the cap, [`RESERVED`] more connections are taken that answer only `/healthz`,
//!   `/readyz` and `/metrics` (anything else gets 503), one request each, with a short header
//!   timeout; when those are full too, the oldest of them is closed for the newcomer. A kubelet
//!   or Prometheus therefore gets an answer while the port is flooded, unless the flood opens
//!   connections faster than a probe is answered (about a millisecond).
//! - Every connection is accepted at once, so the kernel's backlog never fills with a flood
//!   that would hold a probe behind it: beyond the cap, a newcomer always gets a reserved
//!   slot, and the connection closed to make room is the oldest reserved one ([`Reserve`]),
//!   which has had the longest to send its request.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use hyper::body::{Body as _, Frame, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, oneshot, watch};

/// Connections kept for the probes beyond `server.maxConnections`.
pub const RESERVED: usize = 8;
/// Paths a reserved connection answers.
const PROBES: [&str; 3] = ["/healthz", "/readyz", "/metrics"];
/// The header timeout of a reserved connection (a probe sends its request at once).
const RESERVED_HEADER_TIMEOUT: Duration = Duration::from_secs(2);
/// File descriptors left for the daemon's own work (reading files, git, catalog and Data Index
/// connections, the file watcher) when the connection cap is derived from the open-file limit.
const FD_HEADROOM: usize = 64;
/// How long a graceful shutdown waits for connections to finish their requests.
const DRAIN: Duration = Duration::from_secs(5);

/// The server's limits (from `server.*`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub body_read_timeout: Duration,
}

/// The connection cap: `configured`, lowered so that the cap, the reserve and [`FD_HEADROOM`]
/// fit in the open-file limit beside the descriptors open now. At least 1.
pub fn effective_cap(configured: usize) -> usize {
    match fd_budget() {
        Some(budget) => configured.min(budget.saturating_sub(RESERVED)).max(1),
        None => configured,
    }
}

/// Descriptors still available for connections: the soft open-file limit minus those open now
/// and the headroom.
fn fd_budget() -> Option<usize> {
    #[cfg(target_os = "linux")]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes into the struct we pass.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
            return None;
        }
        if limit.rlim_cur == libc::RLIM_INFINITY {
            return None;
        }
        let open = std::fs::read_dir("/proc/self/fd").ok()?.count();
        Some((limit.rlim_cur as usize).saturating_sub(open + FD_HEADROOM))
    }
    #[cfg(not(target_os = "linux"))]
    None
}

/// Serves `app` on `listener` until `shutdown` turns true, then lets the connections finish
/// their requests (at most [`DRAIN`]).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    mut shutdown: watch::Receiver<bool>,
) {
    let cap = effective_cap(limits.max_connections);
    if cap < limits.max_connections {
        tracing::warn!(
            configured = limits.max_connections,
            cap,
            "server.maxConnections lowered to what the open-file limit allows (raise it with `ulimit -n`)"
        );
    }
    let app = app.layer(axum::middleware::from_fn_with_state(
        limits.body_read_timeout,
        body_deadline,
    ));
    let probe_app = app.clone().layer(axum::middleware::from_fn(only_probes));
    let general = Arc::new(Semaphore::new(cap));
    let reserve = Arc::new(Reserve::default());
    let (drain_tx, drain_rx) = watch::channel(false);
    let mut refused = 0u64;
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.wait_for(|stop| *stop) => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of descriptors (another part of the daemon holds more than planned):
                // wait a moment rather than spin; connections already served go on.
                tracing::debug!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        if let Ok(permit) = general.clone().try_acquire_owned() {
            let app = app.clone();
            let drain = drain_rx.clone();
            tokio::spawn(async move {
                connection(stream, app, limits, true, drain, None).await;
                drop(permit);
            });
        } else {
            let (id, evicted) = reserve.admit();
            let app = probe_app.clone();
            let drain = drain_rx.clone();
            let reserve = reserve.clone();
            refused += 1;
            if refused.is_power_of_two() {
                tracing::warn!(
                    cap,
                    times = refused,
                    "server.maxConnections reached; only the probes are answered beyond it"
                );
            }
            tokio::spawn(async move {
                let probe_limits = Limits {
                    header_read_timeout: limits.header_read_timeout.min(RESERVED_HEADER_TIMEOUT),
                    ..limits
                };
                connection(stream, app, probe_limits, false, drain, Some(evicted)).await;
                reserve.release(id);
            });
        }
    }
    drop(listener);
    let _ = drain_tx.send(true);
    // Every connection holds a general permit or a reserve slot until it ends.
    let t0 = Instant::now();
    while (general.available_permits() < cap || !reserve.is_empty()) && t0.elapsed() < DRAIN {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Serves one connection until it ends, times out, is evicted, or the server drains.
/// `keep_alive`: more than one request on it (not for a reserved connection).
async fn connection(
    stream: TcpStream,
    app: Router,
    limits: Limits,
    keep_alive: bool,
    mut drain: watch::Receiver<bool>,
    evicted: Option<oneshot::Receiver<()>>,
) {
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Tracked {
        inner: stream,
        activity: activity.clone(),
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(keep_alive);
    let conn = builder.serve_connection(io, TowerToHyperService::new(app));
    tokio::pin!(conn);
    let evicted = async move {
        match evicted {
            Some(rx) => {
                let _ = rx.await;
            }
            None => std::future::pending().await,
        }
    };
    tokio::pin!(evicted);
    tokio::select! {
        _ = conn.as_mut() => return,
        _ = idle(&activity, limits.idle_timeout) => return,
        _ = &mut evicted => return,
        _ = drain.wait_for(|d| *d) => {}
    }
    // Draining: finish the request in flight, then close.
    conn.as_mut().graceful_shutdown();
    let _ = tokio::time::timeout(DRAIN, conn).await;
}

/// What a reserved connection answers: the probes, and 503 for anything else.
async fn only_probes(request: Request, next: Next) -> Response {
    if PROBES.contains(&request.uri().path()) {
        return next.run(request).await;
    }
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, "1")],
        Body::from("too many connections: only /healthz, /readyz and /metrics are answered now\n"),
    )
        .into_response()
}

/// Gives a request's body `timeout` to arrive whole, from now (its head has arrived). Past it,
/// reading the body fails, and the answer is 408 with `Connection: close` whatever the handler
/// made of the failure. A handler that does not read the body is not affected (hyper closes a
/// connection whose request body was left unread).
async fn body_deadline(State(timeout): State<Duration>, request: Request, next: Next) -> Response {
    if request.body().is_end_stream() {
        return next.run(request).await;
    }
    let expired = Arc::new(AtomicBool::new(false));
    let request = request.map(|inner| {
        Body::new(Deadline {
            inner,
            timer: Box::pin(tokio::time::sleep(timeout)),
            expired: expired.clone(),
        })
    });
    let response = next.run(request).await;
    if !expired.load(Ordering::Acquire) {
        return response;
    }
    (
        StatusCode::REQUEST_TIMEOUT,
        [(header::CONNECTION, "close")],
        format!("the request body did not arrive within `server.bodyReadTimeout` ({timeout:?})\n"),
    )
        .into_response()
}

/// A request body that fails once its deadline has passed.
struct Deadline {
    inner: Body,
    timer: Pin<Box<tokio::time::Sleep>>,
    expired: Arc<AtomicBool>,
}

impl hyper::body::Body for Deadline {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        if self.timer.as_mut().poll(cx).is_ready() {
            self.expired.store(true, Ordering::Release);
            return Poll::Ready(Some(Err(axum::Error::new(
                "the request body did not arrive within `server.bodyReadTimeout`",
            ))));
        }
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Resolves once nothing has moved on the connection for `timeout`.
async fn idle(activity: &Activity, timeout: Duration) {
    loop {
        let quiet = activity.quiet_for();
        if quiet >= timeout {
            return;
        }
        tokio::time::sleep(timeout - quiet).await;
    }
}

/// When a byte last moved on a connection.
struct Activity {
    start: Instant,
    /// Milliseconds after `start`.
    last: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            last: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let now = self.start.elapsed().as_millis() as u64;
        self.last.store(now, Ordering::Relaxed);
    }

    fn quiet_for(&self) -> Duration {
        let last = Duration::from_millis(self.last.load(Ordering::Relaxed));
        self.start.elapsed().saturating_sub(last)
    }
}

/// A stream that records when bytes move.
struct Tracked {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The reserved connections, oldest first; a newcomer beyond [`RESERVED`] closes the oldest.
#[derive(Default)]
struct Reserve {
    slots: Mutex<VecDeque<(u64, oneshot::Sender<()>)>>,
    next: AtomicU64,
}

impl Reserve {
    /// A slot for a new connection (closing the oldest when all are taken): its id, and what
    /// resolves when it is evicted.
    fn admit(&self) -> (u64, oneshot::Receiver<()>) {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        let mut slots = self.slots.lock().expect("reserve lock");
        if slots.len() >= RESERVED
            && let Some((_, oldest)) = slots.pop_front()
        {
            let _ = oldest.send(());
        }
        slots.push_back((id, tx));
        (id, rx)
    }

    fn release(&self, id: u64) {
        self.slots
            .lock()
            .expect("reserve lock")
            .retain(|(i, _)| *i != id);
    }

    fn is_empty(&self) -> bool {
        self.slots.lock().expect("reserve lock").is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reserve_closes_its_oldest_connection_for_a_newcomer() {
        let reserve = Reserve::default();
        let mut admitted: Vec<(u64, oneshot::Receiver<()>)> =
            (0..RESERVED).map(|_| reserve.admit()).collect();
        for (_, rx) in &mut admitted {
            assert!(rx.try_recv().is_err(), "nobody evicted yet");
        }
        let _newcomer = reserve.admit();
        assert!(admitted[0].1.try_recv().is_ok(), "the oldest is evicted");
        assert!(admitted[1].1.try_recv().is_err());
        reserve.release(admitted[1].0);
        let _another = reserve.admit();
        assert!(
            admitted[2].1.try_recv().is_err(),
            "a free slot evicts nobody"
        );
    }

    #[test]
    fn the_cap_fits_in_the_open_file_limit() {
        let cap = effective_cap(1_000_000);
        assert!(cap >= 1);
        if let Some(budget) = fd_budget() {
            assert!(cap + RESERVED <= budget.max(cap + RESERVED));
            assert!(cap <= budget.saturating_sub(RESERVED).max(1));
        }
    }
}
