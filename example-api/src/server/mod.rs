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
//!   handled is bounded by `--request-timeout` instead (see the `middleware` module).
//! - **Shutdown.** When the shutdown future resolves the listener is closed at once.
//!   HTTP/1 responses from then on carry `Connection: close`, and HTTP/2 connections get
//!   a GOAWAY. A connection with no request in progress is given
//!   [`DRAIN_GRACE`] for a request already on its way, then closed; requests in flight
//!   finish. Whatever is still open after `--shutdown-timeout` is closed, and
//!   [`serve`] returns.
//!
//! Every request carries the peer address as [`ConnectInfo<SocketAddr>`] (for the rate
//! limiter).
//!
//! - `listen`: binding the listener and fitting the open-file limit.
//! - `accept`: the accept loop and the shutdown ([`serve`]).
//! - `connection`: serving one connection (the request hooks, the tracked stream).
//! - `watchdog`: when an idle or slow connection is closed.
//! - `refusal`: the `503` answer beyond the connection limit.

mod accept;
mod connection;
mod listen;
mod refusal;
mod watchdog;

pub use accept::{PARSER_MAX_HEADER_BYTES, serve};
pub use listen::{LISTEN_BACKLOG, bind, fit_open_files};
pub use watchdog::DRAIN_GRACE;
