//! Not a benchmark: what relaying costs the server, printed for the notes.
//! The server runs alone on a thread of its own (a current-thread runtime),
//! so that thread's CPU clock is the server's cost, client and peer excluded.

mod common;

use std::time::Duration;

use common::*;

fn thread_cpu(clock: libc::clockid_t) -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer; `clock` came from pthread_getcpuclockid.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn cpu_per_relayed_megabyte() {
    let echo = echo_peer().await;
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let server = start(config(41140..=41159, vec![echo]));
            let mut clock: libc::clockid_t = 0;
            // SAFETY: querying this thread's own CPU clock.
            let rc = unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut clock) };
            assert_eq!(rc, 0);
            addr_tx.send((server.udp_addr(), clock)).expect("send addr");
            let _ = stop_rx.await;
            server.stop().await;
        });
    });
    let (addr, clock) = addr_rx.recv().expect("server address");

    let mut c = Client::for_participant(addr, "cpu").await;
    c.allocate().await.expect("allocation");
    c.channel_bind(echo, 0x4000).await.expect("channel");

    const PACKET: usize = 1000;
    const TOTAL: usize = 10 * 1024 * 1024;
    const WINDOW: usize = 16;
    let payload = vec![0x5au8; PACKET];
    let packets = TOTAL / PACKET;
    let cpu0 = thread_cpu(clock);
    let wall0 = std::time::Instant::now();
    let (mut sent, mut got) = (0usize, 0usize);
    while got < packets {
        while sent < packets && sent - got < WINDOW {
            c.send_channel(0x4000, &payload).await;
            sent += 1;
        }
        match c.recv(Duration::from_millis(200)).await {
            Some(_) => got += 1,
            None => got = sent.min(packets), // a lost datagram; carry on
        }
    }
    let cpu = thread_cpu(clock) - cpu0;
    let wall = wall0.elapsed();
    let mb = (2 * TOTAL) as f64 / 1e6; // each byte crosses the relay twice
    println!(
        "turn relay cost: {mb:.1} MB relayed ({packets} x {PACKET} B each way) in {wall:?}; \
         server thread CPU {cpu:?} = {:.2} ms CPU per MB, {:.1} µs per packet",
        cpu.as_secs_f64() * 1e3 / mb,
        cpu.as_secs_f64() * 1e6 / (2 * packets) as f64
    );
    let _ = stop_tx.send(());
    thread.join().expect("server thread");
}
