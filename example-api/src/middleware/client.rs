//! Who the client is: the socket peer, or, when the peer is one of the trusted reverse
//! proxies (`--trusted-proxies`), the address the proxies' forwarding headers name.
//!
//! Each proxy appends the address it received the request from, so the chain reads left
//! (the original client, as far as anyone can tell) to right (the proxy nearest to us).
//! Everything left of the last untrusted hop was written by someone we do not trust, so
//! the client is the **right-most address that is not a trusted proxy**. Both
//! `Forwarded` (RFC 7239, its `for=` parameters) and `X-Forwarded-For` are read:
//!
//! - A header whose hop right of (or at) that address is malformed, `unknown` or an
//!   obfuscated name cannot say who the client is and is ignored; a malformed entry left
//!   of it does not matter (the client wrote it). Nothing here ever fails a request.
//! - Only one of the two present (or usable): its answer. Both, and they agree: that
//!   answer. Both, and they disagree: one of them was written by the client (a proxy
//!   maintains one and passes the other through), and there is no telling which, so the
//!   client is taken to be the proxy itself. A spoofer gains nothing by it: it shares the
//!   proxy's budget with every other request that does the same, never another client's.
//! - Every address on the chain is a trusted proxy: the left-most one is the client.
//!
//! When the peer is not a trusted proxy both headers are ignored: any client can send them.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;
use axum::http::header::{FORWARDED, HeaderName};

use crate::net::{TrustedProxies, canonical};

/// `X-Forwarded-For`.
pub const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The client of a request that came from `peer` with `headers` (see the module
/// documentation).
///
/// ```
/// use axum::http::HeaderMap;
/// use example_api::middleware::client_addr;
/// use example_api::net::{TrustedProxies, parse_proxy_network};
///
/// let proxies = TrustedProxies::new(vec![parse_proxy_network("10.0.0.0/8").unwrap()]);
/// let mut headers = HeaderMap::new();
/// headers.insert("x-forwarded-for", "203.0.113.9, 198.51.100.7".parse().unwrap());
/// let via_proxy = "10.0.0.2:4000".parse().unwrap();
/// assert_eq!(client_addr(via_proxy, &headers, &proxies), "198.51.100.7".parse::<std::net::IpAddr>().unwrap());
/// let direct = "192.0.2.1:4000".parse().unwrap();
/// assert_eq!(client_addr(direct, &headers, &proxies), "192.0.2.1".parse::<std::net::IpAddr>().unwrap());
/// ```
pub fn client_addr(peer: SocketAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> IpAddr {
    let peer = canonical(peer.ip());
    if !trusted.contains(peer) {
        return peer;
    }
    let forwarded = chain_client(forwarded_chain(headers), trusted);
    let x_forwarded_for = chain_client(x_forwarded_for_chain(headers), trusted);
    match (forwarded, x_forwarded_for) {
        (Some(a), Some(b)) if a != b => peer,
        (Some(a), _) | (None, Some(a)) => a,
        (None, None) => peer,
    }
}

/// The right-most untrusted address of `hops` (left to right, `None` for an entry that
/// is not an address); `None` if a hop right of it is not an address, or there are none.
fn chain_client(hops: Option<Vec<Option<IpAddr>>>, trusted: &TrustedProxies) -> Option<IpAddr> {
    let hops = hops?;
    let mut leftmost = None;
    for hop in hops.iter().rev() {
        let addr = canonical((*hop)?);
        if !trusted.contains(addr) {
            return Some(addr);
        }
        leftmost = Some(addr);
    }
    leftmost
}

/// Every value of `name`, joined as one comma separated list (as RFC 9110 allows);
/// `None` when there is none or one is not visible ASCII.
fn joined(headers: &HeaderMap, name: &HeaderName) -> Option<Vec<String>> {
    let mut items = Vec::new();
    for value in headers.get_all(name) {
        let value = value.to_str().ok()?;
        items.extend(value.split(',').map(|s| s.trim().to_owned()));
    }
    (!items.is_empty()).then_some(items)
}

/// The hops of `X-Forwarded-For`: addresses, optionally with a port (`1.2.3.4:80`,
/// `[::1]:80`).
fn x_forwarded_for_chain(headers: &HeaderMap) -> Option<Vec<Option<IpAddr>>> {
    let items = joined(headers, &X_FORWARDED_FOR)?;
    Some(items.iter().map(|s| node_addr(s)).collect())
}

/// The `for=` hops of `Forwarded`: one per element (an element without `for=` is a hop
/// that says nothing, so it is not an address).
fn forwarded_chain(headers: &HeaderMap) -> Option<Vec<Option<IpAddr>>> {
    let elements = joined(headers, &FORWARDED)?;
    Some(
        elements
            .iter()
            .map(|element| {
                element.split(';').find_map(|pair| {
                    let (key, value) = pair.split_once('=')?;
                    key.trim().eq_ignore_ascii_case("for").then(|| {
                        let value = value.trim();
                        let value = value
                            .strip_prefix('"')
                            .and_then(|v| v.strip_suffix('"'))
                            .unwrap_or(value);
                        node_addr(value)
                    })?
                })
            })
            .collect(),
    )
}

/// An address, optionally with a port: `192.0.2.1`, `192.0.2.1:80`, `2001:db8::1`,
/// `[2001:db8::1]`, `[2001:db8::1]:80`. `None` for anything else.
fn node_addr(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    if let Ok(addr) = s.parse::<IpAddr>() {
        return Some(addr);
    }
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Some(addr.ip());
    }
    let inner = s.strip_prefix('[')?.strip_suffix(']')?;
    inner.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::parse_proxy_network;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("address")
    }

    fn proxies(list: &[&str]) -> TrustedProxies {
        TrustedProxies::new(
            list.iter()
                .map(|s| parse_proxy_network(s).expect("network"))
                .collect(),
        )
    }

    fn client(peer: &str, headers: &[(&str, &str)], trusted: &TrustedProxies) -> IpAddr {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).expect("name"),
                value.parse().expect("value"),
            );
        }
        client_addr(peer.parse().expect("peer"), &map, trusted)
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_sends() {
        let none = TrustedProxies::default();
        let some = proxies(&["10.0.0.0/8"]);
        for trusted in [&none, &some] {
            for headers in [
                &[("x-forwarded-for", "198.51.100.1")][..],
                &[("forwarded", "for=198.51.100.1")],
                &[
                    ("x-forwarded-for", "10.0.0.1"),
                    ("forwarded", "for=10.0.0.1"),
                ],
            ] {
                assert_eq!(client("192.0.2.7:1234", headers, trusted), ip("192.0.2.7"));
            }
        }
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_client() {
        let trusted = proxies(&["10.0.0.0/8", "192.168.1.1"]);
        // Client -> proxy 192.168.1.1 -> proxy 10.0.0.2 -> us; the client's own guess
        // (203.0.113.50) is left of what the first proxy saw.
        let xff = [("x-forwarded-for", "203.0.113.50, 198.51.100.9, 192.168.1.1")];
        assert_eq!(client("10.0.0.2:80", &xff, &trusted), ip("198.51.100.9"));
        let fwd = [(
            "forwarded",
            "for=203.0.113.50, for=198.51.100.9;proto=https, for=192.168.1.1;by=10.0.0.2",
        )];
        assert_eq!(client("10.0.0.2:80", &fwd, &trusted), ip("198.51.100.9"));
        // Split over several header lines: one list.
        let lines = [
            ("x-forwarded-for", "203.0.113.50"),
            ("x-forwarded-for", "198.51.100.9, 192.168.1.1"),
        ];
        assert_eq!(client("10.0.0.2:80", &lines, &trusted), ip("198.51.100.9"));
        // Only proxies on the chain: the left-most is the client.
        let internal = [("x-forwarded-for", "10.0.0.9, 192.168.1.1")];
        assert_eq!(client("10.0.0.2:80", &internal, &trusted), ip("10.0.0.9"));
        // No header: the proxy itself.
        assert_eq!(client("10.0.0.2:80", &[], &trusted), ip("10.0.0.2"));
    }

    #[test]
    fn ipv6_hops_with_and_without_ports() {
        let trusted = proxies(&["fd00::/8", "10.0.0.0/8"]);
        let fwd = [(
            "forwarded",
            r#"for="[2001:db8:cafe::17]:4711", for="[fd00::2]""#,
        )];
        assert_eq!(
            client("[fd00::1]:80", &fwd, &trusted),
            ip("2001:db8:cafe::17")
        );
        let xff = [("x-forwarded-for", "2001:db8::5, [fd00::3]:443")];
        assert_eq!(client("[fd00::1]:80", &xff, &trusted), ip("2001:db8::5"));
        // An IPv4-mapped peer is its IPv4 address, trusted as such.
        let mapped = [("x-forwarded-for", "198.51.100.3:5000")];
        assert_eq!(
            client("[::ffff:10.0.0.1]:80", &mapped, &trusted),
            ip("198.51.100.3")
        );
    }

    #[test]
    fn malformed_headers_are_ignored() {
        let trusted = proxies(&["10.0.0.0/8"]);
        let proxy = ip("10.0.0.2");
        for bad in [
            "",
            ",",
            "not-an-address",
            "198.51.100.1 garbage",
            "198.51.100.1, unknown",
            "300.1.1.1",
            "[198.51.100.1]",
            "2001:db8::1]:80",
        ] {
            let headers = [("x-forwarded-for", bad)];
            assert_eq!(client("10.0.0.2:80", &headers, &trusted), proxy, "{bad:?}");
        }
        for bad in [
            "for=unknown",
            "for=_hidden",
            "for",
            "proto=https",
            "for=\"[2001:db8::1\"",
            "for=198.51.100.1, by=10.0.0.2",
        ] {
            let headers = [("forwarded", bad)];
            assert_eq!(client("10.0.0.2:80", &headers, &trusted), proxy, "{bad:?}");
        }
        // Garbage left of the hop a proxy appended does not matter.
        let headers = [("x-forwarded-for", "!!, 198.51.100.1")];
        assert_eq!(
            client("10.0.0.2:80", &headers, &trusted),
            ip("198.51.100.1")
        );
        // A usable header beside a malformed one: the usable one.
        let headers = [
            ("x-forwarded-for", "198.51.100.1"),
            ("forwarded", "for=unknown"),
        ];
        assert_eq!(
            client("10.0.0.2:80", &headers, &trusted),
            ip("198.51.100.1")
        );
    }

    #[test]
    fn two_headers_that_disagree_mean_the_proxy() {
        let trusted = proxies(&["10.0.0.0/8"]);
        let agree = [
            ("x-forwarded-for", "198.51.100.1"),
            ("forwarded", "for=198.51.100.1"),
        ];
        assert_eq!(client("10.0.0.2:80", &agree, &trusted), ip("198.51.100.1"));
        let disagree = [
            ("x-forwarded-for", "203.0.113.66, 198.51.100.1"),
            ("forwarded", "for=203.0.113.77"),
        ];
        assert_eq!(client("10.0.0.2:80", &disagree, &trusted), ip("10.0.0.2"));
    }
}
