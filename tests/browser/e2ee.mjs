// End-to-end encryption with livekit-client: two peers sharing a key decode
// each other's video and audio, with VP8 and then H.264 (the SFU forwards
// frames it cannot read, and still finds their keyframes); a third peer with
// a wrong key receives the packets and decodes nothing. Remote tracks name
// their codec as LiveKit does (`video/VP8`, `video/H264`, `audio/opus`).
// Simulcast layer switches work on encrypted tracks (the SFU finds the
// keyframes of a layer it cannot decrypt). A recording of the encrypted call fails with the reason, rather than
// writing a file nobody can play.
// Usage: node e2ee.mjs BASE_URL SERVER_TOKEN
import { scenario, joinDemo, until, stats, check, apiClient } from "./lib.mjs";

const [base, server] = process.argv.slice(2);
const api = apiClient(base, server);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const mime = { vp8: "video/VP8", h264: "video/H264" };
const setQuality = (page, q) => page.evaluate((q) => {
  for (const p of window.onairRoom.remoteParticipants.values())
    for (const pub of p.videoTrackPublications.values()) pub.setVideoQuality(q);
}, q);
const aliceVideo = async (page) =>
  (await stats(page)).find((x) => x.kind === "video" && x.identity === "alice") || {};

/** The widest layer alice's camera is encoding now (frames still
 *  counting), and why her encoder holds back, if it does. */
const aliceSending = (alice) => alice.evaluate(async () => {
  const pub = [...window.onairRoom.localParticipant.videoTrackPublications.values()][0];
  const report = pub && pub.track && pub.track.sender ? await pub.track.sender.getStats() : new Map();
  let width = 0, limited = "none";
  report.forEach((s) => {
    if (s.type !== "outbound-rtp" || s.kind !== "video") return;
    if (s.active !== false && (s.framesPerSecond || 0) > 0) width = Math.max(width, s.frameWidth || 0);
    if (s.qualityLimitationReason && s.qualityLimitationReason !== "none") limited = s.qualityLimitationReason;
  });
  return { width, limited };
});

// Bob asks for alice's low layer, then the high one: each arrives and
// decodes, though the SFU cannot read a byte of the frames. Up means
// wider than the low layer. A loaded machine's encoder may send only its
// low layer for a while (Chromium's CPU adaptation): then nothing wider
// can arrive, and the switch up is not judged; the run says so.
async function switchLayers(alice, bob, codec) {
  const widths = [];
  for (const q of [0, 2]) {
    await setQuality(bob, q);
    const before = (await aliceVideo(bob)).framesDecoded || 0;
    const fits = (w) => (q === 0 ? w > 0 && w <= 400 : w > widths[0]);
    let wider = false, limited = "none", sent = 0, got = 0;
    try {
      const seen = await until(`bob decoding alice's encrypted ${codec} at quality ${q}`, 45000, async () => {
        const v = await aliceVideo(bob);
        got = v.frameWidth || 0;
        if (q === 2) {
          const sending = await aliceSending(alice);
          sent = sending.width;
          wider ||= sending.width > widths[0];
          limited = sending.limited;
        }
        return fits(got) && v.framesDecoded > before + 10 ? v : null;
      });
      widths.push(seen.frameWidth);
    } catch (e) {
      if (q === 2 && !wider) {
        console.log(`${codec}: alice's encoder sent only its low layer for 45 s (quality limitation: ${limited}): the switch up is not judged`);
        return;
      }
      throw new Error(`${e.message}: alice sends up to ${sent}px (limitation: ${limited}), bob decodes ${got}px`);
    }
  }
  console.log(`${codec}: encrypted layer switch: low ${widths[0]}px, then high ${widths[1]}px`);
}

await scenario(async (browser) => {
  for (const codec of ["vp8", "h264"]) {
    const call = `default:e2ee-${codec}-${Date.now()}`;
    const shared = `&e2ee=correct-horse-battery&codec=${codec}`;
    const alice = await joinDemo(browser, base, call, "alice", shared);
    const bob = await joinDemo(browser, base, call, "bob", shared);
    for (const [page, name, other] of [[alice, "alice", "bob"], [bob, "bob", "alice"]]) {
      const s = await until(`${name} decoding ${other}'s encrypted ${codec}`, 40000, async () => {
        const st = await stats(page);
        const video = st.find((x) => x.kind === "video" && x.identity === other && x.framesDecoded > 10);
        const audio = st.find((x) => x.kind === "audio" && x.identity === other && x.totalSamplesReceived > 4800);
        return video && audio ? { video, audio } : null;
      });
      console.log(`${codec}: ${name} decodes ${other}: ${s.video.mimeType} (decoder: ${s.video.codec}) ${s.video.framesDecoded} frames ${s.video.frameWidth}px, ${s.audio.mimeType} ${s.audio.totalSamplesReceived} samples`);
      check(s.video.mimeType === mime[codec], `${name} sees ${other}'s video as ${s.video.mimeType}`);
      check(s.audio.mimeType === "audio/opus", `${name} sees ${other}'s audio as ${s.audio.mimeType}`);
    }
    await switchLayers(alice, bob, codec);
    const eve = await joinDemo(browser, base, call, "eve", `&e2ee=a-wrong-key&codec=${codec}`);
    await until(`eve receiving alice's ${codec} packets`, 30000, async () => {
      const st = await stats(eve);
      return st.find((x) => x.kind === "video" && x.identity === "alice" && x.packetsReceived > 100);
    });
    await sleep(2000);
    const seen = (await stats(eve)).find((x) => x.kind === "video" && x.identity === "alice");
    const errors = await eve.evaluate(() => window.onairE2eeErrors || 0);
    console.log(`${codec}: eve (wrong key) got ${seen.packetsReceived} packets of alice's video, decoded ${seen.framesDecoded} frames, ${errors} decryption errors`);
    check(seen.framesDecoded === 0, `eve decoded ${seen.framesDecoded} frames without the key`);
    // The others are not disturbed by her.
    const after = (await stats(bob)).find((x) => x.kind === "video" && x.identity === "alice");
    await sleep(1000);
    const later = (await stats(bob)).find((x) => x.kind === "video" && x.identity === "alice");
    check(later.framesDecoded > after.framesDecoded, "bob still decodes alice with eve in the call");
    if (codec === "vp8") {
      const path = `/calls/${call.replace(":", "/")}`;
      await api("POST", `${path}/recordings/start`, {});
      const failed = await until("the recording of the encrypted call failing", 30000, async () => {
        const r = (await api("GET", `${path}/recordings`)).recordings[0];
        return r && r.state === "failed" ? r : null;
      });
      console.log(`recording: ${failed.state}: ${failed.error}`);
      check(/end-to-end encrypted/.test(failed.error || ""), `recording error: ${failed.error}`);
    }
    for (const page of [alice, bob, eve]) await page.context().close();
  }
});
