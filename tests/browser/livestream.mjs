// Livestream backstage: a viewer who joins ahead sees the call but gets no
// host media; go_live opens it at once; participants are listed; kick
// removes one; end disconnects everybody.
// Usage: node livestream.mjs BASE_URL SERVER_TOKEN
import { scenario, joinDemo, until, stats, check, apiClient } from "./lib.mjs";

const [base, server] = process.argv.slice(2);
const api = apiClient(base, server);

await scenario(async (browser) => {
  const id = `show-${Date.now()}`;
  await api("POST", `/calls/livestream/${id}`, { data: {
    members: [{ user_id: "host", role: "host" }],
    starts_at: new Date(Date.now() + 60_000).toISOString(),
    settings_override: { backstage: { join_ahead_time_seconds: 300 } },
  } });
  const host = await joinDemo(browser, base, `livestream:${id}`, "host");
  await until("host connected", 20000, () => host.evaluate(() => window.onairRoom?.state === "connected"));
  const viewer = await joinDemo(browser, base, `livestream:${id}`, "viewer", "&mode=watch");
  await until("viewer connected and waiting", 20000, () =>
    viewer.evaluate(() => window.onairRoom?.state === "connected" && document.getElementById("status").textContent.includes("waiting")));
  await until("viewer sees the host", 10000, () =>
    viewer.evaluate(() => [...window.onairRoom.remoteParticipants.values()].some((p) => p.identity === "host")));
  // Backstage: give media several seconds to (wrongly) flow.
  await new Promise((r) => setTimeout(r, 4000));
  const before = (await stats(viewer)).filter((s) => s.identity === "host");
  check(before.every((s) => s.packetsReceived === 0), `viewer got host media in backstage: ${JSON.stringify(before)}`);
  console.log("backstage: viewer connected, sees the host, receives no media");

  const liveAt = Date.now();
  await api("POST", `/calls/livestream/${id}/go_live`);
  const s = await until("viewer decoding the host after go_live", 20000, async () =>
    (await stats(viewer)).find((x) => x.kind === "video" && x.identity === "host" && x.framesDecoded > 5));
  console.log(`live: viewer decoding host video ${Date.now() - liveAt} ms after go_live (framesDecoded=${s.framesDecoded})`);

  const { participants } = await api("GET", `/calls/livestream/${id}/participants`);
  const who = participants.map((p) => p.user_id).sort().join(",");
  check(who === "host,viewer", `participants: ${who}`);
  console.log(`participants: ${who}`);

  await api("POST", `/calls/livestream/${id}/kick_user`, { user_id: "viewer" });
  await until("viewer disconnected by kick", 10000, () => viewer.evaluate(() => window.onairRoom.state === "disconnected"));
  await until("participants without the viewer", 10000, async () =>
    (await api("GET", `/calls/livestream/${id}/participants`)).participants.length === 1);
  console.log("kick: viewer disconnected and gone from participants");

  await api("POST", `/calls/livestream/${id}/end`);
  await until("host disconnected by end", 10000, () => host.evaluate(() => window.onairRoom.state === "disconnected"));
  console.log("end: everyone disconnected");
});
