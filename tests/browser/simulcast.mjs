// Simulcast: a subscriber that asks for a small size gets the low layer,
// and the high layer again when it asks for it. With dynacast on (as the
// publisher's room option), the SFU tells the publisher which layers are
// watched: while the only subscriber takes the low layer, the publisher's
// encoder stops sending the high one, and starts again when it is asked
// for. Usage: node simulcast.mjs BASE_URL
import { scenario, joinDemo, until, stats, check } from "./lib.mjs";

const base = process.argv[2];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const setQuality = (page, q) => page.evaluate((q) => {
  for (const p of window.onairRoom.remoteParticipants.values())
    for (const pub of p.videoTrackPublications.values()) pub.setVideoQuality(q);
}, q);
const width = async (page) => ((await stats(page)).find((x) => x.kind === "video") || {}).frameWidth || 0;

/** Bytes the publisher's camera sent so far, per simulcast layer (rid). */
const sentByLayer = (page) => page.evaluate(async () => {
  const pub = [...window.onairRoom.localParticipant.videoTrackPublications.values()][0];
  const report = await pub.track.sender.getStats();
  const sent = {};
  report.forEach((s) => { if (s.type === "outbound-rtp" && s.kind === "video") sent[s.rid || "-"] = s.bytesSent; });
  return sent;
});

/** The layers that sent anything over the next two seconds. */
async function sendingLayers(page) {
  const before = await sentByLayer(page);
  await sleep(2000);
  const after = await sentByLayer(page);
  return Object.keys(after).filter((rid) => after[rid] > (before[rid] || 0)).sort();
}

await scenario(async (browser) => {
  const call = `default:sim-${Date.now()}`;
  const publisher = await joinDemo(browser, base, call, "publisher", "&dynacast=1");
  const sub = await joinDemo(browser, base, call, "subscriber", "&mode=watch");
  const high = await until("the high layer first", 30000, async () => { const w = await width(sub); return w >= 960 ? w : 0; });
  console.log(`default: frameWidth=${high}, publisher sends layers ${await sendingLayers(publisher)}`);
  await setQuality(sub, 0); // VideoQuality.LOW
  const low = await until("the low layer after asking for LOW", 20000, async () => { const w = await width(sub); return w > 0 && w <= 400 ? w : 0; });
  console.log(`asked for LOW: frameWidth=${low}`);
  const onlyLow = await until("the publisher sending only its low layer (dynacast)", 20000, async () => {
    const layers = await sendingLayers(publisher);
    return layers.length === 1 && layers[0] === "q" ? layers : null;
  });
  console.log(`dynacast: the publisher sends only ${onlyLow} while the only subscriber takes LOW`);
  await setQuality(sub, 2); // VideoQuality.HIGH
  const back = await until("the high layer again", 20000, async () => { const w = await width(sub); return w >= 960 ? w : 0; });
  const again = await sendingLayers(publisher);
  check(again.includes("f"), `the publisher sends ${again} after HIGH was asked for`);
  console.log(`asked for HIGH: frameWidth=${back}, publisher sends layers ${again}`);
});
