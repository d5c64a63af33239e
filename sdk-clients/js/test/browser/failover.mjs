// Calls on a cluster of two SFU nodes, in Chromium with livekit-client.
// - failover: two pages in a call on one node; that node is killed
//   (SIGKILL). Both pages' Rooms start reconnecting to the dead node, the
//   SDK asks the API where the call is now, and both move to the live
//   node, where they see each other's video again. Prints how long after
//   the kill that took.
//   A third page joins the call right at the kill, while the API still
//   names the dead node: its join connects to the live node instead.
// - spanning: each node takes one participant, so the call spans both;
//   the relays make it one call and each page sees the other's video
//   and hears the other's microphone.
// - drain: two pages in a call on one node; that node is stopped
//   (SIGTERM) with a short drain_timeout. When it runs out, the node asks
//   everyone to reconnect, and both pages move to the other node at once
//   (no dead node to notice). Prints how long after the drain_timeout.
//   A third page joining at the SIGTERM lands on the other node.
// - proxied: the API node pipes the signalling (`signal_proxy`), so each
//   page was handed the API's URL; the call spans both nodes (one page
//   each). One node is killed: its page's Room reconnects to the very URL
//   it was given, and the API sends it to the live node. Prints how long
//   after the kill the two see each other again.
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
  try {
    await until(`${other}'s video${when}`, 20000, async () => {
      const frames = await page.evaluate((c) => window.videoFrames(c), cid);
      return (frames[other] || 0) > before + 10;
    });
  } catch (e) {
    throw new Error(`${e.message} (${before} frames before; the page shows ${await page.evaluate((c) => window.videoState(c), cid)})`);
  }
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

export async function proxied(browser, cluster) {
  const cid = `default:${uniqueId("proxied")}`;
  const pages = [];
  try {
    const [alice, bob] = await join(browser, cluster, cid, pages);
    const urls = [await nodeOf(alice, cid), await nodeOf(bob, cid)];
    check(urls.every((u) => u.includes("/sfu/sfu-")), `both signal through the API: ${urls}`);
    check(urls[0] !== urls[1], "one participant per node");
    await eachSees(alice, bob, cid, " before");
    const killed = Date.now();
    await cluster.sfus[0].kill();
    await eachSees(alice, bob, cid, " after the kill");
    const back = Date.now() - killed;
    console.log(`  through the API: seeing each other again ${back} ms after one of their nodes' SIGKILL`);
    check(back < 8000, `seeing each other again ${back} ms after the SIGKILL`);
  } finally {
    for (const page of pages) await page.context().close();
  }
}

/** Alice and Bob in `cid` on one node, each seeing the other: that node's URL and handle. */
async function onOneNode(browser, cluster, cid, pages) {
  const [alice, bob] = await join(browser, cluster, cid, pages);
  const url = await nodeOf(alice, cid);
  check(url === (await nodeOf(bob, cid)), "both are on the call's node");
  await eachSees(alice, bob, cid, " before");
  const node = cluster.sfus.find((s) => s.url === url);
  check(node, `${url} is a node of the cluster`);
  return { alice, bob, url, node };
}

/** Waits until Alice and Bob each see the other's fresh frames (`when`: the stage, for the message). */
async function eachSees(alice, bob, cid, when) {
  const both = await Promise.allSettled([seeing(alice, cid, "bob", when), seeing(bob, cid, "alice", when)]);
  const failed = both.filter((r) => r.status === "rejected").map((r) => r.reason.message);
  if (failed.length) throw new Error(failed.join("; "));
}

/** Joins `page` to `cid` with its camera: the ms after `since` it joined, or the error (awaited later). */
const joinNow = (page, cid, since) => page.evaluate((c) => window.client.call(c).join({ camera: true, microphone: false }), cid)
  .then(() => Date.now() - since, (e) => e);

/** Waits until each page's call left node `url`: the ms after `since` it was seen elsewhere. */
const movedOff = (pages, cid, url, since) => Promise.all(pages.map((page) => until("the call on another node", 20000, async () => {
  const now = await nodeOf(page, cid);
  return now && now !== url ? Date.now() - since : null;
})));

export async function failover(browser, cluster) {
  const cid = `default:${uniqueId("failover")}`;
  const pages = [];
  try {
    const { alice, bob, url, node } = await onOneNode(browser, cluster, cid, pages);
    const carol = await openPage(browser, cluster.url, cluster.userToken("carol"), "carol");
    pages.push(carol);
    const killed = Date.now();
    await node.kill();
    // Carol joins at once: the API still names the dead node (it is listed
    // until silent for 3 s), so her first connect fails and the join asks again.
    const carolJoined = joinNow(carol, cid, killed);
    const moved = await movedOff([alice, bob], cid, url, killed);
    check((await nodeOf(alice, cid)) === (await nodeOf(bob, cid)), "both moved to the same node");
    // Fresh frames from each other on the new node.
    await eachSees(alice, bob, cid, " after the move");
    const back = Date.now() - killed;
    const joined = await carolJoined;
    if (joined instanceof Error) throw joined;
    check((await nodeOf(carol, cid)) === (await nodeOf(alice, cid)), "carol joined on the live node");
    await Promise.all([seeing(carol, cid, "alice"), seeing(alice, cid, "carol")]);
    console.log(`  moved ${moved.map((ms) => `${ms} ms`).join(", ")} after the SIGKILL; seeing each other again after ${back} ms; carol, joining at the kill, joined after ${joined} ms`);
    check(Math.max(...moved) < 8000, `moved after ${moved} ms`);
  } finally {
    for (const page of pages) await page.context().close();
  }
}

export async function drain(browser, cluster) {
  const cid = `default:${uniqueId("drain")}`;
  const pages = [];
  try {
    const { alice, bob, url, node } = await onOneNode(browser, cluster, cid, pages);
    // When each page's Room starts reconnecting.
    for (const page of pages) {
      await page.evaluate((c) => window.client.call(c).room.once("reconnecting", () => { window.reconnectingAt = Date.now(); }), cid);
    }
    const carol = await openPage(browser, cluster.url, cluster.userToken("carol"), "carol");
    pages.push(carol);
    node.term();
    const termed = Date.now();
    // The cluster's drain_timeout: the calls go on until then.
    const timedOut = termed + DRAIN_TIMEOUT_MS;
    // Carol joins at the SIGTERM: the draining node refuses newcomers, and
    // until it says so in the registry (within 1 s) the API may name it.
    const carolJoined = joinNow(carol, cid, termed);
    await movedOff([alice, bob], cid, url, timedOut);
    await eachSees(alice, bob, cid, " after the move");
    const back = Date.now() - timedOut;
    const joined = await carolJoined;
    if (joined instanceof Error) throw joined;
    check((await nodeOf(carol, cid)) !== url, "carol joined on the node that is not draining");
    await seeing(alice, cid, "carol");
    const asked = await Promise.all([alice, bob].map((page) => page.evaluate(() => window.reconnectingAt)));
    const after = asked.map((at) => at - timedOut);
    console.log(`  drained: reconnecting ${after.map((ms) => `${ms} ms`).join(", ")} after the drain_timeout; both moved and see each other again after ${back} ms; carol, joining at the SIGTERM, joined after ${joined} ms`);
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
