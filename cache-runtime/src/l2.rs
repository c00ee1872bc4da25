//! The remote tier (feature `redis`): one Redis shared by every instance of a service.
//!
//! # Connection and deadlines
//!
//! One redis-rs `ConnectionManager` (a multiplexed connection that reconnects by itself),
//! no pool; or, for a `redis+cluster://` URL, one cluster connection (see
//! [Redis Cluster](#redis-cluster)). All Redis I/O runs on a dedicated thread (`cache-redis`) with its own
//! single-threaded tokio runtime: the connection, its driver and its reconnections then
//! outlive whichever runtime made the first call, deadlines work even in a caller's
//! runtime built without timers, and a background write needs no runtime at all. A caller
//! awaits the task's `JoinHandle`, which costs one extra wake-up per read.
//!
//! The manager is created in the background: until Redis answers for the first time every
//! remote operation is skipped (counted as `l2_skipped`), so a runtime starts and serves
//! while Redis is down, and begins using it when it appears. Every operation runs under the
//! deadline ([`CacheRuntimeBuilder::redis_timeout`](crate::CacheRuntimeBuilder::redis_timeout),
//! default 50 ms). A read that fails or times out is a miss; a write that does is dropped.
//!
//! # Circuit breaker
//!
//! After [`FAILURE_THRESHOLD`] consecutive failures (errors or timeouts) the circuit opens
//! and reads and writes skip Redis for [`COOL_DOWN`]; then one operation goes through as a
//! probe: success closes the circuit, failure opens it for another cool-down. When the
//! backplane's subscription comes back after a disconnection, the next operation probes at
//! once instead of waiting for the cool-down.
//!
//! # Entries
//!
//! An entry is stored under its [`CacheKey`](crate::CacheKey) display form
//! (`namespace:name:vN:<hex>`, the value type's name being part of the digest) as a small
//! envelope in front of the runtime codec's bytes:
//!
//! ```text
//! u8  format (1)        u64 created-at (unix ms)   u64 ttl (ms)   u64 stale-until (unix ms)
//! u64 cache generation  u16 tag count, then per tag: u16 length, UTF-8 name, u64 generation
//! the value, MessagePack
//! ```
//!
//! Integers are little-endian. Redis expires the key after the TTL plus the stale window.
//! Anything that does not parse (foreign bytes, another format version) or does not decode
//! as the caller's value type is a counted miss (`l2_decode_failures`) and is overwritten by
//! the value computed next; decoding is bounded by [`MAX_DECODE_BYTES`].
//!
//! # Invalidation without scanning
//!
//! `invalidate` deletes the key under every version and value type this instance has
//! used for the cache. `invalidate_all` and `invalidate_tag` cannot name their keys, so
//! they bump counters in Redis instead: `INCR namespace:__gen:<cache>` and
//! `INCR namespace:__tag:<tag>`.
//!
//! Every read is one pipelined round trip: `GET key`, `GET` of the cache's generation and
//! `MGET` of the generations of the caller's tags. An envelope records the generations that
//! were current when its computation *began* (read in the same round trip before computing);
//! a hit requires them all to be current. We chose this over folding the generation into
//! the key string (cached per instance and refreshed by backplane messages) because it
//! keeps no per-instance copy that can lag: once `invalidate_all` or `invalidate_tag`
//! returns and its `INCR` has landed, no instance can read an older entry from Redis, even
//! one that missed the backplane message; a computation that raced the invalidation stamps
//! the old generation and is never served. It costs two small reads in a round trip that
//! is paid anyway, and entries of an old generation stay in Redis until they expire or
//! are overwritten under the same key by the next computation. A value is written only if
//! the generations were read before its computation began; otherwise (Redis unreachable at
//! that moment) it stays in process.
//!
//! While an invalidation of this instance is on its way to Redis, this instance does not
//! read Redis (a fence), so it never reads back what it has just invalidated.
//!
//! # Redis Cluster
//!
//! A `redis+cluster://host:port[,host:port...]` URL (seed nodes; `user:password@` before
//! the first host applies to all) connects with redis-rs's cluster client, which follows
//! the cluster's topology, redirections and failovers. No operation on one cache's keys
//! crosses slots: a cache's entries, its generation and its locks share the hash tag
//! `{namespace:cache}` (`{ns:users}:v0:<hex>`, `{ns:users}:__gen`,
//! `{ns:users}:__lock:v0:<hex>`), so each read and each write is one pipeline to one
//! node. Tags span caches, so a tag's generation (`ns:__tag:<tag>`) lives in a slot of its
//! own: a tagged read adds an `MGET` of the tags' generations, which the cluster client
//! splits by slot, sent concurrently with the pipeline. The backplane subscribes on one
//! node (a cluster's `PUBLISH` reaches every node) and moves to the next seed node when
//! that one fails; announcements follow their write or invalidation as a command of their
//! own. A cache whose slot is on a master that is down behaves as if Redis were down for
//! it: misses compute, and the circuit breaker (shared by the whole cluster) opens.
//!
//! # Single-flight across instances (`lock = true`)
//!
//! Without it, single-flight is per instance: N instances missing one key compute it up
//! to N times. With `#[cache_result(..., lock = true)]`, a caller whose read found no
//! current entry takes a lock before computing:
//! `SET namespace:__lock:<name:vN:hex> <instance-token> NX PX <lock TTL>`
//! ([`CacheRuntimeBuilder::lock_ttl`](crate::CacheRuntimeBuilder::lock_ttl), default
//! 10 s). The holder computes and writes the value and deletes the lock in the same
//! pipeline (a compare-and-delete script, so a lock that expired and was taken by another
//! instance is not deleted). A failed, panicking or cancelled computation releases the
//! lock at once; a holder that dies leaves it to expire.
//!
//! The others wait on the Redis thread: woken by the holder's write announcement on the
//! backplane, or every 50 ms, they re-read the entry (a current one is served, counted as
//! `l2.lock_waits`) and retry the lock (taken when the holder failed or its lock expired).
//! After 5 s or the lock TTL, whichever is shorter, or as soon as Redis fails, they compute
//! themselves. A caller that missed just before the holder wrote and released can still
//! take the lock and compute once more: the lock narrows duplicate computation to that
//! window, it does not make it impossible.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::{Mutex, RwLock};
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::{Client, Cmd, FromRedisValue, Pipeline, RedisFuture, RedisResult, Value};
use tokio::runtime::Handle;

use crate::backplane::{self, Subscriber};
use crate::codec::MAX_DECODE_BYTES;
use crate::stats::CircuitState;

/// The default deadline of one Redis operation.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_millis(50);
/// Consecutive failures that open the circuit.
pub(crate) const FAILURE_THRESHOLD: u32 = 5;
/// How long an open circuit skips Redis before it lets a probe through.
pub(crate) const COOL_DOWN: Duration = Duration::from_secs(2);
/// The envelope format this build writes and reads.
const FORMAT: u8 = 1;
/// Fixed part of the envelope header.
const HEADER: usize = 1 + 8 * 4 + 2;
/// How long one connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// The default expiry of a `lock = true` lock: how long a computation may hold it, and how
/// long a lock whose holder died blocks the key.
pub(crate) const DEFAULT_LOCK_TTL: Duration = Duration::from_secs(10);
/// The longest a caller waits for another instance's computation (at most the lock TTL).
pub(crate) const LOCK_WAIT: Duration = Duration::from_secs(5);
/// How often a waiting caller re-reads Redis when no write announcement wakes it first.
const LOCK_POLL: Duration = Duration::from_millis(50);
/// Releases a lock only if it is still the caller's (compare-and-delete).
const RELEASE: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";

/// Which tiers a cache uses when the runtime has a remote tier.
///
/// Set per cache with `#[cache_result("name", tier = "local")]` (`"both"`, `"local"` or
/// `"remote"`) or, overriding the attribute, with
/// [`CacheRuntimeBuilder::cache_tier`](crate::CacheRuntimeBuilder::cache_tier). Without a
/// remote tier every cache is local, whatever its setting.
///
/// ```
/// use cache_runtime::{CacheRuntime, Tier};
///
/// let rt = CacheRuntime::builder()
///     .cache_tier("rates", Tier::Local) // per-instance only
///     .cache_tier("reports", Tier::Remote) // large, rarely read: Redis only
///     .build();
/// # let _ = rt;
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Tier {
    /// In process first, then Redis (the default).
    #[default]
    Both,
    /// In process only.
    Local,
    /// Redis only: every call reads Redis, nothing is kept in process.
    Remote,
}

impl Tier {
    /// The tier of `#[cache_result(tier = ...)]`: 0 both, 1 local, 2 remote.
    pub(crate) fn from_spec(tier: u8) -> Self {
        match tier {
            1 => Tier::Local,
            2 => Tier::Remote,
            _ => Tier::Both,
        }
    }
}

/// The remote tier's settings, from the builder.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) url: String,
    pub(crate) deadline: Duration,
    pub(crate) lock_ttl: Duration,
}

/// What the remote tier connects to.
pub(crate) enum Target {
    /// One server (or a proxy in front of several).
    Single(Client),
    /// A Redis Cluster: its seed nodes, one client per node for the backplane.
    Cluster {
        client: Box<ClusterClient>,
        nodes: Vec<Client>,
    },
}

/// The URL scheme of a Redis Cluster: `redis+cluster://host:port[,host:port...]`.
const CLUSTER_SCHEME: &str = "redis+cluster://";

impl Target {
    /// Parses a `redis://` (or any URL redis-rs accepts) or `redis+cluster://` URL.
    pub(crate) fn open(url: &str) -> RedisResult<Self> {
        let Some(rest) = url.strip_prefix(CLUSTER_SCHEME) else {
            return Client::open(url).map(Target::Single);
        };
        // `user:password@` before the first host applies to every node.
        let (auth, hosts) = match rest.split_once('@') {
            Some((auth, hosts)) => (format!("{auth}@"), hosts),
            None => (String::new(), rest),
        };
        let nodes = hosts
            .trim_end_matches('/')
            .split(',')
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .map(|h| Client::open(format!("redis://{auth}{h}")))
            .collect::<RedisResult<Vec<_>>>()?;
        if nodes.is_empty() {
            return Err((
                redis::ErrorKind::InvalidClientConfig,
                "no cluster node in the URL",
            )
                .into());
        }
        let client =
            ClusterClientBuilder::new(nodes.iter().map(|c| c.get_connection_info().clone()))
                .connection_timeout(CONNECT_TIMEOUT)
                .build()?;
        Ok(Target::Cluster {
            client: Box::new(client),
            nodes,
        })
    }

    /// The client the backplane subscribes with on its `attempt`th try: in a cluster,
    /// `PUBLISH` reaches every node, so any node will do, and each try takes the next.
    pub(crate) fn pubsub(&self, attempt: u64) -> &Client {
        match self {
            Target::Single(client) => client,
            Target::Cluster { nodes, .. } => {
                &nodes[usize::try_from(attempt).unwrap_or(0) % nodes.len()]
            }
        }
    }
}

/// The connection every operation uses: a reconnecting multiplexed connection to one
/// server, or a cluster connection that routes each command to its slot's node.
#[derive(Clone)]
pub(crate) enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(cmd, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// Why an operation did not run or did not succeed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fail {
    /// Not attempted: not connected yet, circuit open, or an invalidation in flight.
    Skipped,
    /// Redis answered with an error, or the connection failed.
    Error,
    /// No answer within the deadline.
    Timeout,
}

/// Unix time in milliseconds (envelopes are compared across machines).
pub(crate) fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The generations an entry's computation began under, and where it goes.
#[derive(Clone, Debug)]
pub(crate) struct Stamp {
    pub(crate) key: String,
    generation: u64,
    tags: Vec<(String, u64)>,
}

/// The parsed envelope header of a stored entry.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Header {
    pub(crate) created_ms: u64,
    pub(crate) ttl_ms: u64,
    pub(crate) stale_until_ms: u64,
    generation: u64,
    tags: Vec<(String, u64)>,
    body_at: usize,
}

/// Why an envelope was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Corrupt {
    Short,
    Version(u8),
    TooLarge,
    Tag,
}

fn u64_at(b: &[u8], at: usize) -> Result<u64, Corrupt> {
    let bytes = b.get(at..at + 8).ok_or(Corrupt::Short)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(bytes);
    Ok(u64::from_le_bytes(a))
}

fn u16_at(b: &[u8], at: usize) -> Result<u16, Corrupt> {
    let bytes = b.get(at..at + 2).ok_or(Corrupt::Short)?;
    Ok(u16::from_le_bytes([bytes[0], bytes[1]]))
}

impl Header {
    /// Parses the header of `bytes`; never panics, whatever the bytes.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, Corrupt> {
        if bytes.len() > MAX_DECODE_BYTES + (1 << 20) {
            return Err(Corrupt::TooLarge);
        }
        let format = *bytes.first().ok_or(Corrupt::Short)?;
        if format != FORMAT {
            return Err(Corrupt::Version(format));
        }
        let created_ms = u64_at(bytes, 1)?;
        let ttl_ms = u64_at(bytes, 9)?;
        let stale_until_ms = u64_at(bytes, 17)?;
        let generation = u64_at(bytes, 25)?;
        let count = u16_at(bytes, 33)?;
        let mut at = HEADER;
        let mut tags = Vec::with_capacity(usize::from(count).min(64));
        for _ in 0..count {
            let len = usize::from(u16_at(bytes, at)?);
            at += 2;
            let name = bytes.get(at..at + len).ok_or(Corrupt::Short)?;
            let name = std::str::from_utf8(name).map_err(|_| Corrupt::Tag)?;
            at += len;
            tags.push((name.to_owned(), u64_at(bytes, at)?));
            at += 8;
        }
        Ok(Self {
            created_ms,
            ttl_ms,
            stale_until_ms,
            generation,
            tags,
            body_at: at,
        })
    }

    /// Whether the entry is fresh at `now_ms`.
    pub(crate) fn fresh_at(&self, now_ms: u64) -> bool {
        now_ms < self.created_ms.saturating_add(self.ttl_ms)
    }
}

/// Builds an envelope: header, then the encoded value.
pub(crate) fn envelope(
    stamp: &Stamp,
    created_ms: u64,
    ttl: Duration,
    stale: Duration,
    body: &[u8],
) -> Vec<u8> {
    let ttl_ms = ttl.as_millis() as u64;
    let stale_until = created_ms
        .saturating_add(ttl_ms)
        .saturating_add(stale.as_millis() as u64);
    let tags: Vec<_> = stamp
        .tags
        .iter()
        .filter(|(t, _)| t.len() <= usize::from(u16::MAX))
        .take(usize::from(u16::MAX))
        .collect();
    let tag_bytes: usize = tags.iter().map(|(t, _)| 2 + t.len() + 8).sum();
    let mut out = Vec::with_capacity(HEADER + tag_bytes + body.len());
    out.push(FORMAT);
    for v in [created_ms, ttl_ms, stale_until, stamp.generation] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&(tags.len() as u16).to_le_bytes());
    for (t, g) in tags {
        out.extend_from_slice(&(t.len() as u16).to_le_bytes());
        out.extend_from_slice(t.as_bytes());
        out.extend_from_slice(&g.to_le_bytes());
    }
    out.extend_from_slice(body);
    out
}

/// An entry read from Redis whose generations are current and whose TTL has not run out.
#[derive(Debug)]
pub(crate) struct Fetched {
    bytes: Vec<u8>,
    pub(crate) header: Header,
}

impl Fetched {
    /// The encoded value.
    pub(crate) fn body(&self) -> &[u8] {
        self.bytes.get(self.header.body_at..).unwrap_or_default()
    }
}

/// What a read found under the key.
#[derive(Debug)]
pub(crate) enum Found {
    /// No key (or the value was not asked for).
    Nothing,
    /// An entry that was invalidated (older generation) or has expired.
    Outdated,
    /// Bytes that are not an envelope of this format.
    Corrupt(Corrupt),
    /// A usable entry.
    Entry(Fetched),
}

/// The result of a read.
#[derive(Debug)]
pub(crate) enum Read {
    Failed(Fail),
    Done { stamp: Stamp, found: Found },
}

#[derive(Debug, Clone, Copy)]
enum Phase {
    Closed,
    Open { until: Instant },
    HalfOpen,
}

/// Consecutive failures open the circuit; see the module docs.
struct Breaker {
    state: Mutex<(Phase, u32)>,
}

impl Breaker {
    fn admit(&self) -> bool {
        let mut s = self.state.lock();
        match s.0 {
            Phase::Closed => true,
            Phase::HalfOpen => false,
            Phase::Open { until } => {
                if Instant::now() >= until {
                    s.0 = Phase::HalfOpen;
                    true
                } else {
                    false
                }
            }
        }
    }

    fn success(&self) {
        let mut s = self.state.lock();
        if !matches!(s.0, Phase::Closed) {
            tracing::info!("redis answers again: circuit closed");
        }
        *s = (Phase::Closed, 0);
    }

    fn failure(&self) {
        let mut s = self.state.lock();
        s.1 = s.1.saturating_add(1);
        let open = match s.0 {
            Phase::Closed => s.1 >= FAILURE_THRESHOLD,
            Phase::HalfOpen => true,
            Phase::Open { .. } => false,
        };
        if open {
            tracing::warn!(failures = s.1, cool_down = ?COOL_DOWN, "redis failing: circuit open");
            s.0 = Phase::Open {
                until: Instant::now() + COOL_DOWN,
            };
        }
    }

    /// Lets the next operation probe at once.
    fn probe_now(&self) {
        let mut s = self.state.lock();
        if let Phase::Open { .. } = s.0 {
            s.0 = Phase::Open {
                until: Instant::now(),
            };
        }
    }

    fn state(&self) -> CircuitState {
        match self.state.lock().0 {
            Phase::Closed => CircuitState::Closed,
            Phase::Open { .. } => CircuitState::Open,
            Phase::HalfOpen => CircuitState::HalfOpen,
        }
    }
}

/// Runtime-wide figures of the remote tier.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) errors: AtomicU64,
    pub(crate) timeouts: AtomicU64,
    pub(crate) skipped: AtomicU64,
    pub(crate) ops: AtomicU64,
    pub(crate) op_nanos: AtomicU64,
    pub(crate) sent: AtomicU64,
    pub(crate) received: AtomicU64,
    pub(crate) resubscribed: AtomicU64,
}

/// What the tasks on the Redis thread share.
pub(crate) struct Shared {
    pub(crate) namespace: String,
    /// This runtime's id on the backplane, so it ignores its own messages.
    pub(crate) instance: u64,
    pub(crate) deadline: Duration,
    pub(crate) target: Target,
    conn: RwLock<Option<Conn>>,
    breaker: Breaker,
    pub(crate) counters: Counters,
    /// Invalidations of this instance not yet acknowledged by Redis.
    fence: AtomicU64,
    /// Expiry of `lock = true` locks.
    lock_ttl: Duration,
    /// Notified when another instance announces a write: wakes callers waiting on a lock.
    pub(crate) written: event_listener::Event,
    /// Whether the backplane's subscription is up and answered its last ping (at most a
    /// second ago): what tells an idle instance that Redis went away.
    pub(crate) live: std::sync::atomic::AtomicBool,
}

/// Lowers the fence when an invalidation is done, or dropped.
struct Fence(Arc<Shared>);

impl Drop for Fence {
    fn drop(&mut self) {
        self.0.fence.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Shared {
    fn cluster(&self) -> bool {
        matches!(self.target, Target::Cluster { .. })
    }

    /// The hash tag that keeps a cache's keys in one cluster slot: `{namespace:cache}`.
    fn slot_tag(&self, cache: &str) -> String {
        format!("{{{}:{cache}}}", self.namespace)
    }

    /// The Redis key of an entry of `cache` whose [`CacheKey`](crate::CacheKey) displays
    /// as `display` (`namespace:cache:vN:<hex>`): that, or in a cluster
    /// `{namespace:cache}:vN:<hex>`.
    pub(crate) fn entry_key(&self, cache: &str, display: String) -> String {
        if !self.cluster() {
            return display;
        }
        let prefix = format!("{}:{cache}", self.namespace);
        match display.strip_prefix(prefix.as_str()) {
            Some(rest) => format!("{}{rest}", self.slot_tag(cache)),
            None => display,
        }
    }

    /// The Redis key of a cache's generation: `namespace:__gen:<cache>`, or in a cluster
    /// `{namespace:cache}:__gen`, in the slot of the cache's entries.
    pub(crate) fn generation_key(&self, cache: &str) -> String {
        if self.cluster() {
            format!("{}:__gen", self.slot_tag(cache))
        } else {
            format!("{}:__gen:{cache}", self.namespace)
        }
    }

    /// The Redis key of a tag's generation.
    pub(crate) fn tag_key(&self, tag: &str) -> String {
        format!("{}:__tag:{tag}", self.namespace)
    }

    /// The Redis key of the `lock = true` lock of an entry key of `cache`:
    /// `namespace:__lock:<cache:vN:hex>`, or in a cluster `{namespace:cache}:__lock:vN:<hex>`.
    pub(crate) fn lock_key(&self, cache: &str, entry: &str) -> String {
        if self.cluster() {
            let tag = self.slot_tag(cache);
            let rest = entry.strip_prefix(tag.as_str()).unwrap_or(entry);
            return format!("{tag}:__lock{rest}");
        }
        let rest = entry
            .strip_prefix(self.namespace.as_str())
            .and_then(|r| r.strip_prefix(':'))
            .unwrap_or(entry);
        format!("{}:__lock:{rest}", self.namespace)
    }

    /// The backplane channel of the namespace.
    pub(crate) fn channel(&self) -> String {
        format!("{}:__bus", self.namespace)
    }

    pub(crate) fn probe_now(&self) {
        self.breaker.probe_now();
    }

    /// Runs one operation under the deadline; `gated` operations respect the circuit.
    async fn run<T, F, Fut>(&self, gated: bool, op: F) -> Result<T, Fail>
    where
        F: FnOnce(Conn) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let conn = self.conn.read().clone();
        let Some(conn) = conn else {
            self.counters.skipped.fetch_add(1, Ordering::Relaxed);
            return Err(Fail::Skipped);
        };
        if gated && !self.breaker.admit() {
            self.counters.skipped.fetch_add(1, Ordering::Relaxed);
            return Err(Fail::Skipped);
        }
        let began = Instant::now();
        match tokio::time::timeout(self.deadline, op(conn)).await {
            Ok(Ok(v)) => {
                self.breaker.success();
                self.counters.ops.fetch_add(1, Ordering::Relaxed);
                self.counters
                    .op_nanos
                    .fetch_add(began.elapsed().as_nanos() as u64, Ordering::Relaxed);
                Ok(v)
            }
            Ok(Err(e)) => {
                self.breaker.failure();
                self.counters.errors.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(error = %e, "redis operation failed");
                Err(Fail::Error)
            }
            Err(_) => {
                self.breaker.failure();
                self.counters.timeouts.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(deadline = ?self.deadline, "redis operation timed out");
                Err(Fail::Timeout)
            }
        }
    }

    /// Runs `pipe` (commands of one slot) and then announces `message` on the backplane.
    /// On one server that is one pipeline; in a cluster, where a pipeline must stay in one
    /// slot, `PUBLISH` follows as a command of its own, under the same deadline.
    async fn run_announced(
        &self,
        gated: bool,
        mut pipe: Pipeline,
        message: Option<Vec<u8>>,
    ) -> Result<(), Fail> {
        let channel = self.channel();
        let cluster = self.cluster();
        let mut publish = None;
        if let Some(msg) = message {
            if cluster {
                let mut cmd = redis::cmd("PUBLISH");
                cmd.arg(&channel).arg(msg);
                publish = Some(cmd);
            } else {
                pipe.cmd("PUBLISH").arg(&channel).arg(msg).ignore();
            }
        }
        self.run(gated, |mut conn| async move {
            if !pipe.is_empty() {
                pipe.query_async::<()>(&mut conn).await?;
            }
            if let Some(cmd) = publish {
                cmd.query_async::<()>(&mut conn).await?;
            }
            Ok(())
        })
        .await
    }

    /// GET key (when `value`), GET the cache generation, MGET the tag generations.
    async fn read(
        self: Arc<Self>,
        key: String,
        cache: String,
        tags: Vec<String>,
        value: bool,
    ) -> Read {
        if self.fence.load(Ordering::SeqCst) > 0 {
            self.counters.skipped.fetch_add(1, Ordering::Relaxed);
            return Read::Failed(Fail::Skipped);
        }
        let generation_key = self.generation_key(&cache);
        let tag_keys: Vec<String> = tags.iter().map(|t| self.tag_key(t)).collect();
        let cluster = self.cluster();
        let replies = self
            .run(true, |mut conn| {
                let mut pipe = redis::pipe();
                if value {
                    pipe.cmd("GET").arg(&key);
                }
                pipe.cmd("GET").arg(&generation_key);
                // In a cluster a pipeline stays in one slot (the entry's and the cache
                // generation's, by their hash tag); the tags' generations live in slots of
                // their own and are one MGET that the cluster client splits by slot.
                let mut tags_read = None;
                if !tag_keys.is_empty() {
                    if cluster {
                        let mut mget = redis::cmd("MGET");
                        mget.arg(&tag_keys);
                        tags_read = Some((mget, conn.clone()));
                    } else {
                        pipe.cmd("MGET").arg(&tag_keys);
                    }
                }
                async move {
                    let main = pipe.query_async::<Vec<Value>>(&mut conn);
                    let Some((mget, mut other)) = tags_read else {
                        return main.await;
                    };
                    let tags = async move { mget.query_async::<Value>(&mut other).await };
                    let (mut replies, tags) = futures_util::future::try_join(main, tags).await?;
                    replies.push(tags);
                    Ok(replies)
                }
            })
            .await;
        let replies = match replies {
            Ok(r) => r,
            Err(f) => return Read::Failed(f),
        };
        let Some(parsed) = parse_read(replies, value, tags.len()) else {
            self.counters.errors.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(cache, "unexpected reply to a cache read: treated as a miss");
            return Read::Failed(Fail::Error);
        };
        let (bytes, generation, tag_generations) = parsed;
        let stamp = Stamp {
            key,
            generation,
            tags: tags.into_iter().zip(tag_generations).collect(),
        };
        let found = match bytes {
            None => Found::Nothing,
            Some(bytes) => match self.check(&stamp, bytes).await {
                Ok(found) => found,
                Err(f) => return Read::Failed(f),
            },
        };
        Read::Done { stamp, found }
    }

    /// `SET lock token NX PX ttl`: whether this caller now holds the lock.
    async fn try_lock(&self, lock: &str, token: &str) -> Result<bool, Fail> {
        let px = self.lock_ttl.as_millis().clamp(1, u128::from(u64::MAX)) as u64;
        self.run(true, |mut conn| {
            let mut cmd = redis::cmd("SET");
            cmd.arg(lock).arg(token).arg("NX").arg("PX").arg(px);
            async move { cmd.query_async::<Option<String>>(&mut conn).await }
        })
        .await
        .map(|reply| reply.is_some())
    }

    /// Takes the lock of `key`, or waits for its holder's value; see [`L2::lock`].
    async fn lock(self: Arc<Self>, key: String, cache: String, tags: Vec<String>) -> Locked {
        let lock = self.lock_key(&cache, &key);
        let token = format!("{:016x}-{:016x}", self.instance, fastrand::u64(..));
        let until = Instant::now() + LOCK_WAIT.min(self.lock_ttl);
        loop {
            // Listen before asking, so that a write announced meanwhile is not missed.
            let announced = self.written.listen();
            match self.try_lock(&lock, &token).await {
                Ok(true) => {
                    return Locked::Held(LockGuard {
                        shared: Some(Arc::clone(&self)),
                        handle: Handle::current(),
                        key: lock,
                        token,
                    });
                }
                Ok(false) => {}
                Err(_) => return Locked::Unlocked,
            }
            let now = Instant::now();
            if now >= until {
                tracing::debug!(cache, "gave up waiting for another instance's computation");
                return Locked::Unlocked;
            }
            tokio::select! {
                _ = announced => {}
                _ = tokio::time::sleep(LOCK_POLL.min(until - now)) => {}
            }
            let read = Arc::clone(&self)
                .read(key.clone(), cache.clone(), tags.clone(), true)
                .await;
            match read {
                Read::Done {
                    found: Found::Entry(_),
                    ..
                } => return Locked::Filled(read),
                Read::Done { .. } => {}
                Read::Failed(_) => return Locked::Unlocked,
            }
        }
    }

    /// Deletes a lock if it is still `token`'s.
    async fn release(&self, lock: String, token: String) {
        let r = self
            .run(false, |mut conn| {
                let mut cmd = redis::cmd("EVAL");
                cmd.arg(RELEASE).arg(1).arg(lock).arg(token);
                async move { cmd.query_async::<i64>(&mut conn).await }
            })
            .await;
        if let Err(f) = r {
            tracing::debug!(failure = ?f, "lock not released: it expires by itself");
        }
    }

    /// Checks an entry's envelope against the current generations and its TTL.
    async fn check(&self, stamp: &Stamp, bytes: Vec<u8>) -> Result<Found, Fail> {
        let header = match Header::parse(&bytes) {
            Ok(h) => h,
            Err(c) => return Ok(Found::Corrupt(c)),
        };
        if header.generation != stamp.generation {
            return Ok(Found::Outdated);
        }
        // Tags the caller did not name (another instance's tags for this key): one more read.
        let mut unknown = Vec::new();
        for (tag, generation) in &header.tags {
            match stamp.tags.iter().find(|(t, _)| t == tag) {
                Some((_, current)) if current != generation => return Ok(Found::Outdated),
                Some(_) => {}
                None => unknown.push((self.tag_key(tag), *generation)),
            }
        }
        if !unknown.is_empty() {
            let keys: Vec<&String> = unknown.iter().map(|(k, _)| k).collect();
            let current = self
                .run(true, |mut conn| {
                    let mut cmd = redis::cmd("MGET");
                    cmd.arg(&keys);
                    async move { cmd.query_async::<Vec<Option<u64>>>(&mut conn).await }
                })
                .await?;
            let matches = current.len() == unknown.len()
                && current
                    .iter()
                    .zip(&unknown)
                    .all(|(c, (_, g))| c.unwrap_or(0) == *g);
            if !matches {
                return Ok(Found::Outdated);
            }
        }
        if !header.fresh_at(unix_ms()) {
            return Ok(Found::Outdated);
        }
        Ok(Found::Entry(Fetched { bytes, header }))
    }
}

type ParsedRead = (Option<Vec<u8>>, u64, Vec<u64>);

fn parse_read(replies: Vec<Value>, value: bool, tags: usize) -> Option<ParsedRead> {
    let mut it = replies.into_iter();
    let bytes = if value {
        Option::<Vec<u8>>::from_redis_value(it.next()?).ok()?
    } else {
        None
    };
    let generation = Option::<u64>::from_redis_value(it.next()?)
        .ok()?
        .unwrap_or(0);
    let tag_generations = if tags > 0 {
        let v = Vec::<Option<u64>>::from_redis_value(it.next()?).ok()?;
        if v.len() != tags {
            return None;
        }
        v.into_iter().map(|g| g.unwrap_or(0)).collect()
    } else {
        Vec::new()
    };
    Some((bytes, generation, tag_generations))
}

/// What [`L2::lock`] ended with.
pub(crate) enum Locked {
    /// This caller holds the lock: compute, write, release (dropping the guard releases).
    Held(LockGuard),
    /// Another instance's computation wrote the value while this caller waited: the read
    /// that found it.
    Filled(Read),
    /// Redis failed, or the wait ran out: compute without the lock.
    Unlocked,
}

/// A held `lock = true` lock. Dropping it releases the lock in the background; a write
/// releases it in the same pipeline as the value ([`L2::write`]).
pub(crate) struct LockGuard {
    shared: Option<Arc<Shared>>,
    handle: Handle,
    key: String,
    token: String,
}

impl LockGuard {
    /// The lock key and token, for a release in the write's pipeline.
    fn disarm(mut self) -> (String, String) {
        self.shared = None;
        (
            std::mem::take(&mut self.key),
            std::mem::take(&mut self.token),
        )
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.take() {
            let (key, token) = (
                std::mem::take(&mut self.key),
                std::mem::take(&mut self.token),
            );
            self.handle
                .spawn(async move { shared.release(key, token).await });
        }
    }
}

/// The remote tier of one runtime: the Redis thread and what its tasks share. Dropping it
/// stops the thread.
pub(crate) struct L2 {
    shared: Arc<Shared>,
    handle: Handle,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl L2 {
    /// Starts the Redis thread, the connection and the backplane; `None` (logged) when the
    /// URL is invalid or the thread cannot start, and the runtime is then local only.
    pub(crate) fn start(
        config: &Config,
        namespace: &str,
        subscriber: std::sync::Weak<dyn Subscriber>,
    ) -> Option<Self> {
        let target = match Target::open(config.url.as_str()) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %e, "invalid redis url: the remote tier is off");
                return None;
            }
        };
        let rt = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                tracing::error!(error = %e, "could not build the redis runtime: the remote tier is off");
                return None;
            }
        };
        let handle = rt.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("cache-redis".into())
            .spawn(move || {
                rt.block_on(async move {
                    let _ = stopped.await;
                });
                rt.shutdown_background();
            });
        if let Err(e) = thread {
            tracing::error!(error = %e, "could not start the redis thread: the remote tier is off");
            return None;
        }
        let shared = Arc::new(Shared {
            namespace: namespace.to_owned(),
            instance: fastrand::u64(..),
            deadline: config.deadline,
            target,
            conn: RwLock::new(None),
            breaker: Breaker {
                state: Mutex::new((Phase::Closed, 0)),
            },
            counters: Counters::default(),
            fence: AtomicU64::new(0),
            lock_ttl: config.lock_ttl.max(Duration::from_millis(1)),
            written: event_listener::Event::new(),
            live: std::sync::atomic::AtomicBool::new(false),
        });
        handle.spawn(connect(Arc::clone(&shared)));
        handle.spawn(backplane::listen(Arc::clone(&shared), subscriber));
        Some(Self {
            shared,
            handle,
            _stop: stop,
        })
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Reads `key` (or, with `value` false, only the generations) on the Redis thread.
    pub(crate) async fn read(
        &self,
        key: String,
        cache: &str,
        tags: &[String],
        value: bool,
    ) -> Read {
        let task = Arc::clone(&self.shared).read(key, cache.to_owned(), tags.to_vec(), value);
        self.handle
            .spawn(task)
            .await
            .unwrap_or(Read::Failed(Fail::Error))
    }

    /// Takes the `lock = true` lock of entry `key` (`SET NX PX`), or, while another
    /// instance holds it, waits for that instance's value: woken by its write announcement
    /// or re-reading every [`LOCK_POLL`], retrying the lock each time (a holder that died
    /// leaves it to expire), for at most [`LOCK_WAIT`] or the lock TTL, whichever is
    /// shorter.
    pub(crate) async fn lock(&self, key: String, cache: &str, tags: &[String]) -> Locked {
        let task = Arc::clone(&self.shared).lock(key, cache.to_owned(), tags.to_vec());
        self.handle.spawn(task).await.unwrap_or(Locked::Unlocked)
    }

    /// Writes an entry and announces it, in the background, releasing `lock` in the same
    /// pipeline after the value is set; `done` learns the result.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn write(
        &self,
        stamp: Stamp,
        ttl: Duration,
        stale: Duration,
        body: Vec<u8>,
        announce: Vec<u8>,
        lock: Option<LockGuard>,
        done: impl FnOnce(Result<(), Fail>) + Send + 'static,
    ) {
        let shared = Arc::clone(&self.shared);
        let created = unix_ms();
        let lock = lock.map(LockGuard::disarm);
        self.handle.spawn(async move {
            let bytes = envelope(&stamp, created, ttl, stale, &body);
            drop(body);
            let px = ttl
                .saturating_add(stale)
                .as_millis()
                .clamp(1, u128::from(u64::MAX)) as u64;
            let mut pipe = redis::pipe();
            pipe.cmd("SET")
                .arg(&stamp.key)
                .arg(bytes)
                .arg("PX")
                .arg(px)
                .ignore();
            if let Some((key, token)) = &lock {
                pipe.cmd("EVAL")
                    .arg(RELEASE)
                    .arg(1)
                    .arg(key)
                    .arg(token)
                    .ignore();
            }
            let r = shared.run_announced(true, pipe, Some(announce)).await;
            if r.is_ok() {
                shared.counters.sent.fetch_add(1, Ordering::Relaxed);
            }
            done(r);
        });
    }

    /// Deletes `keys` and (with a message) announces it, in the background. Reads of this
    /// instance skip Redis until it is done.
    pub(crate) fn delete(&self, keys: Vec<String>, announce: Option<Vec<u8>>) {
        self.invalidation(
            move |pipe| {
                if !keys.is_empty() {
                    pipe.cmd("DEL").arg(keys).ignore();
                }
            },
            announce,
        );
    }

    /// Increments a generation counter and announces it, in the background.
    pub(crate) fn bump(&self, counter: String, announce: Vec<u8>) {
        self.invalidation(
            move |pipe| {
                pipe.cmd("INCR").arg(counter).ignore();
            },
            Some(announce),
        );
    }

    fn invalidation(
        &self,
        build: impl FnOnce(&mut redis::Pipeline) + Send + 'static,
        announce: Option<Vec<u8>>,
    ) {
        let shared = Arc::clone(&self.shared);
        shared.fence.fetch_add(1, Ordering::SeqCst);
        let fence = Fence(Arc::clone(&shared));
        self.handle.spawn(async move {
            let _fence = fence;
            let mut pipe = redis::pipe();
            build(&mut pipe);
            let sends = announce.is_some();
            if pipe.is_empty() && !sends {
                return;
            }
            // Invalidations ignore the circuit: they are rare, in the background, and worth
            // a try whenever Redis might be back.
            let r = shared.run_announced(false, pipe, announce).await;
            match r {
                Ok(()) if sends => {
                    shared.counters.sent.fetch_add(1, Ordering::Relaxed);
                }
                Ok(()) => {}
                Err(f) => {
                    tracing::warn!(failure = ?f, "invalidation did not reach redis: its copy stays until it expires");
                }
            }
        });
    }

    /// Whether Redis is reachable now: the connection has been established and the
    /// backplane's subscription answered its last ping (sent every second).
    pub(crate) fn connected(&self) -> bool {
        self.shared.conn.read().is_some() && self.shared.live.load(Ordering::Acquire)
    }

    pub(crate) fn circuit(&self) -> CircuitState {
        self.shared.breaker.state()
    }
}

/// Establishes the connection manager, retrying until Redis answers.
async fn connect(shared: Arc<Shared>) {
    let mut backoff = Duration::from_millis(50);
    let mut logged = false;
    loop {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(None)
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(500));
        let attempt = async {
            match &shared.target {
                Target::Single(client) => {
                    ConnectionManager::new_with_config(client.clone(), config)
                        .await
                        .map(Conn::Single)
                }
                Target::Cluster { client, .. } => {
                    client.get_async_connection().await.map(Conn::Cluster)
                }
            }
        };
        match tokio::time::timeout(CONNECT_TIMEOUT * 3, attempt).await {
            Ok(Ok(conn)) => {
                *shared.conn.write() = Some(conn);
                tracing::info!("connected to redis");
                return;
            }
            Ok(Err(e)) if !logged => {
                tracing::warn!(error = %e, "redis unreachable: serving from the in-process tier until it answers");
                logged = true;
            }
            _ => {}
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(tags: &[(&str, u64)]) -> Stamp {
        Stamp {
            key: "k".into(),
            generation: 3,
            tags: tags.iter().map(|(t, g)| ((*t).to_owned(), *g)).collect(),
        }
    }

    #[test]
    fn envelope_round_trips() {
        let s = stamp(&[("channel:1", 4), ("", 0)]);
        let bytes = envelope(
            &s,
            1000,
            Duration::from_secs(2),
            Duration::from_secs(3),
            b"body",
        );
        let h = Header::parse(&bytes).expect("parses");
        assert_eq!(
            (h.created_ms, h.ttl_ms, h.stale_until_ms, h.generation),
            (1000, 2000, 6000, 3)
        );
        assert_eq!(h.tags, s.tags);
        assert_eq!(&bytes[h.body_at..], b"body");
        assert!(h.fresh_at(2999) && !h.fresh_at(3000));
    }

    #[test]
    fn foreign_bytes_never_panic() {
        let good = envelope(
            &stamp(&[("a", 1), ("bb", 2)]),
            5,
            Duration::from_millis(7),
            Duration::ZERO,
            b"xyz",
        );
        for cut in 0..good.len() {
            let _ = Header::parse(&good[..cut]);
        }
        let mut rng = fastrand::Rng::with_seed(11);
        for _ in 0..5000 {
            let mut bad = good.clone();
            let i = rng.usize(..bad.len());
            bad[i] = rng.u8(..);
            if let Ok(h) = Header::parse(&bad) {
                assert!(h.body_at <= bad.len());
            }
        }
        assert_eq!(Header::parse(b""), Err(Corrupt::Short));
        let mut other = good.clone();
        other[0] = 2;
        assert_eq!(Header::parse(&other), Err(Corrupt::Version(2)));
        assert_eq!(
            Header::parse(b"not an envelope"),
            Err(Corrupt::Version(b'n'))
        );
    }

    #[test]
    fn cluster_urls_name_every_seed_node() {
        let Ok(Target::Cluster { nodes, .. }) =
            Target::open("redis+cluster://user:secret@10.0.0.1:7000, 10.0.0.2:7001/")
        else {
            panic!("a cluster URL opens a cluster client");
        };
        let addrs: Vec<String> = nodes
            .iter()
            .map(|c| c.get_connection_info().addr().to_string())
            .collect();
        assert_eq!(addrs, ["10.0.0.1:7000", "10.0.0.2:7001"]);
        assert!(
            nodes
                .iter()
                .all(|c| c.get_connection_info().redis_settings().password() == Some("secret"))
        );
        assert!(Target::open("redis+cluster://").is_err());
        assert!(matches!(
            Target::open("redis://127.0.0.1:6379"),
            Ok(Target::Single(_))
        ));
    }

    #[test]
    fn breaker_opens_after_repeated_failures_and_probes_once() {
        let b = Breaker {
            state: Mutex::new((Phase::Closed, 0)),
        };
        for _ in 0..FAILURE_THRESHOLD - 1 {
            assert!(b.admit());
            b.failure();
        }
        assert_eq!(b.state(), CircuitState::Closed);
        b.failure();
        assert_eq!(b.state(), CircuitState::Open);
        assert!(!b.admit());
        b.probe_now();
        assert!(b.admit(), "one probe");
        assert!(!b.admit(), "only one");
        assert_eq!(b.state(), CircuitState::HalfOpen);
        b.failure();
        assert_eq!(b.state(), CircuitState::Open);
        b.probe_now();
        assert!(b.admit());
        b.success();
        assert_eq!(b.state(), CircuitState::Closed);
        assert!(b.admit());
    }
}
