//! Which peers an allocation may talk to.
//!
//! A TURN server that relays anywhere is an open proxy into the network it
//! sits in. Peers in loopback, private (RFC 1918, fc00::/7), link-local,
//! unspecified, multicast and broadcast ranges are refused, except the
//! addresses the server was told to allow (the SFU's own media addresses).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Peers outside the refused ranges are allowed; inside them only what
/// `allow` lists (a port of 0 there stands for any port of that IP).
#[derive(Debug, Clone, Default)]
pub(crate) struct PeerPolicy {
    allow: Vec<SocketAddr>,
}

impl PeerPolicy {
    pub(crate) fn new(allow: Vec<SocketAddr>) -> Self {
        let allow = allow
            .into_iter()
            .map(|a| SocketAddr::new(canonical(a.ip()), a.port()))
            .collect();
        Self { allow }
    }

    /// May data be relayed to `peer`?
    pub(crate) fn allows(&self, peer: SocketAddr) -> bool {
        let ip = canonical(peer.ip());
        if !is_restricted(ip) {
            return true;
        }
        self.allow
            .iter()
            .any(|a| a.ip() == ip && (a.port() == 0 || a.port() == peer.port()))
    }
}

/// IPv4-mapped IPv6 addresses are judged as the IPv4 address they carry.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// Loopback, private, link-local, unspecified, multicast or broadcast.
pub(crate) fn is_restricted(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => is_restricted_v4(v4),
        IpAddr::V6(v6) => is_restricted_v6(v6),
    }
}

fn is_restricted_v4(ip: Ipv4Addr) -> bool {
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.octets()[0] == 0 // 0.0.0.0/8, "this network"
        || ip.is_multicast()
        || ip.is_broadcast()
}

fn is_restricted_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // fc00::/7 unique local
        || (first & 0xffc0) == 0xfe80 // fe80::/10 link-local
        || (first & 0xffc0) == 0xfec0 // fec0::/10 site-local (deprecated, still private)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().expect("socket address")
    }

    #[test]
    fn ranges() {
        for bad in [
            "127.0.0.1:1",
            "10.0.0.1:1",
            "172.16.5.4:1",
            "192.168.1.1:1",
            "169.254.1.1:1",
            "0.0.0.0:1",
            "0.1.2.3:1",
            "224.0.0.1:1",
            "255.255.255.255:1",
            "[::1]:1",
            "[::]:1",
            "[fd00::1]:1",
            "[fe80::1]:1",
            "[ff02::1]:1",
            "[::ffff:127.0.0.1]:1",
            "[::ffff:10.1.1.1]:1",
        ] {
            assert!(!PeerPolicy::default().allows(sa(bad)), "{bad}");
        }
        for good in ["8.8.8.8:53", "[2001:4860::8888]:53", "172.32.0.1:1"] {
            assert!(PeerPolicy::default().allows(sa(good)), "{good}");
        }
    }

    #[test]
    fn allow_list() {
        let p = PeerPolicy::new(vec![sa("127.0.0.1:7882"), sa("10.0.0.5:0")]);
        assert!(p.allows(sa("127.0.0.1:7882")));
        assert!(p.allows(sa("[::ffff:127.0.0.1]:7882")));
        assert!(!p.allows(sa("127.0.0.1:7883")));
        assert!(p.allows(sa("10.0.0.5:1234")));
        assert!(!p.allows(sa("10.0.0.6:1234")));
    }
}
