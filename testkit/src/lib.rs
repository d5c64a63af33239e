//! Test harness: real servers for tests, started on free loopback ports and
//! stopped when the test process ends.
//!
//! - [`postgres`]: a throwaway PostgreSQL cluster (initdb into a temp dir).
//! - [`redis`]: a throwaway Redis server per test.
//! - [`media`]: VP8, H.264, Opus and FLV files made by ffmpeg.
//! - [`rtmp`]: an RTMP publisher that sends FLV tags as given.
//! - [`free_port`]: a free TCP port on 127.0.0.1.

#![warn(missing_docs)]

pub mod media;
pub mod netns;
pub mod postgres;
pub mod redis;
pub mod rtmp;

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::process::Command;

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}

/// A UDP port on 127.0.0.1 that was free a moment ago.
pub fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free UDP port: {e}"))
}

/// Has the kernel send `cmd`'s process `signal` when the thread that
/// spawned it ends (PDEATHSIG), so no server outlives its tests.
pub(crate) fn signal_on_parent_death(cmd: &mut Command, signal: libc::c_int) {
    // SAFETY: prctl is async-signal-safe; called between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            libc::prctl(libc::PR_SET_PDEATHSIG, signal);
            Ok(())
        });
    }
}
