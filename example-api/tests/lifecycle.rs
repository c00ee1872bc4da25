//! The service as a real process (the built binary) at its limits and at its end: SIGTERM
//! with a half-sent request head and under keep-alive load, the connection cap, the
//! in-flight cap and the request timeout, and a refused admin token. Each test starts its
//! own instance on a free loopback port with its own small SQLite database.

mod common;

use std::time::{Duration, Instant};

use common::process::{self, Instance, TempDir};
use common::raw::{self, ReadError};
use tokio::io::AsyncWriteExt;

/// Starts an instance with the small test seed, no rate limit, and `extra` arguments.
fn start(name: &'static str, extra: &[&str]) -> (Instance, TempDir) {
    let dir = TempDir::new(&format!("example-api-lifecycle-{name}"));
    let mut args = process::sqlite_instance_args(dir.path());
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let instance = process::spawn(name, &args).wait_ready(Duration::from_secs(60));
    (instance, dir)
}

/// Waits until a new connection to `addr` is refused (the listener is closed).
async fn refused_within(addr: std::net::SocketAddr, limit: Duration) -> bool {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test]
async fn sigterm_with_a_half_sent_head_exits_by_the_deadline() {
    let (mut i, _dir) = start(
        "half-sent",
        &["--shutdown-timeout", "2s", "--header-read-timeout", "60s"],
    );
    let addr = raw::addr(&i.base);
    let mut half = raw::connect(addr).await;
    half.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nX-Unfinished: ")
        .await
        .expect("written");
    // And a kept-alive connection that is idle at the signal.
    let mut idle = raw::connect(addr).await;
    idle.write_all(raw::get("/health", &["Host: localhost"]).as_bytes())
        .await
        .expect("written");
    assert_eq!(
        raw::read_response(&mut idle).await.map(|r| r.status),
        Ok(200)
    );

    tokio::time::sleep(Duration::from_millis(100)).await;
    let signalled = Instant::now();
    i.terminate();
    assert!(
        refused_within(addr, Duration::from_secs(1)).await,
        "still accepting after SIGTERM"
    );
    let idle_closed = raw::closed_within(&mut idle, Duration::from_secs(3))
        .await
        .expect("the idle connection is closed");
    assert!(idle_closed < Duration::from_millis(1900), "{idle_closed:?}");
    let status = i
        .wait_exit(Duration::from_secs(5))
        .await
        .unwrap_or_else(|| panic!("still running 5 s after SIGTERM:\n{}", i.log()));
    let took = signalled.elapsed();
    assert!(status.success(), "{status:?}\n{}", i.log());
    assert!(
        (Duration::from_millis(1500)..Duration::from_millis(4000)).contains(&took),
        "exited {took:?} after SIGTERM with a 2 s deadline"
    );
    assert_eq!(
        raw::read_response(&mut half).await.err(),
        Some(ReadError::Eof),
        "the half-sent head is closed, not answered"
    );
    assert!(
        i.logged("shutdown deadline reached", Duration::from_secs(2))
            .await,
        "{}",
        i.log()
    );
}

#[tokio::test]
async fn a_request_in_flight_past_the_grace_still_gets_its_whole_answer() {
    let (mut i, _dir) = start("in-flight-at-sigterm", &["--shutdown-timeout", "5s"]);
    let addr = raw::addr(&i.base);
    let body = br#"{"text": "A post finished after the signal #rust"}"#;
    let mut c = raw::connect(addr).await;
    c.write_all(
        format!(
            "POST /ai/analyze HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )
    .await
    .expect("written");
    c.write_all(&body[..10]).await.expect("written");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let signalled = Instant::now();
    i.terminate();
    // Past the one-second grace for idle connections: this one is busy, so it stays.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    c.write_all(&body[10..])
        .await
        .expect("the connection is still open");
    let r = raw::read_response(&mut c).await.expect("the whole answer");
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.closes(), "answered with Connection: close");
    assert!(r.json()["hashtags"].is_array(), "{r:?}");
    let status = i
        .wait_exit(Duration::from_secs(5))
        .await
        .unwrap_or_else(|| panic!("still running:\n{}", i.log()));
    assert!(status.success());
    assert!(
        signalled.elapsed() < Duration::from_secs(4),
        "{:?}",
        signalled.elapsed()
    );
}

/// What one keep-alive client saw.
#[derive(Debug, Default)]
struct Seen {
    answers: usize,
    /// The last answer carried `Connection: close` and the connection then ended.
    closed_cleanly: bool,
    /// A response that started and did not finish, or an end without `Connection: close`.
    problem: Option<String>,
}

async fn keep_alive_client(addr: std::net::SocketAddr) -> Seen {
    let mut seen = Seen::default();
    let mut c = raw::connect(addr).await;
    let paths = ["/health", "/analytics/demo/best-times", "/performance"];
    loop {
        let request = raw::get(paths[seen.answers % paths.len()], &["Host: localhost"]);
        if let Err(e) = c.write_all(request.as_bytes()).await {
            seen.problem = Some(format!("write failed after {} answers: {e}", seen.answers));
            return seen;
        }
        match raw::read_response(&mut c).await {
            Ok(r) => {
                if r.status != 200 {
                    seen.problem = Some(format!("status {}", r.status));
                    return seen;
                }
                seen.answers += 1;
                if r.closes() {
                    seen.closed_cleanly =
                        raw::read_response(&mut c).await.err() == Some(ReadError::Eof);
                    return seen;
                }
            }
            Err(ReadError::Eof) => {
                seen.problem = Some(format!(
                    "closed after {} answers without Connection: close",
                    seen.answers
                ));
                return seen;
            }
            Err(e) => {
                seen.problem = Some(format!("{e:?}"));
                return seen;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_keep_alive_load_cuts_no_answer_off() {
    let (mut i, _dir) = start("keep-alive", &["--shutdown-timeout", "5s"]);
    let addr = raw::addr(&i.base);
    let clients: Vec<_> = (0..32)
        .map(|_| tokio::spawn(keep_alive_client(addr)))
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let signalled = Instant::now();
    i.terminate();
    let status = i
        .wait_exit(Duration::from_secs(8))
        .await
        .unwrap_or_else(|| panic!("still running 8 s after SIGTERM:\n{}", i.log()));
    let took = signalled.elapsed();
    assert!(status.success(), "{status:?}");
    assert!(
        took < Duration::from_secs(3),
        "exited {took:?} after SIGTERM: busy connections should end with their answers, \
         not at the 5 s deadline"
    );
    let mut answers = 0;
    for (n, client) in clients.into_iter().enumerate() {
        let seen = client.await.expect("client task");
        assert_eq!(seen.problem, None, "client {n}: {seen:?}");
        assert!(seen.closed_cleanly, "client {n}: {seen:?}");
        answers += seen.answers;
    }
    assert!(answers > 32, "load ran: {answers} answers");
    assert!(
        i.logged("example_api: stopped", Duration::from_secs(2))
            .await,
        "{}",
        i.log()
    );
    assert!(
        !i.log().contains("shutdown deadline reached"),
        "{}",
        i.log()
    );
}

#[tokio::test]
async fn connections_over_the_cap_get_a_json_503() {
    let (i, _dir) = start(
        "max-connections",
        &["--max-connections", "8", "--header-read-timeout", "30s"],
    );
    let addr = raw::addr(&i.base);
    let mut held = Vec::new();
    for _ in 0..8 {
        held.push(raw::connect(addr).await);
    }
    // Accepted in order: this one finds the cap reached.
    let over = raw::exchange(addr, &raw::get("/health", &["Host: localhost"])).await;
    over.assert_error(503, "overloaded");
    assert_eq!(over.header("retry-after"), Some("1"));
    assert!(over.closes());
    assert!(
        over.json()["message"]
            .as_str()
            .is_some_and(|m| m.contains("8 connections")),
        "{over:?}"
    );
    // Closing two makes room again.
    held.truncate(6);
    let until = Instant::now() + Duration::from_secs(3);
    loop {
        let r = raw::exchange(addr, &raw::get("/health", &["Host: localhost"])).await;
        if r.status == 200 {
            break;
        }
        assert!(Instant::now() < until, "no room after closing two: {r:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        i.logged("connection limit reached", Duration::from_secs(2))
            .await,
        "{}",
        i.log()
    );
}

#[tokio::test]
async fn slow_requests_meet_the_in_flight_cap_and_the_request_timeout() {
    let (i, _dir) = start(
        "in-flight",
        &["--max-in-flight", "1", "--request-timeout", "1500ms"],
    );
    let addr = raw::addr(&i.base);
    // A request whose body never finishes holds the only slot...
    let mut slow = raw::connect(addr).await;
    slow.write_all(
        b"POST /ai/analyze HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
          Content-Length: 40\r\n\r\n{\"text\": \"still typ",
    )
    .await
    .expect("written");
    // ...so another one is refused at once. Each probe waits first: a probe sent before
    // the slow request is admitted would take the only slot itself and get the slow one
    // refused (which made this test fail about one run in three).
    let mut refused = None;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let r = raw::exchange(addr, &raw::get("/health", &["Host: localhost"])).await;
        if r.status == 503 {
            refused = Some(r);
            break;
        }
    }
    let refused = refused.expect("a second request is refused while the slot is taken");
    refused.assert_error(503, "overloaded");
    assert_eq!(refused.header("retry-after"), Some("1"));

    // The slow one ends at the request timeout, with the JSON error...
    let timed_out = raw::read_response(&mut slow).await.expect("answered");
    timed_out.assert_error(503, "timeout");
    // ...and the slot is free again.
    let r = raw::exchange(addr, &raw::get("/health", &["Host: localhost"])).await;
    assert_eq!(r.status, 200, "{r:?}");
}

#[test]
fn a_padded_admin_token_stops_the_start() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_example-api"))
        .args(["--bind", "127.0.0.1:0", "--admin-token", " s3cret "])
        .env_clear()
        .output()
        .expect("the binary runs");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--admin-token") && stderr.contains("leading or trailing whitespace"),
        "{stderr}"
    );
}
