//! Where OnAir may connect on a user's behalf. An RTMP push target is a
//! URL a user types; without a rule, it is a way to make the server talk
//! to its own loopback services, the private network behind it, or cloud
//! metadata endpoints (server-side request forgery).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Whether OnAir may connect to `ip` for a user: not loopback, private,
/// link-local, shared (CGNAT), unspecified, multicast, broadcast or
/// documentation space, and not one of the node's `own` addresses.
pub fn is_public_target(ip: IpAddr, own: &[IpAddr]) -> bool {
    if own.contains(&ip) {
        return false;
    }
    match ip {
        IpAddr::V4(v4) => public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => public_v4(v4),
            None => public_v6(v6),
        },
    }
}

fn public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    let shared = a == 100 && (64..128).contains(&b);
    let reserved = a >= 240 || a == 0;
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || shared
        || reserved)
}

fn public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    let unique_local = first & 0xfe00 == 0xfc00;
    let link_local = first & 0xffc0 == 0xfe80;
    let documentation = first == 0x2001 && ip.segments()[1] == 0x0db8;
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || unique_local
        || link_local
        || documentation)
}

/// The host and port an `rtmp://` or `rtmps://` URL connects to (a user
/// part is skipped; IPv6 hosts come without brackets; the default ports are
/// 1935 and 443).
pub fn rtmp_host_port(url: &str) -> (String, u16) {
    let (scheme, rest) = url.trim().split_once("://").unwrap_or(("rtmp", url));
    let authority = rest.split('/').next().unwrap_or("");
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let default_port = if scheme == "rtmps" { 443 } else { 1935 };
    let (host, port) = match authority.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((host, tail)) => (host, tail.strip_prefix(':')),
            None => (rest, None),
        },
        None => match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    let port = port.and_then(|p| p.parse().ok()).unwrap_or(default_port);
    (host.to_owned(), port)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_ports_of_rtmp_urls() {
        let hp = |u: &str| rtmp_host_port(u);
        assert_eq!(hp("rtmp://a.example/live"), ("a.example".into(), 1935));
        assert_eq!(hp("rtmps://a.example/live"), ("a.example".into(), 443));
        assert_eq!(hp("rtmp://a.example:1936/x/k"), ("a.example".into(), 1936));
        assert_eq!(hp("rtmp://[::1]:19352/live"), ("::1".into(), 19352));
        assert_eq!(
            hp("rtmp://u:p@127.0.0.1:19352/live"),
            ("127.0.0.1".into(), 19352)
        );
    }

    fn public(s: &str) -> bool {
        is_public_target(s.parse().unwrap(), &[])
    }

    #[test]
    fn internal_addresses_are_refused() {
        for ip in [
            "127.0.0.1",
            "127.9.9.9",
            "10.0.0.1",
            "172.16.5.5",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
        ] {
            assert!(!public(ip), "{ip}");
        }
    }

    #[test]
    fn public_addresses_are_allowed_unless_our_own() {
        for ip in ["8.8.8.8", "142.250.1.1", "2607:f8b0::1", "100.128.0.1"] {
            assert!(public(ip), "{ip}");
        }
        let own: IpAddr = "8.8.4.4".parse().unwrap();
        let other: IpAddr = "198.51.99.1".parse().unwrap();
        assert!(!is_public_target(own, &[own]));
        assert!(is_public_target(other, &[own]));
    }
}
