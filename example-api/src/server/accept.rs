//! The accept loop: a connection per task under a connection cap, then the shutdown with
//! its deadline.

use std::future::Future;
use std::io;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::connection::{Shared, connection};
use super::listen::fit_open_files;
use super::refusal::Refusals;
use super::watchdog::Timeouts;
use crate::config::ServerConfig;

/// Largest request head (request line and header fields) the HTTP/1 parser buffers. It is
/// well above the limits the middleware answers with JSON (`middleware::MAX_URI_BYTES`,
/// `middleware::MAX_HEADER_BYTES`); a head over it gets hyper's own bodiless `431`.
pub const PARSER_MAX_HEADER_BYTES: usize = 64 * 1024;

/// Serves `app` on `listener` under the limits of `config` until `shutdown` resolves,
/// then shuts down as described in the [module documentation](super) and returns once
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
