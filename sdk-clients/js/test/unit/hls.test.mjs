// playHls (exported for apps that play a call's HLS playlist without the
// WebRTC attempt of LivestreamPlayer, like the demo page's HLS viewer):
// with no Media Source Extensions (Node here) it uses the browser's own HLS
// when the <video> says it can play it, and refuses otherwise.
import { test } from "node:test";
import assert from "node:assert/strict";
import { playHls } from "../../dist/index.js";

/** A stand-in <video>: what canPlayType answers, and what was done to it. */
function fakeVideo(canPlay) {
  return {
    src: undefined, played: 0, loaded: 0,
    canPlayType: (type) => (type === "application/vnd.apple.mpegurl" ? canPlay : ""),
    play() { this.played++; return Promise.resolve(); },
    removeAttribute(name) { if (name === "src") this.src = undefined; },
    load() { this.loaded++; },
  };
}

test("without hls.js support, the browser's own HLS plays the playlist, and destroy stops it", async () => {
  const video = fakeVideo("maybe");
  const playback = await playHls(video, "http://onair.test/hls/p.m3u8");
  assert.equal(playback.hls, null, "no hls.js instance");
  assert.equal(video.src, "http://onair.test/hls/p.m3u8");
  assert.equal(video.played, 1);
  playback.destroy();
  assert.equal(video.src, undefined);
  assert.equal(video.loaded, 1);
});

test("a browser with neither refuses", async () => {
  await assert.rejects(playHls(fakeVideo(""), "http://onair.test/hls/p.m3u8"), /plays no HLS/);
});
