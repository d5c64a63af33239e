//! The forwarding loop: each RTP packet from a publisher goes to every
//! subscriber of its track, rewritten by that subscriber's [`DownTrack`], with
//! keyframe requests upstream when a subscriber needs a new layer.
//!
//! This is the hot path (`docs/ARCHITECTURE.md`, "A packet's path"): it
//! takes no lock and allocates nothing per packet. The packet is read once
//! ([`Inbound`]); each subscriber gets its own sequence numbers, timestamps
//! and VP8 ids around the shared payload ([`Fanout::send`]).

use str0m::format::PayloadParams;
use str0m::media::Rid;

use super::*;
use crate::media::downtrack::Outgoing;
use crate::media::{rid_of_layer, Layer};

/// One publisher packet, read once for every subscriber of its track.
struct Inbound<'a> {
    packet: &'a RtpPacket,
    incoming: Incoming,
    /// The publisher's codec parameters for the packet's payload type.
    params: Option<PayloadParams>,
    /// The VP8 payload descriptor, parsed once; each subscriber patches
    /// its own picture ids into it.
    descriptor: Option<Vp8Descriptor>,
    video: bool,
}

impl<'a> Inbound<'a> {
    fn new(
        packet: &'a RtpPacket,
        layer: u8,
        params: Option<PayloadParams>,
        video: bool,
        now: Instant,
    ) -> Self {
        let codec = params.map(|pp| pp.spec().codec);
        let incoming = Incoming {
            layer,
            seq: *packet.seq_no,
            ts: packet.header.timestamp,
            arrival: now,
            // Audio can start anywhere; video only at a keyframe.
            keyframe_start: match codec {
                Some(Codec::Vp8) => detect_vp8_keyframe(&packet.payload),
                Some(Codec::H264) => h264_keyframe_start(&packet.payload),
                _ => !video,
            },
            vp8: if codec == Some(Codec::Vp8) {
                Vp8Ids::parse(&packet.payload)
            } else {
                None
            },
        };
        let descriptor = incoming
            .vp8
            .and_then(|_| Vp8Descriptor::parse(&packet.payload).ok());
        Inbound {
            packet,
            incoming,
            params,
            descriptor,
            video,
        }
    }

    /// The packet as one subscriber receives it: its payload type,
    /// sequence number, timestamp and VP8 ids around the shared payload.
    fn rewrite(&self, out_pt: Pt, out: &Outgoing) -> RtpWrite {
        let packet = self.packet;
        let ext = ExtensionValues {
            audio_level: packet.header.ext_vals.audio_level,
            voice_activity: packet.header.ext_vals.voice_activity,
            video_orientation: packet.header.ext_vals.video_orientation,
            ..Default::default()
        };
        let write = RtpWrite::new(
            out_pt,
            out.seq.into(),
            out.ts,
            packet.timestamp,
            packet.payload.clone(),
        )
        .marker(packet.header.marker)
        .nackable(self.video)
        .ext_vals(ext);
        let patch = out.vp8.and_then(|ids| {
            self.descriptor.as_ref().and_then(|d| {
                let mut b = d.patch().picture_id(ids.picture_id);
                if let Some(t) = ids.tl0 {
                    b = b.tl0_pic_idx(t);
                }
                b.build().ok()
            })
        });
        match patch {
            Some(patch) => write.vp8_patch(patch),
            None => write,
        }
    }
}

/// Whether an H.264 packet starts a keyframe. Encoders send the SPS and
/// PPS just before the IDR slice, often in their own packet (the IDR of a
/// large layer is fragmented): switching at the IDR would drop the new
/// layer's SPS, and the subscriber would decode it with the old layer's
/// (same id, other size) and fail. So the SPS starts it, as in LiveKit; an
/// IDR without one (a stream whose parameters come out of band) also does.
fn h264_keyframe_start(payload: &[u8]) -> bool {
    const SPS: u8 = 7;
    detect_h264_nalu(payload, SPS) || detect_h264_keyframe(payload)
}

impl PubTrack {
    /// Which simulcast layers flow now (a packet within [`LAYER_STALE`]).
    pub(super) fn flowing(&self, now: Instant) -> [bool; 3] {
        self.seen
            .map(|s| s.is_some_and(|t| now.duration_since(t) < LAYER_STALE))
    }
}

/// What sending to subscribers needs of the worker, borrowed apart from
/// the track being forwarded.
struct Fanout<'w> {
    peers: &'w mut HashMap<PeerId, Peer>,
    participants: &'w HashMap<Pid, Participant>,
    /// Subscribers written to, to poll once their writes are done.
    written: &'w mut Vec<PeerId>,
    forwarded: &'w mut u64,
    counts: &'w mut super::metrics::Counts,
}

impl Fanout<'_> {
    /// Sends `inbound` toward one subscriber. Returns the layer to ask
    /// the publisher a keyframe of, when the subscriber waits for one.
    fn send(
        &mut self,
        down: &mut Down,
        inbound: &Inbound,
        layers: &[Layer],
        available: [bool; 3],
    ) -> Option<u8> {
        let out_mid = down.mid?;
        let sub = self.participants.get(&down.sub)?;
        let budget = sub.estimate;
        let role = match sub.single {
            Some(_) => Role::Single,
            None => Role::Subscriber,
        };
        let target = if inbound.video {
            choose_layer(down.want, layers, available, budget)
        } else {
            Some(0)
        };
        if down.track.target() != target {
            tracing::debug!(sub = %down.sub, ?target, want = ?down.want, budget, "layer target");
            down.track.set_target(target);
        }
        let sub_id = (down.sub, role);
        let sub = self.peers.get_mut(&sub_id)?;
        // Media written before DTLS is up is lost: a keyframe spent then
        // leaves the subscriber waiting for the next one. Its keyframe is
        // asked for when it connects (`Worker::subscriber_connected`).
        if !sub.connected {
            return None;
        }
        let Some(out) = down.track.forward(&inbound.incoming) else {
            return down.track.target().filter(|_| down.track.wants_keyframe());
        };
        let out_pt = subscriber_pt(down, inbound, sub)?;
        let write = inbound.rewrite(out_pt, &out);
        let Ok(written) = write_rtp(sub, out_mid, write) else {
            tracing::warn!(sub = %down.sub, "subscriber panicked on write");
            return None;
        };
        // Sent once the datagram's writes are done (`Worker::poll_written`).
        if !sub.written {
            sub.written = true;
            self.written.push(sub_id);
        }
        if written {
            sub.owed = sub.owed.saturating_add(1);
            *self.forwarded += 1;
            self.counts.packets += 1;
            self.counts.bytes += inbound.packet.payload.len() as u64;
        }
        None
    }
}

/// The subscriber's payload type for the packet's, resolved on first use
/// and remembered by the down track.
fn subscriber_pt(down: &mut Down, inbound: &Inbound, sub: &Peer) -> Option<Pt> {
    let in_pt = inbound.packet.header.payload_type;
    if let Some((_, o)) = down.pts.iter().find(|(i, _)| *i == in_pt) {
        return Some(*o);
    }
    let Some(o) = inbound
        .params
        .and_then(|pp| sub.rtc.codec_config().match_params(pp).map(|m| m.pt()))
    else {
        tracing::debug!(sub = %down.sub, pt = %in_pt, "no matching payload type at the subscriber");
        return None;
    };
    tracing::debug!(sub = %down.sub, from = %in_pt, to = %o, "forwarding starts");
    down.pts.push((in_pt, o));
    Some(o)
}

/// Hands one rewritten packet to the subscriber's send stream on `mid`:
/// `Ok(false)` when that stream is not there yet, `Err` if str0m panicked.
fn write_rtp(sub: &mut Peer, mid: Mid, write: RtpWrite) -> Result<bool, ()> {
    catch_unwind(AssertUnwindSafe(|| {
        match sub.rtc.direct_api().stream_tx_by_mid(mid, None) {
            Some(tx) => {
                // The publisher already paced this media; holding it
                // back again only adds delay and wake-ups.
                tx.set_unpaced(true);
                tx.write_rtp(write);
                true
            }
            None => {
                tracing::trace!(%mid, "no send stream yet");
                false
            }
        }
    }))
    .map_err(|_| ())
}

impl Worker {
    /// Forwards one packet of `publisher` to every subscriber of its track.
    pub(super) fn forward(&mut self, from: PeerId, packet: RtpPacket) {
        let publisher = from.0;
        let Some((mid, layer, params)) = self.source(from, &packet) else {
            return;
        };
        let Some(track) = self.tracks.get_mut(&(publisher, mid)) else {
            return;
        };
        let now = self.now;
        track.seen[layer as usize] = Some(now);
        let video = track.spec.kind == Kind::Video;
        if !video {
            super::speakers::hear_audio_level(&mut self.participants, publisher, &packet, now);
        }
        let inbound = Inbound::new(&packet, layer, params, video, now);
        let available = track.flowing(now);
        let mut fanout = Fanout {
            peers: &mut self.peers,
            participants: &self.participants,
            written: &mut self.written,
            forwarded: &mut self.forwarded,
            counts: &mut self.counts,
        };
        let mut need_pli = [false; 3];
        for down in track.downs.iter_mut() {
            if let Some(layer) = fanout.send(down, &inbound, &track.spec.layers, available) {
                need_pli[layer as usize] = true;
            }
        }
        self.request_plis(publisher, mid, need_pli, now);
    }

    /// The m-line and simulcast layer a publisher's packet arrived on, and
    /// the codec parameters of its payload type.
    fn source(
        &mut self,
        from: PeerId,
        packet: &RtpPacket,
    ) -> Option<(Mid, u8, Option<PayloadParams>)> {
        let peer = self.peers.get_mut(&from)?;
        let (mid, rid) = peer
            .rtc
            .direct_api()
            .stream_rx(&packet.header.ssrc)
            .map(|s| (s.mid(), s.rid()))?;
        let in_pt = packet.header.payload_type;
        let params = peer
            .rtc
            .codec_config()
            .params()
            .iter()
            .find(|pp| pp.pt() == in_pt)
            .copied();
        Some((mid, layer_of_rid(rid.as_deref()), params))
    }

    /// Asks the publisher for a keyframe of each layer a subscriber waits
    /// on, at most once per [`PLI_INTERVAL`] and layer.
    fn request_plis(&mut self, publisher: Pid, mid: Mid, mut need_pli: [bool; 3], now: Instant) {
        let Some(track) = self.tracks.get_mut(&(publisher, mid)) else {
            return;
        };
        let simulcast = track.spec.layers.len() > 1;
        for (layer, needed) in need_pli.iter_mut().enumerate() {
            if track.last_pli[layer].is_some_and(|t| now.duration_since(t) < PLI_INTERVAL) {
                *needed = false;
            } else if *needed {
                track.last_pli[layer] = Some(now);
            }
        }
        for (layer, needed) in need_pli.iter().enumerate() {
            if *needed {
                self.request_keyframe(publisher, mid, rid_of_layer(layer, simulcast));
            }
        }
    }

    /// Sends a PLI to `publisher` for the layer `rid` of its m-line `mid`.
    fn request_keyframe(&mut self, publisher: Pid, mid: Mid, rid: Option<Rid>) {
        let id = self.peer_of(publisher, Role::Publisher);
        if let Some(peer) = self.peers.get_mut(&id) {
            let _ = catch_unwind(AssertUnwindSafe(|| {
                if let Some(rx) = peer.rtc.direct_api().stream_rx_by_mid(mid, rid) {
                    rx.request_keyframe(KeyframeRequestKind::Pli);
                    self.counts.plis += 1;
                }
            }));
        }
        self.drain(id);
    }

    /// A subscriber's connection is up: ask for a keyframe of the layer
    /// each of its tracks wants, now rather than at the next PLI round.
    pub(super) fn subscriber_connected(&mut self, sub: Pid) {
        let mut wanted = Vec::new();
        let video = self
            .tracks
            .values_mut()
            .filter(|t| t.spec.kind == Kind::Video);
        for track in video {
            let simulcast = track.spec.layers.len() > 1;
            for d in track.downs.iter().filter(|d| d.sub == sub) {
                if let Some(layer) = d.track.target() {
                    track.last_pli[layer as usize] = Some(self.now);
                    wanted.push((
                        track.publisher,
                        track.mid,
                        rid_of_layer(layer as usize, simulcast),
                    ));
                }
            }
        }
        for (publisher, mid, rid) in wanted {
            self.request_keyframe(publisher, mid, rid);
        }
    }

    /// A subscriber lost a picture: ask the publisher of that m-line for a keyframe.
    pub(super) fn keyframe_for(&mut self, sub: Pid, mid: Mid) {
        let wanted = self.tracks.values_mut().find_map(|track| {
            let d = track
                .downs
                .iter()
                .find(|d| d.sub == sub && d.mid == Some(mid))?;
            let layer = d.track.current().unwrap_or(0) as usize;
            track.last_pli[layer] = None;
            let rid = rid_of_layer(layer, track.spec.layers.len() > 1);
            Some((track.publisher, track.mid, rid))
        });
        if let Some((publisher, pub_mid, rid)) = wanted {
            self.request_keyframe(publisher, pub_mid, rid);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::h264_keyframe_start;

    #[test]
    fn an_h264_keyframe_starts_at_its_sps() {
        // STAP-A (24) carrying SPS (7) and PPS (8): the first packet of a
        // keyframe whose IDR is fragmented.
        let stap_a = [24, 0, 2, 0x67, 0x42, 0, 2, 0x68, 0xce];
        // FU-A (28) start fragment of an IDR (5), and its middle fragment.
        let (idr_start, idr_middle) = ([0x7c, 0x85, 0xaa], [0x7c, 0x05, 0xaa]);
        // A single SPS, a single P slice (1).
        let (sps, p_slice) = ([0x67, 0x42], [0x41, 0x9a]);
        assert!(h264_keyframe_start(&stap_a));
        assert!(h264_keyframe_start(&sps));
        assert!(h264_keyframe_start(&idr_start));
        assert!(!h264_keyframe_start(&idr_middle));
        assert!(!h264_keyframe_start(&p_slice));
        assert!(!h264_keyframe_start(&[]));
    }
}
