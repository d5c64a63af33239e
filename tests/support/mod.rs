//! Running the real `onair` binary in tests.

#![allow(dead_code)]

pub mod call;
pub mod cluster;
pub mod events;
pub mod nodes;
pub mod probe;
pub mod signal;
pub mod tls;
pub mod tokens;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_onair"))
}

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A running `onair` process, killed on drop.
pub struct Onair {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub url: String,
    /// What it printed on stdout before it was ready.
    pub banner: Vec<String>,
}

impl Onair {
    /// Sends SIGTERM and waits up to `within` for the process to exit.
    pub fn terminate(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        self.sigterm();
        self.exited(within)
    }

    /// Sends SIGTERM.
    pub fn sigterm(&self) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
    }

    /// Waits up to `within` for the process to exit.
    pub fn exited(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + within;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// Kills the process (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The server's resident memory, in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Onair {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A child process (a server, ffmpeg) killed when dropped.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// ffmpeg streaming `file` in real time to `address/key`, as OBS would
/// (stopped when dropped).
pub fn rtmp_push(file: &Path, address: &str, key: &str) -> Killed {
    let child = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-re", "-i"])
        .arg(file)
        .args(["-c", "copy", "-f", "flv"])
        .arg(format!("{address}/{key}"))
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ffmpeg");
    Killed(child)
}

/// `onair dev` on a free port with its data in `data_dir`.
pub fn dev(data_dir: &Path, extra: &[&str]) -> Onair {
    dev_logged(data_dir, extra, None)
}

/// `onair dev` as [`dev`], its log (at debug for OnAir's crates) in `log` if given.
pub fn dev_logged(data_dir: &Path, extra: &[&str], log: Option<&Path>) -> Onair {
    let mut cmd = Command::new(bin());
    cmd.args([
        "dev",
        "--listen",
        "127.0.0.1:0",
        "--rtc-udp",
        "127.0.0.1:0",
        "--rtmp-listen",
        "127.0.0.1:0",
        "--data-dir",
    ])
    .arg(data_dir)
    .args(extra);
    // ONAIR_TEST_LOG=onair_sfu=debug shows what the server did.
    // A TURN client's first request is answered with a 401 challenge, which
    // stun_proto logs as an error: it is not one. str0m's codec notes: see
    // `logs` in main.rs.
    let level = std::env::var("ONAIR_TEST_LOG")
        .unwrap_or_else(|_| "warn,stun_proto::auth=off,str0m::format::payload_params=error".into());
    cmd.env_remove("ONAIR_API_KEY")
        .env_remove("ONAIR_API_SECRET")
        .env("RUST_LOG", level);
    let stderr = match log {
        Some(path) => {
            cmd.env("RUST_LOG", "debug,sqlx=warn,hyper=info,h2=info,str0m=info,tungstenite=info,tokio_tungstenite=info,gstreamer=info");
            Stdio::from(std::fs::File::create(path).unwrap())
        }
        None => Stdio::inherit(),
    };
    start_dev(cmd, stderr)
}

fn start_dev(mut cmd: Command, stderr: Stdio) -> Onair {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("spawn onair");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut banner = Vec::new();
    let mut url = None;
    while url.is_none()
        || !banner
            .last()
            .is_some_and(|l: &String| l.contains("Data dir:"))
    {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("onair dev printed no banner");
        if let Some(u) = line.trim().strip_prefix("HTTP:") {
            url = Some(u.trim().to_owned());
        }
        banner.push(line);
    }
    Onair {
        child,
        url: url.unwrap(),
        banner,
    }
}

/// `onair serve --config FILE` listening on `port`; waits for `/readyz`.
pub fn serve(config: &Path, port: u16) -> Onair {
    serve_roles(config, port, None, None)
}

/// `onair serve --config FILE [--role ROLES]` listening on `port`, its log
/// (at info for egress) in `log` if given; waits until it answers
/// `/healthz`, and `/readyz` if it runs the API.
pub fn serve_roles(config: &Path, port: u16, roles: Option<&str>, log: Option<&Path>) -> Onair {
    serve_in(None, config, port, roles, log)
}

/// [`serve_roles`] in network namespace `space` (else here, on loopback),
/// listening on its address.
pub fn serve_in(
    space: Option<&onair_testkit::netns::Space>,
    config: &Path,
    port: u16,
    roles: Option<&str>,
    log: Option<&Path>,
) -> Onair {
    let mut cmd = match space {
        Some(space) => space.command(&bin()),
        None => Command::new(bin()),
    };
    let host = space.map_or("127.0.0.1", |s| s.ip.as_str());
    cmd.args(["serve", "--config"]).arg(config);
    if let Some(roles) = roles {
        cmd.args(["--role", roles]);
    }
    let stderr = match log {
        Some(path) => {
            cmd.env("RUST_LOG", "warn,onair_egress=info");
            Stdio::from(std::fs::File::create(path).unwrap())
        }
        None => {
            let level = std::env::var("ONAIR_TEST_LOG").unwrap_or_else(|_| "warn".into());
            cmd.env("RUST_LOG", level);
            Stdio::inherit()
        }
    };
    let child = cmd
        .env_remove("ONAIR_API_KEY")
        .env_remove("ONAIR_API_SECRET")
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("spawn onair serve");
    let url = format!("http://{host}:{port}");
    let onair = Onair {
        child,
        url: url.clone(),
        banner: Vec::new(),
    };
    let ready = match roles {
        Some(r) if !r.split(',').any(|r| r == "api") => "/healthz",
        _ => "/readyz",
    };
    let client = reqwest::blocking::Client::new();
    for _ in 0..300 {
        if client
            .get(format!("{url}{ready}"))
            .send()
            .is_ok_and(|r| r.status().is_success())
        {
            return onair;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("onair serve did not become ready");
}

/// The README's walkthrough script.
pub fn walkthrough() -> String {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let start = readme
        .find("<!-- walkthrough:begin -->")
        .expect("walkthrough marker");
    let end = readme
        .find("<!-- walkthrough:end -->")
        .expect("walkthrough end marker");
    let block = &readme[start..end];
    let code_start = block.find("```sh\n").unwrap() + 6;
    let code_end = block[code_start..].find("```").unwrap() + code_start;
    block[code_start..code_end].to_owned()
}

/// Runs the walkthrough against `url` with `env`; returns the HTTP statuses it printed, in order.
pub fn run_walkthrough(url: &str, env: &[(&str, &str)]) -> (Vec<u16>, String) {
    let mut cmd = Command::new("bash");
    cmd.args(["-euo", "pipefail", "-c", &walkthrough()])
        .current_dir(repo())
        .env("ONAIR_URL", url)
        .env("ONAIR_BIN", bin())
        .env_remove("ONAIR_API_KEY")
        .env_remove("ONAIR_API_SECRET");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run bash");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "walkthrough failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let statuses = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("HTTP "))
        .map(|s| s.trim().parse().unwrap())
        .collect();
    (statuses, stdout)
}

/// Statuses the README promises, step by step.
pub const WALKTHROUGH_STATUSES: [u16; 7] = [201, 200, 403, 200, 200, 200, 409];
