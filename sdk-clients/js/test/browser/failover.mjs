// Node loss: two pages in a call on a cluster of two SFU nodes; the node
// carrying the call is killed (SIGKILL). Both pages' livekit-client Rooms
// start reconnecting to the dead node, the SDK asks the API where the call
// is now, and both move to the live node, where they see each other's
// video again. Prints how long after the kill that took.
import { openPage, until, check, uniqueId } from "./lib.mjs";

export async function failover(browser, cluster) {
  const cid = `default:${uniqueId("failover")}`;
  const pages = [];
  try {
    for (const user of ["alice", "bob"]) {
      const page = await openPage(browser, cluster.url, cluster.userToken(user), user);
      pages.push(page);
      await page.evaluate((c) => window.client.call(c).join({ create: true, camera: true, microphone: true }), cid);
    }
    const [alice, bob] = pages;
    const nodeOf = (page) => page.evaluate((c) => window.client.call(c).state.mediaUrl, cid);
    const first = await nodeOf(alice);
    check(first === (await nodeOf(bob)), "both are on the call's node");
    const seeing = (page, other) => until(`${other}'s video`, 20000, async () => {
      const frames = await page.evaluate((c) => window.videoFrames(c), cid);
      return (frames[other] || 0) > 10;
    });
    await Promise.all([seeing(alice, "bob"), seeing(bob, "alice")]);

    const dead = cluster.sfus.find((s) => s.url === first);
    check(dead, `${first} is a node of the cluster`);
    const killed = Date.now();
    await dead.kill();
    const moved = await Promise.all(pages.map((page) => until("the call on another node", 20000, async () => {
      const url = await nodeOf(page);
      return url && url !== first ? Date.now() - killed : null;
    })));
    check((await nodeOf(alice)) === (await nodeOf(bob)), "both moved to the same node");
    // Fresh frames from each other on the new node.
    await Promise.all([seeing(alice, "bob"), seeing(bob, "alice")]);
    const back = Date.now() - killed;
    console.log(`  moved ${moved.map((ms) => `${ms} ms`).join(", ")} after the SIGKILL; seeing each other again after ${back} ms`);
    check(Math.max(...moved) < 8000, `moved after ${moved} ms`);
  } finally {
    for (const page of pages) await page.context().close();
  }
}
