//! Two instances of a service sharing one Redis: a value computed by one is read from
//! Redis by the other, and an invalidation on one reaches the other over the backplane.
//!
//! The cached functions of a process use its global runtime, so the two instances are
//! two processes: this program (instance `a`) starts itself again as instance `b`.
//!
//! `REDIS_URL=redis://127.0.0.1:6379 cargo run -p examples --features redis --example two_instances`
//! (without a reachable Redis it says so and exits).

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use cache_runtime::{CacheRuntime, Scope, cache_result};

/// `a` or `b`.
static INSTANCE: OnceLock<String> = OnceLock::new();

fn instance() -> &'static str {
    INSTANCE.get().map_or("?", String::as_str)
}

#[cache_result("greeting", ttl = "5m")]
async fn greeting(user_id: u64) -> String {
    println!(
        "[{}] computing greeting({user_id}) (200 ms of work)",
        instance()
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    format!(
        "hello, user {user_id} (computed by instance {})",
        instance()
    )
}

/// Calls `greeting(1)` and prints where the value came from.
async fn call(what: &str) {
    let (value, outcomes) = Scope::observe().run(greeting(1)).await;
    let stats = cache_runtime::global().stats();
    let from_redis = stats.cache("greeting").map_or(0, |c| c.l2.hits);
    println!(
        "[{}] {what}: {value:?}  X-Cache: {}, read from redis so far: {from_redis}",
        instance(),
        outcomes.x_cache(),
    );
}

/// Whether something listens at the URL's first host (a quick check before starting).
fn reachable(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    let host = rest.split([',', '/']).next().unwrap_or_default();
    let addrs = host.to_socket_addrs().map(Iterator::collect::<Vec<_>>);
    addrs.is_ok_and(|addrs| {
        addrs
            .iter()
            .any(|a| TcpStream::connect_timeout(a, Duration::from_millis(500)).is_ok())
    })
}

#[tokio::main]
async fn main() {
    examples::init_logging();
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let args: Vec<String> = std::env::args().collect();
    let name = match args.iter().position(|a| a == "--instance") {
        Some(i) => args.get(i + 1).cloned().unwrap_or_else(|| "a".into()),
        None => "a".into(),
    };
    let _ = INSTANCE.set(name.clone());
    if !reachable(&url) {
        println!(
            "No Redis at {url}: this example needs one. Start one (e.g. `redis-server`) or \
             set REDIS_URL, then run it again."
        );
        return;
    }
    let installed = CacheRuntime::builder()
        .namespace("two-instances-example")
        .redis(url.as_str())
        .install();
    if installed.is_err() {
        println!("a cache runtime was already installed");
        return;
    }
    let rt = cache_runtime::global();
    for _ in 0..300 {
        if rt.stats().l2.is_some_and(|l2| l2.connected) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    if !rt.stats().l2.is_some_and(|l2| l2.connected) {
        println!("Redis at {url} does not answer: nothing to show.");
        return;
    }
    // The backplane subscribes as the connection is made; give it a moment.
    tokio::time::sleep(Duration::from_millis(200)).await;
    if name == "b" {
        instance_b().await;
    } else {
        instance_a().await;
    }
}

/// Computes the value, starts `b`, invalidates while `b` holds a copy.
async fn instance_a() {
    let rt = cache_runtime::global();
    // A clean start, whatever an earlier run left in Redis.
    rt.invalidate_all("greeting");
    tokio::time::sleep(Duration::from_millis(100)).await;
    call("first call").await;
    call("second call").await;
    // The write to Redis happens in the background; give it a moment before `b` reads.
    tokio::time::sleep(Duration::from_millis(100)).await;

    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            println!("[a] cannot start instance b: {e}");
            return;
        }
    };
    let child = Command::new(exe)
        .args(["--instance", "b"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            println!("[a] cannot start instance b: {e}");
            return;
        }
    };
    let (Some(mut to_b), Some(from_b)) = (child.stdin.take(), child.stdout.take()) else {
        println!("[a] no pipes to instance b");
        return;
    };
    let mut lines = BufReader::new(from_b).lines().map_while(Result::ok);
    for line in lines.by_ref() {
        println!("{line}");
        if line.ends_with("READY") {
            break;
        }
    }
    println!("[a] invalidate(\"greeting\", &(1,))");
    rt.invalidate("greeting", &(1u64,));
    // The backplane typically delivers within a millisecond; this leaves room.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let _ = writeln!(to_b, "check");
    drop(to_b);
    for line in lines {
        println!("{line}");
    }
    let _ = child.wait();
    call("after the invalidation").await;
}

/// Reads `a`'s value from Redis, then waits for `a`'s invalidation.
async fn instance_b() {
    call("first call").await;
    call("second call").await;
    println!("[b] READY");
    // `a` writes `check` after invalidating.
    let _ = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)
    })
    .await;
    let received = cache_runtime::global()
        .stats()
        .l2
        .map_or(0, |l2| l2.backplane_received);
    println!("[b] backplane messages received from a: {received}");
    call("after a's invalidation").await;
}
