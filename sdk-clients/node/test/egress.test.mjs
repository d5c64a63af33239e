// Recordings, HLS and RTMP pushes against a real onair dev (its egress
// worker runs the jobs): start, list, stop, and the refusals.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { OnAirServer } from "../dist/index.js";
import { startOnAir, uniqueId, eventually } from "./support/onair.mjs";

let onair;
let sdk;
before(async () => {
  onair = await startOnAir();
  sdk = new OnAirServer({ baseUrl: onair.baseUrl, apiKey: onair.apiKey, apiSecret: onair.apiSecret });
});
after(() => onair?.stop());

const DONE = ["complete", "failed"];

test("recordings: start, refuse a second, list, stop", async () => {
  const call = sdk.call("livestream", uniqueId("rec"));
  await call.getOrCreate({ data: { members: [{ user_id: "alice", role: "host" }] } });
  const { recording } = await call.startRecording({ preset: "360p" });
  assert.match(recording.id, /^EG_/);
  assert.equal(recording.state, "starting");
  await assert.rejects(call.startRecording(), { name: "OnAirError", status: 409, code: "recording_running" });
  await assert.rejects(call.startRecording({ preset: "4k" }), { status: 422, code: "invalid_preset" });
  const listed = await call.listRecordings();
  assert.deepEqual(listed.recordings.map((r) => r.id), [recording.id]);
  assert.equal((await call.get()).call.egress.recording.id, recording.id);
  await eventually(async () => (await call.listRecordings()).recordings[0].state === "active", 20_000, "the recording to run");

  const stopped = await call.stopRecording();
  assert.equal(stopped.recording.id, recording.id);
  assert.ok(["ending", ...DONE].includes(stopped.recording.state), stopped.recording.state);
  const done = await eventually(async () => {
    const [r] = (await call.listRecordings()).recordings;
    return DONE.includes(r.state) && r;
  }, 20_000, "the recording to finish");
  assert.equal(done.state, "complete", done.error ?? "");
  assert.match(done.url, /^http:\/\/127\.0\.0\.1:\d+\/files\//);
  await assert.rejects(call.stopRecording(), { status: 404, code: "not_found" });
  const types = (await sdk.listEvents({ callCid: call.cid })).events.map((e) => e.type);
  for (const t of ["call.recording_started", "call.recording_stopped"]) assert.ok(types.includes(t), `${t} in ${types}`);
});

test("HLS: start, shown on the call, stop", async () => {
  const call = sdk.call("livestream", uniqueId("hls"));
  await call.getOrCreate({ data: { members: [{ user_id: "alice", role: "host" }] } });
  const { hls } = await call.startHLS({ preset: "360p" });
  assert.match(hls.id, /^EG_/);
  await assert.rejects(call.startHLS(), { status: 409, code: "hls_running" });
  assert.equal((await call.get()).call.egress.hls.id, hls.id);
  const stopped = await call.stopHLS();
  assert.equal(stopped.hls.id, hls.id);
  assert.ok(["ending", ...DONE].includes(stopped.hls.state), stopped.hls.state);
  await eventually(async () => (await call.get()).call.egress.hls === null, 20_000, "the broadcast to finish");
  await assert.rejects(call.stopHLS(), { status: 404, code: "not_found" });
});

test("RTMP: add a push (its key never echoed), listed on the call, remove it", async () => {
  const call = sdk.call("livestream", uniqueId("rtmp"));
  await call.getOrCreate({ data: { members: [{ user_id: "alice", role: "host" }] } });
  const key = `key-${uniqueId("k")}`;
  const added = await call.startRTMPBroadcast({ name: "yt", stream_url: "rtmp://127.0.0.1:9/live", stream_key: key, preset: "360p" });
  assert.equal(added.rtmp.name, "yt");
  assert.ok(!JSON.stringify(added).includes(key));
  const { call: view } = await call.get();
  assert.deepEqual(view.egress.rtmps.map((r) => r.name), ["yt"]);
  assert.ok(!JSON.stringify(view).includes(key));
  await assert.rejects(call.startRTMPBroadcast({ name: "bad", stream_url: "http://example/live", stream_key: "k" }), { status: 422, code: "invalid_stream_url" });
  const removed = await call.stopRTMPBroadcast("yt");
  assert.equal(removed.rtmp.id, added.rtmp.id);
  await eventually(async () => (await call.get()).call.egress.rtmps.length === 0, 20_000, "the push to stop");
  await assert.rejects(call.stopRTMPBroadcast("yt"), { status: 404, code: "not_found" });
});

test("an ended call starts no egress", async () => {
  const call = sdk.call("livestream", uniqueId("ended"));
  await call.getOrCreate();
  await call.end();
  await assert.rejects(call.startRecording(), { status: 409, code: "call_ended" });
  await assert.rejects(call.startHLS(), { status: 409, code: "call_ended" });
});
