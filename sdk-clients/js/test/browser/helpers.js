// Helpers the browser scenarios call in the page through evaluate().
// A connected client for `token`, hearing everything into window.heard.
window.setup = async (baseUrl, token) => {
  const client = new OnAir.OnAirClient({ baseUrl, token, reconnect: { baseMs: 100, maxMs: 1000 } });
  window.client = client;
  window.heard = [];
  client.on("*", (e) => window.heard.push(e));
  await client.connect();
  return client.userId;
};

// Calls `fn(identity, stats)` with each inbound-rtp stats entry of `kind`
// ("video", "audio") of every remote participant in `call`'s room. Audio
// is played out (as an app would), or Chromium decodes none.
async function eachInbound(cid, kind, fn) {
  const room = window.client.call(cid).room;
  if (!room) return;
  for (const p of room.remoteParticipants.values()) {
    const publications = kind === "video" ? p.videoTrackPublications : p.audioTrackPublications;
    for (const pub of publications.values()) {
      const receiver = pub.track && pub.track.receiver;
      if (!receiver) continue;
      if (kind === "audio" && pub.track.attachedElements.length === 0) document.body.appendChild(pub.track.attach());
      (await receiver.getStats()).forEach((s) => {
        if (s.type === "inbound-rtp" && s.kind === kind) fn(p.identity, s);
      });
    }
  }
}

// Frames each remote participant's video decoded in `call`'s room.
window.videoFrames = async (cid) => {
  const out = {};
  await eachInbound(cid, "video", (identity, s) => { out[identity] = (out[identity] || 0) + (s.framesDecoded || 0); });
  return out;
};

// Audio each remote participant's microphone brought in `call`'s room:
// packets, and the energy of what was decoded (0 for silence).
window.audioHeard = async (cid) => {
  const out = {};
  await eachInbound(cid, "audio", (identity, s) => {
    const was = out[identity] || { packets: 0, energy: 0 };
    out[identity] = { packets: was.packets + (s.packetsReceived || 0), energy: was.energy + (s.totalAudioEnergy || 0) };
  });
  return out;
};

// What the <video> of the player shows.
window.playerStats = () => {
  const p = window.player;
  if (!p) return null;
  const q = p.video.getVideoPlaybackQuality();
  return { mode: p.mode, frames: q.totalVideoFrames, time: p.video.currentTime, width: p.video.videoWidth, height: p.video.videoHeight,
    reason: p.fallbackReason && p.fallbackReason.message };
};

// What `call`'s room shows of the others' video, for a failure message:
// each remote participant's video publications and what they decoded.
window.videoState = async (cid) => {
  const room = window.client.call(cid).room;
  if (!room) return "no room";
  const out = [];
  for (const p of room.remoteParticipants.values()) {
    for (const pub of p.videoTrackPublications.values()) {
      let frames = null;
      if (pub.track && pub.track.receiver) {
        (await pub.track.receiver.getStats()).forEach((s) => { if (s.type === "inbound-rtp") frames = s.framesDecoded; });
      }
      out.push(`${p.identity}:${pub.trackSid} subscribed=${pub.isSubscribed} muted=${pub.isMuted} frames=${frames}`);
    }
  }
  for (const pub of room.localParticipant.videoTrackPublications.values()) {
    let sent = null;
    let encoded = null;
    let limited = null;
    const sender = pub.track && pub.track.sender;
    if (sender) {
      (await sender.getStats()).forEach((s) => {
        if (s.type !== "outbound-rtp") return;
        sent = (sent || 0) + s.packetsSent;
        encoded = (encoded || 0) + (s.framesEncoded || 0);
        limited = s.qualityLimitationReason;
      });
    }
    const source = pub.track && pub.track.mediaStreamTrack;
    const capture = source ? `${source.readyState}${source.muted ? " muted" : ""}` : "none";
    out.push(`own ${pub.trackSid} muted=${pub.isMuted} capture=${capture} packets sent=${sent} frames encoded=${encoded} limited by ${limited}`);
  }
  return `${room.state} at ${window.client.call(cid).state.mediaUrl}: ${out.join(", ") || "no video"}`;
};
