//! A throwaway PostgreSQL server for tests.
//!
//! One cluster per test process: `initdb -A trust` into a temp dir, then
//! `postgres` on a free loopback port with durability off (it is thrown
//! away). Each test asks for its own database with [`database_url`].
//! When running as root, the server runs as the `postgres` user (PostgreSQL
//! refuses root). It stops, and its directory is removed, when the test
//! process exits.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, OnceLock};
use std::time::{Duration, Instant};

use crate::free_port;

struct Cluster {
    port: u16,
}

static CLUSTER: OnceLock<Result<Cluster, String>> = OnceLock::new();
static NEXT_DB: AtomicUsize = AtomicUsize::new(0);

/// A URL to a new, empty database on the process's Postgres cluster
/// (started on first use). Panics with the reason if Postgres cannot start.
pub fn database_url() -> String {
    let cluster = match CLUSTER.get_or_init(start) {
        Ok(c) => c,
        Err(e) => panic!("cannot start Postgres for tests: {e}"),
    };
    let name = format!(
        "t{}_{}",
        std::process::id(),
        NEXT_DB.fetch_add(1, Ordering::Relaxed)
    );
    psql(cluster.port, &format!("CREATE DATABASE {name}"))
        .unwrap_or_else(|e| panic!("CREATE DATABASE failed: {e}"));
    format!("postgres://postgres@127.0.0.1:{}/{name}", cluster.port)
}

/// Finds a PostgreSQL program: on `PATH`, else in Debian's versioned dir.
fn program(name: &str) -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
    {
        return Ok(p);
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|_| format!("`{name}` not found: install postgresql (make test does)"))?
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("bin").join(name))
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    found.pop().ok_or_else(|| format!("`{name}` not found"))
}

/// The uid/gid to run Postgres as: `postgres` when we are root, else ourselves.
fn run_as() -> Option<(u32, u32)> {
    // SAFETY: getuid has no preconditions.
    if unsafe { libc::getuid() } != 0 {
        return None;
    }
    let name = c"postgres";
    // SAFETY: getpwnam returns null or a pointer to a static passwd record we read at once.
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    if pw.is_null() {
        return None;
    }
    // SAFETY: non-null, points to a valid passwd.
    unsafe { Some(((*pw).pw_uid, (*pw).pw_gid)) }
}

fn as_user(cmd: &mut Command, user: Option<(u32, u32)>) {
    if let Some((uid, gid)) = user {
        cmd.uid(uid).gid(gid);
    }
}

fn chown(path: &Path, user: Option<(u32, u32)>) -> Result<(), String> {
    if let Some((uid, gid)) = user {
        std::os::unix::fs::chown(path, Some(uid), Some(gid)).map_err(|e| format!("chown: {e}"))?;
    }
    Ok(())
}

fn start() -> Result<Cluster, String> {
    let user = run_as();
    let dir = tempfile::Builder::new()
        .prefix("onair-pg-")
        .tempdir()
        .map_err(|e| e.to_string())?;
    chown(dir.path(), user)?;
    let data = dir.path().join("data");
    let mut initdb = Command::new(program("initdb")?);
    initdb
        .args([
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
            "-E",
            "UTF8",
            "-D",
        ])
        .arg(&data)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    as_user(&mut initdb, user);
    let out = initdb.output().map_err(|e| format!("initdb: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }

    let port = free_port();
    let postgres = program("postgres")?;
    let log = std::fs::File::create(dir.path().join("postgres.log")).map_err(|e| e.to_string())?;
    chown(&dir.path().join("postgres.log"), user)?;
    let (tx, rx) = mpsc::channel();
    // A shell supervises postgres: when the test process exits, the shell
    // gets SIGTERM (PDEATHSIG), stops postgres and removes the cluster dir.
    // The spawning thread never ends, so PDEATHSIG fires only at process exit.
    let script = r#"trap 'kill -INT $pid; wait $pid; rm -rf "$DIR"; exit 0' TERM
"$POSTGRES" -D "$DIR/data" -p "$PORT" -c listen_addresses=127.0.0.1 \
  -c unix_socket_directories="$DIR" -c fsync=off -c synchronous_commit=off \
  -c full_page_writes=off -c max_connections=300 &
pid=$!
wait $pid"#;
    let dir_path = dir.keep();
    let env_dir = dir_path.clone();
    std::thread::spawn(move || {
        let mut cmd = Command::new("/bin/sh");
        cmd.args(["-c", script])
            .env("POSTGRES", postgres)
            .env("DIR", &env_dir)
            .env("PORT", port.to_string())
            .stdout(Stdio::null())
            .stderr(log);
        as_user(&mut cmd, user);
        // SAFETY: prctl is async-signal-safe; called between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        match cmd.spawn() {
            Ok(mut child) => {
                let _ = tx.send(Ok(()));
                let _ = child.wait();
                loop {
                    std::thread::park();
                }
            }
            Err(e) => {
                let _ = tx.send(Err(format!("postgres: {e}")));
            }
        }
    });
    rx.recv().map_err(|e| e.to_string())??;

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match psql(port, "SELECT 1") {
            Ok(()) => break,
            Err(e) if Instant::now() > deadline => {
                let log =
                    std::fs::read_to_string(dir_path.join("postgres.log")).unwrap_or_default();
                return Err(format!("Postgres did not come up: {e}\n{log}"));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
    Ok(Cluster { port })
}

fn psql(port: u16, sql: &str) -> Result<(), String> {
    let out = Command::new(program("psql")?)
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-U",
            "postgres",
            "-d",
            "postgres",
        ])
        .args(["-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("psql: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}
