// GET /v1/events through listEvents against a real onair dev: call.created
// and what follows, paged with after/limit, narrowed to a call, refusals.
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

test("listEvents sees call.created, then pages with after/limit", async () => {
  const call = sdk.call("default", uniqueId("ev"));
  await call.getOrCreate({ data: { members: [{ user_id: "alice" }], custom: { n: 1 } } });
  await call.update({ custom: { n: 2 } });
  await call.updateMembers({ update_members: [{ user_id: "bob" }] });
  await call.sendEvent({ n: 3 });

  const all = await sdk.listEvents({ callCid: call.cid });
  const types = all.events.map((e) => e.type);
  assert.equal(types[0], "call.created");
  for (const t of ["call.updated", "call.member_added", "custom"]) assert.ok(types.includes(t), `${t} in ${types}`);
  assert.equal(all.events[0].call_cid, call.cid);
  assert.deepEqual(all.events[0].members.map((m) => m.user_id), ["alice"]);
  assert.equal(all.next, all.events.at(-1).id);

  const paged = [];
  let after;
  for (let i = 0; i < 50; i++) {
    const page = await sdk.listEvents({ callCid: call.cid, limit: 1, after });
    assert.ok(page.events.length <= 1);
    if (page.events.length === 0) {
      assert.ok(page.next == null);
      break;
    }
    paged.push(page.events[0]);
    after = page.next;
  }
  assert.deepEqual(paged.map((e) => e.id), all.events.map((e) => e.id));
  const ids = paged.map((e) => Number(e.id));
  assert.deepEqual(ids, [...ids].sort((a, b) => a - b), "oldest first");
});

test("without callCid a server token reads every call's events; a user only its calls'", async () => {
  const mine = sdk.call("default", uniqueId("mine"));
  const theirs = sdk.call("default", uniqueId("theirs"));
  await mine.getOrCreate({ data: { members: [{ user_id: "zoe" }] } });
  await theirs.getOrCreate({ data: { members: [{ user_id: "yann" }] } });
  const everything = await sdk.listEvents({ limit: 1000 });
  const cids = new Set(everything.events.map((e) => e.call_cid));
  assert.ok(cids.has(mine.cid) && cids.has(theirs.cid));
  const zoes = await sdk.asUser("zoe").listEvents({ limit: 1000 });
  const zoeCids = new Set(zoes.events.map((e) => e.call_cid));
  assert.ok(zoeCids.has(mine.cid));
  assert.ok(!zoeCids.has(theirs.cid));
});

test("bad paging is refused with the server's code", async () => {
  await assert.rejects(sdk.listEvents({ limit: 0 }), { name: "OnAirError", status: 422, code: "invalid_limit" });
  await assert.rejects(sdk.listEvents({ limit: 1001 }), { status: 422, code: "invalid_limit" });
  await assert.rejects(sdk.listEvents({ after: "x" }), { status: 422, code: "invalid_after" });
  const last = await sdk.listEvents({ limit: 1000 });
  const beyond = await sdk.listEvents({ after: last.next ?? "0" });
  assert.deepEqual(beyond.events, []);
});
