//! `livekit_client` 2.11 (Dart) at OnAir's `/rtc`, byte for byte as its
//! sources at tag v2.11.0 say (livekit/client-sdk-flutter):
//!
//! - the URL: `lib/src/utils.dart` `Utils.buildUri` — path `/rtc` (and
//!   `/rtc/validate` for the HTTP check after a failed upgrade; Dart never
//!   tries `/rtc/v1`, unlike livekit-client JS), then in this order
//!   `access_token` (web builds only: `if (kIsWeb)`), `auto_subscribe` and
//!   `adaptive_stream` as `1`/`0`, on a resume `reconnect=1`,
//!   `reconnect_reason` (the enum's number) and `sid`, `protocol`,
//!   `client_protocol`, `sdk=flutter`, `version`, `network`, and the
//!   client info `os`, `os_version`, `device_model`; encoded as Dart's
//!   `Uri.replace(queryParameters:)` does (space as `+`);
//! - the token: `lib/src/core/signal_client.dart` `connect()` passes
//!   `headers: {'Authorization': 'Bearer $token'}` to the socket (and to
//!   the validate GET), on every platform; a browser cannot send it, hence
//!   the query parameter on the web. On io (phones, desktops) the token is
//!   only in the header — as since 2.6.0; 2.3–2.5 put it in the query on
//!   io too, which is the web shape tested here;
//! - the socket: `lib/src/support/websocket/io.dart` opens it with
//!   `dart:io`'s `WebSocket.connect(uri, headers:)`, which (dart-lang/sdk
//!   `sdk/lib/_http/websocket_impl.dart`, `websocket.dart`) adds
//!   `Cache-Control: no-cache` and offers compression with
//!   `Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits`;
//! - the values: `lib/src/livekit.dart` (`version` 2.11.0),
//!   `lib/src/options.dart` (`protocolVersion` v16, `autoSubscribe` true,
//!   `adaptiveStream` false), `lib/src/types/other.dart`
//!   (`ClientProtocolVersion.current` = 1), `lib/src/extensions.dart`
//!   (`toStringValue`), `lib/src/utils.dart` `getNetworkType`
//!   (`wifi`, `cellular`, `wired`, …) and `_clientInfo` (`os: android`,
//!   `os_version`, `device_model`).

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use livekit_protocol as lk;
use lk::signal_request::Message as In;
use lk::signal_response::Message as Out;
use prost::Message as _;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// `LiveKitClient.version` (lib/src/livekit.dart).
pub const SDK_VERSION: &str = "2.11.0";
/// `ProtocolVersion.v16.toStringValue()` (options.dart, extensions.dart).
pub const PROTOCOL: &str = "16";
/// `ClientProtocolVersion.current.toStringValue()` (types/other.dart).
pub const CLIENT_PROTOCOL: &str = "1";
/// What `dart:io`'s `WebSocket.connect` offers by default.
pub const DART_IO_EXTENSIONS: &str = "permessage-deflate; client_max_window_bits";

/// Where the Dart client runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Platform {
    /// Android, iOS, desktops: `dart:io` (token in the header only).
    Io,
    /// A Flutter web build: the browser's WebSocket (token in the query).
    Web,
}

/// The options that change the URL.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    pub platform: Platform,
    pub auto_subscribe: bool,
    pub adaptive_stream: bool,
}

impl Default for Options {
    /// `Room()` with `ConnectOptions()` and `RoomOptions()` on a phone.
    fn default() -> Self {
        Options {
            platform: Platform::Io,
            auto_subscribe: true,
            adaptive_stream: false,
        }
    }
}

/// What a resume adds: `participantSid` from the join response and why.
pub struct Resume<'a> {
    pub sid: &'a str,
    pub reason: Option<lk::ReconnectReason>,
}

/// `Uri.encodeQueryComponent`: unreserved characters stay, space is `+`.
fn encode(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `Utils.buildUri` for signal `url` (a join's `credentials.url`).
pub fn build_uri(
    url: &str,
    token: &str,
    o: &Options,
    resume: Option<&Resume>,
    validate: bool,
) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let secure = matches!(scheme, "wss" | "https");
    let scheme = match (validate, secure) {
        (true, true) => "https",
        (true, false) => "http",
        (false, true) => "wss",
        (false, false) => "ws",
    };
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    segments.push("rtc");
    if validate {
        segments.push("validate");
    }
    let flag = |b: bool| if b { "1" } else { "0" };
    let mut q: Vec<(&str, String)> = Vec::new();
    if o.platform == Platform::Web {
        q.push(("access_token", token.into()));
    }
    q.push(("auto_subscribe", flag(o.auto_subscribe).into()));
    q.push(("adaptive_stream", flag(o.adaptive_stream).into()));
    if let Some(r) = resume {
        q.push(("reconnect", "1".into()));
        if let Some(reason) = r.reason {
            q.push(("reconnect_reason", (reason as i32).to_string()));
        }
        q.push(("sid", r.sid.into()));
    }
    q.push(("protocol", PROTOCOL.into()));
    q.push(("client_protocol", CLIENT_PROTOCOL.into()));
    q.push(("sdk", "flutter".into()));
    q.push(("version", SDK_VERSION.into()));
    q.push(("network", "wifi".into()));
    q.push(("os", "android".into()));
    q.push(("os_version", "14".into()));
    q.push(("device_model", "Pixel 8".into()));
    let query: Vec<String> = q
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect();
    format!(
        "{scheme}://{host}/{}?{}",
        segments.join("/"),
        query.join("&")
    )
}

/// The headers the Dart client sends with the upgrade (io) or that the
/// browser sends (web: none of its own).
pub fn headers(token: &str, platform: Platform) -> Vec<(&'static str, String)> {
    match platform {
        Platform::Io => vec![
            ("authorization", format!("Bearer {token}")),
            ("cache-control", "no-cache".into()),
            ("sec-websocket-extensions", DART_IO_EXTENSIONS.into()),
            ("user-agent", "Dart/3.6 (dart:io)".into()),
        ],
        Platform::Web => Vec::new(),
    }
}

/// The HTTP check Dart makes after a failed upgrade (`sdkHttpGet` of the
/// validate URI with the same `Authorization` header): status and body.
pub async fn validate(url: &str, token: &str, o: &Options) -> (u16, String) {
    let uri = build_uri(url, token, o, None, true);
    let mut req = reqwest::Client::new().get(uri);
    for (k, v) in headers(token, o.platform) {
        if k == "authorization" {
            req = req.header(k, v);
        }
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

/// One signal connection of a Dart client, with a log of what came.
pub struct DartSignal {
    ws: Ws,
    /// Each response's kind, in order of arrival.
    pub log: Vec<String>,
    /// The upgrade answer's `Sec-WebSocket-Extensions`, if any.
    pub extensions: Option<String>,
}

/// Connects as Dart does; the HTTP refusal (status, body) if refused.
pub async fn connect(
    url: &str,
    token: &str,
    o: &Options,
    resume: Option<&Resume<'_>>,
) -> Result<DartSignal, (u16, String)> {
    use tokio_tungstenite::tungstenite::Error;
    let mut req = build_uri(url, token, o, resume, false)
        .into_client_request()
        .unwrap();
    for (k, v) in headers(token, o.platform) {
        req.headers_mut().insert(k, v.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((ws, resp)) => Ok(DartSignal {
            ws,
            log: Vec::new(),
            extensions: resp
                .headers()
                .get("sec-websocket-extensions")
                .map(|v| v.to_str().unwrap_or_default().to_owned()),
        }),
        Err(Error::Http(resp)) => {
            let body = resp
                .body()
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default();
            Err((resp.status().as_u16(), body))
        }
        Err(e) => panic!("connecting: {e}"),
    }
}

/// The name of a response's kind, for logs.
pub fn kind(msg: &Out) -> String {
    let debug = format!("{msg:?}");
    debug
        .split(['(', ' ', '{'])
        .next()
        .unwrap_or_default()
        .to_owned()
}

impl DartSignal {
    /// The next response within `wait` (`None`: none, or closed).
    pub async fn next(&mut self, wait: Duration) -> Option<Out> {
        loop {
            match tokio::time::timeout(wait, self.ws.next()).await {
                Ok(Some(Ok(Message::Binary(b)))) => {
                    let msg = lk::SignalResponse::decode(b.as_ref()).ok()?.message?;
                    self.log.push(kind(&msg));
                    return Some(msg);
                }
                Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) | Err(_) => {
                    return None
                }
                Ok(Some(Ok(_))) => continue,
            }
        }
    }

    /// The first response within `wait` that `pick` takes, the others
    /// logged and dropped.
    pub async fn find<T>(&mut self, wait: Duration, pick: impl Fn(&Out) -> Option<T>) -> Option<T> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let msg = self.next(left).await?;
            if let Some(t) = pick(&msg) {
                return Some(t);
            }
        }
    }

    /// Whether the server closed the connection within `wait`.
    pub async fn closed_within(&mut self, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) => return true,
                Ok(Some(Ok(_))) => continue,
                Err(_) => return false,
            }
        }
    }

    /// Sends one request as `_sendRequest` does (`req.writeToBuffer()`, a
    /// binary frame).
    pub async fn send(&mut self, msg: In) {
        let req = lk::SignalRequest { message: Some(msg) };
        self.ws
            .send(Message::Binary(req.encode_to_vec().into()))
            .await
            .unwrap();
    }

    /// Ends the connection without a goodbye, as a lost network does: the
    /// TCP stream is shut, no WebSocket close frame is sent.
    pub async fn sever(&mut self) {
        use tokio::io::AsyncWriteExt;
        if let tokio_tungstenite::MaybeTlsStream::Plain(tcp) = self.ws.get_mut() {
            let _ = tcp.shutdown().await;
        }
    }
}

/// `SignalClient._sendPing`: a `ping` (ms) and a `pingReq {timestamp, rtt}`
/// with the same time, one after the other.
pub fn pings(now_ms: i64, rtt: i64) -> [In; 2] {
    [
        In::Ping(now_ms),
        In::PingReq(lk::Ping {
            timestamp: now_ms,
            rtt,
        }),
    ]
}

/// `sendOffer` / `sendAnswer`: `RTCSessionDescription.toPBType()`, a type
/// and an SDP, no id (0).
pub fn description(kind: &str, sdp: String) -> lk::SessionDescription {
    lk::SessionDescription {
        r#type: kind.into(),
        sdp,
        ..Default::default()
    }
}

/// `sendIceCandidate`: the candidate's `toJson()` as a string.
pub fn trickle(candidate: &str, target: lk::SignalTarget) -> In {
    let init = serde_json::json!({"candidate": candidate, "sdpMid": "0", "sdpMLineIndex": 0});
    In::Trickle(lk::TrickleRequest {
        candidate_init: init.to_string(),
        target: target as i32,
        ..Default::default()
    })
}

/// `RemoteTrackPublication._sendUpdateSubscription`: the track both in
/// `participant_tracks` and in `track_sids`.
pub fn subscription(participant_sid: &str, track_sid: &str, subscribe: bool) -> In {
    In::Subscription(lk::UpdateSubscription {
        track_sids: vec![track_sid.into()],
        subscribe,
        participant_tracks: vec![lk::ParticipantTracks {
            participant_sid: participant_sid.into(),
            track_sids: vec![track_sid.into()],
        }],
    })
}

/// `buildUpdateTrackSettings` (publication/track_settings.dart): with
/// adaptive stream the widget's size (`width`/`height`), else a quality;
/// `disabled` while the widget is not visible.
pub fn track_settings(track_sid: &str, disabled: bool, size: Option<(u32, u32)>) -> In {
    let mut s = lk::UpdateTrackSettings {
        track_sids: vec![track_sid.into()],
        disabled,
        ..Default::default()
    };
    match size {
        Some((w, h)) => (s.width, s.height) = (w, h),
        None => s.quality = lk::VideoQuality::High as i32,
    }
    In::TrackSetting(s)
}

/// `SignalClient.sendLeave`: client-initiated, action `DISCONNECT`.
pub fn leave() -> In {
    In::Leave(lk::LeaveRequest {
        reason: lk::DisconnectReason::ClientInitiated as i32,
        action: lk::leave_request::Action::Disconnect as i32,
        ..Default::default()
    })
}
