//! A signal-only session for a peer that is not this process: the SDP
//! offer of a WHIP publisher becomes this participant's publisher offer, so
//! the media flows straight between that peer and the SFU, and this side
//! only keeps the participant's signal connection alive.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use livekit_protocol as lk;
use lk::signal_request::Message as Req;
use lk::signal_response::Message as Resp;
use prost::Message as _;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::signal::{self, leave_reason, next_response, send, Ws};
use crate::{lock, ClientError};

/// How long the SFU may take to answer each request.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);

/// A track the peer's offer carries (one `m=` section with an `a=msid`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OfferedTrack {
    /// The peer's track id (the msid's second part).
    pub cid: String,
    /// Video (else audio).
    pub video: bool,
}

/// The audio and video tracks an SDP offer sends.
pub fn offered_tracks(sdp: &str) -> Vec<OfferedTrack> {
    let mut tracks = Vec::new();
    let mut section: Option<(bool, bool)> = None; // (video, sends)
    let mut cid = None;
    let flush =
        |section: Option<(bool, bool)>, cid: Option<String>, tracks: &mut Vec<OfferedTrack>| {
            if let (Some((video, true)), Some(cid)) = (section, cid) {
                tracks.push(OfferedTrack { cid, video });
            }
        };
    for line in sdp.lines().map(str::trim) {
        if let Some(m) = line.strip_prefix("m=") {
            flush(section.take(), cid.take(), &mut tracks);
            let kind = m.split(' ').next().unwrap_or_default();
            section = match kind {
                "audio" => Some((false, true)),
                "video" => Some((true, true)),
                _ => None,
            };
        } else if let Some(msid) = line.strip_prefix("a=msid:") {
            cid = msid.split_whitespace().nth(1).map(str::to_owned);
        } else if matches!(line, "a=recvonly" | "a=inactive") {
            if let Some(s) = &mut section {
                s.1 = false;
            }
        }
    }
    flush(section, cid, &mut tracks);
    tracks
}

/// A participant publishing from another peer.
pub struct Bridge {
    /// Ends [`keep_alive`]; taken when sent.
    stop: Option<oneshot::Sender<()>>,
    keep_alive_task: tokio::task::JoinHandle<()>,
    /// Why the session ended, once it did.
    closed: Arc<Mutex<Option<String>>>,
}

impl Bridge {
    /// Joins at signal `url` with join `token`, announces `tracks`, and
    /// hands `offer` to the SFU; its answer for the peer.
    pub async fn publish(
        url: &str,
        token: &str,
        offer: &str,
        tracks: &[OfferedTrack],
    ) -> Result<(Bridge, String), ClientError> {
        let mut ws = signal::connect(url, token, false, "whip").await?;
        let join =
            match await_response(&mut ws, |r| matches!(r, Resp::Join(_) | Resp::Leave(_))).await? {
                Resp::Join(join) => join,
                other => return Err(ClientError::Refused(format!("{other:?}"))),
            };
        announce(&mut ws, tracks).await?;
        let answer = exchange_offer(&mut ws, offer).await?;
        let closed = Arc::new(Mutex::new(None));
        let (stop, stopped) = oneshot::channel();
        let ping_every = signal::ping_interval(&join);
        let keep_alive_task = tokio::spawn(keep_alive(ws, ping_every, stopped, closed.clone()));
        Ok((
            Bridge {
                stop: Some(stop),
                keep_alive_task,
                closed,
            },
            answer,
        ))
    }

    /// Why the SFU ended the session, once it did (replaced, kicked, call ended).
    pub fn closed(&self) -> Option<String> {
        lock(&self.closed).clone()
    }

    /// Leaves the call.
    pub async fn close(mut self) {
        self.stop();
        let _ = (&mut self.keep_alive_task).await;
    }

    /// Tells the keep-alive task to say goodbye (once).
    fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Announces each of the peer's tracks and waits until the SFU accepts it.
async fn announce(ws: &mut Ws, tracks: &[OfferedTrack]) -> Result<(), ClientError> {
    for (i, t) in tracks.iter().enumerate() {
        let (kind, source) = match t.video {
            true => (lk::TrackType::Video, lk::TrackSource::Camera),
            false => (lk::TrackType::Audio, lk::TrackSource::Microphone),
        };
        let add = lk::AddTrackRequest {
            cid: t.cid.clone(),
            name: format!("whip-{i}"),
            r#type: kind as i32,
            source: source as i32,
            width: if t.video { 1280 } else { 0 },
            height: if t.video { 720 } else { 0 },
            ..Default::default()
        };
        send(ws, Req::AddTrack(add)).await?;
        let cid = t.cid.clone();
        await_response(
            ws,
            move |r| matches!(r, Resp::TrackPublished(p) if p.cid == cid),
        )
        .await?;
    }
    Ok(())
}

/// Hands the peer's `offer` to the SFU as this participant's publisher
/// offer; the SFU's answer SDP.
async fn exchange_offer(ws: &mut Ws, offer: &str) -> Result<String, ClientError> {
    // The bridge makes no other offer, so it is number 1.
    send(ws, signal::offer(offer.to_owned(), 1)).await?;
    match await_response(ws, |r| matches!(r, Resp::Answer(_))).await? {
        Resp::Answer(a) => Ok(a.sdp),
        _ => Err(ClientError::Signal("no answer".into())),
    }
}

/// The next response that `want`s, skipping others; a leave is a refusal.
async fn await_response(ws: &mut Ws, want: impl Fn(&Resp) -> bool) -> Result<Resp, ClientError> {
    tokio::time::timeout(RESPONSE_TIMEOUT, async {
        loop {
            let resp = next_response(ws).await?;
            if want(&resp) {
                return Ok(resp);
            }
            if let Resp::Leave(l) = resp {
                return Err(ClientError::Refused(leave_reason(&l)));
            }
        }
    })
    .await
    .map_err(|_| ClientError::Signal("the SFU did not answer in time".into()))?
}

/// Pings until stopped (then says goodbye) or until the SFU ends the session.
async fn keep_alive(
    mut ws: Ws,
    every: Duration,
    mut stop: oneshot::Receiver<()>,
    closed: Arc<Mutex<Option<String>>>,
) {
    let mut tick = tokio::time::interval(every);
    let reason = loop {
        tokio::select! {
            _ = &mut stop => {
                signal::leave(&mut ws).await;
                break "closed".to_owned();
            }
            _ = tick.tick() => {
                let ping = lk::Ping { timestamp: 0, rtt: 0 };
                if send(&mut ws, Req::PingReq(ping)).await.is_err() {
                    break "signal connection lost".to_owned();
                }
            }
            msg = ws.next() => match msg {
                Some(Ok(WsMessage::Binary(bytes))) => {
                    if let Ok(lk::SignalResponse { message: Some(Resp::Leave(l)) }) = lk::SignalResponse::decode(bytes.as_ref()) {
                        break leave_reason(&l);
                    }
                }
                Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => break "signal connection lost".to_owned(),
                Some(Ok(_)) => {}
            },
        }
    };
    *lock(&closed) = Some(reason);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracks_come_from_sending_sections_with_an_msid() {
        let sdp = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
            m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=sendonly\r\na=msid:s1 mic-1\r\n\
            m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=sendonly\r\na=msid:s1 cam-1\r\n\
            m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:2\r\na=recvonly\r\na=msid:s1 cam-2\r\n\
            m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:3\r\n";
        assert_eq!(
            offered_tracks(sdp),
            vec![
                OfferedTrack {
                    cid: "mic-1".into(),
                    video: false
                },
                OfferedTrack {
                    cid: "cam-1".into(),
                    video: true
                },
            ]
        );
        assert!(offered_tracks("garbage").is_empty());
    }
}
