// RTMP ingest seen from a browser: while ffmpeg (the OBS stand-in, started
// by the test) streams into the call, a livekit-client viewer on the demo
// page decodes the ingest participant's video and receives its audio.
// Usage: node rtmp_viewer.mjs BASE_URL CALL_CID
import { scenario, joinDemo, until, stats } from "./lib.mjs";

const [base, call] = process.argv.slice(2);
await scenario(async (browser) => {
  const viewer = await joinDemo(browser, base, call, "viewer", "&mode=watch");
  const started = Date.now();
  let last = [];
  const s = await until("the viewer decoding the RTMP stream", 40000, async () => {
    const st = await stats(viewer);
    last = st;
    const video = st.find((x) => x.kind === "video" && x.identity === "alice:ingest" && x.framesDecoded > 60);
    const audio = st.find((x) => x.kind === "audio" && x.identity === "alice:ingest" && x.totalSamplesReceived > 48000);
    return video && audio ? { video, audio } : null;
  }).catch((e) => {
    throw new Error(`${e.message}; the viewer's last stats: ${JSON.stringify(last)}`);
  });
  console.log(`RTMP viewer: alice:ingest video framesDecoded=${s.video.framesDecoded} ${s.video.frameWidth}px, audio samples=${s.audio.totalSamplesReceived}, after ${Date.now() - started} ms`);
  if (s.video.frameWidth !== 640) throw new Error(`expected 640 px, got ${s.video.frameWidth}`);
});
