//! The accept loop of `parley serve`: each connection served by hyper (HTTP/1.1,
//! WebSocket upgrades) within the connection limits of [`Limits`]: a cap on open
//! connections, the time a client has to send a request's headers, how long an idle
//! keep-alive connection stays open, and a graceful shutdown.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::limits::Limits;
use crate::App;

/// How long a shutdown waits for the requests in progress to be answered.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// File descriptors kept for the server itself (database, key and anchor files,
/// the runtime) when the open-file limit bounds the connections.
const RESERVED_FDS: usize = 128;

/// Serves `app` on `listener` until `shutdown` completes, with the limits of
/// `limits` (the router's, [`crate::api::router_with`], and the connections'). Then
/// stops accepting, lets every connection finish the request it is answering (at
/// most [`SHUTDOWN_GRACE`]) and returns. Open WebSockets are not waited for.
pub async fn serve_listener(
    app: Arc<App>,
    listener: TcpListener,
    limits: &Limits,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let max = connection_cap(limits.max_connections);
    let router = crate::api::router_with(app, limits.clone());
    let slots = Arc::new(Semaphore::new(max));
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(!limits.keep_alive_timeout.is_zero());
    let builder = Arc::new(builder);
    let (stop, stopped) = watch::channel(false);
    // Each connection's task holds a sender: when all are dropped, all are done.
    let (done, mut all_done) = tokio::sync::mpsc::channel::<()>(1);
    let (mut refused, mut failed) = (Refusals::default(), Refusals::default());
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    if !is_connection_error(&e) {
                        // Out of file descriptors, say: wait a little rather than spin.
                        failed.note(|n| {
                            tracing::error!("accepting connections failed ({n} times): {e}")
                        });
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
            refuse(&stream, max);
            refused.note(|n| {
                tracing::warn!("{n} connection(s) refused: {max} open already (--max-connections)")
            });
            continue;
        };
        let _ = stream.set_nodelay(true);
        let stream = Counted {
            stream,
            _permit: permit,
        };
        tokio::spawn(connection(
            Arc::clone(&builder),
            router.clone(),
            stream,
            peer,
            limits.clone(),
            stopped.clone(),
            done.clone(),
        ));
    }
    drop(listener);
    let _ = stop.send(true);
    drop(done);
    if tokio::time::timeout(SHUTDOWN_GRACE, all_done.recv())
        .await
        .is_err()
    {
        tracing::warn!(
            "shutting down with requests still unanswered after {} s",
            SHUTDOWN_GRACE.as_secs()
        );
    }
    Ok(())
}

/// Serves one connection until it closes, its client is too slow or idle too long,
/// or the server shuts down.
async fn connection(
    builder: Arc<Builder<TokioExecutor>>,
    router: Router,
    stream: Counted,
    peer: SocketAddr,
    limits: Limits,
    mut stopped: watch::Receiver<bool>,
    _done: tokio::sync::mpsc::Sender<()>,
) {
    let activity = Arc::new(Activity::new());
    let tracked = Arc::clone(&activity);
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        let busy = Busy::start(&tracked);
        req.extensions_mut().insert(ConnectInfo(peer));
        let mut router = router.clone();
        let answer = tower_service::Service::call(&mut router, req.map(axum::body::Body::new));
        async move {
            let response = answer.await;
            drop(busy);
            response
        }
    });
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let mut stopping = false;
    loop {
        let check = activity.next_check(&limits);
        tokio::select! {
            served = conn.as_mut() => {
                if let Err(e) = served {
                    tracing::debug!(%peer, "connection closed: {e}");
                }
                return;
            }
            // A request began or ended: the deadline moved.
            () = activity.changed.notified() => {}
            () = tokio::time::sleep_until(check) => {
                if activity.idle_too_long(&limits) {
                    // Dropping the connection closes it: nothing is in progress.
                    tracing::debug!(%peer, "connection closed: idle, or its headers too slow");
                    return;
                }
            }
            _ = stopped.wait_for(|s| *s), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// What a connection is doing: requests in progress, answered, idle since when.
struct Activity {
    in_flight: AtomicUsize,
    answered: AtomicUsize,
    idle_since: Mutex<Instant>,
    changed: Notify,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            in_flight: AtomicUsize::new(0),
            answered: AtomicUsize::new(0),
            idle_since: Mutex::new(Instant::now()),
            changed: Notify::new(),
        }
    }

    fn idle_since(&self) -> Instant {
        *self.idle_since.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How long the connection may stay with no request in progress: the header
    /// timeout for its first request (hyper's own header timer starts only once the
    /// first bytes are in), then the shorter of the header and keep-alive timeouts.
    fn allowed_idle(&self, limits: &Limits) -> Duration {
        if self.answered.load(Ordering::SeqCst) == 0 || limits.keep_alive_timeout.is_zero() {
            limits.header_timeout
        } else {
            limits.header_timeout.min(limits.keep_alive_timeout)
        }
    }

    fn next_check(&self, limits: &Limits) -> Instant {
        let allowed = self.allowed_idle(limits);
        if self.in_flight.load(Ordering::SeqCst) > 0 {
            Instant::now() + allowed
        } else {
            self.idle_since() + allowed
        }
    }

    fn idle_too_long(&self, limits: &Limits) -> bool {
        self.in_flight.load(Ordering::SeqCst) == 0
            && Instant::now() >= self.idle_since() + self.allowed_idle(limits)
    }
}

/// A request in progress on its connection, until its answer is ready (or it is
/// dropped).
struct Busy(Arc<Activity>);

impl Busy {
    fn start(activity: &Arc<Activity>) -> Busy {
        activity.in_flight.fetch_add(1, Ordering::SeqCst);
        activity.changed.notify_one();
        Busy(Arc::clone(activity))
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        *self.0.idle_since.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        self.0.answered.fetch_add(1, Ordering::SeqCst);
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.0.changed.notify_one();
    }
}

/// A connection's socket, holding its place among the open connections until it is
/// dropped, also after an upgrade to a WebSocket.
struct Counted {
    stream: TcpStream,
    _permit: OwnedSemaphorePermit,
}

impl AsyncRead for Counted {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// Answers a connection over the cap `503` (if its socket takes the answer at once)
/// and closes it.
fn refuse(stream: &TcpStream, max: usize) {
    let body = format!(
        "{{\"error\":\"the server has as many open connections as it may ({max}, \
         --max-connections): try again shortly\"}}"
    );
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         retry-after: 1\r\nconnection: close\r\ncache-control: no-store\r\n\
         x-content-type-options: nosniff\r\nx-frame-options: DENY\r\n\
         referrer-policy: no-referrer\r\ncontent-security-policy: {}\r\n\
         content-length: {}\r\n\r\n{body}",
        crate::api::CSP,
        body.len()
    );
    let _ = stream.try_write(answer.as_bytes());
}

/// Errors of one incoming connection (the listener is fine).
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Counts refusals and logs them at most once every 10 s.
#[derive(Default)]
struct Refusals {
    count: u64,
    logged: Option<Instant>,
}

impl Refusals {
    fn note(&mut self, log: impl FnOnce(u64)) {
        self.count += 1;
        let now = Instant::now();
        if self
            .logged
            .is_none_or(|at| now.duration_since(at) >= Duration::from_secs(10))
        {
            log(self.count);
            self.count = 0;
            self.logged = Some(now);
        }
    }
}

/// The connection cap: `wanted`, but below the process's open-file limit (less what
/// the server needs besides), so that the cap is reached before `accept` fails.
fn connection_cap(wanted: usize) -> usize {
    let wanted = wanted.clamp(1, Semaphore::MAX_PERMITS);
    match open_file_limit() {
        Some(limit) if limit.saturating_sub(RESERVED_FDS) < wanted => {
            let cap = limit.saturating_sub(RESERVED_FDS).max(16);
            tracing::warn!(
                "the open-file limit is {limit}: at most {cap} connections at once, not \
                 {wanted} (--max-connections); raise the limit (ulimit -n) for more"
            );
            cap
        }
        _ => wanted,
    }
}

/// The soft limit on open files (Linux: `/proc/self/limits`).
fn open_file_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}
