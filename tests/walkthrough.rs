//! The README's livestream walk-through, verbatim, against `onair dev` and
//! against `onair serve` on a real Postgres: identical behaviour.

mod support;

use support::{dev, run_walkthrough, serve, WALKTHROUGH_STATUSES};

#[test]
fn readme_walkthrough_against_dev() {
    let data = tempfile::tempdir().unwrap();
    let onair = dev(data.path(), &[]);
    let data_dir = data.path().to_str().unwrap();
    let (statuses, out) = run_walkthrough(&onair.url, &[("ONAIR_DATA_DIR", data_dir)]);
    assert_eq!(statuses, WALKTHROUGH_STATUSES, "{out}");
    assert!(out.contains("\"code\":\"backstage\""), "{out}");
    assert!(out.contains("\"code\":\"call_ended\""), "{out}");
    // Running it again works too (it uses a fresh call id).
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (statuses, out) = run_walkthrough(&onair.url, &[("ONAIR_DATA_DIR", data_dir)]);
    assert_eq!(statuses, WALKTHROUGH_STATUSES, "{out}");
}

#[test]
fn readme_walkthrough_against_serve_on_postgres() {
    let db = onair_testkit::postgres::database_url();
    let port = onair_testkit::free_port();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("onair.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:{port}\"\nrtc_udp = \"127.0.0.1:0\"\nrtmp_listen = \"127.0.0.1:0\"\ndatabase_url = \"{db}\"\nsignal_url = \"wss://video.example.com\"\n\
             [[api_keys]]\nkey = \"APIpg\"\nsecret = \"pg-secret-pg-secret-pg-secret-0123\"\n"
        ),
    )
    .unwrap();
    let onair = serve(&config, port);
    let (statuses, out) =
        run_walkthrough(&onair.url, &[("ONAIR_CONFIG", config.to_str().unwrap())]);
    assert_eq!(statuses, WALKTHROUGH_STATUSES, "{out}");
    assert!(
        out.contains("wss://video.example.com"),
        "join returns the configured signal url: {out}"
    );
}

#[test]
fn dev_keeps_its_key_across_restarts() {
    let data = tempfile::tempdir().unwrap();
    let key_line = |o: &support::Onair| {
        o.banner
            .iter()
            .find(|l| l.contains("API key:"))
            .cloned()
            .unwrap()
    };
    let first = key_line(&dev(data.path(), &[]));
    let second = key_line(&dev(data.path(), &[]));
    assert_eq!(first, second);
    let given = dev(
        data.path(),
        &["--api-key", "APIgiven", "--api-secret", "given-secret"],
    );
    assert!(key_line(&given).contains("APIgiven"));
    assert!(given.banner.iter().any(|l| l.contains("/docs")));
}
