//! A peer spraying garbage UDP does not disturb the others.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_udp_does_not_disturb_others() {
    let call = Call::start();
    let alice = call.join("alice", "default:noisy").await;
    alice.publish(camera(false)).await.unwrap();
    let bob = call.join("bob", "default:noisy").await;
    bob.wait_for(WAIT, |s| video(s, "alice").is_some_and(|v| v.frames > 10))
        .await
        .unwrap();

    let target = call.udp();
    let spray = std::thread::spawn(move || {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut seed = 0x9e37_79b9_u32;
        for i in 0..20_000u32 {
            let len = 1 + (seed % 1400) as usize;
            let packet: Vec<u8> = (0..len)
                .map(|j| {
                    seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    // Some look like STUN, RTP or DTLS at first glance.
                    match (i % 4, j) {
                        (0, 0) => 0x00,
                        (1, 0) => 0x80,
                        (2, 0) => 0x16,
                        _ => (seed >> 24) as u8,
                    }
                })
                .collect();
            let _ = socket.send_to(&packet, &target);
        }
    });
    let before = video(&bob.stats(), "alice").unwrap().frames;
    spray.join().unwrap();
    bob.wait_for(WAIT, |s| {
        video(s, "alice").is_some_and(|v| v.frames > before + 45)
    })
    .await
    .unwrap_or_else(|s| panic!("media stalled during the garbage: {s:?}"));
    // A newcomer can still join.
    let carol = call.join("carol", "default:noisy").await;
    carol
        .wait_for(WAIT, |s| video(s, "alice").is_some_and(|v| v.frames > 10))
        .await
        .unwrap();
}
