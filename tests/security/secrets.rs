//! Secrets stay out of logs and files, and `serve` refuses short ones.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_stay_out_of_logs_and_files() {
    let data = tempfile::tempdir().unwrap();
    let log = data.path().join("onair.log");
    let onair = support::dev_logged(&data.path().join("data"), &[], Some(&log));
    let call_dir = data.path().join("data");
    let key = dev_key(&call_dir);
    let user = support::tokens::user(&key, "alice");
    let creds = api::join(&onair.url, &user, "default:quiet", true)
        .await
        .unwrap();
    let (_ws, _) = signal::join(&creds.url, &creds.token).await.joined();
    // Refused tokens are logged by reason, never verbatim.
    let forged = format!("{}x", creds.token);
    assert!(matches!(
        signal::join(&creds.url, &forged).await,
        Opened::Refused(401, _)
    ));
    let client = reqwest::Client::new();
    let resp = client
        .get(format!("{}/v1/calls/default/quiet", onair.url))
        .bearer_auth(&creds.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    // A token in the query is not read by REST.
    let resp = client
        .get(format!("{}/v1/calls/default/quiet?token={user}", onair.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    // The dev token route answers its own host only (DNS rebinding).
    let resp = client
        .post(format!("{}/dev/token", onair.url))
        .header("host", "rebind.example:80")
        .json(&json!({"user_id": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let resp = client
        .post(format!("{}/dev/token", onair.url))
        .json(&json!({"user_id": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(onair);

    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.lines().count() > 10,
        "the log is too thin to tell: {text}"
    );
    for (what, secret) in [
        ("user token", user.as_str()),
        ("join token", creds.token.as_str()),
        ("API secret", key.secret.as_str()),
    ] {
        // The signature part alone must not appear either.
        let tail = secret.rsplit('.').next().unwrap();
        assert!(!text.contains(tail), "the {what} is in the log");
    }

    // Data dir 0700, database and keys 0600.
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&call_dir), 0o700);
    for name in ["keys.toml", "onair.db"] {
        assert_eq!(mode(&call_dir.join(name)), 0o600, "{name}");
    }
}

#[test]
fn serve_refuses_short_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("onair.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"{}\"\nlisten = \"127.0.0.1:0\"\n[[api_keys]]\nkey = \"APIweak\"\nsecret = \"short-secret\"\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let out = Command::new(support::bin())
        .args(["serve", "--config"])
        .arg(&config)
        .env_remove("ONAIR_API_KEY")
        .env_remove("ONAIR_API_SECRET")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("shorter than 32 bytes"), "{err}");
    assert!(
        !err.contains("short-secret"),
        "the secret was printed: {err}"
    );
}
