// Every REST call of the SDK against a real `onair dev`: the paths and
// bodies are the ones the Rust routes read (a wrong field is a 422 there,
// a wrong path a 404), and refusals arrive as OnAirError {status, code, message}.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { OnAirClient, OnAirError } from "../../dist/index.js";
import { startOnair, api } from "../support/onair.mjs";

let onair, server;
const clients = {};
const client = (user, extra = {}) => (clients[user] ??= new OnAirClient({ baseUrl: onair.url, token: onair.userToken(user), ...extra }));
const id = (name) => `${name}-${Date.now()}-${Math.random().toString(36).slice(2, 6)}`;

/** Asserts that `promise` rejects with an OnAirError of `status` and `code`. */
async function refused(promise, status, code) {
  const e = await promise.then(() => null, (err) => err);
  assert.ok(e instanceof OnAirError, `expected an OnAirError, got ${e}`);
  assert.equal(e.status, status, `status of ${e.code}: ${e.message}`);
  assert.equal(e.code, code, e.message);
  assert.ok(e.message.length > 0);
  return e;
}

before(async () => {
  onair = await startOnair();
  server = api(onair.url, onair.serverToken());
});
after(async () => onair && (await onair.stop()));

test("refusals are OnAirErrors with the API's status, code and message", async () => {
  await refused(client("alice").call("default", id("missing")).get(), 404, "not_found");
  const token = onair.userToken("alice");
  const forged = new OnAirClient({ baseUrl: onair.url, token: token.slice(0, -4) + (token.endsWith("AAAA") ? "BBBB" : "AAAA") });
  await refused(forged.call("default", "x").get(), 401, "bad_signature");
  const e = await refused(client("alice").call("nope-type", "x").getOrCreate(), 404, "not_found");
  assert.match(e.message, /call type/);
});

test("getOrCreate creates the call with its members (201), then reads it (200)", async () => {
  const call = client("alice").call("default", id("create"));
  const created = await call.getOrCreate({ members: ["bob", { user_id: "carol", role: "call_member", custom: { seat: 3 } }], custom: { topic: "standup" } });
  assert.equal(created.created, true);
  assert.deepEqual(created.members.map((m) => [m.user_id, m.role]).sort(), [["alice", "host"], ["bob", "call_member"], ["carol", "call_member"]]);
  assert.deepEqual(created.call.custom, { topic: "standup" });
  assert.equal(call.state.call.cid, call.cid);
  assert.equal(call.state.members.length, 3);
  const again = await call.getOrCreate({ members: ["dave"] });
  assert.equal(again.created, false);
  assert.equal(again.members.length, 3, "data is used only when the call is created");
  assert.equal(client("alice").call(call.cid), call, "one Call object per call");
  const read = await client("bob").call(call.cid).get();
  assert.equal(read.call.created_by, "alice");
});

test("update, goLive, stopLive and end change the call and its state", async () => {
  const call = client("alice").call("livestream", id("show"));
  await call.getOrCreate();
  assert.equal(call.state.backstage, true, "livestreams start in backstage");
  const updated = await call.update({ custom: { title: "launch" }, settings_override: { limits: { max_participants: 50 } } });
  assert.deepEqual(updated.call.custom, { title: "launch" });
  assert.equal(updated.call.settings.limits.max_participants, 50);
  await call.goLive();
  assert.equal(call.state.backstage, false);
  assert.equal(call.state.live, true);
  await call.stopLive();
  assert.equal(call.state.backstage, true);
  await refused(client("bob").call(call.cid).join(), 403, "backstage");
  await call.end();
  assert.ok(call.state.call.ended_at);
  assert.equal(call.state.live, false);
  await refused(call.goLive(), 409, "call_ended");
});

test("ring, accept and reject (decline, busy, cancel) answer the ring's state", async () => {
  const cid = `default:${id("ring")}`;
  const alice = client("alice").call(cid);
  await alice.getOrCreate({ members: ["bob", "carol"] });
  const ring = await alice.ring({ members_ids: ["bob"], video: false });
  assert.equal(ring.caller_id, "alice");
  assert.deepEqual(ring.members, { bob: { state: "ringing", reason: null } });
  assert.equal(alice.state.ringing, "ringing");
  assert.equal(alice.state.ring.incoming, false);
  await refused(alice.ring({ members_ids: ["carol"] }), 409, "already_ringing");
  const accepted = await client("bob").call(cid).accept();
  assert.equal(accepted.state, "accepted");
  assert.equal(accepted.members.bob.state, "accepted");
  await refused(client("bob").call(cid).reject("nope"), 422, "invalid_reason");
  await refused(client("dave").call(cid).accept(), 409, "not_rung");

  const cid2 = `default:${id("ring")}`;
  const alice2 = client("alice").call(cid2);
  const rung = await alice2.getOrCreate({ members: ["bob", "carol"], ring: true });
  assert.deepEqual(Object.keys(rung.ring.members).sort(), ["bob", "carol"], "POST {c} with ring answers with the ring");
  assert.equal(alice2.state.ring.ring_id, rung.ring.ring_id);
  const busy = await client("bob").call(cid2).reject("busy");
  assert.deepEqual(busy.members.bob, { state: "rejected", reason: "busy" });
  await alice2.leave({ reject: true });
  assert.equal(alice2.state.ringing, "left");
  const { events } = await server("GET", `/events?call_cid=${cid2}`);
  const rejected = events.filter((e) => e.type === "call.rejected").map((e) => [e.user_id, e.reason, e.ring_ended]);
  assert.deepEqual(rejected, [["bob", "busy", false], ["alice", "cancel", true]], "leave({reject}) by the caller cancels");
  await refused(client("carol").call(cid2).accept(), 409, "ring_ended");
});

test("moderation: kick, mute, block and unblock", async () => {
  const cid = `default:${id("mod")}`;
  const alice = client("alice").call(cid);
  await alice.getOrCreate({ members: ["bob"] });
  assert.deepEqual(await alice.kickUser("bob"), { ok: true });
  assert.deepEqual(await alice.muteUsers({ mute_all_users: true, audio: true, video: true }), { ok: true });
  assert.deepEqual(await alice.muteUsers({ user_ids: ["bob"], screenshare: true }), { ok: true });
  assert.deepEqual((await alice.blockUser("bob")).blocked_user_ids, ["bob"]);
  await refused(client("bob").call(cid).join(), 403, "blocked");
  assert.deepEqual((await alice.unblockUser("bob")).blocked_user_ids, []);
  await refused(client("bob").call(cid).kickUser("alice"), 403, "missing_capability");
});

test("reactions and custom events are stored as the API documents them", async () => {
  const cid = `default:${id("react")}`;
  const alice = client("alice").call(cid);
  await alice.getOrCreate();
  const { events: [last] } = await server("GET", `/events?call_cid=${cid}&limit=1000`);
  assert.deepEqual(await alice.sendReaction({ type: "like", emoji_code: ":+1:", custom: { n: 1 } }), { ok: true });
  assert.deepEqual(await alice.sendCustomEvent({ kind: "poll", question: "tea?" }), { ok: true });
  const { events } = await server("GET", `/events?call_cid=${cid}&after=${last.id}`);
  const reaction = events.find((e) => e.type === "call.reaction_new");
  assert.deepEqual(reaction.reaction, { type: "like", emoji_code: ":+1:", custom: { n: 1 }, user_id: "alice" });
  const custom = events.find((e) => e.type === "custom");
  assert.deepEqual(custom.custom, { kind: "poll", question: "tea?" });
  assert.equal(custom.user_id, "alice");
  await refused(alice.sendReaction({ type: "" }), 422, "invalid_reaction");
});

test("recordings, HLS and RTMP routes take the SDK's bodies", async () => {
  const cid = `default:${id("egress")}`;
  const alice = client("alice").call(cid);
  await alice.getOrCreate();
  const { recording } = await alice.startRecording({ preset: "360p" });
  assert.ok(recording.id);
  assert.ok(["starting", "active"].includes(recording.state), recording.state);
  const stopped = await alice.stopRecording();
  assert.equal(stopped.recording.id, recording.id);
  assert.ok((await alice.listRecordings()).some((r) => r.id === recording.id));
  await refused(alice.startRecording({ preset: "4k" }), 422, "invalid_preset");
  const { hls } = await alice.startHLS({ preset: "360p" });
  assert.ok(hls.id);
  assert.equal((await alice.stopHLS()).hls.id, hls.id);
  // A loopback target is refused by the server's own rule (not by the body's shape).
  await refused(alice.startRTMPBroadcast({ name: "yt", stream_url: "rtmp://127.0.0.1/live", stream_key: "k" }), 422, "forbidden_target");
  await refused(alice.startRTMPBroadcast({ name: "yt", stream_url: "http://x", stream_key: "k" }), 422, "invalid_stream_url");
  await refused(alice.stopRTMPBroadcast("never started"), 404, "not_found");
});

test("a token near expiry is replaced through tokenProvider; without one the API says expired", async () => {
  let asked = 0;
  const short = onair.userToken("erin", "2s");
  const withProvider = new OnAirClient({ baseUrl: onair.url, token: short, tokenProvider: () => { asked++; return onair.userToken("erin"); } });
  const without = new OnAirClient({ baseUrl: onair.url, token: short });
  const cid = `default:${id("ttl")}`;
  await new Promise((r) => setTimeout(r, 2500));
  await refused(without.call(cid).getOrCreate(), 401, "expired");
  const res = await withProvider.call(cid).getOrCreate();
  assert.equal(res.created, true);
  assert.equal(asked, 1);
  await withProvider.call(cid).get();
  assert.equal(asked, 1, "the fresh token lasts an hour: not asked again");
});
