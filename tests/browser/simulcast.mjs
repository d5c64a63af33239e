// Simulcast: a subscriber that asks for a small size gets the low layer,
// and the high layer again when it asks for it. Usage: node simulcast.mjs BASE_URL
import { scenario, joinDemo, until, stats } from "./lib.mjs";

const base = process.argv[2];
const setQuality = (page, q) => page.evaluate((q) => {
  for (const p of window.onairRoom.remoteParticipants.values())
    for (const pub of p.videoTrackPublications.values()) pub.setVideoQuality(q);
}, q);
const width = async (page) => ((await stats(page)).find((x) => x.kind === "video") || {}).frameWidth || 0;
await scenario(async (browser) => {
  const call = `default:sim-${Date.now()}`;
  await joinDemo(browser, base, call, "publisher");
  const sub = await joinDemo(browser, base, call, "subscriber", "&mode=watch");
  const high = await until("the high layer first", 30000, async () => { const w = await width(sub); return w >= 960 ? w : 0; });
  console.log(`default: frameWidth=${high}`);
  await setQuality(sub, 0); // VideoQuality.LOW
  const low = await until("the low layer after asking for LOW", 20000, async () => { const w = await width(sub); return w > 0 && w <= 400 ? w : 0; });
  console.log(`asked for LOW: frameWidth=${low}`);
  await setQuality(sub, 2); // VideoQuality.HIGH
  const back = await until("the high layer again", 20000, async () => { const w = await width(sub); return w >= 960 ? w : 0; });
  console.log(`asked for HIGH: frameWidth=${back}`);
});
