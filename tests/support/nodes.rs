//! Several `onair serve` nodes sharing one key, one data dir and a bus.

use std::path::{Path, PathBuf};

/// The key every node of a test cluster accepts.
pub const KEY: &str = "APIroles";
/// Its secret.
pub const SECRET: &str = "roles-test-secret-roles-test-secret";

/// A config for one node listening on `port`, with `extra` settings.
pub fn config(dir: &Path, name: &str, port: u16, extra: &str) -> PathBuf {
    config_at(dir, name, ("127.0.0.1", port), extra)
}

/// A config for one node listening on `host:port` (media and RTMP too,
/// RTMP on a port of its own unless `extra` sets `rtmp_listen`).
pub fn config_at(dir: &Path, name: &str, (host, port): (&str, u16), extra: &str) -> PathBuf {
    let file = dir.join(format!("{name}.toml"));
    let rtmp = match extra.contains("rtmp_listen") {
        true => String::new(),
        false => format!("rtmp_listen = \"{host}:0\"\n"),
    };
    std::fs::write(
        &file,
        format!(
            "listen = \"{host}:{port}\"\nrtc_udp = \"{host}:0\"\n{rtmp}data_dir = \"{dir}\"\n{extra}\n\
             [[api_keys]]\nkey = \"{KEY}\"\nsecret = \"{SECRET}\"\n",
            dir = dir.display(),
        ),
    )
    .unwrap();
    file
}
