// A host goes live from a page; a viewer's LivestreamPlayer, started while
// the show was in backstage, waits and plays it over WebRTC (frames
// decoded); then a player whose ICE can reach nothing (relay only, no
// TURN) gives up on WebRTC and plays the call's HLS.
import { openPage, until, check, uniqueId } from "./lib.mjs";

export async function livestream(browser, onair) {
  const id = uniqueId("show");
  const host = await openPage(browser, onair.url, onair.userToken("alice"), "host");
  const viewer = await openPage(browser, onair.url, onair.userToken("carol"), "viewer");
  try {
    await host.evaluate((i) => window.client.call("livestream", i).join({ create: true, camera: true, microphone: true }), id);
    // The viewer arrives while the show is in backstage: the player waits for it.
    const started = Date.now();
    await viewer.evaluate((i) => {
      window.player = new OnAir.LivestreamPlayer(document.getElementById("player"), window.client.call("livestream", i), { fallback: "hls", pollMs: 500 });
    }, id);
    await new Promise((r) => setTimeout(r, 1500));
    const waiting = await viewer.evaluate(() => window.playerStats());
    check(waiting.mode === "connecting" && waiting.frames === 0, `before go-live the player is ${JSON.stringify(waiting)}`);
    await host.evaluate((i) => window.client.call("livestream", i).goLive({ start_hls: true }), id);
    check(await host.evaluate((i) => window.client.call("livestream", i).state.live, id), "the host's call is live");
    const mode = await viewer.evaluate(() => window.player.ready);
    check(mode === "webrtc", `the player chose ${mode}`);
    const rtc = await until("the viewer playing WebRTC", 30000, async () => {
      const s = await viewer.evaluate(() => window.playerStats());
      return s.mode === "webrtc" && s.frames > 30 && s.time > 1 ? s : null;
    });
    console.log(`  WebRTC: ${rtc.frames} frames, ${rtc.width}x${rtc.height}, after ${Date.now() - started} ms`);
    await viewer.evaluate(() => window.player.destroy());

    const hlsStarted = Date.now();
    const blocked = await viewer.evaluate(async (i) => {
      const el = document.createElement("video");
      document.body.appendChild(el);
      window.player = new OnAir.LivestreamPlayer(el, window.client.call("livestream", i), {
        fallback: "hls", timeoutMs: 5000,
        connectOptions: { rtcConfig: { iceTransportPolicy: "relay", iceServers: [] } },
      });
      return window.player.ready.catch((e) => `failed: ${e.message}`);
    }, id);
    check(blocked === "hls", `with ICE blocked the player chose ${blocked}`);
    const hls = await until("the viewer playing HLS", 60000, async () => {
      const s = await viewer.evaluate(() => window.playerStats());
      return s.mode === "hls" && s.frames > 30 && s.time > 2 ? s : null;
    });
    check(/WebRTC|timeout|took over|connect/i.test(hls.reason || ""), `why it fell back: ${hls.reason}`);
    console.log(`  HLS fallback: ${hls.frames} frames, ${hls.width}x${hls.height}, at ${hls.time.toFixed(1)} s, after ${Date.now() - hlsStarted} ms (WebRTC: ${hls.reason})`);
    await viewer.evaluate(() => window.player.destroy());
    await host.evaluate((i) => window.client.call("livestream", i).end(), id);
  } finally {
    await host.context().close();
    await viewer.context().close();
  }
}
