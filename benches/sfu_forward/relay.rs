//! The reference: a plain UDP relay (no crypto, no RTP) on the same
//! machine in the same run. One thread receives each datagram and sends
//! it on to each of N sockets; a sender feeds it and a drain empties the
//! sinks. The figure is packets sent per CPU-second of the relay thread.

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::{pin, thread_cpu};

/// The relay sending with one `send_to` per destination, unpinned, as the
/// light-load run's reference.
pub fn plain_relay(seconds: u64, fan_out: usize) -> f64 {
    run(seconds, fan_out, false, None)
}

/// The relay on core `relay` sending each datagram to all destinations in
/// one `sendmmsg` call, the sender and sinks on core `load`.
pub fn pinned_relay(seconds: u64, fan_out: usize, relay: usize, load: usize) -> f64 {
    run(seconds, fan_out, true, Some((relay, load)))
}

fn run(seconds: u64, fan_out: usize, batched: bool, cores: Option<(usize, usize)>) -> f64 {
    let relay = UdpSocket::bind("127.0.0.1:0").unwrap();
    let relay_addr = relay.local_addr().unwrap();
    relay
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let sinks: Vec<UdpSocket> = (0..fan_out)
        .map(|_| {
            let s = UdpSocket::bind("127.0.0.1:0").unwrap();
            s.set_nonblocking(true).unwrap();
            s
        })
        .collect();
    let sink_addrs: Vec<SocketAddr> = sinks.iter().map(|s| s.local_addr().unwrap()).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let tid = Arc::new(AtomicI32::new(0));
    let relay_thread = {
        let (stop, count, tid) = (stop.clone(), count.clone(), tid.clone());
        std::thread::spawn(move || {
            if let Some((core, _)) = cores {
                pin(0, core);
            }
            // SAFETY: gettid has no preconditions.
            tid.store(unsafe { libc::gettid() }, Ordering::Relaxed);
            let mut buf = [0u8; 2000];
            let mut batch = Batch::new(&sink_addrs);
            while !stop.load(Ordering::Relaxed) {
                if let Ok((n, _)) = relay.recv_from(&mut buf) {
                    if batched {
                        batch.send(&relay, &buf[..n]);
                    } else {
                        for addr in &sink_addrs {
                            let _ = relay.send_to(&buf[..n], addr);
                        }
                    }
                    count.fetch_add(sink_addrs.len() as u64, Ordering::Relaxed);
                }
            }
        })
    };
    let load_core = cores.map(|(_, load)| load);
    let drain = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            if let Some(core) = load_core {
                pin(0, core);
            }
            let mut buf = [0u8; 2000];
            while !stop.load(Ordering::Relaxed) {
                let mut idle = true;
                for sink in &sinks {
                    while sink.recv_from(&mut buf).is_ok() {
                        idle = false;
                    }
                }
                if idle {
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
        })
    };
    let send = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            if let Some(core) = load_core {
                pin(0, core);
            }
            let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
            let packet = [0x80u8; 1100];
            // As many datagrams in as the relay's fan-out lets it send on.
            let burst = (64 / fan_out).max(1);
            while !stop.load(Ordering::Relaxed) {
                for _ in 0..burst {
                    let _ = socket.send_to(&packet, relay_addr);
                }
                std::thread::yield_now();
            }
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    let tid = tid.load(Ordering::Relaxed);
    let (c0, s0) = (thread_cpu(tid), count.load(Ordering::Relaxed));
    std::thread::sleep(Duration::from_secs(seconds));
    let (c1, s1) = (thread_cpu(tid), count.load(Ordering::Relaxed));
    stop.store(true, Ordering::Relaxed);
    for t in [relay_thread, drain, send] {
        let _ = t.join();
    }
    (s1 - s0) as f64 / (c1 - c0).max(1e-9)
}

/// One `sendmmsg` of the same datagram to every destination, with its
/// headers made once.
struct Batch {
    addrs: Vec<libc::sockaddr_in>,
    msgs: Vec<libc::mmsghdr>,
    iov: libc::iovec,
}

impl Batch {
    fn new(dests: &[SocketAddr]) -> Self {
        let addrs = dests
            .iter()
            .map(|a| {
                let SocketAddr::V4(v4) = a else {
                    unreachable!("loopback IPv4 sinks")
                };
                libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: v4.port().to_be(),
                    sin_addr: libc::in_addr {
                        s_addr: u32::from(*v4.ip()).to_be(),
                    },
                    sin_zero: [0; 8],
                }
            })
            .collect();
        // SAFETY: an all-zero mmsghdr is a valid empty header.
        let msgs = vec![unsafe { std::mem::zeroed::<libc::mmsghdr>() }; dests.len()];
        let iov = libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        };
        Batch { addrs, msgs, iov }
    }

    fn send(&mut self, socket: &UdpSocket, datagram: &[u8]) {
        self.iov = libc::iovec {
            iov_base: datagram.as_ptr() as *mut libc::c_void,
            iov_len: datagram.len(),
        };
        for (m, addr) in self.msgs.iter_mut().zip(self.addrs.iter_mut()) {
            m.msg_hdr.msg_name = addr as *mut libc::sockaddr_in as *mut libc::c_void;
            m.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as u32;
            m.msg_hdr.msg_iov = &mut self.iov;
            m.msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: every header points at `self.iov` and one of `self.addrs`,
        // alive for the call; the kernel only reads them.
        unsafe {
            let fd = socket.as_raw_fd();
            libc::sendmmsg(fd, self.msgs.as_mut_ptr(), self.msgs.len() as u32, 0);
        }
    }
}
