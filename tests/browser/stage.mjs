// Permissions change while connected, as in Stream's "invite on stage":
// a livestream viewer made a host publishes without rejoining and the host
// decodes them; a backend then revokes publishing (PATCH …/participants)
// and the viewer's tracks leave the host. Usage: node stage.mjs BASE_URL SERVER_TOKEN
import { scenario, joinDemo, until, stats, apiClient } from "./lib.mjs";

const [base, server] = process.argv.slice(2);
const api = apiClient(base, server);

await scenario(async (browser) => {
  const id = `stage-${Date.now()}`;
  const call = `/calls/livestream/${id}`;
  await api("POST", call, { data: { members: [{ user_id: "host", role: "host" }] } });
  await api("POST", `${call}/go_live`);
  const host = await joinDemo(browser, base, `livestream:${id}`, "host");
  const viewer = await joinDemo(browser, base, `livestream:${id}`, "viewer", "&mode=watch");
  await until("viewer connected, not publishing", 20000, () => viewer.evaluate(() =>
    window.onairRoom?.state === "connected" && window.onairRoom.localParticipant.permissions?.canPublish === false));

  await api("POST", `${call}/members`, { update_members: [{ user_id: "viewer", role: "host" }] });
  await until("viewer told it may publish", 10000, () => viewer.evaluate(() =>
    window.onairRoom.localParticipant.permissions?.canPublish === true));
  await viewer.evaluate(() => window.onairRoom.localParticipant.enableCameraAndMicrophone());
  const s = await until("host decoding the viewer", 20000, async () =>
    (await stats(host)).find((x) => x.kind === "video" && x.identity === "viewer" && x.framesDecoded > 5));
  console.log(`on stage: the host decodes the viewer (${s.framesDecoded} frames) without the viewer rejoining`);

  await api("PATCH", `${call}/participants/viewer`, { permission: { can_publish: false } });
  await until("the viewer's tracks leaving the host", 10000, () => host.evaluate(() =>
    (window.onairRoom.remoteParticipants.get("viewer")?.trackPublications.size ?? 0) === 0));
  await until("the viewer told it may no longer publish", 10000, () => viewer.evaluate(() =>
    window.onairRoom.localParticipant.permissions?.canPublish === false));
  console.log("off stage: publishing revoked, the viewer's tracks left the host");
});
