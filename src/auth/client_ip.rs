//! The client's address for the login throttle and the logs.
//!
//! A client can write any `X-Forwarded-For` it likes, so the headers are believed only when the
//! TCP peer is one of `TRUSTED_PROXIES`. Then the hops are walked from the right (the end the
//! proxies append to), skipping trusted proxies; the first other address is the client. Anything
//! unreadable on that walk means the chain cannot be trusted, and the peer is used instead: never
//! an error page, since the client must not be able to break its own login.
//!
//! `X-Forwarded-For` is read when present (every common load balancer writes it), else RFC 7239
//! `Forwarded`. A proxy that writes only `Forwarded` must drop an incoming `X-Forwarded-For`.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use actix_web::HttpRequest;
use actix_web::http::header::{HeaderMap, HeaderName};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::state::AppState;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const FORWARDED: HeaderName = HeaderName::from_static("forwarded");

/// The address a request came from: its TCP peer, or what a trusted proxy says.
pub fn of_request(req: &HttpRequest, state: &AppState) -> Option<IpAddr> {
    client_ip(
        req.peer_addr().map(|a| a.ip()),
        req.headers(),
        &state.settings.trusted_proxies,
    )
}

/// The client's address: `peer` unless `peer` is a trusted proxy and the forwarding headers name
/// someone else.
pub fn client_ip(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = peer?.to_canonical();
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let hops = if headers.contains_key(X_FORWARDED_FOR) {
        hops(headers, X_FORWARDED_FOR, x_forwarded_for)
    } else if headers.contains_key(FORWARDED) {
        hops(headers, FORWARDED, forwarded)
    } else {
        return Some(peer);
    };
    let mut leftmost = None;
    for hop in hops.into_iter().rev() {
        match hop {
            None => return Some(peer),
            Some(ip) if is_trusted(&ip) => leftmost = Some(ip),
            Some(ip) => return Some(ip),
        }
    }
    // Every hop is a trusted proxy: the request began inside; take the furthest one.
    Some(leftmost.unwrap_or(peer))
}

/// What failures are counted under: an IPv4 address, or an IPv6 client's /64 (one subscriber
/// usually holds a whole /64, so counting single addresses would let it rotate freely).
pub fn throttle_net(ip: IpAddr) -> IpNet {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpNet::V4(Ipv4Net::from(v4)),
        IpAddr::V6(v6) => match Ipv6Net::new(v6, 64) {
            Ok(net) => IpNet::V6(net.trunc()),
            Err(_) => IpNet::V6(Ipv6Net::from(v6)),
        },
    }
}

/// The hops of every line of a header, in order (RFC 9110: repeated lines are one list). Each line
/// is read on its own, so what a client wrote on an earlier line (bytes that are not visible
/// ASCII, an unclosed quote) cannot swallow the hops a proxy added after it; such a line is one
/// unreadable hop.
fn hops(
    headers: &HeaderMap,
    name: HeaderName,
    parse: fn(&str) -> Vec<Option<IpAddr>>,
) -> Vec<Option<IpAddr>> {
    headers
        .get_all(name)
        .flat_map(|line| match line.to_str() {
            Ok(line) => parse(line),
            Err(_) => vec![None],
        })
        .collect()
}

/// One host as proxies write it: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`, `[2001:db8::1]`,
/// `[2001:db8::1]:4711`.
fn host(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Some(addr.ip().to_canonical());
    }
    let inner = s.strip_prefix('[')?.strip_suffix(']')?;
    inner
        .parse::<Ipv6Addr>()
        .ok()
        .map(|v6| IpAddr::V6(v6).to_canonical())
}

/// The hops of an `X-Forwarded-For`, left to right; `None` for one that is not an address.
fn x_forwarded_for(value: &str) -> Vec<Option<IpAddr>> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(host)
        .collect()
}

/// Splits on `sep` outside quoted strings (`"…"` with `\` escapes).
fn split_outside_quotes(s: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if quoted && c == '\\' {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if c == sep && !quoted {
            parts.push(&s[start..i]);
            start = i + c.len_utf8();
        }
    }
    parts.push(&s[start..]);
    parts
}

/// The `for=` of one RFC 7239 element, e.g. `for="[2001:db8::17]:4711";proto=https`. `None` when
/// it has none, has two, or names no address (`unknown`, `_hidden`).
fn forwarded_for(element: &str) -> Option<IpAddr> {
    let mut found = None;
    for pair in split_outside_quotes(element, ';') {
        let pair = pair.trim();
        if pair.is_empty() {
            continue;
        }
        let (name, value) = pair.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("for") {
            continue;
        }
        if found.is_some() {
            return None;
        }
        let value = value.trim();
        let value = match value.strip_prefix('"') {
            Some(rest) => rest.strip_suffix('"')?.replace('\\', ""),
            None => value.to_owned(),
        };
        found = Some(host(&value)?);
    }
    found
}

/// The `for=` hops of a `Forwarded` header, left to right.
fn forwarded(value: &str) -> Vec<Option<IpAddr>> {
    split_outside_quotes(value, ',')
        .into_iter()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(forwarded_for)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_static(name),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    fn client(peer: &str, trusted: &[&str], pairs: &[(&'static str, &str)]) -> String {
        client_ip(Some(ip(peer)), &headers(pairs), &nets(trusted))
            .unwrap()
            .to_string()
    }

    const PROXIES: &[&str] = &["10.0.0.0/8", "fd00::/8"];

    #[test]
    fn headers_from_an_untrusted_peer_are_ignored() {
        let xff = [("x-forwarded-for", "203.0.113.9")];
        assert_eq!(client("198.51.100.1", &[], &xff), "198.51.100.1");
        assert_eq!(client("198.51.100.1", PROXIES, &xff), "198.51.100.1");
        let fwd = [("forwarded", "for=203.0.113.9")];
        assert_eq!(client("198.51.100.1", PROXIES, &fwd), "198.51.100.1");
        assert_eq!(client_ip(None, &headers(&xff), &nets(PROXIES)), None);
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        // The client wrote 1.1.1.1 itself; the proxies appended the rest.
        let xff = [("x-forwarded-for", "1.1.1.1, 203.0.113.9, 10.0.0.7")];
        assert_eq!(client("10.0.0.1", PROXIES, &xff), "203.0.113.9");
        let plain = [("x-forwarded-for", "203.0.113.9")];
        assert_eq!(client("10.0.0.1", PROXIES, &plain), "203.0.113.9");
        // Repeated header lines are one list, in order.
        let lines = [
            ("x-forwarded-for", "1.1.1.1"),
            ("x-forwarded-for", "203.0.113.9, 10.1.1.1"),
        ];
        assert_eq!(client("10.0.0.1", PROXIES, &lines), "203.0.113.9");
        // No header from a trusted peer: the peer itself.
        assert_eq!(client("10.0.0.1", PROXIES, &[]), "10.0.0.1");
        // Only trusted hops: the furthest of them.
        let inside = [("x-forwarded-for", "10.9.9.9, 10.0.0.7")];
        assert_eq!(client("10.0.0.1", PROXIES, &inside), "10.9.9.9");
    }

    #[test]
    fn ports_brackets_and_ipv6_are_understood() {
        for (value, want) in [
            ("203.0.113.9:4711", "203.0.113.9"),
            ("2001:db8::1", "2001:db8::1"),
            ("[2001:db8::1]", "2001:db8::1"),
            ("[2001:db8::1]:4711", "2001:db8::1"),
            ("::ffff:203.0.113.9", "203.0.113.9"),
        ] {
            let xff = [("x-forwarded-for", value)];
            assert_eq!(client("10.0.0.1", PROXIES, &xff), want, "{value}");
        }
        // A trusted IPv6 peer, and an IPv4-mapped trusted peer.
        let xff = [("x-forwarded-for", "203.0.113.9")];
        assert_eq!(client("fd00::1", PROXIES, &xff), "203.0.113.9");
        assert_eq!(client("::ffff:10.0.0.1", PROXIES, &xff), "203.0.113.9");
    }

    #[test]
    fn rfc7239_forwarded_is_read_when_there_is_no_x_forwarded_for() {
        for (value, want) in [
            ("for=192.0.2.60;proto=http;by=203.0.113.43", "192.0.2.60"),
            (r#"for="[2001:db8:cafe::17]:4711""#, "2001:db8:cafe::17"),
            (r#"for="[2001:db8:cafe::17]""#, "2001:db8:cafe::17"),
            (r#"For="192.0.2.43:47011""#, "192.0.2.43"),
            ("for=1.1.1.1, for=192.0.2.43, for=10.0.0.9", "192.0.2.43"),
            (r#"for=192.0.2.43;host="a,b;c", for=10.0.0.9"#, "192.0.2.43"),
            ("proto=https;for=192.0.2.43", "192.0.2.43"),
        ] {
            let fwd = [("forwarded", value)];
            assert_eq!(client("10.0.0.1", PROXIES, &fwd), want, "{value}");
        }
        // X-Forwarded-For wins when both are sent.
        let both = [
            ("forwarded", "for=192.0.2.43"),
            ("x-forwarded-for", "203.0.113.9"),
        ];
        assert_eq!(client("10.0.0.1", PROXIES, &both), "203.0.113.9");
    }

    #[test]
    fn garbage_on_the_walk_falls_back_to_the_peer() {
        for value in [
            "",
            "not-an-ip",
            "203.0.113.9, bogus",
            "[::1",
            "fe80::1%eth0",
            "1.2.3",
        ] {
            let xff = [("x-forwarded-for", value)];
            assert_eq!(client("10.0.0.1", PROXIES, &xff), "10.0.0.1", "{value:?}");
        }
        for value in [
            "for=unknown",
            "for=_hidden",
            "proto=https",
            "for=192.0.2.1;for=192.0.2.2",
            r#"for="192.0.2.1"#,
            "for",
        ] {
            let fwd = [("forwarded", value)];
            assert_eq!(client("10.0.0.1", PROXIES, &fwd), "10.0.0.1", "{value:?}");
        }
        // Garbage left of the client (written by the client) does not matter.
        let xff = [("x-forwarded-for", "<script>, 203.0.113.9")];
        assert_eq!(client("10.0.0.1", PROXIES, &xff), "203.0.113.9");
        // Not visible ASCII: unreadable, unless a proxy added a readable line after it.
        let mut map = HeaderMap::new();
        map.insert(
            X_FORWARDED_FOR,
            HeaderValue::from_bytes(b"203.0.113.9\xff").unwrap(),
        );
        let peer = Some(ip("10.0.0.1"));
        assert_eq!(client_ip(peer, &map, &nets(PROXIES)), peer);
        map.append(X_FORWARDED_FOR, HeaderValue::from_static("203.0.113.9"));
        assert_eq!(
            client_ip(peer, &map, &nets(PROXIES)),
            Some(ip("203.0.113.9"))
        );
        // A client's unclosed quote cannot swallow the line the proxy added.
        let lines = [
            ("forwarded", r#"for="1.1.1.1"#),
            ("forwarded", "for=192.0.2.43"),
        ];
        assert_eq!(client("10.0.0.1", PROXIES, &lines), "192.0.2.43");
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64() {
        assert_eq!(
            throttle_net(ip("203.0.113.9")).to_string(),
            "203.0.113.9/32"
        );
        assert_eq!(
            throttle_net(ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd")).to_string(),
            "2001:db8:1:2::/64"
        );
        assert_eq!(
            throttle_net(ip("2001:db8:1:2::1")),
            throttle_net(ip("2001:db8:1:2::ffff"))
        );
        assert_ne!(
            throttle_net(ip("2001:db8:1:2::1")),
            throttle_net(ip("2001:db8:1:3::1"))
        );
        assert_eq!(
            throttle_net(ip("::ffff:10.0.0.1")).to_string(),
            "10.0.0.1/32"
        );
    }
}
