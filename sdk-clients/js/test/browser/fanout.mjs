// A livestream over three SFU nodes of one participant each, in Chromium:
// the host goes live on one node, a viewer's LivestreamPlayer plays it on
// each of the other two (the relays carry the host's tracks there). Then
// one viewer's node is killed (SIGKILL): that viewer's call moves to a
// live node and its player plays the show again. Prints how long after
// the kill that took.
import { openPage, until, check, uniqueId } from "./lib.mjs";

const pause = (ms) => new Promise((r) => setTimeout(r, ms));

/** The SFU node `page`'s call `cid` is on. */
const nodeOf = (page, cid) => page.evaluate((c) => window.client.call(c).state.mediaUrl, cid);

/** Waits until `page`'s player shows fresh frames over WebRTC. */
async function playing(page, what) {
  const before = (await page.evaluate(() => window.playerStats())).frames;
  return until(what, 20000, async () => {
    const s = await page.evaluate(() => window.playerStats());
    return s.mode === "webrtc" && s.frames > before + 30 ? s : null;
  });
}

export async function fanout(browser, cluster) {
  const id = uniqueId("fanout");
  const cid = `livestream:${id}`;
  const pages = [];
  try {
    const host = await openPage(browser, cluster.url, cluster.userToken("alice"), "host");
    pages.push(host);
    await host.evaluate((i) => window.client.call("livestream", i).join({ create: true, camera: true, microphone: true }), id);
    await host.evaluate((i) => window.client.call("livestream", i).goLive(), id);
    const viewers = [];
    for (const user of ["bob", "carol"]) {
      // The node announces its load every second; the next join reads it.
      await pause(1500);
      const page = await openPage(browser, cluster.url, cluster.userToken(user), user);
      pages.push(page);
      const mode = await page.evaluate((i) => {
        window.player = new OnAir.LivestreamPlayer(document.getElementById("player"), window.client.call("livestream", i), { fallback: "none" });
        return window.player.ready;
      }, id);
      check(mode === "webrtc", `${user}'s player chose ${mode}`);
      viewers.push(page);
    }
    const nodes = [await nodeOf(host, cid), ...(await Promise.all(viewers.map((v) => nodeOf(v, cid))))];
    check(new Set(nodes).size === 3, `one participant per node: ${nodes}`);
    await Promise.all(viewers.map((v, n) => playing(v, `viewer ${n + 1} playing`)));

    const dead = cluster.sfus.find((s) => s.url === nodes[1]);
    check(dead, `${nodes[1]} is a node of the cluster`);
    const killed = Date.now();
    await dead.kill();
    const moved = await until("the viewer's call on a live node", 20000, async () => {
      const url = await nodeOf(viewers[0], cid);
      return url && url !== nodes[1] ? Date.now() - killed : null;
    });
    const shown = await playing(viewers[0], "the moved viewer playing again");
    const back = Date.now() - killed;
    // The other viewer played on throughout.
    await playing(viewers[1], "the other viewer playing");
    console.log(`  host, viewers on three nodes; a viewer's node killed: moved after ${moved} ms, playing again (${shown.width}x${shown.height}) ${back} ms after the SIGKILL`);
    check(back < 8000, `playing again ${back} ms after the SIGKILL`);
  } finally {
    for (const page of pages) await page.context().close();
  }
}
