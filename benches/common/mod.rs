//! What the benchmarks share: those that drive a real `onair serve`,
//! starting it on a config of their own, waiting until it is ready,
//! reading knobs from the environment and the CPU time a process used;
//! those that run an SFU in their own process, [`sfu`].

#![allow(dead_code)] // each bench uses its own part

pub mod sfu;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The API key every bench server accepts.
pub const KEY: &str = "APIbench";
/// Its secret.
pub const SECRET: &str = "bench-secret-bench-secret-bench-0123";

/// A running `onair serve`, killed when dropped.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT` (`https://` when its config has `[tls]`).
    pub url: String,
}

impl Server {
    /// `onair serve` on a free port with `database_url`, the bench key,
    /// and `extra` appended to its config (sections such as `[[webhooks]]`).
    pub fn start(dir: &Path, database_url: &str, extra: &str) -> Server {
        let port = onair_testkit::free_port();
        let config = dir.join(format!("bench-{port}.toml"));
        let body = format!(
            "listen = \"127.0.0.1:{port}\"\nrtc_udp = \"127.0.0.1:0\"\nrtmp_listen = \"127.0.0.1:0\"\n\
             database_url = \"{database_url}\"\ndata_dir = \"{}\"\n\
             [[api_keys]]\nkey = \"{KEY}\"\nsecret = \"{SECRET}\"\n{extra}",
            dir.display()
        );
        std::fs::write(&config, body).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_onair"))
            .args(["serve", "--config"])
            .arg(&config)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn onair serve");
        let scheme = if extra.contains("[tls]") {
            "https"
        } else {
            "http"
        };
        Server {
            child,
            url: format!("{scheme}://127.0.0.1:{port}"),
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until `/readyz` answers 200 (through `client`).
    pub async fn ready(&self, client: &reqwest::Client) {
        for _ in 0..300 {
            let ready = client.get(format!("{}/readyz", self.url)).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("server did not become ready");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `name` from the environment as a number, else `default`.
pub fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// CPU seconds process `pid` has used.
pub fn cpu_seconds(pid: u32) -> f64 {
    stat_cpu(&format!("/proc/{pid}/stat"))
}

/// CPU seconds this process has used.
pub fn process_cpu() -> f64 {
    stat_cpu("/proc/self/stat")
}

/// CPU seconds thread `tid` of this process has used.
pub fn thread_cpu(tid: i32) -> f64 {
    stat_cpu(&format!("/proc/self/task/{tid}/stat"))
}

/// CPU seconds these threads of this process used together.
pub fn cpu_of(threads: &[i32]) -> f64 {
    threads.iter().map(|t| thread_cpu(*t)).sum()
}

/// utime + stime from a `/proc/…/stat` file, in seconds.
fn stat_cpu(path: &str) -> f64 {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    // Fields after the command (which may hold spaces): utime is the 12th, stime the 13th.
    let rest = stat.rsplit(')').next().unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i)?.parse::<f64>().ok())
        .sum();
    // SAFETY: sysconf only reads a configuration value.
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}
