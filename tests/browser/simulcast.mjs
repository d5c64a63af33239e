// Simulcast: a subscriber that asks for a small size gets the low layer,
// and the high layer again when it asks for it. Usage: node simulcast.mjs BASE_URL
import { launch, joinDemo, until, stats } from "./lib.mjs";

const base = process.argv[2];
const browser = await launch();
const setQuality = (page, q) => page.evaluate((q) => {
  for (const p of window.onairRoom.remoteParticipants.values())
    for (const pub of p.videoTrackPublications.values()) pub.setVideoQuality(q);
}, q);
const width = async (page) => ((await stats(page)).find((x) => x.kind === "video") || {}).frameWidth || 0;
try {
  const call = `default:sim-${Date.now()}`;
  const pub = await joinDemo(browser, base, call, "publisher");
  const sub = await joinDemo(browser, base, call, "subscriber", "&mode=watch");
  const high = await until("the high layer first", 30000, async () => { const w = await width(sub); return w >= 960 ? w : 0; });
  console.log(`default: frameWidth=${high}`);
  await setQuality(sub, 0); // VideoQuality.LOW
  const low = await until("the low layer after asking for LOW", 20000, async () => { const w = await width(sub); return w > 0 && w <= 400 ? w : 0; });
  console.log(`asked for LOW: frameWidth=${low}`);
  await setQuality(sub, 2); // VideoQuality.HIGH
  const back = await until("the high layer again", 20000, async () => { const w = await width(sub); return w >= 960 ? w : 0; });
  console.log(`asked for HIGH: frameWidth=${back}`);
  console.log("scenario passed");
  void pub;
} catch (e) {
  console.error(e.stack || String(e));
  process.exitCode = 1;
} finally {
  await browser.close();
}
