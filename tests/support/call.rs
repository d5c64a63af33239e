//! A call on a running `onair dev` for tests with `onair-client` peers, and
//! the media they publish (made by ffmpeg once per test process).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use onair_client::files::{annexb, ivf, ogg_opus};
use onair_client::{api, Client, Codec, LocalLayer, LocalTrack, Source};
use onair_testkit::media;

struct Media {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

/// 320x180, 640x360 and 1280x720 VP8 (keyframe every second) and an Opus tone.
pub fn media() -> &'static Path {
    static MEDIA: OnceLock<Media> = OnceLock::new();
    &MEDIA
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().to_path_buf();
            for (w, h) in [(320, 180), (640, 360), (1280, 720)] {
                media::vp8_ivf(&path, w, h, 300, 3);
            }
            media::h264_annexb(&path, 640, 360, 500, 3);
            media::opus_ogg(&path, 3);
            Media { _dir: dir, path }
        })
        .path
}

pub fn camera(simulcast: bool) -> LocalTrack {
    let sizes: &[(u32, u32, &str)] = if simulcast {
        &[(320, 180, "q"), (640, 360, "h"), (1280, 720, "f")]
    } else {
        &[(640, 360, "")]
    };
    LocalTrack {
        name: "camera".into(),
        source: Source::Camera,
        codec: Codec::Vp8,
        layers: sizes
            .iter()
            .map(|(w, h, rid)| LocalLayer {
                rid: (!rid.is_empty()).then(|| rid.to_string()),
                width: *w,
                height: *h,
                frames: ivf(&media().join(format!("{w}.ivf"))).unwrap(),
            })
            .collect(),
    }
}

/// A 640x360 H.264 camera (constrained baseline, a keyframe every second).
pub fn h264_camera() -> LocalTrack {
    LocalTrack {
        name: "camera".into(),
        source: Source::Camera,
        codec: Codec::H264,
        layers: vec![LocalLayer {
            rid: None,
            width: 640,
            height: 360,
            frames: annexb(&media().join("640.h264"), 30).unwrap(),
        }],
    }
}

pub fn microphone() -> LocalTrack {
    LocalTrack {
        name: "mic".into(),
        source: Source::Microphone,
        codec: Codec::Opus,
        layers: vec![LocalLayer {
            rid: None,
            width: 0,
            height: 0,
            frames: ogg_opus(&media().join("tone.ogg")).unwrap(),
        }],
    }
}

/// `method` on `/v1{path}` of the server at `base` with `token`: the status
/// and the JSON body (null if none).
pub async fn request(
    base: &str,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let resp = reqwest::Client::new()
        .request(method, format!("{base}/v1{path}"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or_default())
}

/// Waits up to `within` until the newest recording of the call at `path`
/// (`/calls/{type}/{id}`) on `base` is in `state`; a failed one ends the
/// wait early unless `failed` is awaited.
pub async fn recording_in(
    base: &str,
    token: &str,
    path: &str,
    state: &str,
    within: std::time::Duration,
) -> serde_json::Value {
    let deadline = std::time::Instant::now() + within;
    loop {
        let recordings = format!("{path}/recordings");
        let (status, body) = request(
            base,
            token,
            reqwest::Method::GET,
            &recordings,
            serde_json::Value::Null,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let r = body["recordings"][0].clone();
        if r["state"] == state {
            return r;
        }
        assert!(r["state"] != "failed", "recording failed: {r}");
        assert!(std::time::Instant::now() < deadline, "never {state}: {r}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// A running `onair dev` with helpers to mint tokens, join and call the API.
pub struct Call {
    pub onair: super::Onair,
    pub data: tempfile::TempDir,
}

impl Call {
    pub fn start() -> Call {
        Call::start_with(&[])
    }

    /// `onair dev` whose log (debug) goes to `log`.
    pub fn start_logged(log: &std::path::Path) -> Call {
        let data = tempfile::tempdir().unwrap();
        let onair = super::dev_logged(data.path(), &[], Some(log));
        Call { onair, data }
    }

    pub fn start_with(args: &[&str]) -> Call {
        let data = tempfile::tempdir().unwrap();
        let onair = super::dev(data.path(), args);
        Call { onair, data }
    }

    pub async fn credentials(&self, user: &str, cid: &str) -> api::Credentials {
        let token = self.token(&["user", "--user", user]);
        api::join(&self.onair.url, &token, cid, true).await.unwrap()
    }

    pub fn token(&self, args: &[&str]) -> String {
        let out = Command::new(super::bin())
            .arg("token")
            .args(args)
            .arg("--data-dir")
            .arg(self.data.path())
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    pub async fn join(&self, user: &str, cid: &str) -> Client {
        let creds = self.credentials(user, cid).await;
        Client::connect(&creds.url, &creds.token).await.unwrap()
    }

    pub async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        body: serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let token = self.token(&["server"]);
        request(&self.onair.url, &token, method, path, body).await
    }

    /// The lines of the server's `/metrics` that start with `prefix`.
    pub async fn metrics(&self, prefix: &str) -> String {
        let text = reqwest::Client::new()
            .get(format!("{}/metrics", self.onair.url))
            .bearer_auth(self.token(&["server"]))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let lines = text.lines().filter(|l| l.starts_with(prefix));
        lines.collect::<Vec<_>>().join("\n")
    }

    pub fn udp(&self) -> String {
        let line = self
            .onair
            .banner
            .iter()
            .find(|l| l.contains("Media (UDP):"))
            .unwrap();
        line.split("Media (UDP):").nth(1).unwrap().trim().to_owned()
    }
}

/// The next frame on `media` that `wanted` takes, within `within`;
/// panics saying none came from `who`.
pub async fn frame_where(
    media: &mut tokio::sync::mpsc::UnboundedReceiver<onair_client::MediaEvent>,
    within: std::time::Duration,
    who: &str,
    wanted: impl Fn(&onair_client::RemoteFrame) -> bool,
) -> onair_client::RemoteFrame {
    let deadline = tokio::time::Instant::now() + within;
    while let Ok(Some(event)) = tokio::time::timeout_at(deadline, media.recv()).await {
        if let onair_client::MediaEvent::Frame(f) = event {
            if wanted(&f) {
                return f;
            }
        }
    }
    panic!("no frame from {who}");
}
