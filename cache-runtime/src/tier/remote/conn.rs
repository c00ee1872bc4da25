//! The connection to Redis (one server or a cluster), the state the tasks on the Redis
//! thread share, and how one operation runs: under the deadline, through the breaker.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::RwLock;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{Client, Cmd, Pipeline, RedisFuture, RedisResult, Value};

use super::breaker::Breaker;
use super::keys::Keys;
use super::types::Fail;

/// How long one connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

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

/// Runtime-wide figures of the remote tier (per-cache ones are in `stats::L2Counters`).
#[derive(Default)]
pub(crate) struct Totals {
    pub(crate) errors: AtomicU64,
    pub(crate) timeouts: AtomicU64,
    pub(crate) skipped: AtomicU64,
    pub(crate) ops: AtomicU64,
    pub(crate) op_nanos: AtomicU64,
    pub(crate) sent: AtomicU64,
    pub(crate) received: AtomicU64,
    pub(crate) resubscribed: AtomicU64,
    /// Values under our keys that this runtime never writes (a generation that is not an
    /// integer, a lock that is not a lock), found and reset.
    pub(crate) repaired: AtomicU64,
    /// Entries refused for their authenticity: written for another key, unsigned or with
    /// a MAC that does not verify, or not decryptable with our keys.
    pub(crate) rejected: AtomicU64,
}

/// What the tasks on the Redis thread share.
pub(crate) struct Shared {
    pub(crate) keys: Keys,
    /// This runtime's id on the backplane, so it ignores its own messages.
    pub(crate) instance: u64,
    pub(crate) deadline: Duration,
    pub(crate) target: Target,
    pub(crate) conn: RwLock<Option<Conn>>,
    pub(crate) breaker: Breaker,
    pub(crate) totals: Totals,
    /// Invalidations of this instance not yet acknowledged by Redis.
    pub(crate) fence: AtomicU64,
    /// Background operations (writes, invalidations, lock releases) not yet done.
    pub(crate) pending: AtomicU64,
    /// Notified whenever `pending` falls to zero: what `flush()` waits for.
    pub(crate) settled: event_listener::Event,
    /// Expiry of `lock = true` locks.
    pub(crate) lock_ttl: Duration,
    /// Notified when another instance announces a write: wakes callers waiting on a lock.
    pub(crate) written: event_listener::Event,
    /// Whether the backplane's subscription is up and answered its last ping (at most a
    /// second ago): what tells an idle instance that Redis went away.
    pub(crate) live: AtomicBool,
    /// Notified whenever `live` becomes true: what `ready()` waits for.
    pub(crate) became_live: event_listener::Event,
    /// How values are compressed, signed and encrypted.
    pub(crate) protection: super::seal::Protection,
    /// The Redis thread's runtime, whose timer holds every operation's deadline: a read
    /// running on a caller's runtime (which may have no timer) is timed there too.
    pub(crate) timer: tokio::runtime::Handle,
    /// Operations that did not land, until Redis answers (`recovery.rs`, `replay.rs`).
    pub(crate) recovery: super::recovery::Recovery,
    /// Wakes the replay task when the recovery queue fills.
    pub(crate) wake: tokio::sync::Notify,
}

/// One background operation in flight, from the moment it is begun (before it is spawned,
/// so a `flush()` right after sees it) until it is done or dropped.
pub(crate) struct Pending(Arc<Shared>);

impl Pending {
    pub(crate) fn begin(shared: &Arc<Shared>) -> Self {
        shared.pending.fetch_add(1, Ordering::SeqCst);
        Pending(Arc::clone(shared))
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if self.0.pending.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.settled.notify(usize::MAX);
        }
    }
}

/// Lowers the fence when an invalidation is done, or dropped; the invalidation is pending
/// as long.
pub(crate) struct Fence {
    shared: Arc<Shared>,
    _pending: Pending,
}

impl Fence {
    pub(crate) fn raise(shared: &Arc<Shared>) -> Self {
        shared.fence.fetch_add(1, Ordering::SeqCst);
        Fence {
            shared: Arc::clone(shared),
            _pending: Pending::begin(shared),
        }
    }
}

impl Drop for Fence {
    fn drop(&mut self) {
        self.shared.fence.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Shared {
    pub(crate) fn cluster(&self) -> bool {
        matches!(self.target, Target::Cluster { .. })
    }

    pub(crate) fn probe_now(&self) {
        self.breaker.probe_now();
    }

    /// Whether Redis is reachable now: connected, and the backplane answered its last ping.
    pub(crate) fn connected(&self) -> bool {
        self.conn.read().is_some() && self.live.load(Ordering::Acquire)
    }

    /// Marks the backplane as answering, waking whoever waits for readiness.
    pub(crate) fn set_live(&self, live: bool) {
        self.live.store(live, Ordering::Release);
        if live {
            self.became_live.notify(usize::MAX);
        }
    }

    /// Runs one operation under the deadline; `gated` operations respect the circuit.
    pub(crate) async fn run<T, F, Fut>(&self, gated: bool, op: F) -> Result<T, Fail>
    where
        F: FnOnce(Conn) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let conn = self.conn.read().clone();
        let Some(conn) = conn else {
            self.totals.skipped.fetch_add(1, Ordering::Relaxed);
            return Err(Fail::Skipped);
        };
        if gated && !self.breaker.admit() {
            self.totals.skipped.fetch_add(1, Ordering::Relaxed);
            return Err(Fail::Skipped);
        }
        let began = Instant::now();
        let timed = {
            let _timer = self.timer.enter();
            tokio::time::timeout(self.deadline, op(conn))
        };
        match timed.await {
            Ok(Ok(v)) => {
                self.breaker.success();
                self.totals.ops.fetch_add(1, Ordering::Relaxed);
                self.totals
                    .op_nanos
                    .fetch_add(began.elapsed().as_nanos() as u64, Ordering::Relaxed);
                Ok(v)
            }
            Ok(Err(e)) => {
                self.breaker.failure();
                self.totals.errors.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(error = %e, "redis operation failed");
                Err(Fail::Error)
            }
            Err(_) => {
                self.breaker.timeout();
                self.totals.timeouts.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(deadline = ?self.deadline, "redis operation timed out");
                Err(Fail::Timeout)
            }
        }
    }

    /// Publishes `message` on the backplane through any connected node: in a cluster
    /// `PUBLISH` reaches every node from whichever receives it, so this one is not routed to
    /// the channel's slot, whose master may be the one that is down. Used to announce an
    /// invalidation ahead of its `INCR`/`DEL` while those cannot land.
    pub(crate) async fn announce_anywhere(&self, message: Vec<u8>) -> Result<(), Fail> {
        let mut cmd = redis::cmd("PUBLISH");
        cmd.arg(self.keys.channel()).arg(message);
        self.run(false, |conn| async move {
            match conn {
                Conn::Cluster(mut c) => c
                    .route_command(cmd, RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random))
                    .await
                    .map(drop),
                Conn::Single(mut c) => cmd.query_async::<()>(&mut c).await,
            }
        })
        .await
    }

    /// Runs `pipe` (commands of one slot) and then announces `messages` on the backplane.
    /// On one server that is one pipeline; in a cluster, where a pipeline must stay in one
    /// slot, each `PUBLISH` follows as a command of its own, under the same deadline.
    pub(crate) async fn run_announced(
        &self,
        gated: bool,
        mut pipe: Pipeline,
        messages: impl IntoIterator<Item = Vec<u8>>,
    ) -> Result<(), Fail> {
        let channel = self.keys.channel();
        let cluster = self.cluster();
        let mut publish = Vec::new();
        for msg in messages {
            if cluster {
                let mut cmd = redis::cmd("PUBLISH");
                cmd.arg(&channel).arg(msg);
                publish.push(cmd);
            } else {
                pipe.cmd("PUBLISH").arg(&channel).arg(msg).ignore();
            }
        }
        self.run(gated, |mut conn| async move {
            if !pipe.is_empty() {
                pipe.query_async::<()>(&mut conn).await?;
            }
            for cmd in publish {
                cmd.query_async::<()>(&mut conn).await?;
            }
            Ok(())
        })
        .await
    }
}

pub(crate) async fn connect(shared: Arc<Shared>) {
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
                shared.became_live.notify(usize::MAX);
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
}
