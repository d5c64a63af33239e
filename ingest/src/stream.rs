//! One ingested stream: FLV media in, a participant publishing out.
//!
//! Video in H.264 without B-frames (every frame's presentation time equals
//! its decoding time, as with OBS's and browsers' low-latency settings) is
//! passed through: each access unit is rewritten to Annex-B and sent as is.
//! H.264 with B-frames is transcoded to constrained-baseline H.264, and so
//! is any other codec FLV carries (through GStreamer's `flvdemux`). Audio
//! (AAC, or any other) is transcoded to Opus. Frames are sent as soon as
//! they are ready, timestamped by their RTMP time from the stream's first
//! tag, so audio and video keep the timing the encoder gave them.

use std::time::Duration;

use onair_client::{Client, ClientError, Codec, LocalLayer, LocalTrack, Source};
use tokio::sync::mpsc;

use crate::flv::{self, Audio, AvcConfig, FlvError, Video};
use crate::transcode::{layers, Layer, Output, Transcoder};
use onair_pipeline::PipelineError;

/// Why a stream stopped.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// Malformed or unsupported media.
    #[error(transparent)]
    Flv(#[from] FlvError),
    /// A transcoder failed.
    #[error(transparent)]
    Transcode(#[from] PipelineError),
    /// The call connection failed.
    #[error("call connection: {0}")]
    Client(#[from] ClientError),
    /// A frame before the decoder configuration.
    #[error("H.264 frames before their decoder configuration")]
    NoConfig,
}

/// How video reaches the call.
enum VideoPath {
    /// Nothing published yet: waiting for the first keyframe to decide.
    Waiting,
    /// Access units as they come (track sid).
    Passthrough(String),
    /// Through a transcoder (track sid, its simulcast layers).
    Transcode(String, Transcoder, Vec<Layer>),
    /// A codec other than H.264, through a transcoder fed FLV (track sid,
    /// its simulcast layers).
    Demux(String, Transcoder, Vec<Layer>),
}

/// A stream being published into a call.
pub struct Stream {
    client: Client,
    avc: Option<AvcConfig>,
    video: VideoPath,
    /// The audio track, its transcoder, and whether it is fed FLV (not AAC).
    audio: Option<(String, Transcoder, bool)>,
    /// RTMP time (ms) of the first tag: media time 0 of every track.
    base: Option<u32>,
    /// B-frames were seen: never pass this stream's video through again.
    b_frames: bool,
    size: (u32, u32),
    video_out: (
        mpsc::UnboundedSender<Output>,
        mpsc::UnboundedReceiver<Output>,
    ),
    audio_out: (
        mpsc::UnboundedSender<Output>,
        mpsc::UnboundedReceiver<Output>,
    ),
    _live: crate::Live,
}

impl Stream {
    /// Joins the call at signal `url` with join `token`.
    pub async fn connect(url: &str, token: &str) -> Result<Stream, StreamError> {
        let client = Client::connect(url, token).await?;
        Ok(Stream {
            client,
            avc: None,
            video: VideoPath::Waiting,
            audio: None,
            base: None,
            b_frames: false,
            size: (1280, 720),
            video_out: mpsc::unbounded_channel(),
            audio_out: mpsc::unbounded_channel(),
            _live: crate::Live::new("rtmp"),
        })
    }

    /// The picture size the stream's metadata announced.
    pub fn set_size(&mut self, width: u32, height: u32) {
        if width > 0 && height > 0 {
            self.size = (width, height);
        }
    }

    /// The call closed the connection (replaced by a newer ingest, kicked, ended).
    pub fn closed(&self) -> Option<String> {
        self.client.closed()
    }

    fn time(&mut self, timestamp: u32) -> Duration {
        let base = *self.base.get_or_insert(timestamp);
        Duration::from_millis(u64::from(timestamp.wrapping_sub(base)))
    }

    /// Takes one FLV video tag at RTMP time `timestamp` (ms).
    pub async fn video(&mut self, tag: &[u8], timestamp: u32) -> Result<(), StreamError> {
        let parsed = match flv::video(tag) {
            Err(FlvError::Unsupported(_, codec)) => {
                return self.other_video(tag, timestamp, codec).await
            }
            parsed => parsed?,
        };
        let (keyframe, cts, data) = match parsed {
            Video::Config(config) => {
                tracing::debug!(profile = config.profile, "H.264 configuration");
                self.avc = Some(config);
                return Ok(());
            }
            Video::End => return Ok(()),
            Video::Frame {
                keyframe,
                cts,
                data,
            } => (keyframe, cts, data),
        };
        let dts = self.time(timestamp);
        let pts = Duration::from_millis((dts.as_millis() as i64 + i64::from(cts)).max(0) as u64);
        let avc = self.avc.as_ref().ok_or(StreamError::NoConfig)?;
        // B-frames show as frames presented later than decoded.
        if cts != 0 {
            self.b_frames = true;
            if let VideoPath::Passthrough(sid) = &self.video {
                tracing::info!("B-frames appeared: transcoding from the next keyframe");
                self.client.unpublish(sid);
                self.video = VideoPath::Waiting;
            }
        }
        match &self.video {
            VideoPath::Waiting if !keyframe => {}
            VideoPath::Waiting if !self.b_frames => {
                tracing::info!("H.264 without B-frames: passed through");
                let (w, h) = self.size;
                let sid = self
                    .publish_video(&[Layer {
                        rid: "f",
                        width: w,
                        height: h,
                        kbps: 0,
                    }])
                    .await?;
                let au = flv::annexb(avc, data, keyframe)?;
                self.client.send_frame(&sid, au, pts);
                self.video = VideoPath::Passthrough(sid);
            }
            VideoPath::Waiting => {
                let layers = layers(self.size.0, self.size.1);
                tracing::info!(layers = layers.len(), "H.264 with B-frames: transcoded");
                let t = Transcoder::h264_to_baseline(&avc.raw, &layers, self.video_out.0.clone())?;
                t.push(data, pts, dts, true)?;
                let sid = self.publish_video(&layers).await?;
                self.video = VideoPath::Transcode(sid, t, layers);
            }
            VideoPath::Passthrough(sid) => {
                let au = flv::annexb(avc, data, keyframe)?;
                self.client.send_frame(sid, au, pts);
            }
            VideoPath::Transcode(_, t, _) => t.push(data, pts, dts, keyframe)?,
            VideoPath::Demux(..) => {
                return Err(FlvError::Malformed("codec changed mid-stream").into())
            }
        }
        Ok(())
    }

    /// A video tag in another codec than H.264 (FLV codec id `codec`).
    async fn other_video(
        &mut self,
        tag: &[u8],
        timestamp: u32,
        codec: u8,
    ) -> Result<(), StreamError> {
        let at = self.time(timestamp);
        let framed = flv::tag(9, timestamp, tag);
        let keyframe = flv::is_keyframe(tag);
        match &self.video {
            VideoPath::Waiting => {
                let layers = layers(self.size.0, self.size.1);
                tracing::info!(
                    codec,
                    layers = layers.len(),
                    "video codec {codec}: transcoded"
                );
                let t = Transcoder::flv_video_to_baseline(&layers, self.video_out.0.clone())?;
                t.push(&flv::header(true), at, at, true)?;
                t.push(&framed, at, at, keyframe)?;
                let sid = self.publish_video(&layers).await?;
                self.video = VideoPath::Demux(sid, t, layers);
            }
            VideoPath::Demux(_, t, _) => t.push(&framed, at, at, keyframe)?,
            _ => return Err(FlvError::Malformed("codec changed mid-stream").into()),
        }
        Ok(())
    }

    /// Takes one FLV audio tag at RTMP time `timestamp` (ms).
    pub async fn audio(&mut self, tag: &[u8], timestamp: u32) -> Result<(), StreamError> {
        let at = self.time(timestamp);
        match (flv::audio(tag), &self.audio) {
            (Ok(Audio::Config(config)), None) => {
                let t = Transcoder::aac_to_opus(config, self.audio_out.0.clone())?;
                let sid = self.publish_audio().await?;
                self.audio = Some((sid, t, false));
            }
            (Ok(Audio::Frame(data)), Some((_, t, false))) => t.push(data, at, at, true)?,
            // A configuration again, or AAC frames before any: nothing to do.
            (Ok(_), _) => {}
            (Err(FlvError::Unsupported(_, format)), None) => {
                tracing::info!(format, "audio format {format}: transcoded");
                let t = Transcoder::flv_audio_to_opus(self.audio_out.0.clone())?;
                t.push(&flv::header(false), at, at, true)?;
                t.push(&flv::tag(8, timestamp, tag), at, at, true)?;
                let sid = self.publish_audio().await?;
                self.audio = Some((sid, t, true));
            }
            (Err(FlvError::Unsupported(..)), Some((_, t, true))) => {
                t.push(&flv::tag(8, timestamp, tag), at, at, true)?
            }
            (Err(e), _) => return Err(e.into()),
        }
        Ok(())
    }

    /// Sends transcoded frames as they come out; returns when the stream
    /// has nothing more to send (never, while it runs).
    pub async fn send_transcoded(&mut self) {
        loop {
            tokio::select! {
                Some((layer, data, at)) = self.video_out.1.recv() => {
                    if let VideoPath::Transcode(sid, _, layers) | VideoPath::Demux(sid, _, layers) = &self.video {
                        match layers.get(layer) {
                            Some(l) if layers.len() > 1 => self.client.send_layer_frame(sid, l.rid, data, at),
                            _ => self.client.send_frame(sid, data, at),
                        }
                    }
                }
                Some((_, data, at)) = self.audio_out.1.recv() => {
                    if let Some((sid, ..)) = &self.audio {
                        self.client.send_frame(sid, data, at);
                    }
                }
                else => return,
            }
        }
    }

    /// Publishes the camera track, in simulcast when there are several layers.
    async fn publish_video(&self, layers: &[Layer]) -> Result<String, StreamError> {
        let simulcast = layers.len() > 1;
        let track = LocalTrack {
            name: "obs-video".into(),
            source: Source::Camera,
            codec: Codec::H264,
            layers: layers
                .iter()
                .map(|l| LocalLayer {
                    rid: simulcast.then(|| l.rid.to_owned()),
                    width: l.width,
                    height: l.height,
                    frames: Vec::new(),
                })
                .collect(),
        };
        Ok(self.client.publish(track).await?)
    }

    async fn publish_audio(&self) -> Result<String, StreamError> {
        let track = LocalTrack {
            name: "obs-audio".into(),
            source: Source::Microphone,
            codec: Codec::Opus,
            layers: vec![LocalLayer {
                rid: None,
                width: 0,
                height: 0,
                frames: Vec::new(),
            }],
        };
        Ok(self.client.publish(track).await?)
    }

    /// Leaves the call.
    pub async fn leave(self) {
        self.client.leave().await;
    }
}
