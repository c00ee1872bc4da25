//! A real `redis-server` on a free loopback port, started for one test and killed when
//! dropped (the approach of `cache-runtime/tests/support/redis.rs`, without a Redis client:
//! readiness is a raw `PING`). Nothing is persisted (`--save "" --appendonly no`).
//!
//! `REDIS_SERVER=/path/to/redis-server` picks the binary (default: `redis-server` on the
//! `PATH`).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One server process; killed (SIGKILL) when dropped.
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

fn spawn(port: u16) -> std::io::Result<Child> {
    Command::new(std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".into()))
        .args(["--port", &port.to_string()])
        .args(["--bind", "127.0.0.1"])
        .args(["--save", ""])
        .args(["--appendonly", "no"])
        .args(["--dir", &std::env::temp_dir().to_string_lossy()])
        .args(["--loglevel", "warning"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
}

/// Whether a server on `port` answers `PING`.
pub fn pings(port: u16) -> bool {
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

    /// Starts a server on `port`; `None` if it does not answer within 5 s (the port may
    /// have been taken between choosing and binding it).
    pub fn start_on(port: u16) -> Option<Self> {
        let child = match spawn(port) {
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

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL) and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
