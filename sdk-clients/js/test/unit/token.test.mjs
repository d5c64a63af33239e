// Tokens on the client: claims read from the JWT, the provider asked only
// near expiry, once for concurrent callers, and never for another user.
import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeToken, TokenManager } from "../../dist/index.js";

const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
const jwt = (claims) => `${b64({ alg: "HS256", typ: "JWT" })}.${b64(claims)}.sig`;

test("claims are read from the payload, UTF-8 and base64url included", () => {
  const claims = decodeToken(jwt({ sub: "zoë", exp: 2000000000, name: "Zoë ~~~??>" }));
  assert.equal(claims.sub, "zoë");
  assert.equal(claims.name, "Zoë ~~~??>");
  assert.equal(claims.exp, 2000000000);
  assert.throws(() => decodeToken("not-a-jwt"), /malformed/);
});

test("the provider is asked only when the token nears expiry", async () => {
  let now = 1_000_000_000_000;
  let calls = 0;
  const fresh = jwt({ sub: "alice", exp: now / 1000 + 3600 });
  const tokens = new TokenManager(jwt({ sub: "alice", exp: now / 1000 + 120 }), () => { calls++; return fresh; }, { now: () => now });
  assert.equal(tokens.userId, "alice");
  assert.notEqual(await tokens.get(), fresh, "two minutes left: no refresh yet");
  assert.equal(calls, 0);
  now += 61_000;
  assert.equal(await tokens.get(), fresh, "under a minute left: refreshed");
  assert.equal(calls, 1);
  assert.equal(await tokens.get(), fresh);
  assert.equal(calls, 1, "the fresh token is used until it nears expiry in turn");
});

test("concurrent callers share one provider call", async () => {
  let calls = 0;
  const fresh = jwt({ sub: "alice", exp: 4000000000 });
  const tokens = new TokenManager(jwt({ sub: "alice", exp: 1 }), async () => { calls++; await new Promise((r) => setTimeout(r, 20)); return fresh; });
  const got = await Promise.all([tokens.get(), tokens.get(), tokens.refresh()]);
  assert.deepEqual(got, [fresh, fresh, fresh]);
  assert.equal(calls, 1);
});

test("a provider that returns another user's token is refused", async () => {
  const tokens = new TokenManager(jwt({ sub: "alice", exp: 1 }), () => jwt({ sub: "mallory", exp: 4000000000 }));
  await assert.rejects(tokens.get(), /another user/);
  assert.equal(tokens.userId, "alice");
});

test("without a provider the token is used as it is", async () => {
  const token = jwt({ sub: "alice", exp: 1 });
  const tokens = new TokenManager(token);
  assert.equal(tokens.canRefresh, false);
  assert.equal(await tokens.get(), token);
});
