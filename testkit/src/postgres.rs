//! A throwaway PostgreSQL server for tests.
//!
//! One cluster per test process: `initdb -A trust` into a temp dir, then
//! `postgres` on a free loopback port with durability off (it is thrown
//! away). Each test asks for its own database with [`database_url`].
//! When running as root, the server runs as the `postgres` user (PostgreSQL
//! refuses root). It stops, and its directory is removed, when the test
//! process exits.

use std::fmt;
use std::fs::File;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, OnceLock};
use std::time::{Duration, Instant};

use crate::{free_port, signal_on_parent_death};

/// How long a new cluster may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The process's cluster: where it listens.
struct Cluster {
    port: u16,
}

static CLUSTER: OnceLock<Result<Cluster, Error>> = OnceLock::new();
static NEXT_DB: AtomicUsize = AtomicUsize::new(0);

/// Why the cluster could not start, or a statement failed.
#[derive(Debug)]
enum Error {
    /// A PostgreSQL program is not installed where we look.
    Missing {
        program: String,
        /// What to do about it, if we know.
        hint: &'static str,
    },
    /// A file operation, or starting a program, failed.
    Io {
        what: &'static str,
        source: io::Error,
    },
    /// A program ran and failed.
    Failed {
        program: &'static str,
        stderr: String,
    },
    /// The server did not accept connections in time.
    NotUp {
        last: Box<Error>,
        /// The server's log.
        log: String,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Missing { program, hint } => write!(f, "`{program}` not found{hint}"),
            Error::Io { what, source } => write!(f, "{what}: {source}"),
            Error::Failed { program, stderr } => write!(f, "{program} failed: {stderr}"),
            Error::NotUp { last, log } => write!(f, "Postgres did not come up: {last}\n{log}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            Error::NotUp { last, .. } => Some(last),
            _ => None,
        }
    }
}

/// Maps an I/O error of step `what`.
fn io_error(what: &'static str) -> impl FnOnce(io::Error) -> Error {
    move |source| Error::Io { what, source }
}

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
fn program(name: &str) -> Result<PathBuf, Error> {
    if let Some(p) = std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
    {
        return Ok(p);
    }
    let missing = |hint| Error::Missing {
        program: name.to_owned(),
        hint,
    };
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|_| missing(": install postgresql (make test does)"))?
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("bin").join(name))
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    found.pop().ok_or_else(|| missing(""))
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

/// Makes `cmd` run as `user` (see [`run_as`]).
fn as_user(cmd: &mut Command, user: Option<(u32, u32)>) {
    if let Some((uid, gid)) = user {
        cmd.uid(uid).gid(gid);
    }
}

/// Gives `path` to `user` (see [`run_as`]), so the server can write there.
fn chown(path: &Path, user: Option<(u32, u32)>) -> Result<(), Error> {
    if let Some((uid, gid)) = user {
        std::os::unix::fs::chown(path, Some(uid), Some(gid)).map_err(io_error("chown"))?;
    }
    Ok(())
}

/// Starts the process's cluster: a fresh data dir, a supervised server
/// on a free port, then waits until it answers.
fn start() -> Result<Cluster, Error> {
    let user = run_as();
    let dir = tempfile::Builder::new()
        .prefix("onair-pg-")
        .tempdir()
        .map_err(io_error("temp dir"))?;
    chown(dir.path(), user)?;
    initdb(&dir.path().join("data"), user)?;
    let port = free_port();
    let postgres = program("postgres")?;
    let log_path = dir.path().join("postgres.log");
    let log = File::create(&log_path).map_err(io_error("postgres.log"))?;
    chown(&log_path, user)?;
    // From here the supervisor removes the directory.
    let dir = dir.keep();
    supervise(postgres, &dir, port, user, log)?;
    wait_until_up(port, &dir.join("postgres.log"))?;
    Ok(Cluster { port })
}

/// Makes a cluster in `data` that trusts local connections.
fn initdb(data: &Path, user: Option<(u32, u32)>) -> Result<(), Error> {
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
        .arg(data)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    as_user(&mut initdb, user);
    let out = initdb.output().map_err(io_error("initdb"))?;
    if !out.status.success() {
        return Err(Error::Failed {
            program: "initdb",
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    Ok(())
}

/// Starts `postgres` on the cluster in `dir` under a supervising shell:
/// when the test process exits, the shell gets SIGTERM (PDEATHSIG), stops
/// postgres and removes `dir`. The spawning thread never ends, so
/// PDEATHSIG fires only at process exit.
fn supervise(
    postgres: PathBuf,
    dir: &Path,
    port: u16,
    user: Option<(u32, u32)>,
    log: File,
) -> Result<(), Error> {
    let script = r#"trap 'kill -INT $pid; wait $pid; rm -rf "$DIR"; exit 0' TERM
"$POSTGRES" -D "$DIR/data" -p "$PORT" -c listen_addresses=127.0.0.1 \
  -c unix_socket_directories="$DIR" -c fsync=off -c synchronous_commit=off \
  -c full_page_writes=off -c max_connections=300 &
pid=$!
wait $pid"#;
    let (tx, rx) = mpsc::channel();
    let dir = dir.to_owned();
    std::thread::spawn(move || {
        let mut cmd = Command::new("/bin/sh");
        cmd.args(["-c", script])
            .env("POSTGRES", postgres)
            .env("DIR", &dir)
            .env("PORT", port.to_string())
            .stdout(Stdio::null())
            .stderr(log);
        as_user(&mut cmd, user);
        signal_on_parent_death(&mut cmd, libc::SIGTERM);
        match cmd.spawn() {
            Ok(mut child) => {
                let _ = tx.send(Ok(()));
                let _ = child.wait();
                loop {
                    std::thread::park();
                }
            }
            Err(e) => {
                let _ = tx.send(Err(io_error("postgres")(e)));
            }
        }
    });
    rx.recv()
        .map_err(|_| io_error("postgres")(io::Error::other("the supervisor thread ended")))?
}

/// Waits until the server on `port` answers a query; if it does not in
/// time, the error carries its `log`.
fn wait_until_up(port: u16, log: &Path) -> Result<(), Error> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        match psql(port, "SELECT 1") {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() > deadline => {
                return Err(Error::NotUp {
                    last: Box::new(e),
                    log: std::fs::read_to_string(log).unwrap_or_default(),
                });
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// Runs `sql` on the cluster's `postgres` database.
fn psql(port: u16, sql: &str) -> Result<(), Error> {
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
        .map_err(io_error("psql"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::Failed {
            program: "psql",
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_url_names_a_new_database_that_takes_statements() {
        let (a, b) = (database_url(), database_url());
        assert_ne!(a, b);
        let port = CLUSTER.get().and_then(|c| c.as_ref().ok()).map(|c| c.port);
        assert_eq!(port.map(|p| a.contains(&format!(":{p}/"))), Some(true));
        assert!(psql(port.unwrap_or_default(), "SELECT 1").is_ok());
        let refused = psql(port.unwrap_or_default(), "SELECT nonsense FROM nowhere");
        assert!(matches!(
            refused,
            Err(Error::Failed {
                program: "psql",
                ..
            })
        ));
    }

    #[test]
    fn a_missing_program_says_so() {
        let missing = program("onair-no-such-program").map(|_| ());
        assert!(matches!(missing, Err(Error::Missing { .. })));
    }
}
