//! Test helpers shared by the workspace's crates: `cache-runtime`'s Redis tests and
//! `example-api`'s service tests start the same real `redis-server` processes (no mocks),
//! each on a free loopback port and killed when dropped; the disk tier's tests of both
//! list the files under a cache directory ([`files`]) to damage them.
//!
//! A dev-dependency only (`publish = false`). Needs `redis-server` (and `redis-cli` for a
//! cluster): `apt-get install redis-server`, or `REDIS_SERVER=/path` and
//! `REDIS_CLI=/path`.

mod redis_server;

pub use redis_server::{RedisCluster, RedisServer, free_cluster_port, free_port};

/// Every file below `dir`, at any depth.
///
/// # Panics
///
/// When a directory cannot be read.
///
/// ```
/// let dir = std::env::temp_dir().join(format!("test-support-files-{}", std::process::id()));
/// std::fs::create_dir_all(dir.join("a")).unwrap();
/// std::fs::write(dir.join("a/b"), b"x").unwrap();
/// assert_eq!(test_support::files(&dir), vec![dir.join("a/b")]);
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
#[must_use]
pub fn files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)
        .expect("a readable directory")
        .flatten()
    {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out
}
