//! The processes of the fleet: six `redis-server` cluster nodes and the example-api
//! instances. Every process is owned by a [`Proc`], which kills it by its pid when
//! dropped, so an error, a panic or Ctrl-C leaves nothing running.

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A failure of the fleet, with what was being done.
pub(crate) type Error = String;

/// One child process, killed (SIGKILL, by pid) and reaped when dropped.
#[derive(Debug)]
pub(crate) struct Proc {
    name: String,
    child: Child,
}

impl Proc {
    /// Starts `program` with `args`, its output appended to `log`.
    fn spawn(name: &str, program: &Path, args: &[String], log: &Path) -> Result<Self, Error> {
        let out = File::options()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|e| format!("{name}: log file {}: {e}", log.display()))?;
        let err = out
            .try_clone()
            .map_err(|e| format!("{name}: log file: {e}"))?;
        let child = Command::new(program)
            .args(args)
            .env("RUST_LOG", "warn")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("{name}: cannot run {}: {e}", program.display()))?;
        eprintln!("chaos: started pid {} ({name})", child.id());
        Ok(Self {
            name: name.to_owned(),
            child,
        })
    }

    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (`STOP`, `CONT`, `TERM`, ...) through `kill(1)`.
    pub(crate) fn signal(&self, signal: &str) -> Result<(), Error> {
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.pid().to_string()])
            .status()
            .map_err(|e| format!("kill -{signal} {}: {e}", self.name))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!(
                "kill -{signal} {} ({}) failed",
                self.name,
                self.pid()
            ))
        }
    }

    /// Whether the process has exited.
    fn exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // A stopped process still dies of SIGKILL.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port `p` with `p + 10000` (the cluster bus) free as well.
pub(crate) fn free_port_pair() -> Result<u16, Error> {
    for _ in 0..200 {
        let port = free_port()?;
        if port < 55_000
            && TcpListener::bind(("127.0.0.1", port)).is_ok()
            && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok()
        {
            return Ok(port);
        }
    }
    Err("no free port pair for a cluster node".into())
}

/// A free loopback port.
pub(crate) fn free_port() -> Result<u16, Error> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

/// Runs `redis-cli -p PORT ARGS` and returns its output.
pub(crate) fn redis_cli(port: u16, args: &[&str]) -> Result<String, Error> {
    let port = port.to_string();
    cli(&[&["-h", "127.0.0.1", "-p", &port], args].concat())
}

/// Runs `redis-cli ARGS`; its output, or an error with what it printed.
fn cli(args: &[&str]) -> Result<String, Error> {
    let out = Command::new("redis-cli")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("redis-cli (apt-get install redis-tools): {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "redis-cli {}: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// One cluster node: its port, its arguments (to restart it with the same identity,
/// kept in its `nodes-PORT.conf`) and its process while it runs.
#[derive(Debug)]
pub(crate) struct Node {
    /// The client port.
    pub(crate) port: u16,
    args: Vec<String>,
    log: PathBuf,
    proc: Option<Proc>,
}

impl Node {
    fn new(port: u16, dir: &Path, node_timeout: Duration) -> Self {
        let args = [
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            &format!("nodes-{port}.conf"),
            "--cluster-node-timeout",
            &node_timeout.as_millis().to_string(),
            "--cluster-require-full-coverage",
            "no",
            // A replica of a master that just died may always take over.
            "--cluster-replica-validity-factor",
            "0",
            "--save",
            "",
            // Written only by an explicit `SAVE` (the Redis outage restarts every node
            // with its data).
            "--dbfilename",
            &format!("dump-{port}.rdb"),
            "--appendonly",
            "no",
            "--dir",
            &dir.to_string_lossy(),
            "--loglevel",
            "warning",
        ]
        .map(String::from)
        .to_vec();
        Self {
            port,
            args,
            log: dir.join(format!("redis-{port}.log")),
            proc: None,
        }
    }

    /// Starts the node and waits until it answers PING.
    pub(crate) fn start(&mut self) -> Result<(), Error> {
        let name = format!("redis-{}", self.port);
        let mut proc = Proc::spawn(&name, Path::new("redis-server"), &self.args, &self.log)?;
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if proc.exited() {
                return Err(format!(
                    "{name} exited at start (see {})",
                    self.log.display()
                ));
            }
            if redis_cli(self.port, &["PING"]).is_ok_and(|o| o.trim() == "PONG") {
                self.proc = Some(proc);
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!("{name} did not answer PING within 10 s"))
    }

    /// Kills the node (SIGKILL).
    pub(crate) fn kill(&mut self) {
        self.proc = None;
    }

    /// Sends `signal` to the running node.
    pub(crate) fn signal(&self, signal: &str) -> Result<(), Error> {
        match &self.proc {
            Some(p) => p.signal(signal),
            None => Err(format!("redis-{} is not running", self.port)),
        }
    }

    /// The pid of the running node.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.proc.as_ref().map(Proc::pid)
    }
}

/// Slots `first..=last` of a master.
type SlotRange = (u16, u16);

/// A Redis Cluster of three masters with one replica each.
#[derive(Debug)]
pub(crate) struct Cluster {
    /// The six nodes (masters first, as `redis-cli --cluster create` assigns them).
    pub(crate) nodes: Vec<Node>,
}

impl Cluster {
    /// Starts six nodes in `dir`, joins them with `redis-cli --cluster create
    /// --cluster-replicas 1` and waits for `cluster_state:ok` everywhere.
    pub(crate) fn start(dir: &Path, node_timeout: Duration) -> Result<Self, Error> {
        let mut nodes = Vec::new();
        while nodes.len() < 6 {
            let mut node = Node::new(free_port_pair()?, dir, node_timeout);
            node.start()?;
            nodes.push(node);
        }
        let cluster = Self { nodes };
        let addrs: Vec<String> = cluster
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let mut args = vec!["--cluster", "create"];
        args.extend(addrs.iter().map(String::as_str));
        args.extend(["--cluster-replicas", "1", "--cluster-yes"]);
        cli(&args)?;
        cluster.wait_ok(Duration::from_secs(30))?;
        Ok(cluster)
    }

    /// Waits until every running node reports `cluster_state:ok` and agrees on three
    /// masters that serve slots.
    pub(crate) fn wait_ok(&self, limit: Duration) -> Result<Duration, Error> {
        let started = Instant::now();
        while started.elapsed() < limit {
            let ok = self.nodes.iter().filter(|n| n.proc.is_some()).all(|n| {
                redis_cli(n.port, &["CLUSTER", "INFO"])
                    .is_ok_and(|i| i.contains("cluster_state:ok"))
            });
            if ok && self.masters().is_ok_and(|m| m.len() == 3) {
                return Ok(started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!(
            "the cluster did not reach cluster_state:ok within {limit:?}"
        ))
    }

    /// The seed URL the service connects with.
    pub(crate) fn url(&self) -> String {
        let hosts: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        format!("redis+cluster://{}", hosts.join(","))
    }

    /// Healthy masters serving slots, as `(port, slot ranges)`, from a running node.
    fn masters(&self) -> Result<Vec<(u16, Vec<SlotRange>)>, Error> {
        let node = self
            .nodes
            .iter()
            .find(|n| n.proc.is_some())
            .ok_or("no cluster node is running")?;
        let text = redis_cli(node.port, &["CLUSTER", "NODES"])?;
        let mut masters = Vec::new();
        for line in text.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 9 || !fields[2].contains("master") || fields[2].contains("fail") {
                continue;
            }
            let Some(port) = fields[1]
                .split('@')
                .next()
                .and_then(|a| a.rsplit(':').next())
                .and_then(|p| p.parse().ok())
            else {
                continue;
            };
            let ranges = fields[8..]
                .iter()
                .filter(|r| !r.starts_with('['))
                .filter_map(|r| match r.split_once('-') {
                    Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
                    None => r.parse().ok().map(|s| (s, s)),
                })
                .collect();
            masters.push((port, ranges));
        }
        Ok(masters)
    }

    /// The ports of the masters serving slots now.
    pub(crate) fn master_ports(&self) -> Result<Vec<u16>, Error> {
        Ok(self.masters()?.into_iter().map(|(port, _)| port).collect())
    }

    /// Has every running node write its data to its own `dump-PORT.rdb` (`SAVE`), then
    /// kills every node (SIGKILL); the ports killed.
    pub(crate) fn save_and_kill_all(&mut self) -> Result<Vec<u16>, Error> {
        for node in self.nodes.iter().filter(|n| n.proc.is_some()) {
            redis_cli(node.port, &["SAVE"])?;
        }
        let mut killed = Vec::new();
        for node in self.nodes.iter_mut().filter(|n| n.proc.is_some()) {
            node.kill();
            killed.push(node.port);
        }
        Ok(killed)
    }

    /// Starts every node that is not running, without waiting for them: each loads the
    /// data it saved and its `nodes-PORT.conf` (its identity, role and slots).
    pub(crate) fn launch_stopped(&mut self) -> Result<(), Error> {
        for node in self.nodes.iter_mut().filter(|n| n.proc.is_none()) {
            let name = format!("redis-{}", node.port);
            node.proc = Some(Proc::spawn(
                &name,
                Path::new("redis-server"),
                &node.args,
                &node.log,
            )?);
        }
        Ok(())
    }

    /// The index of the node that is master of the slot of `key` now.
    pub(crate) fn master_of(&self, key: &str) -> Result<usize, Error> {
        let node = self
            .nodes
            .iter()
            .find(|n| n.proc.is_some())
            .ok_or("no cluster node is running")?;
        let slot: u16 = redis_cli(node.port, &["CLUSTER", "KEYSLOT", key])?
            .trim()
            .parse()
            .map_err(|e| format!("CLUSTER KEYSLOT {key}: {e}"))?;
        let port = self
            .masters()?
            .into_iter()
            .find(|(_, ranges)| ranges.iter().any(|&(a, b)| (a..=b).contains(&slot)))
            .map(|(port, _)| port)
            .ok_or_else(|| format!("no master serves slot {slot}"))?;
        self.nodes
            .iter()
            .position(|n| n.port == port)
            .ok_or_else(|| format!("master {port} is not one of ours"))
    }
}

/// One example-api process on a fixed port (so that it comes back where it was).
#[derive(Debug)]
pub(crate) struct Api {
    /// `api-1`, ..., or `reference`.
    pub(crate) name: String,
    /// `http://127.0.0.1:PORT`.
    pub(crate) base: String,
    program: PathBuf,
    args: Vec<String>,
    log: PathBuf,
    proc: Option<Proc>,
}

impl Api {
    /// An instance of `program` (`program serve ARGS` when it is this binary) listening on
    /// a free port, not started yet.
    pub(crate) fn new(
        name: &str,
        program: &Path,
        self_serve: bool,
        service_args: &[String],
        dir: &Path,
    ) -> Result<Self, Error> {
        let port = free_port()?;
        let mut args = Vec::new();
        if self_serve {
            args.push("serve".to_owned());
        }
        args.extend(["--bind".to_owned(), format!("127.0.0.1:{port}")]);
        args.extend(service_args.iter().cloned());
        Ok(Self {
            name: name.to_owned(),
            base: format!("http://127.0.0.1:{port}"),
            program: program.to_owned(),
            args,
            log: dir.join(format!("{name}.log")),
            proc: None,
        })
    }

    /// Starts the process and waits until `/health` answers 200 (a first start seeds the
    /// database, which takes a while in a debug build).
    pub(crate) async fn start(
        &mut self,
        http: &reqwest::Client,
        limit: Duration,
    ) -> Result<(), Error> {
        let mut proc = Proc::spawn(&self.name, &self.program, &self.args, &self.log)?;
        let until = Instant::now() + limit;
        while Instant::now() < until {
            if proc.exited() {
                return Err(format!(
                    "{} exited at start (see {})",
                    self.name,
                    self.log.display()
                ));
            }
            let health = http
                .get(format!("{}/health", self.base))
                .timeout(Duration::from_secs(1))
                .send()
                .await;
            if health.is_ok_and(|r| r.status().is_success()) {
                self.proc = Some(proc);
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(format!(
            "{} not ready within {limit:?} (see {})",
            self.name,
            self.log.display()
        ))
    }

    /// Kills the process (SIGKILL).
    pub(crate) fn kill(&mut self) {
        self.proc = None;
    }

    /// The pid of the running process.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.proc.as_ref().map(Proc::pid)
    }
}
