//! The forwarding loop: each RTP packet from a publisher goes to every
//! subscriber of its track, rewritten by that subscriber's [`DownTrack`], with
//! keyframe requests upstream when a subscriber needs a new layer.

use super::*;

impl Worker {
    pub(super) fn forward(&mut self, publisher: Pid, packet: RtpPacket) {
        let Some(peer) = self.peers.get_mut(&(publisher, Role::Publisher)) else {
            return;
        };
        let Some((mid, rid)) = peer
            .rtc
            .direct_api()
            .stream_rx(&packet.header.ssrc)
            .map(|s| (s.mid(), s.rid()))
        else {
            return;
        };
        let layer = layer_of_rid(rid.as_deref());
        let Some(track) = self.tracks.get_mut(&(publisher, mid)) else {
            return;
        };
        let now = Instant::now();
        track.seen[layer as usize] = Some(now);
        let video = track.spec.kind == Kind::Video;
        let in_pt = packet.header.payload_type;
        let params = self.peers.get(&(publisher, Role::Publisher)).and_then(|p| {
            p.rtc
                .codec_config()
                .params()
                .iter()
                .find(|pp| pp.pt() == in_pt)
                .copied()
        });
        let codec = params.map(|pp| pp.spec().codec);
        let incoming = Incoming {
            layer,
            seq: *packet.seq_no,
            ts: packet.header.timestamp,
            arrival: now,
            // Audio can start anywhere; video only at a keyframe.
            keyframe_start: match codec {
                Some(Codec::Vp8) => detect_vp8_keyframe(&packet.payload),
                Some(Codec::H264) => detect_h264_keyframe(&packet.payload),
                _ => !video,
            },
            vp8: if codec == Some(Codec::Vp8) {
                Vp8Ids::parse(&packet.payload)
            } else {
                None
            },
        };
        if !video {
            if let Some(level) = packet.header.ext_vals.audio_level {
                if let Some(p) = self.participants.get_mut(&publisher) {
                    // -127..0 dBov → 0..1, smoothed.
                    let l = ((127.0 + f32::from(level)) / 127.0).clamp(0.0, 1.0);
                    p.level = p.level * 0.9 + l * 0.1;
                    if level > -50 {
                        p.heard = Some(now);
                    }
                }
            }
        }
        let available = track
            .seen
            .map(|s| s.is_some_and(|t| now.duration_since(t) < LAYER_STALE));
        let mut need_pli = [false; 3];
        let mut failed: Vec<(Pid, PeerFailure)> = Vec::new(); // allocates only when a peer fails
                                                              // Parsed once; each subscriber patches its own picture ids into it.
        let descriptor = incoming
            .vp8
            .and_then(|_| Vp8Descriptor::parse(&packet.payload).ok());
        for down in track.downs.iter_mut() {
            let Some(out_mid) = down.mid else { continue };
            let budget = self.participants.get(&down.sub).and_then(|p| p.estimate);
            let target = if video {
                choose_layer(down.want, &track.spec.layers, available, budget)
            } else {
                Some(0)
            };
            if down.track.target() != target {
                down.track.set_target(target);
            }
            let Some(out) = down.track.forward(&incoming) else {
                if let Some(t) = down.track.target().filter(|_| down.track.wants_keyframe()) {
                    need_pli[t as usize] = true;
                }
                continue;
            };
            let Some(sub) = self.peers.get_mut(&(down.sub, Role::Subscriber)) else {
                continue;
            };
            let out_pt = match down.pts.iter().find(|(i, _)| *i == in_pt) {
                Some((_, o)) => *o,
                None => {
                    let Some(o) = params
                        .and_then(|pp| sub.rtc.codec_config().match_params(pp).map(|m| m.pt()))
                    else {
                        tracing::debug!(sub = %down.sub, pt = %in_pt, "no matching payload type at the subscriber");
                        continue;
                    };
                    tracing::debug!(sub = %down.sub, from = %in_pt, to = %o, "forwarding starts");
                    down.pts.push((in_pt, o));
                    o
                }
            };
            let ext = ExtensionValues {
                audio_level: packet.header.ext_vals.audio_level,
                voice_activity: packet.header.ext_vals.voice_activity,
                video_orientation: packet.header.ext_vals.video_orientation,
                ..Default::default()
            };
            let mut write = RtpWrite::new(
                out_pt,
                out.seq.into(),
                out.ts,
                packet.timestamp,
                packet.payload.clone(),
            )
            .marker(packet.header.marker)
            .nackable(video)
            .ext_vals(ext);
            if let Some(ids) = out.vp8 {
                if let Some(patch) = descriptor.as_ref().and_then(|d| {
                    let mut b = d.patch().picture_id(ids.picture_id);
                    if let Some(t) = ids.tl0 {
                        b = b.tl0_pic_idx(t);
                    }
                    b.build().ok()
                }) {
                    write = write.vp8_patch(patch);
                }
            }
            let sent = catch_unwind(AssertUnwindSafe(|| {
                match sub.rtc.direct_api().stream_tx_by_mid(out_mid, None) {
                    Some(tx) => {
                        // The publisher already paced this media; holding it
                        // back again only adds delay and wake-ups.
                        tx.set_unpaced(true);
                        tx.write_rtp(write);
                        true
                    }
                    None => {
                        tracing::trace!(%out_mid, "no send stream yet");
                        false
                    }
                }
            }));
            let Ok(written) = sent else {
                tracing::warn!(sub = %down.sub, "subscriber panicked on write");
                continue;
            };
            // Drain right away: str0m wants each write followed by polling.
            let sub_id = (down.sub, Role::Subscriber);
            if let Some(peer) = self.peers.get_mut(&sub_id) {
                if let Err(e) = poll_peer(sub_id, peer, &self.socket, &mut self.events) {
                    failed.push((down.sub, e));
                }
            }
            if written {
                self.forwarded += 1;
                let _ = self
                    .delay_us
                    .record(packet.timestamp.elapsed().as_micros() as u64);
            }
        }
        for (pid, why) in failed {
            self.fail(pid, why);
        }
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
            if !needed {
                continue;
            }
            let rid = if simulcast {
                Some(["q", "h", "f"][layer].into())
            } else {
                None
            };
            if let Some(peer) = self.peers.get_mut(&(publisher, Role::Publisher)) {
                let _ = catch_unwind(AssertUnwindSafe(|| {
                    if let Some(rx) = peer.rtc.direct_api().stream_rx_by_mid(mid, rid) {
                        rx.request_keyframe(KeyframeRequestKind::Pli);
                    }
                }));
            }
            self.drain((publisher, Role::Publisher));
        }
    }

    /// A subscriber lost a picture: ask the publisher of that m-line for a keyframe.
    pub(super) fn keyframe_for(&mut self, sub: Pid, mid: Mid) {
        for track in self.tracks.values_mut() {
            if let Some(d) = track
                .downs
                .iter()
                .find(|d| d.sub == sub && d.mid == Some(mid))
            {
                let layer = d.track.current().unwrap_or(0) as usize;
                track.last_pli[layer] = None;
                let rid = if track.spec.layers.len() > 1 {
                    Some(["q", "h", "f"][layer].into())
                } else {
                    None
                };
                let (publisher, pub_mid) = (track.publisher, track.mid);
                if let Some(peer) = self.peers.get_mut(&(publisher, Role::Publisher)) {
                    let _ = catch_unwind(AssertUnwindSafe(|| {
                        if let Some(rx) = peer.rtc.direct_api().stream_rx_by_mid(pub_mid, rid) {
                            rx.request_keyframe(KeyframeRequestKind::Pli);
                        }
                    }));
                }
                self.drain((publisher, Role::Publisher));
                return;
            }
        }
    }
}
