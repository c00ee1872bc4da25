//! One connection: hyper serves it, the watchdog closes it when idle or slow, and each
//! request carries the peer address and marks when it begins and ends.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Request, Version, header};
use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;
use tower::Service;

use super::watchdog::{Activity, Expiry, Timeouts};

/// How long a connection the watchdog found idle may take to close gracefully (flush
/// what it wrote) before it is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// What every connection task shares.
pub(super) struct Shared {
    pub(super) app: Router,
    pub(super) builder: auto::Builder<TokioExecutor>,
    pub(super) timeouts: Timeouts,
    /// Set once shutdown began: HTTP/1 responses get `Connection: close`.
    pub(super) draining: AtomicBool,
}

/// Serves one connection until it ends, its watchdog closes it, or the task is aborted
/// at the shutdown deadline.
pub(super) async fn connection(
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
