// Tokens from the SDK against a real onair dev: the same layout as `onair
// token`, accepted by the server, refused when signed with a wrong secret or
// used outside their calls.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { OnAirServer, OnAirError } from "../dist/index.js";
import { startOnAir, uniqueId } from "./support/onair.mjs";

let onair;
let sdk;
before(async () => {
  onair = await startOnAir();
  sdk = new OnAirServer({ baseUrl: onair.baseUrl, apiKey: onair.apiKey, apiSecret: onair.apiSecret });
});
after(() => onair?.stop());

const part = (token, i) => JSON.parse(Buffer.from(token.split(".")[i], "base64url").toString());

/** GET a call with a raw bearer token (no SDK transport). */
async function rawGet(cid, token) {
  const [type, id] = cid.split(":");
  const res = await fetch(`${onair.baseUrl}/v1/calls/${type}/${id}`, { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, body: await res.json() };
}

test("a user token has the header and claims of `onair token user`", () => {
  const cli = onair.token(["user", "--user", "alice", "--name", "Alice", "--role", "admin", "--call", "default:a", "--call", "default:b"]);
  const mine = sdk.createToken("alice", { name: "Alice", role: "admin", callCids: ["default:a", "default:b"] });
  assert.deepEqual(part(mine, 0), part(cli, 0));
  assert.equal(mine.split(".")[0], cli.split(".")[0], "identical header bytes");
  const [a, b] = [part(mine, 1), part(cli, 1)];
  assert.deepEqual(Object.keys(a), Object.keys(b));
  assert.deepEqual(Object.keys(a), ["iss", "sub", "exp", "iat", "name", "role", "call_cids"]);
  for (const k of ["iss", "sub", "name", "role", "call_cids"]) assert.deepEqual(a[k], b[k], k);
  assert.equal(a.exp - a.iat, 3600);
  assert.equal(b.exp - b.iat, 3600);
  const plain = part(sdk.createToken("bob"), 1);
  assert.deepEqual(Object.keys(plain), Object.keys(part(onair.token(["user", "--user", "bob"]), 1)));
});

test("a server token has the header and claims of `onair token server`", () => {
  const cli = onair.token(["server"]);
  const mine = sdk.createServerToken({ expiresIn: 60 });
  assert.equal(mine.split(".")[0], cli.split(".")[0]);
  assert.deepEqual(Object.keys(part(mine, 1)), Object.keys(part(cli, 1)));
  assert.deepEqual(part(mine, 1).server, true);
  assert.equal(part(mine, 1).exp - part(mine, 1).iat, 60);
});

test("the signature is HS256 of header.payload with the API secret", () => {
  const token = sdk.createToken("carol", { expiresIn: 120 });
  const [h, p, s] = token.split(".");
  assert.equal(createHmac("sha256", onair.apiSecret).update(`${h}.${p}`).digest("base64url"), s);
  assert.equal(part(token, 1).exp - part(token, 1).iat, 120);
});

test("a user token from the SDK reads a call; a wrong secret is refused 401 bad_signature", async () => {
  const call = sdk.call("default", uniqueId("tok"));
  await call.getOrCreate({ data: { members: [{ user_id: "alice" }] } });
  const ok = await rawGet(call.cid, sdk.createToken("alice"));
  assert.equal(ok.status, 200);
  assert.equal(ok.body.call.cid, call.cid);
  assert.ok(ok.body.own_capabilities.includes("join-call"));
  const viaSdk = await sdk.asUser("alice").call("default", call.id).get();
  assert.equal(viaSdk.call.cid, call.cid);

  const forged = new OnAirServer({ baseUrl: onair.baseUrl, apiKey: onair.apiKey, apiSecret: `${onair.apiSecret}-wrong` });
  const refused = await rawGet(call.cid, forged.createToken("alice"));
  assert.equal(refused.status, 401);
  assert.equal(refused.body.code, "bad_signature");
  await assert.rejects(forged.call("default", call.id).get(), (e) => {
    assert.ok(e instanceof OnAirError);
    assert.equal(e.status, 401);
    assert.equal(e.code, "bad_signature");
    assert.match(e.message, /signature/);
    return true;
  });
  const stranger = new OnAirServer({ baseUrl: onair.baseUrl, apiKey: "APInobody", apiSecret: onair.apiSecret });
  await assert.rejects(stranger.listCallTypes(), { name: "OnAirError", status: 401, code: "unknown_key" });
});

test("callCids limits a token to its calls (401 wrong_call elsewhere)", async () => {
  const a = sdk.call("default", uniqueId("scope-a"));
  const b = sdk.call("default", uniqueId("scope-b"));
  await a.getOrCreate({ data: { members: [{ user_id: "alice" }] } });
  await b.getOrCreate({ data: { members: [{ user_id: "alice" }] } });
  const token = sdk.createToken("alice", { callCids: [a.cid] });
  assert.equal((await rawGet(a.cid, token)).status, 200);
  const other = await rawGet(b.cid, token);
  assert.equal(other.status, 401);
  assert.equal(other.body.code, "wrong_call");
});

test("role: an admin user token may delete a call, a plain user may not", async () => {
  const call = sdk.call("default", uniqueId("role"));
  await call.getOrCreate();
  await assert.rejects(sdk.asUser("dave").call("default", call.id).delete(), { status: 403, code: "admin_required" });
  const deleted = await sdk.asUser("dave", { role: "admin" }).call("default", call.id).delete();
  assert.equal(deleted.call.cid, call.cid);
  await assert.rejects(call.get(), { status: 404, code: "not_found" });
});

test("bad token options are refused before anything is sent", () => {
  assert.throws(() => sdk.createToken(""), TypeError);
  assert.throws(() => sdk.createToken("alice", { expiresIn: 0 }), RangeError);
  assert.throws(() => sdk.createToken("alice", { expiresIn: 1.5 }), RangeError);
  assert.throws(() => sdk.createToken("alice", { callCids: ["nocolon"] }), TypeError);
  assert.throws(() => sdk.asUser("alice", { expiresIn: -1 }), RangeError);
});
