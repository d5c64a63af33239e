//! Arbitrary datagrams at the SFU's UDP port: first what routes a
//! stranger's datagram to a media worker (the ufrag in a STUN USERNAME,
//! `sfu/src/stun.rs`), then a peer connection built as the worker builds
//! one (ICE-lite, RTP mode, OnAir's codecs) taking the datagram from its
//! known peer's address, and everything it answers.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, IceCreds, Input, Output, Rtc};

fuzz_target!(|data: &[u8]| {
    let _ = onair_sfu::fuzzing::local_ufrag(data);
    if let Some(span) = onair_sfu::fuzzing::local_ufrag_span(data) {
        assert!(span.start <= span.end && span.end <= data.len());
    }
    let now = Instant::now();
    let mut rtc = Rtc::builder()
        .set_ice_lite(true)
        .set_rtp_mode(true)
        .set_local_ice_credentials(IceCreds {
            ufrag: "fuzzufrag0000000".into(),
            pass: "fuzzpass0000000000000000000000000".into(),
        })
        .clear_codecs()
        .enable_opus(true, false)
        .enable_vp8(true)
        .enable_h264(true)
        .build(now);
    let local = "127.0.0.1:7882".parse().unwrap();
    rtc.add_local_candidate(Candidate::host(local, "udp").unwrap());
    let source = "127.0.0.1:50000".parse().unwrap();
    let Ok(receive) = Receive::new(Protocol::Udp, source, local, data) else {
        return;
    };
    let input = Input::Receive(now, receive);
    if rtc.accepts(&input) {
        let _ = rtc.handle_input(input);
    }
    for _ in 0..64 {
        match rtc.poll_output() {
            Ok(Output::Timeout(_)) | Err(_) => break,
            Ok(_) => {}
        }
    }
    let _ = rtc.handle_input(Input::Timeout(now + Duration::from_millis(50)));
});
