//! Tokens minted by a third-party JWT library (Python's PyJWT) from the
//! formats in docs/ARCHITECTURE.md ("Tokens") are accepted; tampered, expired, wrong-key,
//! `alg: none` and wrong-call tokens are refused with 401 and a reason.

mod support;

use std::process::Command;

const KEY: &str = "APIpyjwt";
const SECRET: &str = "pyjwt-secret-0123456789";

/// Mints tokens with PyJWT; prints one `name token` line each.
const MINT: &str = r#"
import sys, time, jwt
key, secret = sys.argv[1], sys.argv[2]
now = int(time.time())
def hs(claims, secret=secret): return jwt.encode(claims, secret, algorithm="HS256")
user = {"iss": key, "sub": "py-user", "exp": now + 600, "iat": now, "name": "Py"}
tokens = {
  "server": hs({"iss": key, "exp": now + 600, "iat": now, "server": True}),
  "user": hs(user),
  "host": hs({**user, "sub": "py-host", "call_cids": ["livestream:py"]}),
  "expired": hs({**user, "exp": now - 5, "iat": now - 700}),
  "wrong_secret": hs(user, secret="not-the-secret"),
  "unknown_key": hs({**user, "iss": "APIunknown"}),
  "alg_none": jwt.encode(user, None, algorithm="none"),
  "hs512": jwt.encode(user, secret, algorithm="HS512"),
  "wrong_call": hs({**user, "call_cids": ["livestream:elsewhere"]}),
}
good = tokens["user"].split(".")
forged = jwt.utils.base64url_encode(b'{"iss":"%s","sub":"py-user","exp":%d,"role":"admin"}' % (key.encode(), now + 600)).decode()
tokens["tampered"] = ".".join([good[0], forged, good[2]])
for name, token in tokens.items(): print(name, token)
"#;

#[test]
fn pyjwt_tokens_are_accepted_and_bad_ones_refused() {
    let data = tempfile::tempdir().unwrap();
    let onair = support::dev(data.path(), &["--api-key", KEY, "--api-secret", SECRET]);
    let out = Command::new("python3")
        .args(["-c", MINT, KEY, SECRET])
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "PyJWT failed (make test installs it): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tokens: std::collections::HashMap<String, String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once(' ').map(|(a, b)| (a.to_owned(), b.to_owned())))
        .collect();

    let client = reqwest::blocking::Client::new();
    let post = |path: &str, token: &str, body: serde_json::Value| {
        let resp = client
            .post(format!("{}/v1{path}", onair.url))
            .bearer_auth(token)
            .json(&body)
            .send()
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json::<serde_json::Value>().unwrap())
    };

    // Server token: create the livestream with the PyJWT host.
    let (status, body) = post(
        "/calls/livestream/py",
        &tokens["server"],
        serde_json::json!({"data": {"members": [{"user_id": "py-host", "role": "host"}]}}),
    );
    assert_eq!(status, 201, "{body}");
    // User tokens: the scoped host joins; a plain user reads the call.
    let (status, body) = post(
        "/calls/livestream/py/join",
        &tokens["host"],
        serde_json::json!({}),
    );
    assert_eq!(status, 200, "{body}");
    assert!(body["credentials"]["token"].is_string());
    let (status, body) = post(
        "/calls/livestream/py",
        &tokens["user"],
        serde_json::json!({}),
    );
    assert_eq!(status, 200, "{body}");

    for (name, reason) in [
        ("expired", "expired"),
        ("wrong_secret", "bad_signature"),
        ("tampered", "bad_signature"),
        ("unknown_key", "unknown_key"),
        ("alg_none", "bad_algorithm"),
        ("hs512", "bad_algorithm"),
        ("wrong_call", "wrong_call"),
    ] {
        let (status, body) = post("/calls/livestream/py", &tokens[name], serde_json::json!({}));
        assert_eq!(status, 401, "{name}: {body}");
        assert_eq!(body["code"], reason, "{name}: {body}");
    }
}
