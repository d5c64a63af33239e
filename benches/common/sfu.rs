//! An SFU in the bench's own process: its door (the bench's one room,
//! always live), join tokens for it, starting it, and what publishers send.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use onair_auth::token::mint;
use onair_auth::{ApiKey, JoinClaims, KeySet, VideoGrant};
use onair_bus::Bus;
use onair_client::files::{ivf, ogg_opus};
use onair_client::{Client, Codec, LocalLayer, LocalTrack, Source};
use onair_sfu::{MediaConfig, Sfu, SfuConfig};

pub fn token(key: &ApiKey, user: &str, hidden: bool) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let caps = [
        onair_auth::Capability::SendVideo,
        onair_auth::Capability::SendAudio,
    ];
    let mut video = VideoGrant::for_capabilities("bench:room", &caps, !hidden);
    video.hidden = hidden.then_some(true);
    let claims = JoinClaims {
        iss: key.key.clone(),
        sub: user.into(),
        exp: now + 3600,
        nbf: 0,
        name: user.into(),
        metadata: String::new(),
        video,
        onair: None,
    };
    mint(key, &claims)
}

/// The bench's one room is always live and open: there is no API here.
pub struct LiveRoom;

#[async_trait::async_trait]
impl onair_sfu::CallGate for LiveRoom {
    async fn admit(
        &self,
        _: onair_sfu::Entry<'_>,
    ) -> Result<onair_sfu::CallStatus, onair_sfu::Refusal> {
        self.status("bench:room").await
    }

    async fn status(&self, _: &str) -> Result<onair_sfu::CallStatus, onair_sfu::Refusal> {
        Ok(onair_sfu::CallStatus {
            backstage: false,
            max_participants: None,
            metadata: String::new(),
        })
    }
}

/// What a publisher sends.
#[derive(Clone, Copy, Debug)]
pub enum Publish {
    /// VP8 in three simulcast layers.
    Video,
    /// Opus.
    Audio,
    /// Both.
    Both,
}

/// Publishes the bench's media files from `client`.
pub async fn publish(client: &Client, dir: &Path, what: Publish) {
    if matches!(what, Publish::Video | Publish::Both) {
        let layers = [(320, 180, "q"), (640, 360, "h"), (1280, 720, "f")]
            .iter()
            .map(|(w, h, rid)| LocalLayer {
                rid: Some(rid.to_string()),
                width: *w,
                height: *h,
                frames: ivf(&dir.join(format!("{w}.ivf"))).unwrap(),
            })
            .collect();
        let camera = LocalTrack {
            name: "camera".into(),
            source: Source::Camera,
            codec: Codec::Vp8,
            layers,
        };
        client.publish(camera).await.unwrap();
    }
    if matches!(what, Publish::Audio | Publish::Both) {
        let mic = LocalLayer {
            rid: None,
            width: 0,
            height: 0,
            frames: ogg_opus(&dir.join("tone.ogg")).unwrap(),
        };
        let mic = LocalTrack {
            name: "mic".into(),
            source: Source::Microphone,
            codec: Codec::Opus,
            layers: vec![mic],
        };
        client.publish(mic).await.unwrap();
    }
}

/// Starts an SFU on `bus` with its signalling on a free port; returns its URL.
pub async fn start_sfu(key: &ApiKey, bus: Arc<dyn Bus>) -> (Sfu, String) {
    let config = SfuConfig {
        media: MediaConfig {
            udp_bind: "127.0.0.1:0".parse().unwrap(),
            candidates: Vec::new(),
            workers: 0,
        },
        participant_timeout: onair_sfu::DEFAULT_PARTICIPANT_TIMEOUT,
        join_token_ttl: Duration::from_secs(600),
        limits: onair_sfu::SignalLimits::default(),
    };
    let keys = Arc::new(KeySet::new([key.clone()]));
    let sfu = Sfu::start(config, keys, bus, Arc::new(LiveRoom)).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    let router = sfu.router();
    tokio::spawn(async move { axum::serve(listener, router).await });
    (sfu, url)
}

/// What [`publish`] sends, made in `dir`: VP8 at three sizes, Opus.
pub fn media_files(dir: &Path) {
    for (w, h, kbps) in [(320, 180, 150), (640, 360, 500), (1280, 720, 1500)] {
        onair_testkit::media::vp8_ivf(dir, w, h, kbps, 10);
    }
    onair_testkit::media::opus_ogg(dir, 10);
}
