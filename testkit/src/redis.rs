//! A throwaway Redis server for tests: one per [`Redis::start`], on a free
//! loopback port (or another address of this machine), persistence off, killed when dropped (or when the thread
//! that started it ends).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{free_port, signal_on_parent_death};

/// A running `redis-server`.
pub struct Redis {
    /// The address it listens on.
    host: String,
    port: u16,
    child: Option<Child>,
}

impl Redis {
    /// Starts a server and waits until it answers. Panics with the reason if it cannot.
    pub fn start() -> Self {
        Self::start_on("127.0.0.1")
    }

    /// A server on address `host` (one of this machine's), as [`Redis::start`].
    pub fn start_on(host: &str) -> Self {
        let mut redis = Self {
            host: host.to_owned(),
            port: free_port(),
            child: None,
        };
        redis.restart();
        redis
    }

    /// `redis://HOST:PORT`.
    pub fn url(&self) -> String {
        format!("redis://{}:{}", self.host, self.port)
    }

    /// Kills the server (clients see their connections drop).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (stopping it first if running).
    pub fn restart(&mut self) {
        self.stop();
        let mut cmd = Command::new("redis-server");
        cmd.args(["--port", &self.port.to_string()])
            .args(["--bind", &self.host, "--save", "", "--appendonly", "no"])
            // Nodes in other network namespaces connect from other addresses.
            .args(["--protected-mode", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        signal_on_parent_death(&mut cmd, libc::SIGKILL);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start redis-server (make test installs it): {e}"));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect((self.host.as_str(), self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not come up");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stops_and_restarts_on_the_same_port() {
        let mut redis = Redis::start();
        let addr = ("127.0.0.1", redis.port);
        assert!(std::net::TcpStream::connect(addr).is_ok());
        redis.stop();
        assert!(std::net::TcpStream::connect(addr).is_err());
        redis.restart();
        assert!(std::net::TcpStream::connect(addr).is_ok());
        assert_eq!(redis.url(), format!("redis://127.0.0.1:{}", redis.port));
    }
}
