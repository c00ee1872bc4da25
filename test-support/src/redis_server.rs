//! A real `redis-server` on a free loopback port, started for one test and killed when
//! dropped. Nothing is persisted (`--save "" --appendonly no`).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One server process.
pub struct RedisServer {
    port: u16,
    child: Option<Child>,
}

/// A port nobody listens on right now (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn spawn(port: u16, extra: &[String]) -> std::io::Result<Child> {
    Command::new(std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".into()))
        .args(["--port", &port.to_string()])
        .args(extra)
        .args(["--bind", "127.0.0.1"])
        .args(["--save", ""])
        .args(["--appendonly", "no"])
        .args(["--dir", &std::env::temp_dir().to_string_lossy()])
        .args(["--loglevel", "warning"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
}

fn pings(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
    if s.write_all(b"*1\r\n$4\r\nPING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 7];
    s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}

impl RedisServer {
    /// Starts a server on a free port and waits until it answers PING.
    pub fn start() -> Self {
        for _ in 0..5 {
            if let Some(server) = Self::start_on(free_port()) {
                return server;
            }
        }
        panic!("redis-server did not start (is it installed? apt-get install redis-server)");
    }

    /// Starts a server on `port`; `None` if it does not answer within 5 s.
    pub fn start_on(port: u16) -> Option<Self> {
        Self::start_with(port, &[])
    }

    /// Starts a server on `port` with extra arguments; `None` if it does not answer
    /// within 5 s.
    pub fn start_with(port: u16, extra: &[String]) -> Option<Self> {
        let child = match spawn(port, extra) {
            Ok(c) => c,
            Err(e) => panic!(
                "cannot run redis-server ({e}): install it, e.g. apt-get install redis-server"
            ),
        };
        let mut server = Self {
            port,
            child: Some(child),
        };
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            if pings(port) {
                return Some(server);
            }
            if let Some(c) = &mut server.child
                && let Ok(Some(_)) = c.try_wait()
            {
                server.child = None;
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn signal(&self, sig: &str) {
        if let Some(c) = &self.child {
            let status = Command::new("kill")
                .args([sig, &c.id().to_string()])
                .status()
                .expect("kill runs");
            assert!(status.success(), "kill {sig} failed");
        }
    }

    /// Freezes the server (SIGSTOP): connections stay open, nothing answers.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Thaws a paused server (SIGCONT).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    /// Kills the server (SIGKILL) and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts a new, empty server on the same port (after [`kill`](Self::kill)).
    pub fn restart(&mut self) {
        self.kill();
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if let Some(mut s) = Self::start_on(self.port) {
                self.child = s.child.take();
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("redis-server did not restart on port {}", self.port);
    }

    /// A plain connection for inspecting and tampering with the server.
    pub fn conn(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .and_then(|c| c.get_connection())
            .expect("connects to the test server")
    }

    /// Runs one command and returns its reply.
    pub fn cmd<T: redis::FromRedisValue>(&self, args: &[&[u8]]) -> T {
        let mut cmd = redis::cmd(std::str::from_utf8(args[0]).expect("command name"));
        for a in &args[1..] {
            cmd.arg(*a);
        }
        cmd.query(&mut self.conn()).expect("command succeeds")
    }

    /// Whether `key` holds a value: something other than nothing or the tombstone an
    /// invalidation leaves (10 bytes beginning with `0xFF`, read as no entry).
    pub fn holds_value(&self, key: &str) -> bool {
        let v: Option<Vec<u8>> = self.cmd(&[b"GET", key.as_bytes()]);
        v.is_some_and(|b| !(b.len() == 10 && b[0] == 0xFF))
    }

    /// The keys matching `pattern`.
    pub fn keys(&self, pattern: &str) -> Vec<String> {
        self.cmd(&[b"KEYS", pattern.as_bytes()])
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // SIGKILL ends a stopped (paused) process too.
        self.kill();
    }
}

/// A port `p` such that `p` and the cluster bus port `p + 10000` are both free.
pub fn free_cluster_port() -> u16 {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
        ^ std::process::id().wrapping_mul(2_654_435_761);
    for i in 0..2_000u32 {
        let port = 20_000 + ((seed.wrapping_add(i.wrapping_mul(7_919))) % 20_000) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok()
            && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok()
        {
            return port;
        }
    }
    panic!("no free port pair for a cluster node");
}

/// A Redis Cluster of three masters without replicas on loopback, created with
/// `redis-cli --cluster create`, each node killed when dropped.
pub struct RedisCluster {
    /// The three masters.
    pub nodes: Vec<RedisServer>,
    dir: std::path::PathBuf,
}

impl RedisCluster {
    /// Starts three cluster-enabled servers, joins them and waits for `cluster_state:ok`.
    pub fn start() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "cache-cluster-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let mut nodes = Vec::new();
        while nodes.len() < 3 {
            let port = free_cluster_port();
            let extra = [
                "--cluster-enabled".to_string(),
                "yes".into(),
                "--cluster-config-file".into(),
                dir.join(format!("nodes-{port}.conf"))
                    .to_string_lossy()
                    .into_owned(),
                "--cluster-node-timeout".into(),
                "1000".into(),
                "--cluster-require-full-coverage".into(),
                "no".into(),
            ];
            if let Some(node) = RedisServer::start_with(port, &extra) {
                nodes.push(node);
            }
        }
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port()))
            .collect();
        let status =
            Command::new(std::env::var("REDIS_CLI").unwrap_or_else(|_| "redis-cli".into()))
                .args(["--cluster", "create"])
                .args(&addrs)
                .args(["--cluster-replicas", "0", "--cluster-yes"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("redis-cli runs (apt-get install redis-tools)");
        assert!(status.success(), "redis-cli --cluster create failed");
        let cluster = Self { nodes, dir };
        let until = Instant::now() + Duration::from_secs(20);
        while Instant::now() < until {
            if cluster.nodes.iter().all(|n| {
                let info: String = n.cmd(&[b"CLUSTER", b"INFO"]);
                info.contains("cluster_state:ok")
            }) {
                return cluster;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the cluster did not reach cluster_state:ok");
    }

    /// `redis+cluster://host:port,host:port,host:port`.
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port()))
            .collect();
        format!("redis+cluster://{}", hosts.join(","))
    }

    /// A cluster-aware connection for inspecting the cluster.
    pub fn conn(&self) -> redis::cluster::ClusterConnection {
        let nodes: Vec<String> = self.nodes.iter().map(RedisServer::url).collect();
        redis::cluster::ClusterClient::new(nodes)
            .and_then(|c| c.get_connection())
            .expect("connects to the test cluster")
    }

    /// Whether `key` exists, asked of the node that owns its slot.
    pub fn exists(&self, key: &str) -> bool {
        redis::cmd("EXISTS")
            .arg(key)
            .query(&mut self.conn())
            .unwrap_or(false)
    }

    /// The port of the node that owns `key`'s slot.
    pub fn owner(&self, key: &str) -> u16 {
        let slot: u16 = self.nodes[0].cmd(&[b"CLUSTER", b"KEYSLOT", key.as_bytes()]);
        let slots: redis::Value = self.nodes[0].cmd(&[b"CLUSTER", b"SLOTS"]);
        let redis::Value::Array(ranges) = slots else {
            panic!("CLUSTER SLOTS: {slots:?}");
        };
        for range in ranges {
            let redis::Value::Array(r) = range else {
                continue;
            };
            let (
                Some(redis::Value::Int(lo)),
                Some(redis::Value::Int(hi)),
                Some(redis::Value::Array(master)),
            ) = (r.first(), r.get(1), r.get(2))
            else {
                continue;
            };
            if (*lo..=*hi).contains(&i64::from(slot))
                && let Some(redis::Value::Int(port)) = master.get(1)
            {
                return *port as u16;
            }
        }
        panic!("no node owns slot {slot}");
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        self.nodes.clear();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
