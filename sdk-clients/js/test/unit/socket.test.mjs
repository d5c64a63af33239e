// The events socket against a real `onair dev`, behind a TCP proxy that
// drops connections like a network does: the client comes back by itself
// and hears every event of its calls exactly once, in order, including
// calls it only watches (which the server does not replay: the SDK reads
// them back itself). Node has no WebSocket of its own: `ws` stands in.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { WebSocket } from "ws";
import { OnAirClient, OnAirError, EventSocket, TokenManager, compareIds } from "../../dist/index.js";
import { startOnair, api, until } from "../support/onair.mjs";
import { startProxy } from "../support/proxy.mjs";

let onair, proxy, server;
const clients = [];
const id = (name) => `${name}-${Date.now()}-${Math.random().toString(36).slice(2, 6)}`;

before(async () => {
  onair = await startOnair();
  proxy = await startProxy(Number(new URL(onair.url).port));
  server = api(onair.url, onair.serverToken());
});
after(async () => {
  for (const c of clients) c.disconnect();
  await proxy?.close();
  await onair?.stop();
});

/** A client of `user` through the proxy, recording what it hears. */
function listen(user, options = {}) {
  const client = new OnAirClient({ baseUrl: proxy.url, token: onair.userToken(user), WebSocket, reconnect: { baseMs: 100, maxMs: 800 }, ...options });
  const heard = [];
  clients.push(client);
  client.on("*", (e) => heard.push(e));
  return { client, heard, events: () => heard.filter((e) => typeof e.id === "string") };
}

/** What the event log holds for `cids` after `afterId` (the truth, read with a server token). */
async function logOf(cids, afterId) {
  const out = [];
  for (const cid of cids) out.push(...(await server("GET", `/events?call_cid=${cid}&after=${afterId}&limit=1000`)).events);
  return out.sort((a, b) => compareIds(a.id, b.id));
}

/** The id of the log's latest event. */
async function lastLogId() {
  let after = "0";
  for (;;) {
    const page = await server("GET", `/events?after=${after}&limit=1000`);
    if (!page.next) return after;
    after = page.next;
  }
}

const custom = (cid, n) => server("POST", `/calls/${cid.replace(":", "/")}/event`, { custom: { n } });

test("a dropped socket resumes and misses no event of member or watched calls", async () => {
  const { client, heard, events } = listen("alice");
  await client.connect();
  assert.ok(client.connectionId, "connection.ok names the connection");
  const member = client.call("default", id("member"));
  await member.getOrCreate();
  const watchedCid = `livestream:${id("watched")}`;
  await server("POST", `/calls/${watchedCid.replace(":", "/")}`, { data: { members: [{ user_id: "henry", role: "host" }] } });
  await client.call(watchedCid).get(); // alice is no member: ?connection_id= makes the socket hear it
  const otherCid = `default:${id("other")}`;
  await server("POST", `/calls/${otherCid.replace(":", "/")}`, {});
  const start = await lastLogId(); // from here on, alice must hear everything of both calls

  await custom(member.cid, 0);
  await custom(watchedCid, 0);
  await until("the events before the drop", 5000, () => events().filter((e) => e.type === "custom").length === 2);

  proxy.cut();
  await until("the client seeing the drop", 5000, () => heard.some((e) => e.type === "connection.changed" && !e.online));
  for (let n = 1; n <= 5; n++) {
    await custom(member.cid, n);
    await custom(watchedCid, n);
    await custom(otherCid, n);
  }
  await server("PATCH", `/calls/${watchedCid.replace(":", "/")}`, { custom: { title: "during the drop" } });
  await new Promise((r) => setTimeout(r, 1500)); // several reconnects are refused meanwhile
  proxy.restore();

  await until("the resumed connection", 10000, () => heard.some((e) => e.type === "connection.ok" && e.resumed));
  const truth = await logOf([member.cid, watchedCid], start);
  assert.equal(truth.filter((e) => e.type === "custom").length, 12);
  const since = () => events().filter((e) => compareIds(e.id, start) > 0);
  await until("every event of the log", 10000, () => since().length >= truth.length).catch((e) => {
    const show = (list) => list.map((x) => `${x.id} ${x.call_cid.split("-")[0]} ${x.type} ${x.custom?.n ?? ""}`).join("\n  ");
    throw new Error(`${e.message}\nafter ${start}; log:\n  ${show(truth)}\nheard:\n  ${show(heard.map((x) => ({ id: x.id ?? "-", call_cid: x.call_cid ?? "", ...x })))}`);
  });
  await new Promise((r) => setTimeout(r, 500)); // anything extra (a repeat) would arrive now
  const got = since();
  assert.deepEqual(got.map((e) => e.id), truth.map((e) => e.id), "the same events, once each, in log order");
  assert.deepEqual(got.map((e) => `${e.call_cid} ${e.type} ${e.custom?.n ?? ""}`), truth.map((e) => `${e.call_cid} ${e.type} ${e.custom?.n ?? ""}`));
  assert.ok(!got.some((e) => e.call_cid === otherCid), "a call neither joined nor watched stays unheard");
  assert.deepEqual(client.call(watchedCid).state.call.custom, { title: "during the drop" }, "the watched call's state followed");
  client.disconnect();
});

test("after a drop the socket asks tokenProvider for a fresh token when the old one expired", async () => {
  let asked = 0;
  const { client, heard, events } = listen("bob", {
    token: onair.userToken("bob", "3s"),
    refreshBeforeSeconds: 0,
    tokenProvider: () => { asked++; return onair.userToken("bob"); },
  });
  await client.connect();
  assert.equal(asked, 0);
  const call = client.call("default", id("ttl"));
  await call.getOrCreate();
  proxy.cut();
  await until("the drop", 5000, () => heard.some((e) => e.type === "connection.changed" && !e.online));
  await new Promise((r) => setTimeout(r, 3500)); // the first token is expired now
  await custom(call.cid, 1);
  proxy.restore();
  await until("the event sent while the socket was down", 10000, () => events().some((e) => e.type === "custom" && e.custom.n === 1));
  assert.equal(asked, 1, "one fresh token for the reconnect");
  assert.ok(!heard.some((e) => e.type === "connection.error"), "the server never saw the expired token");
  client.disconnect();
});

test("a connection that goes silent is taken for dead, replaced, and resumed", async () => {
  const call = listen("erin").client.call("default", id("silent"));
  await call.getOrCreate();
  const heard = [];
  const socket = new EventSocket({
    baseUrl: proxy.url, tokens: new TokenManager(onair.userToken("erin")), WebSocket,
    pingIntervalMs: 300, silenceTimeoutMs: 1500, backoff: { baseMs: 100, maxMs: 400 },
    onEvent: (e) => heard.push(e), onStatus: (s) => heard.push(s),
  });
  clients.push({ disconnect: () => socket.close() });
  await socket.connect();
  await custom(call.cid, 1);
  await until("the first event", 5000, () => heard.some((e) => e.custom?.n === 1));
  proxy.stall(); // the server keeps the connection; the client hears nothing more on it
  await custom(call.cid, 2);
  await custom(call.cid, 3);
  await until("a second connection", 10000, () => heard.filter((e) => e.type === "connection.ok").length === 2);
  await until("the events sent into the dead connection", 5000, () => heard.some((e) => e.custom?.n === 3));
  assert.deepEqual(heard.filter((e) => e.type === "custom").map((e) => e.custom.n), [1, 2, 3]);
  assert.equal(heard.filter((e) => e.type === "connection.ok")[1].resumed, true);
  socket.close();
  proxy.cut(); // the frozen connections (pooled HTTP ones too) go
  proxy.restore();
});

test("a refused token fails connect() with the server's code, and calls keep the rest working", async () => {
  const token = onair.userToken("carol");
  const forged = new OnAirClient({ baseUrl: onair.url, token: token.slice(0, -4) + (token.endsWith("AAAA") ? "BBBB" : "AAAA"), WebSocket });
  const e = await forged.connect().then(() => null, (err) => err);
  assert.ok(e instanceof OnAirError, String(e));
  assert.equal(e.code, "bad_signature");
  const { client } = listen("carol");
  await client.connect();
  client.disconnect();
  assert.equal(client.connectionId, undefined);
  assert.equal((await client.call("default", id("after")).getOrCreate()).created, true);
});
