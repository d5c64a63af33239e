// A participant's own name, metadata and attributes, changed from
// livekit-client (setName, setMetadata, setAttributes): the others hear each
// change with livekit-client's events; an update over LiveKit's sizes is
// refused and changes nothing; a livestream viewer (no
// update-own-metadata) is refused. The call's `custom` data is the LiveKit
// room's metadata, and a PATCH of it reaches everyone in the room; the
// room's participant and publisher counts follow joins and departures.
// Usage: node participant_info.mjs BASE_URL SERVER_TOKEN
import { scenario, joinDemo, until, check, apiClient } from "./lib.mjs";

const [base, server] = process.argv.slice(2);
const api = apiClient(base, server);

await scenario(async (browser) => {
  const callId = `info-${Date.now()}`;
  const call = `default:${callId}`;
  await api("POST", `/calls/default/${callId}`, { data: { custom: { topic: "Rust" },
    members: [{ user_id: "alice" }, { user_id: "bob" }] } });
  const alice = await joinDemo(browser, base, call, "alice", "&mode=watch");
  const bob = await joinDemo(browser, base, call, "bob", "&mode=watch");
  for (const page of [alice, bob]) {
    await until("both connected", 20000, () => page.evaluate(() =>
      window.onairRoom?.state === "connected" && window.onairRoom.remoteParticipants.size === 1));
  }
  // Room metadata: the call's custom data, and its changes.
  check(await alice.evaluate(() => window.onairRoom.metadata) === '{"topic":"Rust"}', "room metadata at join");
  await alice.evaluate(() => {
    window.roomMetadata = [];
    window.onairRoom.on(OnAir.livekit.RoomEvent.RoomMetadataChanged, (m) => window.roomMetadata.push(m));
  });
  await api("PATCH", `/calls/default/${callId}`, { custom: { topic: "Go" } });
  const changed = await until("alice hearing the room's new metadata", 10000, () =>
    alice.evaluate(() => window.roomMetadata.length ? window.roomMetadata : null));
  check(changed[0] === '{"topic":"Go"}', `room metadata: ${changed}`);
  console.log(`room metadata: ${await alice.evaluate(() => window.onairRoom.numParticipants)} participants, changed to ${changed[0]}`);
  await bob.evaluate(() => {
    const { RoomEvent } = OnAir.livekit;
    window.heard = [];
    window.onairRoom
      .on(RoomEvent.ParticipantAttributesChanged, (changed, p) => window.heard.push(["attributes", p.identity, changed]))
      .on(RoomEvent.ParticipantMetadataChanged, (_, p) => window.heard.push(["metadata", p.identity, p.metadata]))
      .on(RoomEvent.ParticipantNameChanged, (name, p) => window.heard.push(["name", p.identity, name]));
  });
  await alice.evaluate(async () => {
    const me = window.onairRoom.localParticipant;
    await me.setAttributes({ mood: "happy", desk: "4" });
    await me.setMetadata(JSON.stringify({ title: "Dr" }));
    await me.setName("Alice A.");
    await me.setAttributes({ desk: "" });
  });
  const heard = await until("bob hearing alice's changes", 10000, () => bob.evaluate(() =>
    window.heard.length >= 4 ? window.heard : null));
  console.log(`bob heard: ${JSON.stringify(heard)}`);
  const seen = await bob.evaluate(() => {
    const a = window.onairRoom.remoteParticipants.get("alice");
    return { name: a.name, metadata: a.metadata, attributes: a.attributes };
  });
  check(seen.name === "Alice A.", `name: ${seen.name}`);
  check(seen.metadata === '{"title":"Dr"}', `metadata: ${seen.metadata}`);
  check(JSON.stringify(seen.attributes) === '{"mood":"happy"}', `attributes: ${JSON.stringify(seen.attributes)}`);
  check(heard.some(([what, who, changed]) => what === "attributes" && who === "alice" && changed.mood === "happy"), "attributes event");

  // Over LiveKit's metadata size: refused at once, nothing changes.
  const refused = await alice.evaluate(async () => {
    try { await window.onairRoom.localParticipant.setMetadata("x".repeat(70000)); return "accepted"; }
    catch (e) { return String(e.message || e); }
  });
  console.log(`oversized metadata: ${refused}`);
  check(refused !== "accepted" && !refused.includes("timed out"), `oversized metadata: ${refused}`);
  check(await bob.evaluate(() => window.onairRoom.remoteParticipants.get("alice").metadata) === '{"title":"Dr"}',
    "the refused metadata did not reach bob");

  // A livestream viewer may not change what others see of them.
  const id = `info-${Date.now()}`;
  await api("POST", `/calls/livestream/${id}`, { data: { members: [{ user_id: "host", role: "host" }] } });
  await api("POST", `/calls/livestream/${id}/go_live`);
  const viewer = await joinDemo(browser, base, `livestream:${id}`, "viewer", "&mode=watch");
  await until("viewer connected", 20000, () => viewer.evaluate(() => window.onairRoom?.state === "connected"));
  const denied = await viewer.evaluate(async () => {
    try { await window.onairRoom.localParticipant.setAttributes({ hand: "up" }); return "accepted"; }
    catch (e) { return String(e.message || e); }
  });
  console.log(`livestream viewer's attributes: ${denied}`);
  check(denied !== "accepted" && !denied.includes("timed out"), `viewer: ${denied}`);

  // The room's counts follow joins, publications and departures.
  const counts = () => alice.evaluate(() => [window.onairRoom.numParticipants, window.onairRoom.numPublishers]);
  await bob.evaluate(() => window.onairRoom.localParticipant.setMicrophoneEnabled(true));
  await until("alice counting bob as a publisher", 10000, async () => (await counts())[1] === 1);
  await bob.close();
  await until("alice counting one participant after bob left", 10000, async () =>
    JSON.stringify(await counts()) === "[1,0]");
  console.log(`counts after bob left: ${JSON.stringify(await counts())}`);
});
