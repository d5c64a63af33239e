// Track subscription permissions (livekit-client's
// setTrackSubscriptionPermissions): alice lets only bob receive her tracks;
// bob decodes her, carol receives nothing and is told she is not allowed;
// once alice allows everyone, carol decodes her too.
// Usage: node track_permissions.mjs BASE_URL
import { scenario, joinDemo, until, stats, check } from "./lib.mjs";

const base = process.argv[2];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

await scenario(async (browser) => {
  const call = `default:perm-${Date.now()}`;
  const alice = await joinDemo(browser, base, call, "alice");
  await until("alice publishing", 20000, () => alice.evaluate(() =>
    window.onairRoom?.localParticipant.videoTrackPublications.size > 0));
  await alice.evaluate(() => window.onairRoom.localParticipant.setTrackSubscriptionPermissions(false, [
    { participantIdentity: "bob", allowAll: true },
  ]));
  const bob = await joinDemo(browser, base, call, "bob", "&mode=watch");
  const carol = await joinDemo(browser, base, call, "carol", "&mode=watch");
  const decodes = (page) => async () =>
    (await stats(page)).find((x) => x.kind === "video" && x.identity === "alice" && x.framesDecoded > 5);
  await until("bob decoding alice", 20000, decodes(bob));
  const refused = await until("carol told she may not receive alice's video", 20000, () => carol.evaluate(() => {
    const a = window.onairRoom?.remoteParticipants.get("alice");
    const pub = a && [...a.videoTrackPublications.values()][0];
    return pub && pub.permissionStatus === "not_allowed" ? pub.trackSid : null;
  }));
  await sleep(2000);
  const got = (await stats(carol)).filter((x) => x.identity === "alice");
  check(got.every((x) => x.packetsReceived === 0), `carol received alice's media: ${JSON.stringify(got)}`);
  console.log(`restricted: bob decodes alice; carol is refused ${refused} and receives nothing`);
  await alice.evaluate(() => window.onairRoom.localParticipant.setTrackSubscriptionPermissions(true));
  await until("carol decoding alice once everyone is allowed", 20000, decodes(carol));
  console.log("opened: carol decodes alice");
});
