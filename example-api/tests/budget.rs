//! Computations are budgeted, answers are not: a real listening server with the default
//! budget (`--rate-limit 2 --rate-limit-burst 10`), and `--trusted-proxies` naming
//! 127.0.0.2 and 10.0.0.0/8. Requests from 127.0.0.1 come from an untrusted peer (their
//! forwarding headers are ignored); requests sent from 127.0.0.2 play the reverse proxy,
//! so the client is the one their `X-Forwarded-For` / `Forwarded` names.
//!
//! The assertions are about behaviour, not timings: a busting client is refused within a
//! number of new keys no faster-than-light client could spend at two a second.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};

use common::{Server, assert_error, client, send};

/// New keys a client may ask before it must have been refused: the burst of 10, plus the
/// refills of the time such a run takes on a slow machine.
const REFUSED_WITHIN: usize = 60;

/// Warm routes (their entries are filled once at the start of each test).
const WARM: [&str; 2] = [
    "/analytics/demo/best-times",
    "/analytics/demo/top-posts?period=7d&limit=10",
];

fn server() -> &'static Server {
    common::server_with(&["--trusted-proxies", "127.0.0.2,10.0.0.0/8"])
}

/// A top-posts window and limit no other request of this test binary asks: a new cache
/// key, so a computation.
fn fresh_key() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let hours = 1 + n % 167;
    let limit = 11 + (n / 167) % 90;
    format!("/analytics/demo/top-posts?period={hours}h&limit={limit}")
}

/// A client whose requests come from 127.0.0.2, the trusted proxy.
fn proxy() -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(Some("127.0.0.2".parse().expect("address")))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// Asks new keys with `header` until refused; returns how many were answered first.
/// Panics if none is refused within [`REFUSED_WITHIN`].
async fn bust(s: &Server, from: &reqwest::Client, header: Option<(&str, &str)>) -> usize {
    for asked in 0..REFUSED_WITHIN {
        let mut req = from.get(s.url(&fresh_key()));
        if let Some((name, value)) = header {
            req = req.header(name, value);
        }
        let r = send(req).await;
        if r.status == 429 {
            assert_error(&r, 429, "rate_limited");
            let retry_after: u64 = r.headers["retry-after"]
                .to_str()
                .ok()
                .and_then(|v| v.parse().ok())
                .expect("Retry-After in whole seconds");
            assert!((1..=2).contains(&retry_after), "{retry_after}");
            return asked;
        }
        assert_eq!(r.status, 200, "{}", r.json);
    }
    panic!("a client asking a new key every time was never refused ({header:?})");
}

/// The status of a request for a new key with `header`.
async fn fresh_status(s: &Server, from: &reqwest::Client, header: (&str, &str)) -> u16 {
    send(from.get(s.url(&fresh_key())).header(header.0, header.1))
        .await
        .status
}

async fn warm_up(s: &Server) {
    for path in WARM {
        // Through the proxy from a client of its own, so no test's budget pays for it.
        let r = send(
            proxy()
                .get(s.url(path))
                .header("x-forwarded-for", "192.0.2.250"),
        )
        .await;
        assert_eq!(r.status, 200, "{path}: {}", r.json);
    }
}

#[tokio::test]
async fn six_hundred_warm_hits_from_one_client_are_all_answered() {
    let s = server();
    warm_up(s).await;
    let c = client();
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for i in 0..600 {
        let r = send(c.get(s.url(WARM[i % 2]))).await;
        *statuses.entry(r.status).or_default() += 1;
    }
    assert_eq!(statuses.into_iter().collect::<Vec<_>>(), [(200, 600)]);
}

#[tokio::test]
async fn three_hundred_revalidations_are_all_304() {
    let s = server();
    warm_up(s).await;
    let c = client();
    let first = send(c.get(s.url(WARM[0]))).await;
    assert_eq!(first.status, 200);
    let etag = first.headers["etag"].to_str().expect("ETag").to_owned();
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for _ in 0..300 {
        let r = send(c.get(s.url(WARM[0])).header("if-none-match", &etag)).await;
        *statuses.entry(r.status).or_default() += 1;
    }
    assert_eq!(statuses.into_iter().collect::<Vec<_>>(), [(304, 300)]);
}

#[tokio::test]
async fn a_busting_client_is_refused_and_its_hits_and_other_clients_are_not() {
    let s = server();
    warm_up(s).await;
    let p = proxy();
    let buster = ("x-forwarded-for", "198.51.100.10");
    let answered = bust(s, &p, Some(buster)).await;
    assert!(answered >= 10, "the burst of 10 is admitted: {answered}");
    // Refused computations, not refused answers: the same client's hits are served.
    for path in WARM {
        let r = send(p.get(s.url(path)).header(buster.0, buster.1)).await;
        assert_eq!(r.status, 200, "{path}: {}", r.json);
    }
    // Another client behind the same proxy has its own budget, and its hits are served.
    let other = ("x-forwarded-for", "198.51.100.11");
    assert_eq!(fresh_status(s, &p, other).await, 200);
    for path in WARM {
        assert_eq!(
            send(p.get(s.url(path)).header(other.0, other.1))
                .await
                .status,
            200
        );
    }
    // So is a client connecting directly.
    assert_eq!(send(client().get(s.url(WARM[0]))).await.status, 200);
}

#[tokio::test]
async fn forwarding_headers_from_an_untrusted_peer_are_ignored() {
    let s = server();
    warm_up(s).await;
    // 127.0.0.1 is not a trusted proxy: whatever address it claims, each new key is
    // charged to 127.0.0.1, so it is refused within the one budget.
    let c = client();
    let mut refused = false;
    for i in 0..REFUSED_WITHIN {
        let claimed = format!("203.0.113.{}", i % 250);
        let r = send(
            c.get(s.url(&fresh_key()))
                .header("x-forwarded-for", &claimed)
                .header("forwarded", format!("for={claimed}")),
        )
        .await;
        if r.status == 429 {
            refused = true;
            break;
        }
        assert_eq!(r.status, 200, "{}", r.json);
    }
    assert!(refused, "spoofed addresses were taken as other clients");
    // Its hits are still answered.
    assert_eq!(send(c.get(s.url(WARM[1]))).await.status, 200);
}

#[tokio::test]
async fn the_client_behind_two_proxies_is_the_right_most_untrusted_hop() {
    let s = server();
    warm_up(s).await;
    let p = proxy();
    // client 198.51.100.30 -> proxy 10.1.1.1 -> proxy 127.0.0.2 -> server; the left-most
    // entry is what the client itself sent.
    bust(
        s,
        &p,
        Some(("x-forwarded-for", "203.0.113.5, 198.51.100.30, 10.1.1.1")),
    )
    .await;
    let respoofed = ("x-forwarded-for", "203.0.113.99, 198.51.100.30, 10.1.1.1");
    assert_eq!(
        fresh_status(s, &p, respoofed).await,
        429,
        "a new left-most entry is the same client"
    );
    let another = ("x-forwarded-for", "203.0.113.5, 198.51.100.31, 10.1.1.1");
    assert_eq!(fresh_status(s, &p, another).await, 200, "another client");
}

#[tokio::test]
async fn ipv6_clients_are_their_64_networks() {
    let s = server();
    warm_up(s).await;
    let p = proxy();
    bust(
        s,
        &p,
        Some(("forwarded", r#"for="[2001:db8:1:2::1]:4711";proto=http"#)),
    )
    .await;
    let same_network = ("forwarded", r#"for="[2001:db8:1:2::ffff]""#);
    assert_eq!(fresh_status(s, &p, same_network).await, 429);
    let other_network = ("x-forwarded-for", "2001:db8:1:3::1");
    assert_eq!(fresh_status(s, &p, other_network).await, 200);
}

#[tokio::test]
async fn malformed_forwarding_headers_are_ignored_never_a_500() {
    let s = server();
    warm_up(s).await;
    let p = proxy();
    for (name, value) in [
        ("x-forwarded-for", "not an address"),
        ("x-forwarded-for", ",,,"),
        ("x-forwarded-for", "198.51.100.1, unknown"),
        ("x-forwarded-for", "[2001:db8::1"),
        ("x-forwarded-for", "999.1.1.1:99999"),
        ("forwarded", "for=unknown"),
        ("forwarded", "for=\"[2001:db8::1\";;;=="),
        ("forwarded", "by=10.0.0.1;for"),
        ("forwarded", &"for=198.51.100.1, ".repeat(200)),
    ] {
        for path in WARM {
            let r = send(p.get(s.url(path)).header(name, value)).await;
            assert_eq!(r.status, 200, "{name}: {value:?}: {}", r.json);
        }
        let status = fresh_status(s, &p, (name, value)).await;
        assert!(
            status == 200 || status == 429,
            "{name}: {value:?}: {status}"
        );
    }
    let non_ascii = reqwest::header::HeaderValue::from_bytes(b"198.51.100.1\xff").expect("bytes");
    let r = send(p.get(s.url(WARM[0])).header("x-forwarded-for", non_ascii)).await;
    assert_eq!(r.status, 200, "{}", r.json);
}
