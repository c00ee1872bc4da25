//! Connections over the limit: a `503` JSON answer, written in the background, and a
//! warning at most every 10 s.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::error::ApiError;

/// Connections over the limit that are being answered `503` at once; more are closed
/// without an answer.
const REFUSALS_AT_ONCE: usize = 64;

/// How long answering a refused connection may take.
const REFUSAL_TIME: Duration = Duration::from_secs(1);

/// Answers connections over the limit.
pub(super) struct Refusals {
    slots: Arc<Semaphore>,
    max_connections: usize,
    /// Seconds after `base` before which no new warning is logged (a flood logs once in
    /// 10 s).
    quiet_until: AtomicU64,
    base: Instant,
}

impl Refusals {
    pub(super) fn new(max_connections: usize) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(REFUSALS_AT_ONCE)),
            max_connections,
            quiet_until: AtomicU64::new(0),
            base: Instant::now(),
        }
    }

    /// Writes a `503` JSON answer and closes, in the background; with too many refusals
    /// already under way, closes at once.
    pub(super) fn refuse(&self, mut stream: TcpStream, peer: SocketAddr) {
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
