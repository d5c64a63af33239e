// The shipped declarations as an app sees them: this file must compile
// against dist/*.d.ts, and each `@ts-expect-error` line must be refused
// (tsc fails on an unused one), so loose `any` types would fail the check.
import { OnAirClient, OnAirError, LivestreamPlayer, livekit, type RingingState, type CallRingEvent, type PlayerMode } from "@onair/client";

export async function app(stage: HTMLElement): Promise<void> {
  const client = new OnAirClient({ baseUrl: "https://video.example.com", token: "t", tokenProvider: async () => "fresh" });
  await client.connect();
  const call = client.call("default", "standup");
  const created = await call.getOrCreate({ members: ["bob", { user_id: "carol", role: "host" }], ring: true, video: false });
  const created_: boolean = created.created;
  const joined = await call.join({ create: true, camera: { resolution: livekit.VideoPresets.h720.resolution }, microphone: false });
  const url: string = joined.credentials.url;
  const room: livekit.Room | null = call.room;
  const ringing: RingingState = call.state.ringing;
  call.state.on("participants", ({ state }) => state.participants.forEach((p) => p.tracks.map((t) => t.sid)));
  client.on("call.ring", (e) => {
    const ring = e as CallRingEvent;
    void client.call(ring.call_cid).accept();
  });
  await call.goLive({ start_hls: true, start_recording: false });
  await call.startRTMPBroadcast({ name: "yt", stream_url: "rtmps://a.rtmp.youtube.com/live2", stream_key: "k" });
  await call.reject("busy");
  // @ts-expect-error not a reason the API takes
  await call.reject("maybe");
  // @ts-expect-error stream_key is required
  await call.startRTMPBroadcast({ name: "yt", stream_url: "rtmp://x/app" });
  const player = new LivestreamPlayer(stage, call, { fallback: "hls", timeoutMs: 5000 });
  const mode: PlayerMode = await player.ready;
  
  // @ts-expect-error a mode the player never has
  const wrong: PlayerMode = "flash";
  try {
    await call.end();
  } catch (e) {
    if (e instanceof OnAirError) console.log(e.status, e.code, e.message);
  }
  console.log(created_, url, room, ringing, mode, wrong);
}
