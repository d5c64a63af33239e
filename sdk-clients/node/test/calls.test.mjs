// Users, call types and calls against a real onair dev: get-or-create with
// members, read, update, members added/changed/removed, a livestream going
// live and back and ending, delete; refusals surface as OnAirError.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { OnAirServer, OnAirError } from "../dist/index.js";
import { startOnAir, uniqueId } from "./support/onair.mjs";

let onair;
let sdk;
before(async () => {
  onair = await startOnAir();
  sdk = new OnAirServer({ baseUrl: onair.baseUrl, apiKey: onair.apiKey, apiSecret: onair.apiSecret });
});
after(() => onair?.stop());

const roles = (members) => Object.fromEntries(members.map((m) => [m.user_id, m.role]));

test("upsertUsers stores users; a user token may not", async () => {
  const { users } = await sdk.upsertUsers([
    { id: "alice", name: "Alice", custom: { team: "red" } },
    { id: "boss", role: "admin" },
  ]);
  assert.equal(users.alice.name, "Alice");
  assert.deepEqual(users.alice.custom, { team: "red" });
  assert.equal(users.boss.role, "admin");
  await assert.rejects(sdk.upsertUsers([{ id: "no spaces" }]), { name: "OnAirError", status: 422, code: "invalid_id" });
  await assert.rejects(sdk.asUser("alice").upsertUsers([{ id: "eve" }]), { status: 403, code: "server_token_required" });
});

test("call types: list, read, create", async () => {
  const { call_types } = await sdk.listCallTypes();
  const names = call_types.map((t) => t.name);
  for (const n of ["default", "livestream", "audio_room", "development"]) assert.ok(names.includes(n), n);
  const live = await sdk.getCallType("livestream");
  assert.equal(live.settings.backstage.enabled, true);
  const name = uniqueId("sdktype");
  const made = await sdk.updateCallType(name, { grants: { host: ["join-call", "read-call", "end-call"] }, settings: { backstage: { enabled: true } } });
  assert.equal(made.name, name);
  assert.deepEqual([...made.grants.host].sort(), ["end-call", "join-call", "read-call"]);
  assert.equal((await sdk.getCallType(name)).settings.backstage.enabled, true);
  await assert.rejects(sdk.getCallType(uniqueId("none")), { status: 404, code: "not_found" });
});

test("getOrCreate creates with members once, then gets; get and update", async () => {
  const call = sdk.call("default", uniqueId("create"));
  const first = await call.getOrCreate({
    data: { members: [{ user_id: "alice", role: "host" }, { user_id: "bob" }], custom: { topic: "standup" } },
  });
  assert.equal(first.created, true);
  assert.equal(first.call.cid, call.cid);
  assert.deepEqual(roles(first.members), { alice: "host", bob: "call_member" });
  assert.deepEqual(first.call.custom, { topic: "standup" });
  const again = await call.getOrCreate({ data: { members: [{ user_id: "carol" }] } });
  assert.equal(again.created, false);
  assert.deepEqual(roles(again.members), { alice: "host", bob: "call_member" }, "data is used only on creation");

  const got = await call.get();
  assert.equal(got.call.member_count, 2);
  const updated = await call.update({ custom: { topic: "retro" } });
  assert.deepEqual(updated.call.custom, { topic: "retro" });
  assert.deepEqual((await call.get()).call.custom, { topic: "retro" });
});

test("members: add, change a role, remove, list", async () => {
  const call = sdk.call("default", uniqueId("members"));
  await call.getOrCreate({ data: { members: [{ user_id: "alice", role: "host" }, { user_id: "bob" }] } });
  const changed = await call.updateMembers({
    update_members: [{ user_id: "carol", role: "moderator" }, { user_id: "bob", role: "host" }],
    remove_members: ["alice"],
  });
  assert.deepEqual(roles(changed.members), { bob: "host", carol: "moderator" });
  const listed = await call.listMembers();
  assert.deepEqual(roles(listed.members), { bob: "host", carol: "moderator" });
  assert.equal((await call.get()).call.member_count, 2);
  // A call member may not hand out the host role.
  await sdk.upsertUsers([{ id: "dan" }]);
  await call.updateMembers({ update_members: [{ user_id: "dan" }] });
  await assert.rejects(
    sdk.asUser("dan").call("default", call.id).updateMembers({ update_members: [{ user_id: "eve", role: "host" }] }),
    (e) => e instanceof OnAirError && e.status === 403 && e.code === "missing_capability" && e.details?.capability === "update-call-member",
  );
});

test("a livestream: backstage, go live, viewers join, stop live, end", async () => {
  const call = sdk.call("livestream", uniqueId("show"));
  const created = await call.getOrCreate({ data: { members: [{ user_id: "alice", role: "host" }] } });
  assert.equal(created.call.backstage, true);
  const viewer = sdk.asUser("vic").call("livestream", call.id);
  await assert.rejects(viewer.join(), { status: 403, code: "backstage" });
  const hostJoin = await sdk.asUser("alice").call("livestream", call.id).join();
  assert.ok(hostJoin.credentials.url && hostJoin.credentials.token);
  assert.equal(hostJoin.role, "host");

  assert.equal((await call.goLive()).call.backstage, false);
  const joined = await viewer.join();
  assert.equal(joined.waiting, false);
  assert.ok(!joined.own_capabilities.includes("send-video"));
  assert.equal((await call.stopLive()).call.backstage, true);
  assert.equal((await call.goLive()).call.backstage, false);
  const sessions = await call.listSessions();
  assert.equal(sessions.sessions.length, 1);
  assert.deepEqual((await call.listParticipants()).participants, [], "nobody connected to the SFU");

  const ended = await call.end();
  assert.ok(ended.call.ended_at);
  await assert.rejects(call.goLive(), { status: 409, code: "call_ended" });
  await assert.rejects(viewer.join(), { status: 409, code: "call_ended" });
  await assert.rejects(call.end(), { status: 409 });

  const types = (await sdk.listEvents({ callCid: call.cid })).events.map((e) => e.type);
  for (const t of ["call.created", "call.live_started", "call.live_stopped", "call.ended"]) assert.ok(types.includes(t), `${t} in ${types}`);
});

test("delete: the call is gone", async () => {
  const call = sdk.call("default", uniqueId("gone"));
  await call.getOrCreate();
  assert.equal((await call.delete()).call.cid, call.cid);
  await assert.rejects(call.get(), { status: 404, code: "not_found" });
  await assert.rejects(sdk.call("nosuchtype", "x").getOrCreate(), { status: 404, code: "not_found" });
  await assert.rejects(sdk.call("default", "bad id!").get(), { status: 422, code: "invalid_id" });
});
