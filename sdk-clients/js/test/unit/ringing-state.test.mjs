// Ringing and call state as pure functions of the events a user hears:
// callee and caller, decline, cancel, missed, accept elsewhere, the end.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ringingAfter, ringOf, callAfter, membersAfter, CallState, patchFor } from "../../dist/index.js";

let next = 1;
const ev = (type, fields = {}) => ({ id: String(next++), type, created_at: "2026-01-01T00:00:00.000Z", call_cid: "default:c", ...fields });
const ring = ev("call.ring", { ring_id: "r1", user_id: "alice", members: ["bob", "carol"], ringing: ["bob", "carol"], video: true });

/** Runs `events` through the state machine for `me`, returning each state. */
const run = (me, events, from = "idle") => events.map((e) => (from = ringingAfter(from, e, me)));

test("a callee rings, then stops when they decline", () => {
  assert.deepEqual(run("bob", [ring, ev("call.rejected", { user_id: "bob", reason: "decline", ring_ended: false, stop_ringing: ["bob"] })]), ["ringing", "idle"]);
});

test("the caller rings until the last callee declines (ring_ended)", () => {
  const bobNo = ev("call.rejected", { user_id: "bob", reason: "decline", ring_ended: false, stop_ringing: ["bob"] });
  const carolNo = ev("call.rejected", { user_id: "carol", reason: "decline", ring_ended: true, stop_ringing: ["carol"] });
  assert.deepEqual(run("alice", [ring, bobNo, carolNo]), ["ringing", "ringing", "idle"]);
  assert.deepEqual(run("carol", [ring, bobNo]), ["ringing", "ringing"], "another callee's no does not stop carol's phone");
});

test("a cancel by the caller and a missed call stop the callees' phones", () => {
  const cancel = ev("call.rejected", { user_id: "alice", reason: "cancel", ring_ended: true, stop_ringing: ["bob", "carol"] });
  assert.deepEqual(run("bob", [ring, cancel]), ["ringing", "idle"]);
  assert.deepEqual(run("carol", [ring, ev("call.missed", { user_id: "alice", members: ["carol"], video: true })]), ["ringing", "idle"]);
  assert.deepEqual(run("bob", [ring, ev("call.missed", { user_id: "alice", members: ["carol"], video: true })]), ["ringing", "ringing"]);
});

test("accepting (here or on another device) stops this phone; join and the end are joined and left", () => {
  const accepted = ev("call.accepted", { user_id: "bob", stop_ringing: ["bob"] });
  assert.deepEqual(run("bob", [ring, accepted]), ["ringing", "idle"]);
  assert.deepEqual(run("alice", [ring, accepted]), ["ringing", "ringing"], "the caller rings on until it joins");
  assert.deepEqual(run("bob", [ring, ev("call.ended", {})], "joined"), ["joined", "left"], "a ring does not pull a joined user out");
  assert.deepEqual(run("bob", [ring, ev("call.ended", {})]), ["ringing", "idle"]);
});

test("a ring that does not concern the user changes nothing", () => {
  const other = ev("call.ring", { ring_id: "r2", user_id: "dave", members: ["erin"], ringing: ["erin"], video: false });
  assert.deepEqual(run("bob", [other]), ["idle"]);
  assert.equal(ringOf(other, "bob"), null);
  assert.deepEqual(ringOf(ring, "bob"), { ring_id: "r1", caller_id: "alice", members: ["bob", "carol"], video: true, incoming: true });
  assert.equal(ringOf(ring, "alice").incoming, false);
  const busy = ev("call.ring", { ring_id: "r3", user_id: "alice", members: ["bob"], ringing: [], video: true });
  assert.equal(ringOf(busy, "bob"), null, "a busy callee's phone does not ring");
});

test("live, end, custom, HLS and members follow their events", () => {
  const call = { cid: "default:c", backstage: true, ended_at: null, custom: {}, egress: { recording: null, hls: null, rtmps: [] } };
  assert.equal(callAfter(call, ev("call.live_started")).backstage, false);
  assert.equal(callAfter(call, ev("call.ended")).ended_at, "2026-01-01T00:00:00.000Z");
  assert.deepEqual(callAfter(call, ev("call.updated", { custom: { topic: "x" } })).custom, { topic: "x" });
  const hls = callAfter(call, ev("call.hls_broadcasting_started", { egress_id: "E1", playlist_url: "http://x/p.m3u8" }));
  assert.equal(hls.egress.hls.playlist_url, "http://x/p.m3u8");
  assert.equal(callAfter(hls, ev("call.hls_broadcasting_stopped", { egress_id: "E1" })).egress.hls, null);
  assert.equal(callAfter(call, ev("call.session_started")), call, "unrelated events keep the same object");
  let members = membersAfter([], ev("call.member_added", { user_id: "bob", role: "call_member", custom: {} }));
  members = membersAfter(members, ev("call.member_updated", { user_id: "bob", role: "host" }));
  assert.deepEqual(members.map((m) => [m.user_id, m.role]), [["bob", "host"]]);
  assert.deepEqual(membersAfter(members, ev("call.member_removed", { user_id: "bob" })), []);
});

test("RTMP pushes follow their events by name", () => {
  const call = { cid: "default:c", backstage: false, ended_at: null, custom: {}, egress: { recording: null, hls: null, rtmps: [] } };
  const yt = callAfter(call, ev("call.rtmp_broadcast_started", { egress_id: "E1", name: "youtube" }));
  assert.deepEqual(yt.egress.rtmps, [{ name: "youtube", id: "E1", state: "active", error: null }]);
  const both = callAfter(yt, ev("call.rtmp_broadcast_started", { egress_id: "E2", name: "twitch" }));
  assert.deepEqual(both.egress.rtmps.map((r) => r.name), ["youtube", "twitch"]);
  const again = callAfter(both, ev("call.rtmp_broadcast_started", { egress_id: "E3", name: "youtube" }));
  assert.deepEqual(again.egress.rtmps.map((r) => `${r.name}=${r.id}`), ["twitch=E2", "youtube=E3"], "a restart replaces the push of that name");
  assert.deepEqual(callAfter(again, ev("call.rtmp_broadcast_stopped", { egress_id: "E2", name: "twitch" })).egress.rtmps.map((r) => r.name), ["youtube"]);
  assert.deepEqual(callAfter(yt, ev("call.rtmp_broadcast_failed", { egress_id: "E1", name: "youtube", error: "refused" })).egress.rtmps, []);
  assert.equal(callAfter(yt, ev("call.rtmp_broadcast_stopped", { egress_id: "E9", name: "other" })), yt, "stopping an unknown push changes nothing");
});

test("CallState announces exactly the fields that changed", () => {
  const state = new CallState();
  const heard = [];
  state.on("change", (c) => heard.push(c.changed.join(",")));
  state.on("ringing", (c) => heard.push(`ringing=${c.state.ringing}`));
  state.set(patchFor(state, ring, "bob"));
  state.set(patchFor(state, ev("call.session_started"), "bob"));
  state.set({ ringing: "joined" });
  assert.deepEqual(heard, ["ringing=ringing", "ringing,ring", "ringing=joined", "ringing"]);
  assert.equal(state.ring.caller_id, "alice");
  assert.equal(state.live, false, "no call read yet: not live");
});
