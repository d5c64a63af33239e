//! Arbitrary signal messages from a joined participant: the bytes of a
//! `/rtc` WebSocket frame decoded as LiveKit's `SignalRequest`, and any SDP
//! it carries (an offer or answer; the raw bytes as SDP too) read by what
//! the SFU reads it with: its own scans (`sfu/src/sdp_scan.rs`) and the
//! publisher's peer connection accepting it as an offer.
#![no_main]

use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use livekit_protocol as lk;
use lk::signal_request::Message as In;
use prost::Message as _;
use str0m::change::SdpOffer;
use str0m::Rtc;

/// What the SFU does with an SDP a client sends.
fn read_sdp(sdp: &str) {
    use onair_sfu::fuzzing::*;
    let _ = msid_tracks(sdp);
    let _ = ice_ufrag(sdp);
    if let Some((codec, _)) = first_codec(sdp, "0") {
        let _ = prefer_codec(sdp, "0", codec);
    }
    let _ = prefer_codec(sdp, "1", "h264");
    if let Ok(offer) = SdpOffer::from_sdp_string(sdp) {
        let mut rtc = Rtc::builder()
            .set_ice_lite(true)
            .set_rtp_mode(true)
            .clear_codecs()
            .enable_opus(true, false)
            .enable_vp8(true)
            .enable_h264(true)
            .build(Instant::now());
        let _ = rtc.sdp_api().accept_offer(offer);
    }
}

fuzz_target!(|data: &[u8]| {
    read_sdp(&String::from_utf8_lossy(data));
    let Ok(request) = lk::SignalRequest::decode(data) else {
        return;
    };
    match request.message {
        Some(In::Offer(d)) | Some(In::Answer(d)) => read_sdp(&d.sdp),
        _ => {}
    }
});
