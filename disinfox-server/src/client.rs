//! The client's address: the peer of the TCP connection, or, when that peer is a trusted
//! reverse proxy (the `trusted_proxies` setting), the address the proxies name in
//! `X-Forwarded-For`.
//!
//! Each proxy appends the address it received the request from to `X-Forwarded-For`, so the
//! list reads client, proxy 1, proxy 2, … and only the entries appended by our own proxies
//! can be believed: anything to their left may have been written by the client. The client is
//! therefore the right-most entry that is not a trusted proxy (walking right to left from the
//! peer, skipping trusted hops). Without trusted proxies, the header is ignored.
//!
//! Sign-in throttling, registration throttling, the rate limit of anonymous page views and the
//! audit log key on this address; IPv6 addresses are throttled per /64 ([`ClientAddr::bucket`]),
//! since one subscriber usually holds a whole /64.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::http::{header, HeaderMap};

/// An address or a CIDR range, e.g. `10.0.0.0/8`, `192.0.2.7`, `2001:db8::/32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `ADDRESS` or `ADDRESS/PREFIX`.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a.trim().parse().ok()?;
        let addr = addr.to_canonical();
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) => p.trim().parse::<u8>().ok().filter(|p| *p <= max)?,
            None => max,
        };
        Some(Self { addr, prefix })
    }

    /// Whether `ip` lies in the range.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Parses a comma- or space-separated list of addresses and ranges; the error names the entry.
pub fn parse_cidrs(s: &str) -> Result<Vec<Cidr>, String> {
    s.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|e| !e.is_empty())
        .map(|e| Cidr::parse(e).ok_or_else(|| format!("{e:?} is not an IP address or CIDR range")))
        .collect()
}

/// The address a request comes from (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

impl ClientAddr {
    /// The unknown address (a request that did not come over a TCP connection: tests).
    pub const UNKNOWN: Self = Self(IpAddr::V6(Ipv6Addr::UNSPECIFIED));

    /// The key throttles count under: the address, with IPv6 cut to its /64.
    pub fn bucket(&self) -> IpAddr {
        match self.0 {
            IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & (u128::MAX << 64))),
            v4 => v4,
        }
    }
}

impl std::fmt::Display for ClientAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// One entry of `X-Forwarded-For`: an address, possibly with a port or in brackets.
fn forwarded_entry(e: &str) -> Option<IpAddr> {
    let e = e.trim().trim_matches('"');
    e.parse::<IpAddr>()
        .ok()
        .or_else(|| e.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            e.strip_prefix('[')
                .and_then(|r| r.strip_suffix(']'))
                .and_then(|r| r.parse().ok())
        })
        .map(|ip: IpAddr| ip.to_canonical())
}

/// The client of a request that arrived from `peer` with `headers`, trusting `trusted`.
pub fn client_addr(peer: IpAddr, headers: &HeaderMap, trusted: &[Cidr]) -> ClientAddr {
    let peer = peer.to_canonical();
    if !trusted.iter().any(|c| c.contains(peer)) {
        return ClientAddr(peer);
    }
    // Every X-Forwarded-For header, in order, as one list.
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect();
    let mut client = peer;
    for e in entries.iter().rev() {
        match forwarded_entry(e) {
            Some(ip) if trusted.iter().any(|c| c.contains(ip)) => client = ip,
            Some(ip) => return ClientAddr(ip),
            // A trusted proxy passed on something that is not an address: the last hop we
            // could check is the best we know.
            None => break,
        }
    }
    ClientAddr(client)
}

/// Whether a request carries more than one `Authorization` header (refused: which one a
/// proxy or a server believes differs, so none is).
pub fn repeated_authorization(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .nth(1)
        .is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ranges() {
        let c = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(c.contains(ip("10.200.1.2")) && !c.contains(ip("11.0.0.1")));
        assert!(c.contains(ip("::ffff:10.1.1.1")), "IPv4-mapped IPv6");
        let one = Cidr::parse("192.0.2.7").unwrap();
        assert!(one.contains(ip("192.0.2.7")) && !one.contains(ip("192.0.2.8")));
        let v6 = Cidr::parse("2001:db8::/32").unwrap();
        assert!(v6.contains(ip("2001:db8:1::5")) && !v6.contains(ip("2001:db9::1")));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        for bad in ["10.0.0.0/33", "nonsense", "10.0.0/8", "::/129", ""] {
            assert!(Cidr::parse(bad).is_none(), "{bad}");
        }
        assert_eq!(parse_cidrs("10.0.0.1, ::1 172.16.0.0/12").unwrap().len(), 3);
        assert!(parse_cidrs("10.0.0.1,proxy")
            .unwrap_err()
            .contains("\"proxy\""));
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn the_client_is_the_right_most_untrusted_hop() {
        let trusted = parse_cidrs("127.0.0.1, 10.0.0.0/8").unwrap();
        let proxy = ip("127.0.0.1");
        // Without trusted proxies the header is ignored.
        assert_eq!(
            client_addr(ip("203.0.113.9"), &xff(&["1.2.3.4"]), &trusted).0,
            ip("203.0.113.9")
        );
        assert_eq!(
            client_addr(proxy, &xff(&["1.2.3.4"]), &[]).0,
            proxy,
            "no trusted proxies: the peer"
        );
        // The client wrote a fake first entry; our proxies appended the real one.
        assert_eq!(
            client_addr(proxy, &xff(&["6.6.6.6, 198.51.100.4, 10.1.2.3"]), &trusted).0,
            ip("198.51.100.4")
        );
        // Several headers are one list.
        assert_eq!(
            client_addr(proxy, &xff(&["6.6.6.6", "198.51.100.4:5555"]), &trusted).0,
            ip("198.51.100.4")
        );
        assert_eq!(
            client_addr(proxy, &xff(&["[2001:db8::1]:80"]), &trusted).0,
            ip("2001:db8::1")
        );
        // Only trusted hops: the left-most of them; no header: the proxy itself.
        assert_eq!(
            client_addr(proxy, &xff(&["10.9.9.9, 10.1.1.1"]), &trusted).0,
            ip("10.9.9.9")
        );
        assert_eq!(client_addr(proxy, &xff(&[]), &trusted).0, proxy);
        // Garbage from a trusted hop: the last hop we could check.
        assert_eq!(
            client_addr(proxy, &xff(&["1.1.1.1, garbage, 10.0.0.5"]), &trusted).0,
            ip("10.0.0.5")
        );
    }

    #[test]
    fn ipv6_clients_are_throttled_per_64() {
        let a = ClientAddr(ip("2001:db8:1:2:aaaa::1")).bucket();
        let b = ClientAddr(ip("2001:db8:1:2:bbbb::7")).bucket();
        assert_eq!(a, b);
        assert_ne!(a, ClientAddr(ip("2001:db8:1:3::1")).bucket());
        assert_eq!(ClientAddr(ip("192.0.2.1")).bucket(), ip("192.0.2.1"));
    }
}
