// Moderation and what users do, against a real onair dev: kick, block and
// unblock (a blocked user's join is refused), mute, permissions, custom
// events and reactions, ringing (refused with a server token, done as a
// user), devices.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { OnAirServer } from "../dist/index.js";
import { startOnAir, uniqueId } from "./support/onair.mjs";

let onair;
let sdk;
before(async () => {
  onair = await startOnAir();
  sdk = new OnAirServer({ baseUrl: onair.baseUrl, apiKey: onair.apiKey, apiSecret: onair.apiSecret });
});
after(() => onair?.stop());

async function newCall(prefix) {
  const call = sdk.call("default", uniqueId(prefix));
  await call.getOrCreate({ data: { members: [{ user_id: "alice" }, { user_id: "bob" }] } });
  return call;
}

const eventsOf = async (call) => (await sdk.listEvents({ callCid: call.cid, limit: 1000 })).events;

test("kick, block (join refused), unblock (join again)", async () => {
  const call = await newCall("block");
  const asBob = sdk.asUser("bob").call("default", call.id);
  await asBob.join();
  assert.deepEqual(await call.kickUser("bob"), { ok: true });
  await asBob.join(); // a kick alone does not keep them out

  assert.deepEqual((await call.blockUsers(["bob"])).blocked_user_ids, ["bob"]);
  await assert.rejects(asBob.join(), { name: "OnAirError", status: 403, code: "blocked" });
  assert.deepEqual((await call.unblockUsers(["bob"])).blocked_user_ids, []);
  await asBob.join();

  await call.kickUser("alice", { block: true });
  assert.deepEqual((await call.blockUsers(["bob"])).blocked_user_ids, ["alice", "bob"]);
  await assert.rejects(call.blockUsers([]), { status: 422, code: "invalid_body" });

  const types = (await eventsOf(call)).map((e) => e.type);
  for (const t of ["call.kicked_user", "call.blocked_user", "call.unblocked_user"]) assert.ok(types.includes(t), t);
  // A plain member may not kick.
  await assert.rejects(asBob.kickUser("alice"), { status: 403, code: "missing_capability" });
});

test("mute users; a mute that mutes nothing is refused", async () => {
  const call = await newCall("mute");
  assert.deepEqual(await call.muteUsers({ user_ids: ["bob"], audio: true }), { ok: true });
  assert.deepEqual(await call.muteUsers({ mute_all_users: true, video: true, screenshare: true }), { ok: true });
  await assert.rejects(call.muteUsers({ user_ids: ["bob"] }), { status: 422, code: "invalid_body" });
  const muted = (await eventsOf(call)).filter((e) => e.type === "call.user_muted");
  assert.equal(muted.length, 2);
  assert.deepEqual(muted[0].user_ids, ["bob"]);
  assert.equal(muted[1].all, true);
});

test("permissions: a user asks, the server grants; a participant not connected is 404", async () => {
  const call = await newCall("perm");
  assert.deepEqual(await sdk.asUser("bob").call("default", call.id).requestPermission(["screenshare"]), { ok: true });
  await assert.rejects(call.requestPermission(["screenshare"]), { status: 403, code: "user_token_required" });
  assert.deepEqual(await call.updateUserPermissions({ user_id: "bob", grant_permissions: ["end-call"], revoke_permissions: ["send-video"] }), { ok: true });
  const caps = (await sdk.asUser("bob").call("default", call.id).get()).own_capabilities;
  assert.ok(caps.includes("end-call"));
  assert.ok(!caps.includes("send-video"));
  await assert.rejects(call.updateUserPermissions({ user_id: "bob", grant_permissions: ["fly"] }), { status: 422, code: "invalid_permissions" });
  await assert.rejects(call.updateParticipant("bob", { name: "Bobby" }), { status: 404, code: "not_found" });
  const types = (await eventsOf(call)).map((e) => e.type);
  assert.ok(types.includes("call.permission_request"));
  assert.ok(types.includes("call.permissions_updated"));
});

test("custom events and reactions from the server reach the event log", async () => {
  const call = await newCall("custom");
  assert.deepEqual(await call.sendEvent({ kind: "poll", question: "tea?" }), { ok: true });
  assert.deepEqual(await call.sendReaction({ type: "like", emoji_code: ":+1:" }), { ok: true });
  await assert.rejects(call.sendReaction({ type: "" }), { status: 422, code: "invalid_reaction" });
  const events = await eventsOf(call);
  const custom = events.find((e) => e.type === "custom");
  assert.deepEqual(custom.custom, { kind: "poll", question: "tea?" });
  assert.equal(custom.user_id, "server");
  const reaction = events.find((e) => e.type === "call.reaction_new");
  assert.equal(reaction.reaction.type, "like");
});

test("ring: refused with a server token; a member rings, the callee accepts or rejects", async () => {
  const call = await newCall("ring");
  await assert.rejects(call.ring({ members_ids: ["bob"] }), { name: "OnAirError", status: 403, code: "user_token_required" });
  await assert.rejects(call.getOrCreate({ ring: true }), { status: 403, code: "user_token_required" });

  const ring = await sdk.asUser("alice").call("default", call.id).ring({ members_ids: ["bob"], video: false });
  assert.equal(ring.caller_id, "alice");
  assert.equal(ring.state, "ringing");
  assert.equal(ring.members.bob.state, "ringing");
  const accepted = await sdk.asUser("bob").call("default", call.id).accept();
  assert.equal(accepted.members.bob.state, "accepted");
  await assert.rejects(sdk.asUser("carol").call("default", call.id).ring(), { status: 403 });

  const other = await newCall("ring-reject");
  await sdk.asUser("alice").call("default", other.id).ring({ members_ids: ["bob"] });
  const rejected = await sdk.asUser("bob").call("default", other.id).reject("busy");
  assert.equal(rejected.members.bob.state, "rejected");
  assert.equal(rejected.members.bob.reason, "busy");
  await assert.rejects(sdk.asUser("bob").call("default", other.id).reject("bored"), { status: 422, code: "invalid_reason" });

  const types = (await eventsOf(call)).map((e) => e.type);
  assert.ok(types.includes("call.ring") && types.includes("call.accepted"), String(types));
  assert.ok((await eventsOf(other)).some((e) => e.type === "call.rejected"));
});

test("devices belong to users", async () => {
  const alice = sdk.asUser("alice");
  assert.deepEqual(await alice.addDevice({ id: "fcm-token-1", push_provider: "firebase" }), { ok: true });
  assert.deepEqual((await alice.listDevices()).devices.map((d) => d.id), ["fcm-token-1"]);
  assert.deepEqual(await alice.deleteDevice("fcm-token-1"), { ok: true });
  assert.deepEqual((await alice.listDevices()).devices, []);
  await assert.rejects(alice.deleteDevice("fcm-token-1"), { status: 404, code: "not_found" });
  await assert.rejects(sdk.listDevices(), { status: 403, code: "user_token_required" });
});
