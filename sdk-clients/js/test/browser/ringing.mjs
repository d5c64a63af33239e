// Two pages ring each other through @onair/client: the callee's socket
// hears call.ring and its Call rings; accepting and joining gets both
// decoding the other's camera; a rejection reaches the caller as
// call.rejected and ends its ring.
import { openPage, until, check, uniqueId } from "./lib.mjs";

/** Opens alice's and bob's pages. */
async function pages(browser, onair) {
  const alice = await openPage(browser, onair.url, onair.userToken("alice"), "alice");
  const bob = await openPage(browser, onair.url, onair.userToken("bob"), "bob");
  return { alice, bob };
}

/** Waits until `page`'s Call of `cid` rings with alice as the caller. */
const ringing = (page, cid) => until("bob's phone ringing", 10000, () => page.evaluate((c) => {
  const s = window.client.call(c).state;
  return s.ringing === "ringing" && s.ring && s.ring.caller_id === "alice" && s.ring.incoming;
}, cid));

export async function ringAccept(browser, onair) {
  const { alice, bob } = await pages(browser, onair);
  const cid = `default:${uniqueId("ring")}`;
  try {
    await alice.evaluate((c) => window.client.call(c).getOrCreate({ members: ["bob"], ring: true, video: true }), cid);
    await ringing(bob, cid);
    await bob.evaluate(async (c) => {
      const call = window.client.call(c);
      await call.accept();
      await call.join({ camera: true, microphone: true });
    }, cid);
    await until("alice hearing bob accept", 10000, () => alice.evaluate((c) =>
      window.heard.some((e) => e.type === "call.accepted" && e.call_cid === c && e.user_id === "bob"), cid));
    await alice.evaluate((c) => window.client.call(c).join({ camera: true, microphone: true }), cid);
    for (const [page, me, other] of [[alice, "alice", "bob"], [bob, "bob", "alice"]]) {
      const frames = await until(`${me} decoding ${other}'s video`, 30000, async () => {
        const f = await page.evaluate((c) => window.videoFrames(c), cid);
        return f[other] > 10 ? f[other] : null;
      });
      const state = await page.evaluate((c) => {
        const s = window.client.call(c).state;
        return { ringing: s.ringing, others: s.participants.filter((p) => !p.isLocal).map((p) => [p.identity, p.tracks.filter((t) => t.subscribed).map((t) => t.kind).sort().join("+")]) };
      }, cid);
      check(state.ringing === "joined", `${me}'s state is ${state.ringing}`);
      check(JSON.stringify(state.others) === JSON.stringify([[other, "audio+video"]]), `${me}'s participants: ${JSON.stringify(state.others)}`);
      console.log(`  ${me}: ${other}'s video ${frames} frames decoded; state ${JSON.stringify(state)}`);
    }
    await alice.evaluate((c) => window.client.call(c).leave(), cid);
    const left = await alice.evaluate((c) => window.client.call(c).state.ringing, cid);
    check(left === "left", `alice after leave(): ${left}`);
  } finally {
    await alice.context().close();
    await bob.context().close();
  }
}

export async function ringReject(browser, onair) {
  const { alice, bob } = await pages(browser, onair);
  const cid = `default:${uniqueId("reject")}`;
  try {
    await alice.evaluate((c) => {
      const call = window.client.call(c);
      window.rejectedHere = [];
      call.on("call.rejected", (e) => window.rejectedHere.push(e));
      return call.getOrCreate({ members: ["bob"], ring: true });
    }, cid);
    check(await alice.evaluate((c) => window.client.call(c).state.ringing, cid) === "ringing", "alice rings");
    await ringing(bob, cid);
    await bob.evaluate((c) => window.client.call(c).reject(), cid);
    const seen = await until("alice hearing call.rejected", 10000, () => alice.evaluate(() => window.rejectedHere[0]));
    check(seen.user_id === "bob" && seen.reason === "decline" && seen.ring_ended === true, `call.rejected: ${JSON.stringify(seen)}`);
    await until("alice's ring to end", 5000, () => alice.evaluate((c) => window.client.call(c).state.ringing === "idle", cid));
    const bobState = await bob.evaluate((c) => window.client.call(c).state.ringing, cid);
    check(bobState === "idle", `bob after rejecting: ${bobState}`);
    console.log(`  alice heard call.rejected {user_id: ${seen.user_id}, reason: ${seen.reason}, ring_ended: ${seen.ring_ended}}; both idle`);
  } finally {
    await alice.context().close();
    await bob.context().close();
  }
}
