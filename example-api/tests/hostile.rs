//! The server against clients that hold connections without using them, and against one
//! client asking too fast: real sockets on loopback, a real listening server with short
//! timeouts (`--header-read-timeout 2s`, `--keep-alive-timeout 3s`) and a small budget
//! (`--rate-limit 2 --rate-limit-burst 3`).

mod common;

use std::time::{Duration, Instant};

use common::raw::{self, ReadError};
use common::{Server, assert_error, client, send};
use tokio::io::AsyncWriteExt;

fn server() -> &'static Server {
    common::server_with(&[
        "--header-read-timeout",
        "2s",
        "--keep-alive-timeout",
        "3s",
        "--rate-limit",
        "2",
        "--rate-limit-burst",
        "3",
    ])
}

/// `/health` through a fresh HTTP client, within `limit`.
async fn health_within(s: &Server, limit: Duration) -> Duration {
    let started = Instant::now();
    let r = client()
        .get(s.url("/health"))
        .timeout(limit)
        .send()
        .await
        .unwrap_or_else(|e| panic!("/health did not answer within {limit:?}: {e}"));
    assert_eq!(r.status(), 200);
    started.elapsed()
}

#[tokio::test]
async fn silent_and_half_sent_connections_are_closed_by_the_header_timeout() {
    let s = server();
    let addr = raw::addr(&s.base);
    let mut silent = Vec::new();
    let mut half = Vec::new();
    for _ in 0..20 {
        silent.push(raw::connect(addr).await);
        let mut c = raw::connect(addr).await;
        c.write_all(b"GET /health HTTP/1.1\r\nHost: loc")
            .await
            .expect("written");
        half.push(c);
    }
    // A slow client that keeps sending, a byte every 200 ms, never finishing its head.
    let mut slow = raw::connect(addr).await;
    let dripping = tokio::spawn(async move {
        let started = Instant::now();
        let head = format!(
            "GET /health HTTP/1.1\r\nHost: localhost\r\nX-Pad: {}",
            "a".repeat(40)
        );
        for b in head.as_bytes() {
            if slow.write_all(&[*b]).await.is_err() {
                return Some(started.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        None
    });
    let opened = Instant::now();
    health_within(s, Duration::from_secs(1)).await;

    for (kind, conns) in [("silent", &mut silent), ("half-sent", &mut half)] {
        for c in conns.iter_mut() {
            let left = Duration::from_secs(5).saturating_sub(opened.elapsed());
            assert!(
                raw::closed_within(c, left).await.is_some(),
                "a {kind} connection still open after 5 s"
            );
        }
    }
    let closed_after = opened.elapsed();
    assert!(
        closed_after >= Duration::from_millis(1800),
        "closed before the 2 s timeout: {closed_after:?}"
    );
    let refused_after = dripping.await.expect("task");
    assert!(
        refused_after.is_some_and(|t| t < Duration::from_secs(5)),
        "a head sent a byte at a time is still cut off: {refused_after:?}"
    );
    health_within(s, Duration::from_secs(1)).await;
}

#[tokio::test]
async fn kept_alive_connections_are_closed_after_the_idle_timeout() {
    let s = server();
    let addr = raw::addr(&s.base);
    let mut c = raw::connect(addr).await;
    let request = raw::get("/health", &["Host: localhost"]);
    c.write_all(request.as_bytes()).await.expect("written");
    let first = raw::read_response(&mut c).await.expect("answered");
    assert_eq!(first.status, 200);
    assert!(!first.closes(), "kept alive");
    // Idle for longer than the header-read timeout but within the keep-alive one: the
    // connection is still there.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    c.write_all(request.as_bytes()).await.expect("written");
    let second = raw::read_response(&mut c).await.expect("answered again");
    assert_eq!(second.status, 200);
    let idle = raw::closed_within(&mut c, Duration::from_secs(5))
        .await
        .expect("closed once idle for 3 s");
    assert!(
        (Duration::from_millis(2500)..Duration::from_millis(5000)).contains(&idle),
        "closed after {idle:?} idle"
    );
}

#[tokio::test]
async fn thousands_of_idle_connections_leave_health_answering() {
    let s = server();
    let addr = raw::addr(&s.base);
    // Client and server ends share this process's open-file limit: raise it, or stay
    // under it.
    let limit = rlimit::increase_nofile_limit(10_000).expect("open-file limit");
    let n = 3000.min(limit.saturating_sub(600) as usize / 2);
    assert!(n >= 200, "open-file limit {limit} is too low for this test");
    // In batches, each followed by a `/health` on a new connection: once it answers, the
    // server has accepted every connection queued before it.
    let mut idle = Vec::with_capacity(n);
    let opened = Instant::now();
    let mut slowest = Duration::ZERO;
    while idle.len() < n {
        let mut batch = tokio::task::JoinSet::new();
        for _ in 0..(n - idle.len()).min(500) {
            batch.spawn(raw::connect(addr));
        }
        while let Some(c) = batch.join_next().await {
            idle.push(c.expect("connected"));
        }
        slowest = slowest.max(health_within(s, Duration::from_secs(2)).await);
    }
    let took = health_within(s, Duration::from_secs(2)).await;
    let open = idle.iter().filter(|c| raw::is_open(c)).count();
    assert!(
        open >= n / 2,
        "/health answered in {took:?} (at worst {slowest:?} while opening) with only \
         {open} of {n} idle connections open ({:?} after the first)",
        opened.elapsed()
    );
    // Then the server closes them all (header-read timeout) and has room again.
    let mut closed = 0;
    for c in &mut idle {
        let left = Duration::from_secs(8).saturating_sub(opened.elapsed());
        if raw::closed_within(c, left).await.is_some() {
            closed += 1;
        }
    }
    assert_eq!(closed, n, "idle connections closed by the server");
    health_within(s, Duration::from_secs(1)).await;
}

#[tokio::test]
async fn one_client_over_its_rate_gets_429_and_others_do_not() {
    let s = server();
    // Each request a new window: a computation, which is what the budget counts.
    let path = |i: u32| format!("/analytics/demo/post-dynamics?hours={}", 100 + i);
    let mut statuses = Vec::new();
    let mut limited = None;
    for i in 0..8 {
        let r = send(client().get(s.url(&path(i)))).await;
        statuses.push(r.status);
        if r.status == 429 {
            limited = Some(r);
            break;
        }
    }
    assert_eq!(
        &statuses[..3],
        [200, 200, 200],
        "the burst of 3 is admitted"
    );
    let limited = limited.unwrap_or_else(|| panic!("never limited: {statuses:?}"));
    assert_error(&limited, 429, "rate_limited");
    let retry_after: u64 = limited.headers["retry-after"]
        .to_str()
        .ok()
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in whole seconds");
    assert!((1..=2).contains(&retry_after), "{retry_after}");

    // Cheap routes are not limited, and another address is another client.
    assert_eq!(send(client().get(s.url("/health"))).await.status, 200);
    let other = reqwest::Client::builder()
        .local_address(Some("127.0.0.2".parse().expect("address")))
        .build()
        .expect("client");
    assert_eq!(send(other.get(s.url(&path(20)))).await.status, 200);
    // The refused client's answers from the cache are served.
    assert_eq!(send(client().get(s.url(&path(0)))).await.status, 200);

    // Once the wait is over, the client is admitted again.
    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    assert_eq!(send(client().get(s.url(&path(21)))).await.status, 200);
}

#[tokio::test]
async fn a_half_sent_head_gets_a_close_and_no_answer() {
    // There is no request to answer yet: the server closes without writing a byte.
    let s = server();
    let mut c = raw::connect(raw::addr(&s.base)).await;
    c.write_all(b"GET /health HTTP/1.1\r\n")
        .await
        .expect("written");
    assert_eq!(raw::read_response(&mut c).await.err(), Some(ReadError::Eof));
}
