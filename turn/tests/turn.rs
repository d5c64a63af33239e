//! The TURN server against a hand-made client on real loopback sockets.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use onair_turn::{credentials, RefuseReason};

const WAIT: Duration = Duration::from_secs(3);

#[tokio::test]
async fn relays_both_ways_to_an_allowed_peer() {
    let echo = echo_peer().await;
    let server = start(config(41000..=41019, vec![echo]));
    let mut c = Client::for_participant(server.udp_addr(), "alice").await;

    let relayed = c.allocate().await.expect("allocation");
    assert_eq!(relayed.ip(), localhost());
    assert!((41000..=41019).contains(&relayed.port()), "{relayed}");
    assert_eq!(server.stats().allocations, 1);
    assert_eq!(server.stats().allocations_total, 1);

    // Send indication out, Data indication back.
    c.create_permission(echo).await.expect("permission");
    c.send_indication(echo, b"hello peer").await;
    assert_eq!(
        c.recv(WAIT).await,
        Some(Incoming::Data {
            peer: echo,
            data: b"hello peer".to_vec()
        })
    );

    // ChannelData both ways.
    c.channel_bind(echo, 0x4001).await.expect("channel");
    c.send_channel(0x4001, b"over a channel").await;
    assert_eq!(
        c.recv(WAIT).await,
        Some(Incoming::Channel {
            channel: 0x4001,
            data: b"over a channel".to_vec()
        })
    );

    let n = (b"hello peer".len() + b"over a channel".len()) as u64;
    eventually("bytes counted", || server.stats().relayed_bytes() == 2 * n).await;
    let s = server.stats();
    assert_eq!(s.relayed_bytes_to_peers, n);
    assert_eq!(s.relayed_bytes_to_clients, n);

    // Deleting the allocation frees it.
    c.refresh(0).await.expect("refresh 0");
    eventually("allocation gone", || server.stats().allocations == 0).await;
    assert_eq!(server.stats().allocations_total, 1);
    server.stop().await;
}

#[tokio::test]
async fn refuses_private_loopback_and_link_local_peers() {
    let echo = echo_peer().await;
    let server = start(config(41020..=41039, vec![echo]));
    let mut c = Client::for_participant(server.udp_addr(), "mallory").await;
    c.allocate().await.expect("allocation");

    let other_local_port = SocketAddr::new(localhost(), echo.port().wrapping_add(1).max(1));
    let refused: Vec<SocketAddr> = vec![
        other_local_port,
        "10.0.0.1:3478".parse().expect("addr"),
        "192.168.1.1:3478".parse().expect("addr"),
        "172.16.0.1:3478".parse().expect("addr"),
        "169.254.1.1:3478".parse().expect("addr"),
        "0.0.0.0:3478".parse().expect("addr"),
        "224.0.0.1:3478".parse().expect("addr"),
        "255.255.255.255:3478".parse().expect("addr"),
        "[::1]:3478".parse().expect("addr"),
        "[fd00::1]:3478".parse().expect("addr"),
        "[fe80::1]:3478".parse().expect("addr"),
    ];
    for peer in &refused {
        assert_eq!(
            c.create_permission(*peer).await,
            Err(403),
            "CreatePermission to {peer}"
        );
    }
    assert_eq!(
        c.channel_bind(other_local_port, 0x4002).await,
        Err(403),
        "ChannelBind"
    );
    assert_eq!(
        server.stats().refused(RefuseReason::ForbiddenPeer),
        refused.len() as u64 + 1
    );

    // A Send indication toward a refused peer goes nowhere, and is counted.
    c.send_indication(other_local_port, b"x").await;
    eventually("send refused", || {
        server.stats().refused(RefuseReason::ForbiddenPeer) == refused.len() as u64 + 2
    })
    .await;

    // The permission to the allowed address does not open the rest of
    // 127.0.0.1: permissions are per IP, the allow-list per address.
    c.create_permission(echo).await.expect("allowed peer");
    let stray = tokio::net::UdpSocket::bind((localhost(), 0))
        .await
        .expect("bind");
    c.channel_bind(echo, 0x4003).await.expect("channel");
    c.send_indication(stray.local_addr().expect("addr"), b"leak?")
        .await;
    let mut buf = [0u8; 64];
    assert!(
        tokio::time::timeout(Duration::from_millis(300), stray.recv_from(&mut buf))
            .await
            .is_err(),
        "nothing may reach a loopback port outside the allow-list"
    );
    // ...and nothing from it reaches the client.
    stray
        .send_to(b"in?", c.relayed.expect("relayed"))
        .await
        .expect("send");
    assert_eq!(c.recv(Duration::from_millis(300)).await, None);
    assert_eq!(server.stats().relayed_bytes(), 0);
    server.stop().await;
}

#[tokio::test]
async fn refuses_bad_credentials() {
    let server = start(config(41040..=41059, vec![]));
    let addr = server.udp_addr();

    // Forged password: right format, wrong HMAC.
    let (user, _) = credentials(SECRET, "eve", unix_now() + 3600);
    let mut c = Client::udp(addr, &user, "bm90IHRoZSBwYXNzd29yZA==").await;
    assert_eq!(c.allocate().await, Err(401));
    assert_eq!(server.stats().refused(RefuseReason::BadCredentials), 1);

    // Signed with another secret.
    let (user, pass) = credentials(b"another secret", "eve", unix_now() + 3600);
    let mut c = Client::udp(addr, &user, &pass).await;
    assert_eq!(c.allocate().await, Err(401));
    assert_eq!(server.stats().refused(RefuseReason::BadCredentials), 2);

    // Expired, though correctly signed.
    let (user, pass) = credentials(SECRET, "eve", unix_now() - 10);
    let mut c = Client::udp(addr, &user, &pass).await;
    assert_eq!(c.allocate().await, Err(401));
    assert_eq!(server.stats().refused(RefuseReason::Expired), 1);

    // Malformed usernames, each "signed" the way the server would sign it.
    for user in ["eve", ":eve", "soon:eve", "12:", "-5:eve"] {
        let pass = onair_turn_password(user);
        let mut c = Client::udp(addr, user, &pass).await;
        assert_eq!(c.allocate().await, Err(401), "{user:?}");
    }
    assert_eq!(server.stats().refused(RefuseReason::BadUsername), 5);
    assert_eq!(server.stats().allocations_total, 0);

    // A good one still works.
    let mut c = Client::for_participant(addr, "eve").await;
    c.allocate().await.expect("valid credentials");
    server.stop().await;
}

/// What `credentials` would give for an arbitrary username.
fn onair_turn_password(username: &str) -> String {
    // credentials(secret, p, e) signs "{e}:{p}"; split so it signs `username`.
    match username.split_once(':') {
        Some((e, p)) if e.parse::<u64>().is_ok() => {
            credentials(SECRET, p, e.parse().unwrap_or(0)).1
        }
        _ => credentials(SECRET, username, 0).1, // some password; the format is what fails
    }
}

#[tokio::test]
async fn limits_allocations_per_participant() {
    let server = start(config(41060..=41079, vec![]));
    let addr = server.udp_addr();
    let mut first = Client::for_participant(addr, "bob").await;
    let mut second = Client::for_participant(addr, "bob").await;
    let mut third = Client::for_participant(addr, "bob").await;
    first.allocate().await.expect("1st");
    second.allocate().await.expect("2nd");
    assert_eq!(third.allocate().await, Err(486));
    assert_eq!(server.stats().refused(RefuseReason::Quota), 1);

    // Someone else is not affected.
    let mut carol = Client::for_participant(addr, "carol").await;
    carol.allocate().await.expect("carol");

    // Freeing one makes room.
    first.refresh(0).await.expect("delete");
    eventually("freed", || server.stats().allocations == 2).await;
    third.allocate().await.expect("3rd after a free slot");
    assert_eq!(server.stats().allocations, 3);
    assert_eq!(server.stats().allocations_total, 4);
    server.stop().await;
}

#[tokio::test]
async fn survives_garbage() {
    let echo = echo_peer().await;
    let server = start(config(41080..=41099, vec![echo]));
    let addr = server.udp_addr();
    let junk = tokio::net::UdpSocket::bind((localhost(), 0))
        .await
        .expect("bind");
    let mut header = vec![0x00, 0x03, 0xff, 0xf0, 0x21, 0x12, 0xa4, 0x42];
    header.extend([7u8; 12]);
    let mut lies = header.clone(); // claims 65520 bytes, has 4
    lies.extend([1, 2, 3, 4]);
    let mut bad_attr = vec![0x00, 0x03, 0x00, 0x08, 0x21, 0x12, 0xa4, 0x42];
    bad_attr.extend([9u8; 12]);
    bad_attr.extend([0x00, 0x06, 0xff, 0xff, b'a', b'b', b'c', b'd']); // USERNAME longer than the message
    let mut rng_state = 0x9e3779b97f4a7c15u64;
    let mut datagrams: Vec<Vec<u8>> = vec![
        vec![],
        vec![0],
        vec![0xff; 3],
        vec![0x40, 0x01, 0xff, 0xff, 1, 2], // ChannelData, no allocation, lying length
        vec![0x40, 0x01, 0x00, 0x02, 1, 2, 3, 4, 5], // ChannelData, no allocation
        header,
        lies,
        bad_attr,
        vec![0u8; 1500],
        vec![0xff; 65_000],
    ];
    for _ in 0..500 {
        let len = (rng_state % 300) as usize;
        let mut d = Vec::with_capacity(len);
        for _ in 0..len {
            rng_state ^= rng_state << 13;
            rng_state ^= rng_state >> 7;
            rng_state ^= rng_state << 17;
            d.push(rng_state as u8);
        }
        if !d.is_empty() {
            d[0] &= 0x7f; // mostly STUN- or ChannelData-looking
        }
        datagrams.push(d);
    }
    for d in &datagrams {
        junk.send_to(d, addr).await.expect("send junk");
    }

    let mut c = Client::for_participant(addr, "after-junk").await;
    c.allocate().await.expect("still serving");
    c.create_permission(echo).await.expect("permission");
    c.send_indication(echo, b"alive").await;
    assert_eq!(
        c.recv(WAIT).await,
        Some(Incoming::Data {
            peer: echo,
            data: b"alive".to_vec()
        })
    );
    // Junk sent to a relay socket is dropped as well.
    junk.send_to(&[0xde, 0xad], c.relayed.expect("relayed"))
        .await
        .expect("send");
    c.send_indication(echo, b"still alive").await;
    assert_eq!(
        c.recv(WAIT).await,
        Some(Incoming::Data {
            peer: echo,
            data: b"still alive".to_vec()
        })
    );
    server.stop().await;
}

#[tokio::test]
async fn relays_over_tls() {
    let echo = echo_peer().await;
    let (server_tls, client_tls) = tls_config();
    let server = start(with_tls(config(41100..=41119, vec![echo]), server_tls));
    let tls_addr = server.tls_addr().expect("TLS listening");
    let (user, pass) = credentials(SECRET, "dave", unix_now() + 3600);
    let mut c = Client::tls(tls_addr, client_tls.clone(), &user, &pass).await;
    c.allocate().await.expect("allocation over TLS");
    c.create_permission(echo).await.expect("permission");
    assert_eq!(
        c.create_permission("10.0.0.1:1".parse().expect("addr"))
            .await,
        Err(403)
    );
    c.send_indication(echo, b"via tls").await;
    assert_eq!(
        c.recv(WAIT).await,
        Some(Incoming::Data {
            peer: echo,
            data: b"via tls".to_vec()
        })
    );
    c.channel_bind(echo, 0x4010).await.expect("channel");
    c.send_channel(0x4010, b"odd").await; // padded to 4 over TCP
    assert_eq!(
        c.recv(WAIT).await,
        Some(Incoming::Channel {
            channel: 0x4010,
            data: b"odd".to_vec()
        })
    );
    // The padding did not desynchronise the stream: more frames follow.
    c.send_channel(0x4010, b"four").await;
    c.send_indication(echo, b"and a Send").await;
    assert_eq!(
        c.recv(WAIT).await,
        Some(Incoming::Channel {
            channel: 0x4010,
            data: b"four".to_vec()
        })
    );
    assert_eq!(
        c.recv(WAIT).await,
        Some(Incoming::Channel {
            channel: 0x4010,
            data: b"and a Send".to_vec()
        })
    );
    // The same participant over UDP shares the quota (2).
    let mut u = Client::udp(server.udp_addr(), &user, &pass).await;
    u.allocate().await.expect("2nd, over UDP");
    let mut u2 = Client::udp(server.udp_addr(), &user, &pass).await;
    assert_eq!(u2.allocate().await, Err(486));

    // A wrong password over TLS is refused too.
    let mut bad = Client::tls(tls_addr, client_tls, &user, "d3JvbmcgcGFzc3dvcmQ=").await;
    assert_eq!(bad.allocate().await, Err(401));
    server.stop().await;
}

#[tokio::test]
async fn stop_closes_sockets() {
    let server = start(config(41120..=41139, vec![]));
    let addr = server.udp_addr();
    let mut c = Client::for_participant(addr, "frank").await;
    let relayed = c.allocate().await.expect("allocation");
    server.stop().await;
    // Both the listen port and the relay port are free again.
    std::net::UdpSocket::bind(addr).expect("listen port released");
    std::net::UdpSocket::bind(relayed).expect("relay port released");
}
