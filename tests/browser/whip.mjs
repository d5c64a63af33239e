// WHIP from a browser: a plain RTCPeerConnection (no LiveKit SDK) sends the
// fake camera and microphone, POSTs its offer to the call's WHIP URL with a
// user token, applies the answer, streams for a while, then DELETEs the
// session. Usage: node whip.mjs BASE_URL WHIP_URL USER_TOKEN
import { scenario, until, check } from "./lib.mjs";

const [base, whipUrl, token] = process.argv.slice(2);
await scenario(async (browser) => {
  const context = await browser.newContext({ permissions: ["camera", "microphone"] });
  const page = await context.newPage();
  await page.goto(`${base}/`);
  const posted = await page.evaluate(async ({ whipUrl, token }) => {
    const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 360 }, audio: true });
    const pc = new RTCPeerConnection();
    for (const t of stream.getTracks()) pc.addTransceiver(t, { direction: "sendonly", streams: [stream] });
    await pc.setLocalDescription(await pc.createOffer());
    // No trickle: wait for the candidates to be in the offer.
    await new Promise((done) => {
      if (pc.iceGatheringState === "complete") return done();
      pc.addEventListener("icegatheringstatechange", () => pc.iceGatheringState === "complete" && done());
      setTimeout(done, 3000);
    });
    const refused = await fetch(whipUrl, { method: "POST", headers: { authorization: "Bearer nope", "content-type": "application/sdp" }, body: pc.localDescription.sdp });
    const res = await fetch(whipUrl, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/sdp" },
      body: pc.localDescription.sdp,
    });
    const answer = await res.text();
    if (res.status !== 201) throw new Error(`WHIP ${res.status}: ${answer}`);
    await pc.setRemoteDescription({ type: "answer", sdp: answer });
    window.whip = { pc, location: res.headers.get("location") };
    return { refused: refused.status, status: res.status, type: res.headers.get("content-type"), location: res.headers.get("location") };
  }, { whipUrl, token });
  check(posted.refused === 401, `a bad token got ${posted.refused}`);
  check(posted.type === "application/sdp" && posted.location.startsWith("/whip/"), JSON.stringify(posted));
  await until("the WHIP peer connected", 20000, () => page.evaluate(() => window.whip.pc.connectionState === "connected"));
  const frames = await until("video going out", 20000, () => page.evaluate(async () => {
    let encoded = 0;
    (await window.whip.pc.getStats()).forEach((s) => { if (s.type === "outbound-rtp" && s.kind === "video") encoded = s.framesEncoded || 0; });
    return encoded > 150 ? encoded : null;
  }));
  const del = (auth) => page.evaluate(async ({ base, auth }) =>
    (await fetch(base + window.whip.location, { method: "DELETE", headers: auth ? { authorization: auth } : {} })).status, { base, auth });
  const anonymous = await del(null);
  const stranger = await del("Bearer someone-else");
  const ended = await del(`Bearer ${token}`);
  const again = await del(`Bearer ${token}`);
  check(anonymous === 401 && stranger === 403, `DELETE without the token gave ${anonymous}, with another ${stranger}`);
  check(ended === 200 && again === 404, `DELETE gave ${ended}, then ${again}`);
  console.log(`WHIP: 201 with ${posted.location}, ${frames} frames sent, DELETE ${ended} then ${again} (${anonymous} without the token, ${stranger} with another); a bad token got ${posted.refused}`);
});
