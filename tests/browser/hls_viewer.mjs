// HLS in a browser: a host publishes from the demo page, the broadcast is
// started over REST, and a viewer on the demo page's HLS mode plays the
// live playlist with hls.js. Usage: node hls_viewer.mjs BASE_URL SERVER_TOKEN
import { scenario, joinDemo, until, apiClient } from "./lib.mjs";

const [base, server] = process.argv.slice(2);
const api = apiClient(base, server);

await scenario(async (browser) => {
  const id = `hls-${Date.now()}`;
  const host = await joinDemo(browser, base, `default:${id}`, "host");
  await until("host publishing", 20000, () =>
    host.evaluate(() => window.onairRoom?.localParticipant.getTrackPublication("camera")?.track !== undefined));
  await api("POST", `/calls/default/${id}/hls/start`, { preset: "360p" });
  const viewer = await joinDemo(browser, base, `default:${id}`, "viewer", "&mode=hls");
  const started = Date.now();
  const playing = await until("the viewer playing the live playlist", 45000, () => viewer.evaluate(() => {
    const v = window.onairHls?.video;
    if (!v) return null;
    const frames = v.getVideoPlaybackQuality().totalVideoFrames;
    return v.currentTime > 3 && frames > 30 ? { time: v.currentTime, frames, width: v.videoWidth, height: v.videoHeight } : null;
  })).catch(async (e) => {
    // Say what the player saw, so a failure can be read from the log.
    const state = await viewer.evaluate(async () => {
      const h = window.onairHls;
      if (!h) return { status: document.getElementById("status").textContent };
      const v = h.video;
      const playlist = h.hls.url ? await (await fetch(h.hls.url)).text() : null;
      return { time: v.currentTime, readyState: v.readyState, paused: v.paused, error: v.error && v.error.message,
        frames: v.getVideoPlaybackQuality().totalVideoFrames, buffered: v.buffered.length ? [v.buffered.start(0), v.buffered.end(v.buffered.length - 1)] : [], playlist };
    });
    console.log(`viewer state: ${JSON.stringify(state)}`);
    throw e;
  });
  console.log(`HLS viewer: playing after ${Date.now() - started} ms, ${playing.frames} frames, ${playing.width}x${playing.height}, at ${playing.time.toFixed(1)} s`);
  if (playing.height !== 360) throw new Error(`expected the 360p canvas, got ${playing.width}x${playing.height}`);
});
