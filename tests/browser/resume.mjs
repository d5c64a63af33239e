// A participant whose signal connection drops resumes its session: same
// participant sid, no leave seen by the other side, media flowing both ways
// again after the ICE restart. Usage: node resume.mjs BASE_URL
import { scenario, joinDemo, until, stats, check } from "./lib.mjs";

const base = process.argv[2];

/** Frames of `other`'s video decoded by `page` (0 if none yet). */
async function framesFrom(page, other) {
  const st = await stats(page);
  const v = st.find((x) => x.kind === "video" && x.identity === other);
  return v ? v.framesDecoded : 0;
}

await scenario(async (browser) => {
  const call = `default:resume-${Date.now()}`;
  const alice = await joinDemo(browser, base, call, "alice");
  const bob = await joinDemo(browser, base, call, "bob");
  await until("both decoding each other", 30000, async () =>
    (await framesFrom(alice, "bob")) > 10 && (await framesFrom(bob, "alice")) > 10);
  const sidBefore = await alice.evaluate(() => window.onairRoom.localParticipant.sid);
  await bob.evaluate(() => {
    window.leftBob = [];
    window.onairRoom.on("participantDisconnected", (p) => window.leftBob.push(p.identity));
  });
  await alice.evaluate(() => {
    window.events = [];
    for (const e of ["signalReconnecting", "reconnecting", "reconnected"]) {
      window.onairRoom.on(e, () => window.events.push(e));
    }
  });

  // The WebSocket drops; livekit-client resumes (reconnect=1&sid=…).
  const t0 = Date.now();
  await alice.evaluate(() => window.onairRoom.simulateScenario("signal-reconnect"));
  const events = await until("alice reconnected", 20000, () =>
    alice.evaluate(() => (window.events.includes("reconnected") && window.onairRoom.state === "connected" ? window.events : null)));
  console.log(`alice: ${events.join(" → ")} in ${Date.now() - t0} ms`);
  const sidAfter = await alice.evaluate(() => window.onairRoom.localParticipant.sid);
  check(sidAfter === sidBefore, `alice resumed as ${sidBefore}, not rejoined as ${sidAfter}`);
  check(!events.includes("reconnecting"), `a resume, not a full reconnect: ${events}`);

  // Media flows both ways after the resume.
  const [a0, b0] = [await framesFrom(alice, "bob"), await framesFrom(bob, "alice")];
  await until("media flowing after the resume", 20000, async () =>
    (await framesFrom(alice, "bob")) > a0 + 30 && (await framesFrom(bob, "alice")) > b0 + 30);
  const left = await bob.evaluate(() => window.leftBob);
  check(left.length === 0, `bob saw alice leave: ${left}`);
  console.log(`resume: sid ${sidAfter} kept, bob saw no leave, frames alice←bob ${a0}→${await framesFrom(alice, "bob")}, bob←alice ${b0}→${await framesFrom(bob, "alice")}`);
});
