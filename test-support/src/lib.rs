//! Test helpers shared by the workspace's crates: `cache-runtime`'s Redis tests and
//! `example-api`'s service tests start the same real `redis-server` processes (no mocks),
//! each on a free loopback port and killed when dropped.
//!
//! A dev-dependency only (`publish = false`). Needs `redis-server` (and `redis-cli` for a
//! cluster): `apt-get install redis-server`, or `REDIS_SERVER=/path` and
//! `REDIS_CLI=/path`.

mod redis_server;

pub use redis_server::{RedisCluster, RedisServer, free_cluster_port, free_port};
