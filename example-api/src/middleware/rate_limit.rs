//! Per-client budgets (a GCRA token bucket per client, from the `governor` crate), spent
//! on work rather than on answers:
//!
//! - On the expensive routes (`/analytics/*`, `/ai/*`) a request is never refused as
//!   such: it runs inside [`with_budget`] with the client's bucket as its computation
//!   budget, so only a cached call that is about to compute (a miss, a forced refresh)
//!   takes a token. An answer from either cache tier, a `304`, a call that joins a
//!   computation already running and a fail-safe copy cost nothing. A computation beyond
//!   the budget fails with the runtime's `Throttled`, which the service answers as `429`
//!   with `Retry-After` (`ApiError: From<Throttled>`).
//! - The writes (`PATCH`/`POST` under `/channels/`) have no cache in front: each request
//!   takes a token, and one beyond the budget is answered `429` before it runs.
//!
//! Both spend the same bucket. A client is its IP address (an IPv6 client: its /64, which
//! one host usually has whole): the connection's peer, or, behind a reverse proxy listed
//! in `--trusted-proxies`, the address its forwarding headers name (see [`client_addr`]).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use cache_runtime::{Budget, with_budget};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::client::client_addr;
use crate::error::ApiError;
use crate::net::TrustedProxies;

/// Path prefixes of the routes whose misses cost database queries or CPU.
pub const EXPENSIVE_PREFIXES: [&str; 2] = ["/analytics/", "/ai/"];

/// Path prefixes of the write routes, limited for every method but `GET`, `HEAD` and
/// `OPTIONS`: a write runs database statements and drops cache entries, so each one
/// spends the budget a computation of an expensive read does.
pub const WRITE_PREFIXES: [&str; 1] = ["/channels/"];

/// How often state of clients that went quiet is dropped.
const CLEANUP_EVERY: Duration = Duration::from_secs(60);

/// The rate limiter and how it tells clients apart: the state of [`rate_limit`].
#[derive(Debug)]
pub struct Admission {
    /// The clients' budgets.
    pub limit: RateLimit,
    /// The proxies whose forwarding headers name the client.
    pub proxies: TrustedProxies,
}

/// One token bucket per client.
///
/// ```
/// use std::num::NonZeroU32;
/// use example_api::middleware::RateLimit;
/// let limit = RateLimit::new(NonZeroU32::new(1).unwrap(), NonZeroU32::new(2).unwrap());
/// let client = "192.0.2.7".parse().unwrap();
/// assert!(limit.check(client).is_ok());
/// assert!(limit.check(client).is_ok());
/// let wait = limit.check(client).unwrap_err(); // the burst of 2 is spent
/// assert!(wait.as_millis() > 0 && wait.as_secs() <= 1);
/// assert!(limit.check("192.0.2.8".parse().unwrap()).is_ok(), "another client");
/// ```
#[derive(Debug)]
pub struct RateLimit {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    clock: DefaultClock,
    started: Instant,
    /// Seconds after `started` of the last cleanup.
    cleaned: AtomicU64,
}

impl RateLimit {
    /// `per_second` requests a second per client, and up to `burst` at once.
    pub fn new(per_second: NonZeroU32, burst: NonZeroU32) -> Self {
        Self {
            limiter: RateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst)),
            clock: DefaultClock::default(),
            started: Instant::now(),
            cleaned: AtomicU64::new(0),
        }
    }

    /// Takes a token of `client`'s bucket, or says how long until one is there.
    pub fn check(&self, client: IpAddr) -> Result<(), Duration> {
        self.clean_up();
        self.limiter
            .check_key(&client_key(client))
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Clients currently tracked.
    pub fn clients(&self) -> usize {
        self.limiter.len()
    }

    fn clean_up(&self) {
        let now = self.started.elapsed().as_secs();
        let last = self.cleaned.load(Ordering::Relaxed);
        if now >= last + CLEANUP_EVERY.as_secs()
            && self
                .cleaned
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
    }
}

/// The client an address stands for: an IPv4 address (also when IPv4-mapped), or the
/// /64 network of an IPv6 address.
pub fn client_key(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V4(_) => addr,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let net = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(net))
            }
        },
    }
}

/// Whether `path` is one of the routes whose computations are budgeted.
pub fn is_expensive(path: &str) -> bool {
    EXPENSIVE_PREFIXES.iter().any(|p| path.starts_with(p))
}

/// Whether a request with `method` to `path` is a write ([`WRITE_PREFIXES`], any method
/// but `GET`, `HEAD` and `OPTIONS`), whose every request is budgeted.
///
/// ```
/// use axum::http::Method;
/// use example_api::middleware::is_write;
/// assert!(is_write(&Method::PATCH, "/channels/1"));
/// assert!(is_write(&Method::POST, "/channels/1/posts"));
/// assert!(!is_write(&Method::GET, "/channels"));
/// assert!(!is_write(&Method::GET, "/analytics/demo/best-times"));
/// ```
pub fn is_write(method: &Method, path: &str) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
        && WRITE_PREFIXES.iter().any(|p| path.starts_with(p))
}

/// Whether a request with `method` to `path` spends the client's budget at all: its
/// computations on an expensive route ([`is_expensive`]), or itself as a write
/// ([`is_write`]).
///
/// ```
/// use axum::http::Method;
/// use example_api::middleware::is_limited;
/// assert!(is_limited(&Method::PATCH, "/channels/1"));
/// assert!(is_limited(&Method::POST, "/channels/1/posts"));
/// assert!(is_limited(&Method::GET, "/analytics/demo/best-times"));
/// assert!(!is_limited(&Method::GET, "/channels"));
/// ```
pub fn is_limited(method: &Method, path: &str) -> bool {
    is_expensive(path) || is_write(method, path)
}

/// One client's bucket as the runtime's computation [`Budget`].
struct ClientBudget {
    admission: Arc<Admission>,
    client: IpAddr,
}

impl Budget for ClientBudget {
    fn spend(&self) -> Result<(), Duration> {
        self.admission.limit.check(self.client)
    }
}

/// Runs the expensive routes inside the client's computation budget and admits the writes
/// against it (see the module documentation). The client is [`client_addr`] of the peer
/// address the server put in the request ([`ConnectInfo`]); a request without a peer
/// counts as one shared client.
pub(super) async fn rate_limit(
    State(admission): State<Arc<Admission>>,
    req: Request,
    next: Next,
) -> Response {
    let (expensive, write) = (
        is_expensive(req.uri().path()),
        is_write(req.method(), req.uri().path()),
    );
    if !expensive && !write {
        return next.run(req).await;
    }
    let client = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| {
            client_addr(c.0, req.headers(), &admission.proxies)
        });
    if expensive {
        let budget: Arc<dyn Budget> = Arc::new(ClientBudget { admission, client });
        return with_budget(budget, next.run(req)).await;
    }
    match admission.limit.check(client) {
        Ok(()) => next.run(req).await,
        Err(retry_after) => ApiError::TooManyRequests { retry_after }.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_are_addresses_and_ipv6_networks() {
        let ip = |s: &str| s.parse::<IpAddr>().expect("address");
        assert_eq!(client_key(ip("10.1.2.3")), ip("10.1.2.3"));
        assert_eq!(client_key(ip("::ffff:10.1.2.3")), ip("10.1.2.3"));
        assert_eq!(
            client_key(ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd")),
            ip("2001:db8:1:2::")
        );
        assert_eq!(
            client_key(ip("2001:db8:1:2::1")),
            client_key(ip("2001:db8:1:2::2"))
        );
        assert_ne!(
            client_key(ip("2001:db8:1:2::1")),
            client_key(ip("2001:db8:1:3::1"))
        );
    }

    #[test]
    fn only_the_expensive_routes_are_limited() {
        assert!(is_expensive("/analytics/demo/post-dynamics"));
        assert!(is_expensive("/ai/analyze"));
        for cheap in ["/health", "/channels", "/performance", "/metrics", "/docs"] {
            assert!(!is_expensive(cheap), "{cheap}");
        }
    }

    #[test]
    fn one_ipv6_network_shares_a_bucket() {
        let one = NonZeroU32::new(1).expect("1");
        let limit = RateLimit::new(one, one);
        assert!(limit.check("2001:db8::1".parse().expect("v6")).is_ok());
        assert!(limit.check("2001:db8::2".parse().expect("v6")).is_err());
        assert_eq!(limit.clients(), 1);
    }
}
