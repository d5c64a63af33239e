//! Sending many datagrams in one system call (`sendmmsg`): the worker
//! forwards one packet to every subscriber, and each `send_to` would pay
//! the system call's entry and exit again. The headers are kept between
//! calls, so a batch allocates nothing once warm.

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;

use str0m::net::Transmit;

/// Datagrams per system call.
const MAX_BATCH: usize = 64;

/// Datagrams waiting to be sent, and the headers to send them with.
pub struct SendBatch {
    queued: Vec<Transmit>,
    addrs: Vec<libc::sockaddr_storage>,
    iovs: Vec<libc::iovec>,
    msgs: Vec<libc::mmsghdr>,
}

// SAFETY: the raw pointers in `iovs` and `msgs` are only set and used
// inside `send`, pointing at data `send` borrows for the call.
unsafe impl Send for SendBatch {}

impl SendBatch {
    /// An empty batch.
    pub fn new() -> Self {
        SendBatch {
            queued: Vec::with_capacity(MAX_BATCH),
            // SAFETY: all-zero sockaddr_storage, iovec and mmsghdr are valid.
            addrs: vec![unsafe { std::mem::zeroed() }; MAX_BATCH],
            iovs: vec![unsafe { std::mem::zeroed() }; MAX_BATCH],
            msgs: vec![unsafe { std::mem::zeroed() }; MAX_BATCH],
        }
    }

    /// Queues a datagram; sends the batch when it is full.
    pub fn push(&mut self, socket: &UdpSocket, t: Transmit) {
        self.queued.push(t);
        if self.queued.len() == MAX_BATCH {
            self.send(socket);
        }
    }

    /// Sends what is queued.
    pub fn send(&mut self, socket: &UdpSocket) {
        let n = self.queued.len();
        if n == 0 {
            return;
        }
        for (i, t) in self.queued.iter().enumerate() {
            let len = write_sockaddr(&mut self.addrs[i], t.destination);
            self.iovs[i] = libc::iovec {
                iov_base: t.contents.as_ptr() as *mut libc::c_void,
                iov_len: t.contents.len(),
            };
            let hdr = &mut self.msgs[i].msg_hdr;
            hdr.msg_name = &mut self.addrs[i] as *mut libc::sockaddr_storage as *mut libc::c_void;
            hdr.msg_namelen = len;
            hdr.msg_iov = &mut self.iovs[i];
            hdr.msg_iovlen = 1;
        }
        let mut sent = 0;
        while sent < n {
            // SAFETY: headers `sent..n` point at addresses, iovecs and
            // datagrams alive until `queued` is cleared below.
            let r = unsafe {
                let msgs = self.msgs.as_mut_ptr().add(sent);
                libc::sendmmsg(socket.as_raw_fd(), msgs, (n - sent) as u32, 0)
            };
            if r <= 0 {
                // The first one failed (a full buffer, an unreachable
                // address): it is dropped, as a `send_to` error would be.
                tracing::trace!(error = %std::io::Error::last_os_error(), "udp send");
                sent += 1;
            } else {
                sent += r as usize;
            }
        }
        self.queued.clear();
    }
}

/// Writes `addr` as the kernel reads it; returns its length.
fn write_sockaddr(out: &mut libc::sockaddr_storage, addr: SocketAddr) -> libc::socklen_t {
    match addr {
        SocketAddr::V4(a) => {
            // SAFETY: sockaddr_storage is large and aligned enough for sockaddr_in.
            let sin = unsafe { &mut *(out as *mut _ as *mut libc::sockaddr_in) };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr = libc::in_addr {
                s_addr: u32::from(*a.ip()).to_be(),
            };
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t
        }
        SocketAddr::V6(a) => {
            // SAFETY: sockaddr_storage is large and aligned enough for sockaddr_in6.
            let sin6 = unsafe { &mut *(out as *mut _ as *mut libc::sockaddr_in6) };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_flowinfo = a.flowinfo();
            sin6.sin6_addr = libc::in6_addr {
                s6_addr: a.ip().octets(),
            };
            sin6.sin6_scope_id = a.scope_id();
            std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_reaches_every_destination_in_order() {
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        let sinks: Vec<UdpSocket> = (0..3)
            .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
            .collect();
        let mut batch = SendBatch::new();
        // More than one system call's worth, spread over the sinks.
        for i in 0..(MAX_BATCH + 10) {
            let sink = &sinks[i % 3];
            batch.push(
                &sender,
                Transmit {
                    proto: str0m::net::Protocol::Udp,
                    source: sender.local_addr().unwrap(),
                    destination: sink.local_addr().unwrap(),
                    contents: vec![i as u8; 10 + i].into(),
                },
            );
        }
        batch.send(&sender);
        let mut buf = [0u8; 200];
        for (s, sink) in sinks.iter().enumerate() {
            sink.set_read_timeout(Some(std::time::Duration::from_secs(1)))
                .unwrap();
            for i in (s..MAX_BATCH + 10).step_by(3) {
                let n = sink.recv(&mut buf).unwrap();
                assert_eq!(&buf[..n], &vec![i as u8; 10 + i][..]);
            }
        }
    }
}
