// A recording of two browser participants (livekit-client publishing
// Chromium's fake camera and microphone), started and stopped over REST.
// Downloads the finished recording through its link into $OUT_DIR for the
// Rust side to check. Usage: node recording.mjs BASE_URL SERVER_TOKEN
import fs from "node:fs";
import path from "node:path";
import { scenario, joinDemo, until, stats, check, apiClient } from "./lib.mjs";

const [base, server] = process.argv.slice(2);
const api = apiClient(base, server);

const decoding = async (page, other) =>
  (await stats(page)).some((s) => s.kind === "video" && s.identity === other && s.framesDecoded > 10);

await scenario(async (browser) => {
  const id = `rec-${Date.now()}`;
  const call = `/calls/default/${id}`;
  const alice = await joinDemo(browser, base, `default:${id}`, "alice");
  const bob = await joinDemo(browser, base, `default:${id}`, "bob");
  await until("both publishing", 30000, async () => (await decoding(alice, "bob")) && (await decoding(bob, "alice")));

  const { recording } = await api("POST", `${call}/recordings/start`, { preset: "360p" });
  await until("recording active", 20000, async () => (await api("GET", call)).call.egress.recording?.state === "active");
  const started = Date.now();
  await new Promise((r) => setTimeout(r, 6000));
  await api("POST", `${call}/recordings/stop`);
  const recorded = (Date.now() - started) / 1000;
  const done = await until("recording complete", 30000, async () => {
    const r = (await api("GET", `${call}/recordings`)).recordings.find((x) => x.id === recording.id);
    check(r.state !== "failed", `recording failed: ${r.error}`);
    return r.state === "complete" ? r : null;
  });
  console.log(`recording ${done.id}: ${done.duration} s (recorded ${recorded} s), ${done.size} bytes`);
  const res = await fetch(done.url);
  check(res.ok, `download: ${res.status}`);
  fs.writeFileSync(path.join(process.env.OUT_DIR, "recording.mp4"), Buffer.from(await res.arrayBuffer()));
  console.log(`RECORDED_SECONDS ${recorded}`);
});
