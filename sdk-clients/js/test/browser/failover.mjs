// Calls on a cluster of two SFU nodes, in Chromium with livekit-client.
// - failover: two pages in a call on one node; that node is killed
//   (SIGKILL). Both pages' Rooms start reconnecting to the dead node, the
//   SDK asks the API where the call is now, and both move to the live
//   node, where they see each other's video again. Prints how long after
//   the kill that took.
// - spanning: each node takes one participant, so the call spans both;
//   the relays make it one call and each page sees the other's video
//   and hears the other's microphone.
// - drain: two pages in a call on one node; that node is stopped
//   (SIGTERM) with a short drain_timeout. When it runs out, the node asks
//   everyone to reconnect, and both pages move to the other node at once
//   (no dead node to notice). Prints how long after the drain_timeout.
import { openPage, until, check, uniqueId } from "./lib.mjs";

/** Alice's and Bob's pages in call `cid`, joined one after the other. */
async function join(browser, cluster, cid, pages) {
  for (const user of ["alice", "bob"]) {
    const page = await openPage(browser, cluster.url, cluster.userToken(user), user);
    pages.push(page);
    await page.evaluate((c) => window.client.call(c).join({ create: true, camera: true, microphone: true }), cid);
    // The node announces its load every second; the next join reads it.
    await new Promise((r) => setTimeout(r, 1500));
  }
  return pages;
}

/** The SFU node `page`'s call `cid` is on. */
const nodeOf = (page, cid) => page.evaluate((c) => window.client.call(c).state.mediaUrl, cid);

/** Waits until `page` hears `other`'s microphone in `cid`: packets and sound. */
async function hearing(page, cid, other) {
  const before = (await page.evaluate((c) => window.audioHeard(c), cid))[other] || { packets: 0, energy: 0 };
  await until(`${other}'s microphone`, 20000, async () => {
    const heard = (await page.evaluate((c) => window.audioHeard(c), cid))[other];
    return heard && heard.packets > before.packets + 25 && heard.energy > before.energy + 0.01;
  });
}

/** Waits until `page` decoded fresh frames of `other`'s video in `cid` (`when`: the stage, for the message). */
async function seeing(page, cid, other, when = "") {
  const before = (await page.evaluate((c) => window.videoFrames(c), cid))[other] || 0;
  await until(`${other}'s video${when}`, 20000, async () => {
    const frames = await page.evaluate((c) => window.videoFrames(c), cid);
    return (frames[other] || 0) > before + 10;
  });
}

export async function spanning(browser, cluster) {
  const cid = `default:${uniqueId("span")}`;
  const pages = [];
  try {
    const [alice, bob] = await join(browser, cluster, cid, pages);
    check((await nodeOf(alice, cid)) !== (await nodeOf(bob, cid)), "one participant per node");
    const started = Date.now();
    await Promise.all([seeing(alice, cid, "bob"), seeing(bob, cid, "alice")]);
    const seen = Date.now() - started;
    await Promise.all([hearing(alice, cid, "bob"), hearing(bob, cid, "alice")]);
    const names = await alice.evaluate((c) => window.client.call(c).state.participants.map((p) => p.identity).sort(), cid);
    check(JSON.stringify(names) === JSON.stringify(["alice", "bob"]), `alice sees ${names}`);
    console.log(`  across two nodes: each sees the other's video ${seen} ms and hears the other ${Date.now() - started} ms after both joined`);
  } finally {
    for (const page of pages) await page.context().close();
  }
}

export async function failover(browser, cluster) {
  const cid = `default:${uniqueId("failover")}`;
  const pages = [];
  try {
    const [alice, bob] = await join(browser, cluster, cid, pages);
    const first = await nodeOf(alice, cid);
    check(first === (await nodeOf(bob, cid)), "both are on the call's node");
    await Promise.all([seeing(alice, cid, "bob", " before the kill"), seeing(bob, cid, "alice", " before the kill")]);

    const dead = cluster.sfus.find((s) => s.url === first);
    check(dead, `${first} is a node of the cluster`);
    const killed = Date.now();
    await dead.kill();
    const moved = await Promise.all(pages.map((page) => until("the call on another node", 20000, async () => {
      const url = await nodeOf(page, cid);
      return url && url !== first ? Date.now() - killed : null;
    })));
    check((await nodeOf(alice, cid)) === (await nodeOf(bob, cid)), "both moved to the same node");
    // Fresh frames from each other on the new node.
    await Promise.all([seeing(alice, cid, "bob", " after the move"), seeing(bob, cid, "alice", " after the move")]);
    const back = Date.now() - killed;
    console.log(`  moved ${moved.map((ms) => `${ms} ms`).join(", ")} after the SIGKILL; seeing each other again after ${back} ms`);
    check(Math.max(...moved) < 8000, `moved after ${moved} ms`);
  } finally {
    for (const page of pages) await page.context().close();
  }
}

export async function drain(browser, cluster) {
  const cid = `default:${uniqueId("drain")}`;
  const pages = [];
  try {
    const [alice, bob] = await join(browser, cluster, cid, pages);
    const first = await nodeOf(alice, cid);
    check(first === (await nodeOf(bob, cid)), "both are on the call's node");
    await Promise.all([seeing(alice, cid, "bob", " before the drain"), seeing(bob, cid, "alice", " before the drain")]);

    const draining = cluster.sfus.find((s) => s.url === first);
    check(draining, `${first} is a node of the cluster`);
    // When each page's Room starts reconnecting.
    for (const page of pages) {
      await page.evaluate((c) => window.client.call(c).room.once("reconnecting", () => { window.reconnectingAt = Date.now(); }), cid);
    }
    draining.term();
    // The cluster's drain_timeout: the calls go on until then.
    const timedOut = Date.now() + DRAIN_TIMEOUT_MS;
    await Promise.all(pages.map((page) => until("the call on another node", 20000, async () => {
      const url = await nodeOf(page, cid);
      return url && url !== first ? true : null;
    })));
    await Promise.all([seeing(alice, cid, "bob", " after the move"), seeing(bob, cid, "alice", " after the move")]);
    const back = Date.now() - timedOut;
    const asked = await Promise.all(pages.map((page) => page.evaluate(() => window.reconnectingAt)));
    const after = asked.map((at) => at - timedOut);
    console.log(`  drained: reconnecting ${after.map((ms) => `${ms} ms`).join(", ")} after the drain_timeout; both moved and see each other again after ${back} ms`);
    // Asked to reconnect at the timeout, not left to notice a node that
    // stopped answering (that takes the 2 s the node gives them to go).
    check(Math.max(...after) < 1500, `reconnecting ${after} ms after the drain_timeout`);
    check(back < 5000, `seeing each other again ${back} ms after the drain_timeout`);
  } finally {
    for (const page of pages) await page.context().close();
  }
}

/** The drain_timeout the `drain` scenario's cluster runs with. */
export const DRAIN_TIMEOUT_MS = 2000;
