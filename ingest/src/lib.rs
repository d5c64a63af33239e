//! Ingest: media from outside (OBS over RTMP or WHIP) published into a call.
//! It is egress's mirror image and shares only the GStreamer helpers of
//! `onair-pipeline` with it; the binary runs it as the `ingest` role.
//!
//! - [`rtmp`]: the RTMP server: one task per connection, the handshake and
//!   session on `rml_rtmp` (sans-IO), the stream key checked by joining the
//!   call over the REST API with it, exactly as an app would.
//! - [`stream`]: what one published stream does with its media: H.264
//!   without B-frames passed through (repacketized), with B-frames
//!   transcoded; AAC transcoded to Opus; published with `onair-client`.
//! - [`whip`]: WHIP (RFC 9725): a WebRTC publisher's offer handed to the
//!   SFU, so its media goes straight there.
//! - [`chunks`]: the guard on RTMP chunk headers (sizes, streams) before
//!   `rml_rtmp` buffers anything.
//! - [`flv`]: the FLV tag bodies RTMP carries (pure).
//! - [`transcode`]: the GStreamer transcoders.
//!
//! An ingest joins as participant `{user}:ingest`, so the user can be in
//! the call from an app at the same time; a second ingest of the same user
//! into the same call replaces the first (the SFU keeps the newer of two
//! sessions with one identity).

pub mod chunks;
pub mod flv;
pub mod rtmp;
pub mod stream;
pub mod transcode;
pub mod whip;

use std::sync::Arc;

use onair_auth::token::{mint, verify_join};
use onair_auth::KeySet;

/// What ingest needs.
pub struct IngestConfig {
    /// The REST API's base URL (`http://…`): stream keys are checked by joining there.
    pub api_url: String,
    /// Verifies the API's join tokens and signs the ingest's own.
    pub keys: Arc<KeySet>,
    /// Where this node reaches the SFU, when not at the join's public URL
    /// (a TLS listener is for clients; the SFU on this node answers plain
    /// WebSockets on loopback).
    pub signal_url: Option<String>,
}

/// Why a stream was refused.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// Not `live/{type}:{id}` plus a key.
    #[error("the stream address is not live/<type>:<id> with a stream key")]
    Address,
    /// The API refused the join (bad or expired token, no such call, no
    /// access): its status (0 if it could not be reached) and answer.
    #[error("the call refused the stream key: {0}: {1}")]
    Join(u16, String),
    /// Joined, but may not publish (role, or backstage).
    #[error("this user may not publish in the call now")]
    NoPublish,
}

impl Refused {
    /// The HTTP status that says it: the API's own for a refused join.
    pub fn status(&self) -> u16 {
        match self {
            Refused::Address => 404,
            Refused::Join(status, _) if (400..500).contains(status) => *status,
            Refused::Join(..) => 502,
            Refused::NoPublish => 403,
        }
    }
}

/// Where a stream goes: a call and the user token that must let it in.
#[derive(Debug, PartialEq, Eq)]
pub struct Target {
    /// `type:id`.
    pub cid: String,
    /// The stream key: a user token.
    pub token: String,
}

impl Target {
    /// Reads `live/{type}:{id}` and the key, however the client split them
    /// between RTMP app and stream name: OBS sends app `live/t:i` and name
    /// `KEY`; ffmpeg, seeing the colon, sends app `live` and name `t:i/KEY`.
    pub fn parse(app: &str, stream: &str) -> Result<Target, Refused> {
        let full = format!("{}/{}", app.trim_matches('/'), stream.trim_matches('/'));
        let mut parts = full.split('/');
        let (Some("live"), Some(cid), Some(token), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Refused::Address);
        };
        let token = token.split('?').next().unwrap_or_default();
        match cid.split_once(':') {
            Some((t, i)) if !t.is_empty() && !i.is_empty() && !token.is_empty() => Ok(Target {
                cid: cid.to_owned(),
                token: token.to_owned(),
            }),
            _ => Err(Refused::Address),
        }
    }
}

/// An ingest let into a call.
pub struct Admitted {
    /// The SFU's signal URL.
    pub url: String,
    /// A join token for participant `{user}:ingest`.
    pub token: String,
    /// STUN/TURN servers for the publishing peer.
    pub ice_servers: Vec<onair_client::api::IceServer>,
}

/// Joins the call with the user's token (the API applies roles and
/// backstage as for any publisher) and admits the ingest participant
/// `{user}:ingest`.
pub async fn authorize(config: &IngestConfig, target: &Target) -> Result<Admitted, Refused> {
    let creds = onair_client::api::join(&config.api_url, &target.token, &target.cid, false)
        .await
        .map_err(|e| Refused::Join(e.status, e.body))?;
    let now = onair_auth::clock::unix_secs();
    let mut claims = verify_join(&creds.token, &config.keys, now)
        .map_err(|e| Refused::Join(0, format!("join token: {e}")))?;
    if !claims.video.may_publish() {
        return Err(Refused::NoPublish);
    }
    let key = config
        .keys
        .get(&claims.iss)
        .ok_or_else(|| Refused::Join(0, "join token of an unknown key".into()))?;
    claims.sub = format!("{}:ingest", claims.sub);
    if claims.name.is_empty() {
        claims.name = "OBS".into();
    }
    Ok(Admitted {
        token: mint(key, &claims),
        url: config.signal_url.clone().unwrap_or(creds.url),
        ice_servers: creds.ice_servers,
    })
}

/// A running stream, counted in `onair_ingest_streams{protocol}` while it
/// lives.
pub struct Live(metrics::Gauge);

impl Live {
    /// Counts one more stream of `protocol` (`rtmp`, `whip`).
    pub fn new(protocol: &'static str) -> Self {
        let gauge = metrics::gauge!("onair_ingest_streams", "protocol" => protocol);
        gauge.increment(1.0);
        Live(gauge)
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(cid: &str, token: &str) -> Result<Target, Refused> {
        Ok(Target {
            cid: cid.into(),
            token: token.into(),
        })
    }

    #[test]
    fn obs_and_ffmpeg_splits_give_the_same_target() {
        let want = target("livestream:abc", "eyJ.x.y");
        assert_eq!(
            Target::parse("live/livestream:abc", "eyJ.x.y").ok(),
            want.ok()
        );
        let want = target("livestream:abc", "eyJ.x.y");
        assert_eq!(
            Target::parse("live", "livestream:abc/eyJ.x.y").ok(),
            want.ok()
        );
        let want = target("livestream:abc", "eyJ.x.y");
        assert_eq!(
            Target::parse("live/", "/livestream:abc/eyJ.x.y?x=1").ok(),
            want.ok()
        );
    }

    #[test]
    fn other_addresses_are_refused() {
        for (app, stream) in [
            ("live/livestream:abc", ""),
            ("live", "livestream:abc"),
            ("app/livestream:abc", "key"),
            ("live/nocolon", "key"),
            ("live/:id", "key"),
            ("live/a:b/c", "key"),
        ] {
            assert!(Target::parse(app, stream).is_err(), "{app} {stream}");
        }
    }
}
