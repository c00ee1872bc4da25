//! The HTTP server under the router: an accept loop over hyper's connection builder that
//! bounds what a client can hold, and a shutdown that always ends.
//!
//! - **Connections.** At most `--max-connections` are open (lowered at start-up to fit
//!   the open-file limit, which is raised where allowed). Beyond it a new connection is
//!   answered `503` with the JSON error and `Retry-After: 1`, and closed.
//! - **Timeouts.** A new connection must send a complete request head within
//!   `--header-read-timeout`, and so must every later request, counted from its first
//!   byte: silent connections and half-sent headers are closed. A kept-alive connection
//!   that starts no request within `--keep-alive-timeout` is closed. A request being
//!   handled is bounded by `--request-timeout` instead (see [`crate::middleware`]).
//! - **Shutdown.** When the shutdown future resolves the listener is closed at once.
//!   HTTP/1 responses from then on carry `Connection: close`, and HTTP/2 connections get
//!   a GOAWAY. A connection with no request in progress is given
//!   [`DRAIN_GRACE`] for a request already on its way, then closed; requests in flight
//!   finish. Whatever is still open after `--shutdown-timeout` is closed, and
//!   [`serve`] returns.
//!
//! Every request carries the peer address as [`ConnectInfo<SocketAddr>`] (for the rate
//! limiter).

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Request, Version, header};
use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tower::Service;

use crate::config::ServerConfig;
use crate::error::ApiError;

/// How long, once shutdown began, a connection with no request in progress stays open
/// for a request that may already be on its way (it is answered with `Connection: close`).
pub const DRAIN_GRACE: Duration = Duration::from_secs(1);

/// Largest request head (request line and header fields) the HTTP/1 parser buffers. It is
/// well above the limits the middleware answers with JSON ([`crate::middleware::MAX_URI_BYTES`],
/// [`crate::middleware::MAX_HEADER_BYTES`]); a head over it gets hyper's own bodiless `431`.
pub const PARSER_MAX_HEADER_BYTES: usize = 64 * 1024;

/// Open files kept free for everything but client connections (database, Redis, logs,
/// refusals).
const RESERVED_FILES: u64 = 256;

/// How long a connection the watchdog found idle may take to close gracefully (flush
/// what it wrote) before it is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Connections over the limit that are being answered `503` at once; more are closed
/// without an answer.
const REFUSALS_AT_ONCE: usize = 64;

/// How long answering a refused connection may take.
const REFUSAL_TIME: Duration = Duration::from_secs(1);

/// Connections the kernel may hold for us before we accept them (capped by
/// `net.core.somaxconn`). Beyond it handshakes are dropped and clients retransmit, which
/// makes a burst of connections look like a hang.
pub const LISTEN_BACKLOG: u32 = 4096;

/// Binds a listener with a [`LISTEN_BACKLOG`] backlog (the default is 1024).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
/// let listener = example_api::server::bind("127.0.0.1:0".parse().unwrap())?;
/// assert!(listener.local_addr()?.port() > 0);
/// # Ok(()) }
/// ```
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Raises the open-file limit so that `max_connections` client connections fit under it
/// with room to spare, and returns how many connections really fit (with a warning when
/// that is fewer than asked).
///
/// ```
/// let fit = example_api::server::fit_open_files(64);
/// assert_eq!(fit, 64);
/// ```
pub fn fit_open_files(max_connections: u32) -> u32 {
    #[cfg(unix)]
    {
        let wanted = u64::from(max_connections) + RESERVED_FILES;
        match rlimit::increase_nofile_limit(wanted) {
            Ok(limit) if limit < wanted => {
                let fit = u32::try_from(limit.saturating_sub(RESERVED_FILES))
                    .unwrap_or(u32::MAX)
                    .max(1);
                tracing::warn!(
                    open_file_limit = limit,
                    "--max-connections {max_connections} does not fit the open-file limit: \
                     at most {fit} connections (raise `ulimit -n` for more)"
                );
                fit
            }
            Ok(_) => max_connections,
            Err(e) => {
                tracing::warn!(error = %e, "could not read the open-file limit");
                max_connections
            }
        }
    }
    #[cfg(not(unix))]
    {
        max_connections
    }
}

/// Serves `app` on `listener` under the limits of `config` until `shutdown` resolves,
/// then shuts down as described in the [module documentation](self) and returns once
/// every connection is closed (by `config.shutdown_timeout` at the latest).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    config: &ServerConfig,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let max_connections = fit_open_files(config.max_connections) as usize;
    let shared = Arc::new(Shared {
        app,
        builder: builder(config),
        timeouts: Timeouts {
            header_read: config.header_read_timeout,
            keep_alive: config.keep_alive_timeout,
        },
        draining: AtomicBool::new(false),
    });
    let (drain_tx, drain_rx) = watch::channel(None::<Instant>);
    let permits = Arc::new(Semaphore::new(max_connections));
    let refusals = Arc::new(Refusals::new(max_connections));
    let mut connections = JoinSet::new();
    let mut shutdown = pin!(shutdown);

    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        accept_failed(&e).await;
                        continue;
                    }
                };
                match Arc::clone(&permits).try_acquire_owned() {
                    Ok(permit) => {
                        let shared = Arc::clone(&shared);
                        let drain_rx = drain_rx.clone();
                        connections.spawn(async move {
                            connection(stream, peer, shared, drain_rx).await;
                            drop(permit);
                        });
                    }
                    Err(_) => refusals.refuse(stream, peer),
                }
            }
        }
    }

    drop(listener);
    shared.draining.store(true, Ordering::SeqCst);
    let _ = drain_tx.send(Some(Instant::now()));
    tracing::info!(
        connections = connections.len(),
        deadline = ?config.shutdown_timeout,
        "stopped accepting: finishing requests in flight"
    );
    let deadline = Instant::now() + config.shutdown_timeout;
    loop {
        tokio::select! {
            next = connections.join_next() => {
                if next.is_none() {
                    break;
                }
            }
            () = tokio::time::sleep_until(deadline) => {
                tracing::warn!(
                    connections = connections.len(),
                    "shutdown deadline reached: closing the connections still open"
                );
                connections.shutdown().await;
                break;
            }
        }
    }
    Ok(())
}

fn builder(config: &ServerConfig) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        // Our own watchdog times heads and idle periods separately (see `Activity`).
        .header_read_timeout(None)
        .keep_alive(!config.keep_alive_timeout.is_zero())
        .max_buf_size(PARSER_MAX_HEADER_BYTES);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(100)
        .max_header_list_size(PARSER_MAX_HEADER_BYTES as u32);
    builder
}

/// An error of `accept`: a connection that failed before we saw it is skipped; anything
/// else (such as running out of file descriptors) is logged and retried after a pause.
async fn accept_failed(e: &io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accept failed; retrying in 100 ms");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// What every connection task shares.
struct Shared {
    app: Router,
    builder: auto::Builder<TokioExecutor>,
    timeouts: Timeouts,
    /// Set once shutdown began: HTTP/1 responses get `Connection: close`.
    draining: AtomicBool,
}

#[derive(Debug, Clone, Copy)]
struct Timeouts {
    header_read: Duration,
    keep_alive: Duration,
}

/// Why a connection is closed by its watchdog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expiry {
    /// A request head did not arrive complete in time.
    Head,
    /// No request began in time on a kept-alive connection (or during shutdown).
    Idle,
}

/// What a connection is doing, as its watchdog sees it. Updated by the I/O wrapper (bytes
/// arrived) and the service wrapper (a request began or was answered).
#[derive(Debug)]
struct Activity {
    base: Instant,
    in_flight: AtomicU32,
    requests: AtomicU64,
    /// Bytes arrived since the connection went idle (or opened): a head is on its way.
    head_started: AtomicBool,
    /// When the current phase (opened, idle, head started) began, in ms after `base`.
    phase_ms: AtomicU64,
    h2: AtomicBool,
}

impl Activity {
    fn new() -> Self {
        Self {
            base: Instant::now(),
            in_flight: AtomicU32::new(0),
            requests: AtomicU64::new(0),
            head_started: AtomicBool::new(false),
            phase_ms: AtomicU64::new(0),
            h2: AtomicBool::new(false),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn bytes_read(&self) {
        if self.in_flight.load(Ordering::Acquire) == 0
            && !self.head_started.swap(true, Ordering::AcqRel)
            && self.requests.load(Ordering::Acquire) > 0
        {
            // A kept-alive connection's next head: timed from its first byte. (A new
            // connection's first head is timed from the accept.)
            self.phase_ms.store(self.now_ms(), Ordering::Release);
        }
    }

    fn request_started(&self, h2: bool) {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.requests.fetch_add(1, Ordering::AcqRel);
        self.head_started.store(false, Ordering::Release);
        if h2 {
            self.h2.store(true, Ordering::Release);
        }
    }

    fn request_finished(&self) {
        if self.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.phase_ms.store(self.now_ms(), Ordering::Release);
            self.head_started.store(false, Ordering::Release);
        }
    }

    /// When the connection must be closed if nothing changes, and why; `None` while a
    /// request is in flight.
    fn deadline(&self, t: Timeouts, drain: Option<Instant>) -> Option<(Instant, Expiry)> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let since = self.base + Duration::from_millis(self.phase_ms.load(Ordering::Acquire));
        let head = self.head_started.load(Ordering::Acquire);
        let (limit, why) = if head || self.requests.load(Ordering::Acquire) == 0 {
            (t.header_read, Expiry::Head)
        } else {
            (t.keep_alive, Expiry::Idle)
        };
        let at = since + limit;
        match drain {
            Some(start) if !head && start + DRAIN_GRACE < at => {
                Some((start + DRAIN_GRACE, Expiry::Idle))
            }
            _ => Some((at, why)),
        }
    }
}

/// Serves one connection until it ends, its watchdog closes it, or the task is aborted
/// at the shutdown deadline.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    mut drain_rx: watch::Receiver<Option<Instant>>,
) {
    let _ = stream.set_nodelay(true);
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Tracked {
        stream,
        activity: Arc::clone(&activity),
    });
    let service = ConnService {
        app: shared.app.clone(),
        peer,
        activity: Arc::clone(&activity),
        shared: Arc::clone(&shared),
    };
    let conn = shared
        .builder
        .serve_connection_with_upgrades(io, TowerToHyperService::new(service));
    let mut conn = pin!(conn);
    let t = shared.timeouts;
    let mut drain_seen = false;
    // Once idle past its time: asked to close gracefully, and dropped at this instant.
    let mut closing: Option<Instant> = None;
    loop {
        let wake = match closing {
            Some(at) => at,
            None => activity
                .deadline(t, *drain_rx.borrow())
                .map_or_else(|| Instant::now() + t.header_read, |(at, _)| at),
        };
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                return;
            }
            () = tokio::time::sleep_until(wake) => {
                if closing.is_some() {
                    tracing::debug!(%peer, "closing the connection: it did not close in time");
                    return;
                }
                match activity.deadline(t, *drain_rx.borrow()) {
                    Some((at, Expiry::Head)) if Instant::now() >= at => {
                        // No answer is pending while a head is awaited.
                        tracing::debug!(%peer, "closing the connection: request head not complete in time");
                        return;
                    }
                    Some((at, Expiry::Idle)) if Instant::now() >= at => {
                        tracing::debug!(%peer, "closing the idle connection");
                        conn.as_mut().graceful_shutdown();
                        closing = Some(Instant::now() + CLOSE_GRACE);
                    }
                    _ => {}
                }
            }
            changed = drain_rx.changed(), if !drain_seen => {
                drain_seen = true;
                if changed.is_ok() && activity.h2.load(Ordering::Acquire) {
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// The router for one connection: puts the peer address in each request, tells the
/// watchdog when requests begin and end, and adds `Connection: close` once shutdown began.
#[derive(Clone)]
struct ConnService {
    app: Router,
    peer: SocketAddr,
    activity: Arc<Activity>,
    shared: Arc<Shared>,
}

/// Marks the request finished when dropped: with the response body once it is sent, or
/// with the request's future if it is cancelled.
struct Finished(Arc<Activity>);

impl Drop for Finished {
    fn drop(&mut self) {
        self.0.request_finished();
    }
}

impl Service<Request<Incoming>> for ConnService {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // A router is always ready.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Request<Incoming>) -> Self::Future {
        let http1 = req.version() <= Version::HTTP_11;
        self.activity.request_started(!http1);
        let finished = Finished(Arc::clone(&self.activity));
        req.extensions_mut().insert(ConnectInfo(self.peer));
        let call = self.app.call(req);
        let shared = Arc::clone(&self.shared);
        Box::pin(async move {
            let response = call.await?;
            // The request counts as in flight until its body is sent, so that no
            // watchdog closes a connection with an answer still being written.
            let mut response = response.map(|inner| {
                Body::new(Guarded {
                    inner,
                    _finished: finished,
                })
            });
            if http1 && shared.draining.load(Ordering::Acquire) {
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            Ok(response)
        })
    }
}

/// A response body that carries the [`Finished`] mark of its request.
struct Guarded {
    inner: Body,
    _finished: Finished,
}

impl http_body::Body for Guarded {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// A TCP stream that tells the watchdog when bytes arrive.
struct Tracked {
    stream: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Tracked {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let poll = Pin::new(&mut this.stream).poll_read(cx, buf);
        if matches!(poll, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.activity.bytes_read();
        }
        poll
    }
}

impl AsyncWrite for Tracked {
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

/// Answers connections over the limit.
struct Refusals {
    slots: Arc<Semaphore>,
    max_connections: usize,
    /// Seconds after `base` before which no new warning is logged (a flood logs once in
    /// 10 s).
    quiet_until: AtomicU64,
    base: Instant,
}

impl Refusals {
    fn new(max_connections: usize) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(REFUSALS_AT_ONCE)),
            max_connections,
            quiet_until: AtomicU64::new(0),
            base: Instant::now(),
        }
    }

    /// Writes a `503` JSON answer and closes, in the background; with too many refusals
    /// already under way, closes at once.
    fn refuse(&self, mut stream: TcpStream, peer: SocketAddr) {
        let now = self.base.elapsed().as_secs();
        let quiet_until = self.quiet_until.load(Ordering::Relaxed);
        if now >= quiet_until
            && self
                .quiet_until
                .compare_exchange(quiet_until, now + 10, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                %peer,
                max_connections = self.max_connections,
                "connection limit reached: refusing new connections"
            );
        }
        let Ok(slot) = Arc::clone(&self.slots).try_acquire_owned() else {
            return;
        };
        let body = serde_json::to_vec(
            &ApiError::Overloaded(format!(
                "the server has {} connections open, its limit; retry shortly",
                self.max_connections
            ))
            .body(),
        )
        .unwrap_or_default();
        tokio::spawn(async move {
            let answer = async {
                let head = format!(
                    "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
                     content-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                stream.write_all(head.as_bytes()).await?;
                stream.write_all(&body).await?;
                stream.shutdown().await?;
                // Read what the client sent, so that closing does not reset the
                // connection before it read the answer.
                let mut sink = [0u8; 4096];
                while stream.read(&mut sink).await? > 0 {}
                Ok::<_, io::Error>(())
            };
            let _ = tokio::time::timeout(REFUSAL_TIME, answer).await;
            drop(slot);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Timeouts = Timeouts {
        header_read: Duration::from_secs(10),
        keep_alive: Duration::from_secs(60),
    };

    #[tokio::test(start_paused = true)]
    async fn the_watchdog_times_heads_and_idle_periods() {
        let a = Activity::new();
        let opened = a.base;
        // A new connection: its first head is due within the header-read timeout.
        assert_eq!(
            a.deadline(T, None),
            Some((opened + T.header_read, Expiry::Head))
        );
        tokio::time::advance(Duration::from_secs(3)).await;
        a.bytes_read();
        assert_eq!(
            a.deadline(T, None),
            Some((opened + T.header_read, Expiry::Head)),
            "bytes of the first head do not restart its clock"
        );
        a.request_started(false);
        assert_eq!(a.deadline(T, None), None, "in flight: no deadline");
        tokio::time::advance(Duration::from_secs(20)).await;
        a.request_finished();
        let idle = Instant::now();
        assert_eq!(
            a.deadline(T, None),
            Some((idle + T.keep_alive, Expiry::Idle))
        );
        tokio::time::advance(Duration::from_secs(30)).await;
        a.bytes_read();
        let head = Instant::now();
        assert_eq!(
            a.deadline(T, None),
            Some((head + T.header_read, Expiry::Head))
        );
        // Shutdown: an idle connection gets the grace, one reading a head its timeout.
        let drain = Instant::now();
        assert_eq!(
            a.deadline(T, Some(drain)),
            Some((head + T.header_read, Expiry::Head))
        );
        a.request_started(false);
        a.request_finished();
        assert_eq!(
            a.deadline(T, Some(drain)),
            Some((drain + DRAIN_GRACE, Expiry::Idle))
        );
    }
}
