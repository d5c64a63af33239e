// Ringing in the browser: bob's page listens on the app's events socket
// (as an app does) and, when alice rings, accepts and joins with
// livekit-client; then both decode each other's video.
// Usage: node ring.mjs BASE_URL SERVER_TOKEN
import { scenario, joinDemo, until, stats, check, apiClient } from "./lib.mjs";

const [base, server] = process.argv.slice(2);
const api = apiClient(base, server);

await scenario(async (browser) => {
  const id = `ring-${Date.now()}`;
  const call = `default:${id}`;
  await api("POST", `/calls/default/${id}`, { data: { members: [{ user_id: "alice" }, { user_id: "bob" }] } });
  // Bob's page does not join: it waits for a ring.
  const context = await browser.newContext({ permissions: ["camera", "microphone"] });
  const bob = await context.newPage();
  await bob.goto(`${base}/?user=bob&listen=1`);
  const ok = await until("bob's socket open", 10000, () => bob.evaluate(() =>
    (window.onairEvents || []).find((e) => e.type === "connection.ok")));
  check(ok.user_id === "bob", `socket for ${ok.user_id}`);
  const alice = await joinDemo(browser, base, call, "alice");
  await until("alice connected", 20000, () => alice.evaluate(() => window.onairRoom?.state === "connected"));
  const rang = await alice.evaluate(() => window.onairRing(["bob"]));
  check(rang.ok && rang.ring.members.bob, `ring: ${JSON.stringify(rang)}`);
  const heard = await until("bob hearing the ring", 10000, () => bob.evaluate(() =>
    (window.onairEvents || []).find((e) => e.type === "call.ring")));
  console.log(`bob heard ${heard.type} from ${heard.user_id} for ${heard.call_cid}`);
  for (const [page, name, other] of [[alice, "alice", "bob"], [bob, "bob", "alice"]]) {
    const v = await until(`${name} decoding ${other}`, 40000, async () =>
      (await stats(page)).find((x) => x.kind === "video" && x.identity === other && x.framesDecoded > 10));
    console.log(`${name} decodes ${other}: ${v.framesDecoded} frames`);
  }
  const accepted = await until("bob's socket hearing his accept", 10000, () => bob.evaluate(() =>
    (window.onairEvents || []).find((e) => e.type === "call.accepted")));
  check(accepted.user_id === "bob", `accepted by ${accepted.user_id}`);
});
