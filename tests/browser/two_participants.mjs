// Two participants on the demo page each decode the other's video and
// receive the other's audio. Usage: node two_participants.mjs BASE_URL
import { launch, joinDemo, until, stats } from "./lib.mjs";

const base = process.argv[2];
const browser = await launch();
try {
  const call = `default:two-${Date.now()}`;
  const alice = await joinDemo(browser, base, call, "alice");
  const bob = await joinDemo(browser, base, call, "bob");
  for (const [page, name, other] of [[alice, "alice", "bob"], [bob, "bob", "alice"]]) {
    const s = await until(`${name} decoding ${other}'s video and audio`, 30000, async () => {
      const st = await stats(page);
      const video = st.find((x) => x.kind === "video" && x.identity === other && x.framesDecoded > 10);
      const audio = st.find((x) => x.kind === "audio" && x.identity === other && x.packetsReceived > 10);
      return video && audio ? { video, audio } : null;
    });
    console.log(`${name}: ${other}'s video framesDecoded=${s.video.framesDecoded} ${s.video.frameWidth}px, audio packets=${s.audio.packetsReceived}`);
  }
  console.log("scenario passed");
} catch (e) {
  console.error(e.stack || String(e));
  process.exitCode = 1;
} finally {
  await browser.close();
}
