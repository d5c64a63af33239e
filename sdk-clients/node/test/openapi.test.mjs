// The SDK's route table against the server's /openapi.json: every route of
// the spec is in the SDK or excluded below with the reason, and the SDK
// calls no route the spec lacks. Then every route of the table is called
// on the real server and must reach a handler (not the router's fallback).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { OnAirServer, ROUTES } from "../dist/index.js";
import { startOnAir } from "./support/onair.mjs";

/** Routes a backend cannot use, and why. */
const EXCLUDED = {
  "GET /v1/connect": "the apps' events WebSocket; a backend reads GET /v1/events and receives webhooks",
  "GET /v1/egress/{id}": "for egress workers: whether a job is still wanted",
  "GET /v1/egress/{id}/target": "for egress workers: where an RTMP push goes, stream key included",
  "GET /healthz": "liveness probe for load balancers, no token",
  "GET /readyz": "readiness probe for load balancers, no token",
};

let onair;
let spec;
before(async () => {
  onair = await startOnAir();
  const res = await fetch(`${onair.baseUrl}/openapi.json`);
  assert.equal(res.status, 200);
  spec = await res.json();
});
after(() => onair?.stop());

const METHODS = ["get", "put", "post", "delete", "patch", "head", "options", "trace"];

function specRoutes() {
  const out = new Set();
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const m of METHODS) if (item[m]) out.add(`${m.toUpperCase()} ${path}`);
  }
  return out;
}

test("the spec lists routes (a sanity check of the reader)", () => {
  const routes = specRoutes();
  assert.ok(routes.size >= 40, `only ${routes.size} routes read`);
  assert.ok(routes.has("POST /v1/calls/{type}/{id}/go_live"));
});

test("every route of the spec is in the SDK, or excluded with a reason", () => {
  const sdk = new Set(ROUTES.map((r) => `${r.method} ${r.path}`));
  const missing = [...specRoutes()].filter((r) => !sdk.has(r) && !(r in EXCLUDED));
  assert.deepEqual(missing, [], "routes the SDK lacks");
});

test("the SDK calls no route the spec lacks, and excludes only routes that exist", () => {
  const routes = specRoutes();
  const unknown = ROUTES.filter((r) => !routes.has(`${r.method} ${r.path}`)).map((r) => `${r.method} ${r.path}`);
  assert.deepEqual(unknown, [], "SDK routes not in the spec");
  const stale = Object.keys(EXCLUDED).filter((r) => !routes.has(r));
  assert.deepEqual(stale, [], "exclusions of routes the spec no longer has");
  const both = ROUTES.filter((r) => `${r.method} ${r.path}` in EXCLUDED).map((r) => r.name);
  assert.deepEqual(both, []);
});

test("route names are unique, and each is a method of the SDK", async () => {
  const names = ROUTES.map((r) => r.name);
  assert.equal(new Set(names).size, names.length);
  const sdk = new OnAirServer({ baseUrl: onair.baseUrl, apiKey: onair.apiKey, apiSecret: onair.apiSecret });
  const call = sdk.call("default", "x");
  const aliases = { getOrCreateCall: "getOrCreate", getCall: "get", updateCall: "update", deleteCall: "delete", endCall: "end", joinCall: "join" };
  for (const name of names) {
    const method = aliases[name] ?? name;
    assert.ok(typeof call[method] === "function" || typeof sdk[method] === "function", `${name}: no method ${method}`);
  }
});

test("the router's fallback is told apart from a handler's answer", async () => {
  const res = await fetch(`${onair.baseUrl}/v1/calls/default/x/no_such_route`, { method: "POST" });
  assert.equal(res.status, 404);
  assert.equal((await res.json()).message, "route not found");
});

test("every route of the table reaches a handler on the real server", async () => {
  const sdk = new OnAirServer({ baseUrl: onair.baseUrl, apiKey: onair.apiKey, apiSecret: onair.apiSecret });
  const params = { type: "default", id: "sdk-route-probe", name: "probe", identity: "nobody" };
  for (const r of ROUTES) {
    const body = r.method === "GET" ? undefined : {};
    const query = r.name === "deleteDevice" ? { id: "none" } : undefined;
    try {
      await sdk.request(r.name, { params, body, query });
    } catch (e) {
      assert.equal(e.name, "OnAirError", `${r.name}: ${e}`);
      assert.ok(!(e.status === 404 && e.message === "route not found"), `${r.name}: ${r.method} ${r.path} is not routed`);
      assert.notEqual(e.code, "method_not_allowed", `${r.name}: ${r.method} not allowed on ${r.path}`);
    }
  }
});
