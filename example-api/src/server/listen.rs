//! The listener: a larger accept backlog, and an open-file limit that fits the connections.

use std::io;
use std::net::SocketAddr;

use tokio::net::TcpListener;

/// Open files kept free for everything but client connections (database, Redis, logs,
/// refusals).
const RESERVED_FILES: u64 = 256;

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
