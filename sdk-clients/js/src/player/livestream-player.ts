/**
 * `LivestreamPlayer`: a viewer of a call. It joins over WebRTC without
 * publishing and shows the hosts' media (waiting while the call is in
 * backstage); when WebRTC cannot connect in time, the join is refused, or
 * the call is broadcast over HLS only, it plays the call's HLS playlist
 * instead. When the call's node dies and its media moves to another node
 * (a new Room), the player shows the new Room's tracks.
 * @packageDocumentation
 */
import { RoomEvent, Track, type RemoteTrack, type Room, type RoomConnectOptions, type RoomOptions } from "livekit-client";
import type { HlsConfig } from "hls.js";
import type { Call } from "../call/call.js";
import { Emitter, type Listener } from "../emitter.js";
import { OnAirError } from "../errors.js";
import { playHls, type HlsPlayback } from "./hls.js";
import { poll, sleep, withTimeout } from "./wait.js";

/** Where the player is: `connecting`, playing over `webrtc` or `hls`, or `stopped`. */
export type PlayerMode = "connecting" | "webrtc" | "hls" | "stopped";

/** Options of {@link LivestreamPlayer}. */
export interface LivestreamPlayerOptions {
  /** What to do when WebRTC fails: play the call's HLS playlist (`"hls"`, the default) or nothing (`"none"`). */
  fallback?: "hls" | "none";
  /** How long WebRTC may take to connect, and to show video while HLS runs, in ms (default 10 000). */
  timeoutMs?: number;
  /** Start muted, so that browsers autoplay (default `true`); unmute from a user gesture. */
  muted?: boolean;
  /** How often to read the call while waiting for a playlist, in ms (default 2000). */
  pollMs?: number;
  /** Options of the LiveKit `Room`. */
  roomOptions?: RoomOptions;
  /** Options of `Room.connect` (`rtcConfig` to choose ICE servers or policy). */
  connectOptions?: RoomConnectOptions;
  /** Options of hls.js. */
  hlsConfig?: Partial<HlsConfig>;
}

/**
 * Plays `call` in `element` (a `<video>`, or a container it adds one to).
 * It starts at once; `ready` resolves with the mode it settled on.
 */
export class LivestreamPlayer {
  /** The video element media plays in. */
  readonly video: HTMLVideoElement;
  /** Resolves with the first mode that plays (`webrtc` or `hls`; `mode` events tell later changes); rejects when neither can. */
  readonly ready: Promise<PlayerMode>;
  /** Why the player left WebRTC, if it did. */
  fallbackReason: Error | null = null;
  private current: PlayerMode = "connecting";
  private hlsPlayback: HlsPlayback | null = null;
  /** Stops following the call's media from node to node. */
  private unfollow: (() => void) | null = null;
  private audio: HTMLMediaElement[] = [];
  private muted: boolean;
  private readonly abort = new AbortController();
  private readonly emitter = new Emitter<PlayerMode>();
  private readonly options: Required<Pick<LivestreamPlayerOptions, "fallback" | "timeoutMs" | "pollMs">> & LivestreamPlayerOptions;

  /** Starts playing `call` in `element`. */
  constructor(element: HTMLElement, readonly call: Call, options: LivestreamPlayerOptions = {}) {
    this.options = { fallback: "hls", timeoutMs: 10_000, pollMs: 2000, ...options };
    this.video = element instanceof HTMLVideoElement ? element : element.appendChild(document.createElement("video"));
    this.video.autoplay = true;
    this.video.playsInline = true;
    this.muted = options.muted ?? true;
    this.video.muted = this.muted;
    this.ready = this.start();
    this.ready.catch(() => {});
  }

  /** The current mode. */
  get mode(): PlayerMode {
    return this.current;
  }

  /** The hls.js instance while playing HLS through hls.js. */
  get hls(): HlsPlayback["hls"] {
    return this.hlsPlayback?.hls ?? null;
  }

  /** Calls `fn` with each new mode (`"mode"`); returns what removes it. */
  on(type: "mode", fn: Listener<PlayerMode>): () => void {
    return this.emitter.on(type, fn);
  }

  /** Stops playing: leaves the call's media, frees hls.js. */
  async destroy(): Promise<void> {
    this.abort.abort();
    this.unfollow?.();
    this.unfollow = null;
    this.hlsPlayback?.destroy();
    this.hlsPlayback = null;
    this.audio.forEach((el) => el.remove());
    this.audio = [];
    if (this.call.room) await this.call.leave();
    this.setMode("stopped");
  }

  private async start(): Promise<PlayerMode> {
    try {
      await this.playWebRTC().catch(async (e: unknown) => {
        if (!(e instanceof OnAirError && e.code === "backstage")) throw e;
        // Not live yet: wait for the show, then watch it over WebRTC.
        await poll(async () => ((await this.call.get()).call.backstage ? null : true), this.options.pollMs, this.abort.signal);
        await this.playWebRTC();
      });
      return this.current;
    } catch (e) {
      if (this.abort.signal.aborted) throw e;
      await this.fellBack(e as Error);
      if (this.current !== "hls") throw e;
      return this.current;
    }
  }

  /** Joins without publishing; throws when it cannot connect in time. Later, leaves for HLS if no video comes while HLS runs. */
  private async playWebRTC(): Promise<void> {
    const { timeoutMs } = this.options;
    const connectOptions = { peerConnectionTimeout: timeoutMs, ...this.options.connectOptions };
    const join = this.call.join({ publish: false, roomOptions: this.options.roomOptions, connectOptions });
    await withTimeout(join, timeoutMs + 2000, "connecting over WebRTC");
    let shown = this.call.room!;
    this.showTracks(shown);
    this.setMode("webrtc");
    // The media's node: a new one when the call moved off a dead node (a
    // new Room, whose tracks are shown in turn); none when it ended.
    this.unfollow = this.call.state.on("mediaUrl", () => {
      const room = this.call.room;
      if (this.current !== "webrtc" || this.abort.signal.aborted) return;
      if (!room) return void this.fellBack(new Error("the WebRTC connection ended"));
      if (room !== shown) this.showTracks((shown = room));
    });
    void sleep(timeoutMs, this.abort.signal).then(() => {
      const hlsRuns = this.call.state.call?.egress.hls?.state === "active";
      if (this.current === "webrtc" && !this.hasVideo(shown) && hlsRuns && !this.abort.signal.aborted) {
        void this.fellBack(new Error("no video over WebRTC while HLS runs"));
      }
    });
  }

  /** Leaves WebRTC for `reason`; plays HLS when the options say so. */
  private async fellBack(reason: Error): Promise<void> {
    this.unfollow?.();
    this.unfollow = null;
    this.fallbackReason = reason;
    this.audio.forEach((el) => el.remove());
    this.audio = [];
    if (this.call.room) await this.call.leave().catch(() => {});
    if (this.options.fallback !== "hls" || this.abort.signal.aborted) return this.setMode("stopped");
    await this.playHLS().catch(() => this.setMode("stopped"));
  }

  /** Waits for the call's HLS playlist, then plays it. */
  private async playHLS(): Promise<void> {
    this.setMode("connecting");
    const url = await poll(async () => {
      const hls = (await this.call.get()).call.egress.hls;
      return hls?.state === "active" && hls.playlist_url ? hls.playlist_url : null;
    }, this.options.pollMs, this.abort.signal);
    this.video.srcObject = null;
    this.video.muted = this.muted;
    this.hlsPlayback = await playHls(this.video, url, this.options.hlsConfig);
    this.setMode("hls");
  }

  /** Shows the room's remote video in the element and plays its audio, now and as tracks come. */
  private showTracks(room: Room): void {
    const attach = (track: RemoteTrack) => {
      if (track.kind === Track.Kind.Video) track.attach(this.video);
      if (track.kind !== Track.Kind.Audio) return;
      const el = track.attach();
      el.muted = this.muted;
      this.audio.push(el);
      (this.video.parentElement ?? document.body).appendChild(el);
    };
    for (const p of room.remoteParticipants.values()) {
      for (const pub of p.trackPublications.values()) if (pub.track) attach(pub.track);
    }
    room.on(RoomEvent.TrackSubscribed, attach);
    room.on(RoomEvent.TrackUnsubscribed, (track) => {
      for (const el of track.detach()) {
        if (el !== this.video) el.remove();
        this.audio = this.audio.filter((a) => a !== el);
      }
    });
  }

  /** Mutes or unmutes the player (unmute from a user gesture: browsers block sound before one). */
  setMuted(muted: boolean): void {
    this.muted = muted;
    if (this.current === "hls") this.video.muted = muted;
    for (const el of this.audio) el.muted = muted;
  }

  private hasVideo(room: Room): boolean {
    return [...room.remoteParticipants.values()].some((p) => [...p.videoTrackPublications.values()].some((t) => t.track));
  }

  private setMode(mode: PlayerMode): void {
    if (mode === this.current) return;
    this.current = mode;
    this.emitter.emit("mode", mode);
  }
}
