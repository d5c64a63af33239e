// Two participants on the demo page each decode the other's video and
// receive the other's audio; data messages and mute reach the other side;
// each hears the connection quality of both. Usage: node two_participants.mjs BASE_URL
import { scenario, joinDemo, until, stats, check } from "./lib.mjs";

const base = process.argv[2];
await scenario(async (browser) => {
  const call = `default:two-${Date.now()}`;
  const alice = await joinDemo(browser, base, call, "alice");
  await until("alice publishing", 20000, () => alice.evaluate(() =>
    window.onairRoom && window.onairRoom.localParticipant.videoTrackPublications.size > 0));
  // How long a viewer waits from its join (REST join, signal, ICE, DTLS)
  // to its first decoded frame of alice, with one peer connection
  // (`/rtc/v1`, whose join carries the first offer) and with two (`/rtc`),
  // twice each, alternating.
  const firstFrame = async (user, extra) => {
    const page = await joinDemo(browser, base, call, user, `&mode=watch${extra}`);
    await until(`${user}'s first frame of alice`, 20000, async () =>
      (await stats(page)).find((x) => x.kind === "video" && x.identity === "alice" && x.framesDecoded > 0), 10);
    const ms = Date.now() - await page.evaluate(() => window.onairJoinAt);
    const mode = await page.evaluate(() => window.onairRoom.engine.pcManager.mode);
    const path = mode === "publisher-only" ? "/rtc/v1" : "/rtc";
    check(path === (extra ? "/rtc" : "/rtc/v1"), `${user} joined on ${path}`);
    console.log(`${user} (${path}): join → first frame of alice decoded in ${ms} ms`);
    await page.context().close();
  };
  for (const round of [1, 2]) {
    await firstFrame(`viewer${round}-v1`, "");
    await firstFrame(`viewer${round}-v0`, "&pc=2");
  }
  const bob = await joinDemo(browser, base, call, "bob");
  for (const [page, name, other] of [[alice, "alice", "bob"], [bob, "bob", "alice"]]) {
    const s = await until(`${name} decoding ${other}'s video and audio`, 30000, async () => {
      const st = await stats(page);
      const video = st.find((x) => x.kind === "video" && x.identity === other && x.framesDecoded > 10);
      const audio = st.find((x) => x.kind === "audio" && x.identity === other && x.packetsReceived > 10);
      return video && audio ? { video, audio } : null;
    });
    console.log(`${name}: ${other}'s video framesDecoded=${s.video.framesDecoded} ${s.video.frameWidth}px, audio packets=${s.audio.packetsReceived}`);
  }
  // Data: reliable to everyone, and lossy to one named participant.
  await alice.evaluate(() => window.onairRoom.localParticipant.publishData(new TextEncoder().encode("hello all"), { reliable: true }));
  await alice.evaluate(() => window.onairRoom.localParticipant.publishData(new TextEncoder().encode("psst bob"), { reliable: false, destinationIdentities: ["bob"] }));
  const got = await until("bob receiving alice's data", 10000, () => bob.evaluate(() => {
    const d = window.onairData || [];
    return d.some((x) => x.text === "hello all" && x.from === "alice") && d.some((x) => x.text === "psst bob") ? d : null;
  }));
  console.log(`data: bob got ${JSON.stringify(got)}`);
  // Over LiveKit's 15 KiB a packet is dropped; the next one still arrives.
  await alice.evaluate(() => window.onairRoom.localParticipant.publishData(new TextEncoder().encode("big".padEnd(16 * 1024, ".")), { reliable: true }));
  await alice.evaluate(() => window.onairRoom.localParticipant.publishData(new TextEncoder().encode("after big"), { reliable: true }));
  const after = await until("bob receiving the packet after the big one", 10000, () => bob.evaluate(() =>
    (window.onairData || []).some((x) => x.text === "after big") ? window.onairData : null));
  check(!after.some((x) => x.text.startsWith("big")), "a packet over 15 KiB reached bob");
  console.log("data: a 16 KiB packet was dropped, the next one arrived");
  // A new camera track takes the m-line the old one left on bob's one
  // connection (its mid), and he decodes it.
  const cameraSid = () => alice.evaluate(() => [...window.onairRoom.localParticipant.videoTrackPublications.values()][0]?.trackSid);
  const midOf = (sid) => bob.evaluate((sid) => {
    const receiver = window.onairRoom.remoteParticipants.get("alice")?.trackPublications.get(sid)?.track?.receiver;
    return window.onairRoom.engine.pcManager.publisher.getTransceivers().find((t) => t.receiver === receiver)?.mid;
  }, sid);
  const decoded = (sid) => bob.evaluate(async (sid) => {
    const pub = window.onairRoom.remoteParticipants.get("alice")?.trackPublications.get(sid);
    let n = 0;
    if (pub?.track?.receiver) (await pub.track.receiver.getStats()).forEach((s) => { if (s.type === "inbound-rtp") n = s.framesDecoded || 0; });
    return n;
  }, sid);
  const oldCamera = await cameraSid();
  const oldMid = await midOf(oldCamera);
  await alice.evaluate(async () => {
    const lp = window.onairRoom.localParticipant;
    await lp.unpublishTrack([...lp.videoTrackPublications.values()][0].track);
    await lp.setCameraEnabled(true);
  });
  const newCamera = await until("alice's new camera", 10000, async () => { const s = await cameraSid(); return s !== oldCamera && s; });
  await until("bob decoding alice's new camera", 20000, async () => (await decoded(newCamera)) > 10);
  const newMid = await midOf(newCamera);
  check(oldMid && newMid === oldMid, `alice's new camera reached bob on m-line ${newMid}, the old one was on ${oldMid}`);
  console.log(`republish: bob decodes alice's new camera on the old one's m-line (mid ${newMid})`);
  // Mute: alice mutes her microphone, bob sees it muted, then unmuted.
  const micMuted = (page) => page.evaluate(() => {
    const a = window.onairRoom.remoteParticipants.get("alice");
    const pub = a && [...a.audioTrackPublications.values()][0];
    return pub ? pub.isMuted : null;
  });
  await alice.evaluate(() => window.onairRoom.localParticipant.setMicrophoneEnabled(false));
  await until("bob seeing alice muted", 10000, async () => (await micMuted(bob)) === true);
  await alice.evaluate(() => window.onairRoom.localParticipant.setMicrophoneEnabled(true));
  await until("bob seeing alice unmuted", 10000, async () => (await micMuted(bob)) === false);
  console.log("mute: bob saw alice's microphone muted and unmuted");
  // Connection quality: each hears both links scored, good or excellent on
  // loopback (a loaded machine's first seconds may show some loss).
  const qualities = (page) => page.evaluate(() => {
    const room = window.onairRoom;
    const all = [room.localParticipant, ...room.remoteParticipants.values()];
    return Object.fromEntries(all.map((p) => [p.identity, p.connectionQuality]));
  });
  for (const [page, name] of [[alice, "alice"], [bob, "bob"]]) {
    const fine = (x) => x === "excellent" || x === "good";
    const q = await until(`${name} hearing both links' quality`, 20000, async () => {
      const q = await qualities(page);
      return fine(q.alice) && fine(q.bob) ? q : null;
    });
    console.log(`connection quality as ${name} sees it: ${JSON.stringify(q)}`);
  }
});
