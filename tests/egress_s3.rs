//! Recordings to S3: `onair serve` configured with an S3-compatible store
//! (a real `s3s-fs` server on a free port, started here), a publisher, a
//! recording over REST; the file must arrive in the bucket as a multipart
//! upload and play from its presigned link.

mod support;

use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use onair_auth::ApiKey;
use onair_client::{api, Client};
use reqwest::Method;
use serde_json::json;
use support::call::{camera, microphone, recording_in, request};
use support::probe::{codecs, number, probe};
use support::Killed;

/// `s3s-fs` serving `root` on `port` (`make test` installs it).
fn s3_server(root: &std::path::Path, port: u16) -> Killed {
    let child = Command::new("s3s-fs")
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args([
            "--access-key",
            "AKONAIRTEST",
            "--secret-key",
            "onair-test-secret",
        ])
        .arg(root)
        .stdout(Stdio::null())
        .spawn()
        .expect("s3s-fs (make test installs it with cargo install)");
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "s3s-fs did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Killed(child)
}

/// The ETag of `response`, unquoted.
fn etag(response: &reqwest::Response) -> String {
    response.headers()["etag"]
        .to_str()
        .unwrap()
        .trim_matches('"')
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recordings_upload_to_s3_with_multipart() {
    let s3_root = tempfile::tempdir().unwrap();
    std::fs::create_dir(s3_root.path().join("calls")).unwrap(); // the bucket
    let s3_port = onair_testkit::free_port();
    let _s3 = s3_server(s3_root.path(), s3_port);

    let port = onair_testkit::free_port();
    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("onair.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:{port}\"\nrtc_udp = \"127.0.0.1:0\"\nrtmp_listen = \"127.0.0.1:0\"\n\
             database_url = \"sqlite://{db}\"\ndata_dir = \"{dir}\"\n\
             [s3]\nendpoint = \"http://127.0.0.1:{s3_port}\"\nregion = \"us-east-1\"\nbucket = \"calls\"\n\
             access_key = \"AKONAIRTEST\"\nsecret_key = \"onair-test-secret\"\npath_style = true\n\
             [[api_keys]]\nkey = \"APIs3\"\nsecret = \"s3-test-secret-s3-test-secret-0123\"\n",
            db = data.path().join("onair.db").display(),
            dir = data.path().display(),
        ),
    )
    .unwrap();
    let onair = {
        let config = config.clone();
        tokio::task::spawn_blocking(move || support::serve(&config, port))
            .await
            .unwrap()
    };
    let key = ApiKey::new("APIs3", "s3-test-secret-s3-test-secret-0123");
    let server = support::tokens::server(&key);
    let user = support::tokens::user(&key, "alice");
    let creds = api::join(&onair.url, &user, "default:s3", true)
        .await
        .unwrap();
    let alice = Client::connect(&creds.url, &creds.token).await.unwrap();
    alice.publish(camera(false)).await.unwrap();
    alice.publish(microphone()).await.unwrap();

    let (status, body) = request(
        &onair.url,
        &server,
        Method::POST,
        "/calls/default/s3/recordings/start",
        json!({"preset": "360p"}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    tokio::time::sleep(Duration::from_secs(6)).await;
    let (status, _) = request(
        &onair.url,
        &server,
        Method::POST,
        "/calls/default/s3/recordings/stop",
        json!(null),
    )
    .await;
    assert_eq!(status, 200);
    let recording = recording_in(
        &onair.url,
        &server,
        "/calls/default/s3",
        "complete",
        Duration::from_secs(30),
    )
    .await;

    // In the bucket (s3s-fs keeps objects as files), out of the staging dir.
    let object_key = format!(
        "recordings/default_s3/{}.mp4",
        recording["id"].as_str().unwrap()
    );
    let stored = s3_root.path().join("calls").join(&object_key);
    let size = std::fs::metadata(&stored).map(|m| m.len()).unwrap_or(0);
    assert_eq!(
        size as i64,
        recording["size"].as_i64().unwrap(),
        "{recording}"
    );
    assert!(
        !data.path().join(&object_key).exists(),
        "the staged file stays behind"
    );

    // The link is a presigned GET on the store; the ETag says multipart (`…-N`).
    let url = recording["url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("http://127.0.0.1:{s3_port}/calls/{object_key}?")),
        "{url}"
    );
    assert!(url.contains("X-Amz-Signature="), "{url}");
    let response = reqwest::get(url).await.unwrap();
    assert_eq!(response.status(), 200);
    let etag = etag(&response);
    assert!(
        etag.rsplit_once('-')
            .is_some_and(|(_, n)| n.parse::<u32>().is_ok()),
        "not a multipart ETag: {etag}"
    );
    let bytes = response.bytes().await.unwrap();
    let file = data.path().join("downloaded.mp4");
    std::fs::write(&file, &bytes).unwrap();
    let info = probe(&file);
    assert_eq!(codecs(&info), ["aac", "h264"], "{info}");
    let duration = number(&info["format"]["duration"]);
    assert!(duration > 5.0, "{duration}");
    println!("S3: {size} bytes in the bucket, multipart ETag {etag}, {duration:.2} s of H.264 + AAC through the presigned link");
    alice.leave().await;
}

/// The test bucket `calls` on a store at `port`.
fn bucket_at(port: u16) -> onair_egress::S3Config {
    onair_egress::S3Config {
        endpoint: Some(format!("http://127.0.0.1:{port}")),
        region: "us-east-1".into(),
        bucket: "calls".into(),
        access_key: "AKONAIRTEST".into(),
        secret_key: "onair-test-secret".into(),
        path_style: true,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_storage_uploads_parts_as_the_file_grows() {
    use onair_egress::{S3Config, S3Storage, Storage};
    let s3_root = tempfile::tempdir().unwrap();
    std::fs::create_dir(s3_root.path().join("calls")).unwrap();
    let s3_port = onair_testkit::free_port();
    let _s3 = s3_server(s3_root.path(), s3_port);
    let staging = tempfile::tempdir().unwrap();
    let config = bucket_at(s3_port);
    let storage = S3Storage::new(&config, staging.path(), Duration::from_secs(60));
    let key = "recordings/test/grows.mp4";
    let path = storage.local_path(key).unwrap();

    // 9 MiB written: one whole 8 MiB part goes up at the flush…
    let content: Vec<u8> = (0..12 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&path, &content[..9 * 1024 * 1024]).unwrap();
    storage.flush(key).await.unwrap();
    let object = s3_root.path().join("calls").join(key);
    assert!(!object.exists(), "not complete before finish");
    // …the rest (4 MiB) at the finish: two parts, and the object is whole.
    std::fs::write(&path, &content).unwrap();
    let size = storage.finish(key).await.unwrap();
    assert_eq!(size, content.len() as u64);
    assert_eq!(std::fs::read(&object).unwrap(), content);
    assert!(!path.exists(), "staged file removed");
    let response = reqwest::get(storage.url(key).await).await.unwrap();
    assert_eq!(response.status(), 200);
    let etag = etag(&response);
    assert!(etag.ends_with("-2"), "two parts: {etag}");
    assert_eq!(response.bytes().await.unwrap().len(), content.len());

    // A wrong secret is refused with a clear error, not a panic.
    let bad = S3Storage::new(
        &S3Config {
            secret_key: "wrong".into(),
            ..config
        },
        staging.path(),
        Duration::from_secs(60),
    );
    let path = bad.local_path("recordings/test/denied.mp4").unwrap();
    std::fs::write(&path, b"x").unwrap();
    let err = bad.finish("recordings/test/denied.mp4").await.unwrap_err();
    println!("wrong secret: {err}");
    assert!(err.to_string().contains("object store"), "{err}");
    // After its retries, the failed upload keeps the local file and says where.
    assert!(path.exists(), "the staged file was lost");
    assert!(err.to_string().contains("the file is kept at"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_hangs_does_not_stall_the_recording() {
    use onair_egress::{S3Storage, Storage};
    // A "store" that takes connections and never answers.
    let hung = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = hung.local_addr().unwrap().port();
    let staging = tempfile::tempdir().unwrap();
    let config = bucket_at(port);
    let storage = S3Storage::new(&config, staging.path(), Duration::from_secs(60));
    let key = "recordings/test/stuck.mp4";
    let path = storage.local_path(key).unwrap();
    std::fs::write(&path, vec![7u8; 9 * 1024 * 1024]).unwrap();
    // Flushes are handed off: each returns at once while the upload hangs.
    for _ in 0..3 {
        let started = std::time::Instant::now();
        tokio::time::timeout(Duration::from_secs(1), storage.flush(key))
            .await
            .expect("the flush waited for the store")
            .unwrap();
        let took = started.elapsed();
        assert!(took < Duration::from_millis(200), "a flush waited {took:?}");
    }
    drop(hung);
}
