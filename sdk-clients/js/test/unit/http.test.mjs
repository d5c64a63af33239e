// The REST client's edges, with a stand-in fetch: a token refused as
// expired is replaced once and the request retried; other refusals are
// not; answers that are not the API's JSON still become OnAirErrors.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Rest, TokenManager, OnAirError } from "../../dist/index.js";

const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
const jwt = (claims) => `${b64({ alg: "HS256" })}.${b64(claims)}.sig`;
const json = (status, body) => new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

/** A fetch answering from `answers` in turn, recording each request. */
function fakeFetch(answers) {
  const seen = [];
  const fetch = async (url, init) => {
    seen.push({ url, method: init.method, auth: init.headers.authorization, body: init.body });
    const next = answers.shift();
    if (next instanceof Error) throw next;
    return next;
  };
  return { fetch, seen };
}

test("an `expired` refusal gets a fresh token from the provider and one retry", async () => {
  const old = jwt({ sub: "alice", exp: 4000000000 }); // the server's clock disagrees with ours
  const fresh = jwt({ sub: "alice", exp: 4000003600 });
  const { fetch, seen } = fakeFetch([json(401, { code: "expired", message: "token expired" }), json(200, { ok: true })]);
  const rest = new Rest("http://onair.test/", new TokenManager(old, () => fresh), fetch);
  assert.deepEqual(await rest.request("POST", "/calls/default/a/end", {}), { ok: true });
  assert.deepEqual(seen.map((s) => [s.method, s.url, s.auth]), [
    ["POST", "http://onair.test/v1/calls/default/a/end", `Bearer ${old}`],
    ["POST", "http://onair.test/v1/calls/default/a/end", `Bearer ${fresh}`],
  ]);
});

test("other refusals, or no provider, are not retried", async () => {
  const token = jwt({ sub: "alice", exp: 4000000000 });
  const a = fakeFetch([json(401, { code: "bad_signature", message: "no" })]);
  const withProvider = new Rest("http://onair.test", new TokenManager(token, () => token), a.fetch);
  const e = await withProvider.request("GET", "/calls/default/a").catch((x) => x);
  assert.ok(e instanceof OnAirError);
  assert.deepEqual([e.status, e.code, e.message], [401, "bad_signature", "no"]);
  assert.equal(a.seen.length, 1);
  const b = fakeFetch([json(401, { code: "expired", message: "token expired" })]);
  const without = new Rest("http://onair.test", new TokenManager(token), b.fetch);
  assert.equal((await without.request("GET", "/x").catch((x) => x)).code, "expired");
  assert.equal(b.seen.length, 1);
});

test("answers that are not the API's JSON, and no answer at all, are OnAirErrors too", async () => {
  const token = jwt({ sub: "alice", exp: 4000000000 });
  const { fetch } = fakeFetch([new Response("<html>Bad Gateway</html>", { status: 502, statusText: "Bad Gateway" }), new TypeError("fetch failed")]);
  const rest = new Rest("http://onair.test", new TokenManager(token), fetch);
  const proxyPage = await rest.request("GET", "/x").catch((x) => x);
  assert.deepEqual([proxyPage.status, proxyPage.code, proxyPage.message], [502, "http_error", "502 Bad Gateway"]);
  const down = await rest.request("GET", "/x").catch((x) => x);
  assert.deepEqual([down.status, down.code], [0, "network_error"]);
  assert.match(down.message, /GET \/v1\/x: fetch failed/);
});

test("query parameters are encoded and undefined ones left out; bodies are JSON", async () => {
  const token = jwt({ sub: "alice", exp: 4000000000 });
  const { fetch, seen } = fakeFetch([json(200, { events: [] }), json(200, {})]);
  const rest = new Rest("http://onair.test", new TokenManager(token), fetch);
  await rest.request("GET", "/events", undefined, { call_cid: "default:a b", after: "7", limit: undefined });
  await rest.request("PATCH", "/calls/default/a", { custom: { x: 1 } });
  assert.equal(seen[0].url, "http://onair.test/v1/events?call_cid=default%3Aa+b&after=7");
  assert.equal(seen[0].body, undefined);
  assert.equal(seen[1].body, JSON.stringify({ custom: { x: 1 } }));
});
