/**
 * One call, by type and id: every REST action on it, joining its media
 * through livekit-client, and its state and events.
 * @packageDocumentation
 */
import { RoomEvent, type LocalTrack, type Room } from "livekit-client";
import { Emitter, type Listener } from "../emitter.js";
import { OnAirError } from "../errors.js";
import type { OnAirEvent } from "../events/types.js";
import type { Query, Rest } from "../http.js";
import type * as T from "../types.js";
import { patchFor } from "./apply.js";
import { connectPlaced, watchFailover } from "./failover.js";
import { connectRoom, newRoom, type MediaOptions } from "./media.js";
import { participantsOf, watchParticipants } from "./participants.js";
import * as R from "./requests.js";
import type { RingInfo } from "./ringing.js";
import { CallState } from "./state.js";

/** How long a move waits for the old Room to let go of its tracks before publishing them in the new one. */
const DISCONNECT_WAIT_MS = 1000;

/** What a {@link Call} needs from its client. */
export interface CallHost {
  /** The REST client. */
  readonly rest: Rest;
  /** The user (the token's `sub`). */
  readonly userId: string | undefined;
  /** The open events socket's id, if any. */
  readonly connectionId: string | undefined;
  /** Remembers that the app follows call `cid` (watched again after reconnects). */
  follow(cid: string): void;
}

/** Options of {@link Call.join}. */
export interface JoinOptions extends MediaOptions {
  /** Create the call if it does not exist (needs `create-call`; default `false`). */
  create?: boolean;
  /** Data for the call if this creates it. */
  data?: { members?: (string | R.MemberRequest)[]; custom?: Record<string, unknown>; settings_override?: Record<string, unknown>; starts_at?: string };
}

/** Options of {@link Call.leave}. */
export interface LeaveOptions {
  /** Also reject the ring (a callee), or cancel it (the caller). */
  reject?: boolean;
  /** Why (default `decline`, or `cancel` for the caller). */
  reason?: R.RejectReason;
}

/** A call. Get one with `client.call(type, id)`; the same object for the same call. */
export class Call {
  /** `type:id`. */
  readonly cid: string;
  /** The call's state, with change events. */
  readonly state = new CallState();
  private lkRoom: Room | null = null;
  private unwatchRoom: (() => void) | null = null;
  private unwatchFailover: (() => void) | null = null;
  /** Counts joins and leaves: a join still placing its media goes on while this is its own. */
  private joins = 0;
  private readonly events = new Emitter<OnAirEvent>();
  private readonly path: string;

  /** The call `type:id` of `host`'s user (use `client.call`). */
  constructor(private readonly host: CallHost, readonly type: string, readonly id: string) {
    this.cid = `${type}:${id}`;
    this.path = `/calls/${encodeURIComponent(type)}/${encodeURIComponent(id)}`;
  }

  /** The LiveKit `Room` of the call's media: set by {@link Call.join}, `null` before. */
  get room(): Room | null {
    return this.lkRoom;
  }

  /** Calls `fn` with this call's events of `type` (`*`: all); returns what removes it. */
  on(type: string, fn: Listener<OnAirEvent>): () => void {
    return this.events.on(type, fn);
  }

  /** Removes a listener. */
  off(type: string, fn: Listener<OnAirEvent>): void {
    this.events.off(type, fn);
  }

  /** Applies a server event about this call to its state, then tells listeners (the client calls this). */
  handle(event: OnAirEvent): void {
    this.state.set(patchFor(this.state, event, this.host.userId));
    this.events.emit(event.type, event);
  }

  /** Reads the call (and has the events socket hear it, member or not). */
  async get(): Promise<T.GetCallResponse> {
    const res = await this.watching((q) => this.host.rest.request<T.GetCallResponse>("GET", this.path, undefined, q));
    this.adopt(res);
    return res;
  }

  /** Gets the call, creating it when absent; may ring or notify members. */
  async getOrCreate(options: R.GetOrCreateOptions = {}): Promise<T.GetOrCreateCallResponse> {
    const body = R.getOrCreateBody(options);
    const res = await this.watching((q) => this.host.rest.request<T.GetOrCreateCallResponse>("POST", this.path, body, q));
    this.adopt(res);
    if (res.ring) {
      const members = Object.keys(res.ring.members);
      this.ringingOut({ ring_id: res.ring.ring_id, caller_id: res.ring.caller_id, members, video: options.video ?? true, incoming: false });
    }
    return res;
  }

  /** Changes the call's custom data, schedule or settings (`PATCH`). */
  async update(options: R.UpdateCallOptions): Promise<T.GetCallResponse> {
    const res = await this.host.rest.request<T.GetCallResponse>("PATCH", this.path, options);
    this.adopt(res);
    return res;
  }

  /** Adds, changes or removes members. */
  async updateMembers(change: { update_members?: (string | R.MemberRequest)[]; remove_members?: string[] }): Promise<{ members: T.MemberView[] }> {
    const body = { update_members: change.update_members && R.memberRequests(change.update_members), remove_members: change.remove_members };
    const res = await this.host.rest.request<{ members: T.MemberView[] }>("POST", `${this.path}/members`, body);
    this.state.set({ members: res.members });
    return res;
  }

  /**
   * Joins: `POST {c}/join`, then `Room.connect` with the credentials it
   * returns, publishing camera and microphone as asked (and allowed). If
   * the SFU node dies, the call moves to the node the API names next
   * (`state.mediaUrl` changes; {@link Call.room} is then a new Room). If
   * the node first named cannot take the join (it just died, or is
   * draining), the join asks again and connects where the API now says.
   */
  async join(options: JoinOptions = {}): Promise<T.JoinCallResponse> {
    if (this.lkRoom) throw new OnAirError(0, "already_joined", `already in ${this.cid}: leave first`);
    const data = options.data && { ...options.data, members: options.data.members && R.memberRequests(options.data.members) };
    const body = { create: options.create ?? false, data };
    const res = await this.host.rest.request<T.JoinCallResponse>("POST", `${this.path}/join`, body);
    this.adopt(res);
    const attempt = ++this.joins;
    res.credentials = await connectPlaced(res.credentials, {
      connect: (credentials) => this.enter(credentials, options),
      where: () => this.placement(),
      joining: () => this.joins === attempt,
    });
    if (!this.state.members.some((m) => m.user_id === this.host.userId)) void this.get().catch(() => {});
    return res;
  }

  /** Connects the call's media with `credentials`, watching for the node's death. */
  private async enter(credentials: T.Credentials, options: JoinOptions, tracks: LocalTrack[] = []): Promise<void> {
    const room = newRoom(options);
    this.lkRoom = room;
    this.unwatchRoom = watchParticipants(room, (participants) => this.state.set({ participants }));
    room.on(RoomEvent.Disconnected, () => this.roomGone(room));
    try {
      await connectRoom(room, credentials, options, tracks);
    } catch (e) {
      this.roomGone(room);
      throw e;
    }
    this.state.set({ ringing: "joined", participants: participantsOf(room), mediaUrl: credentials.url });
    this.unwatchFailover = watchFailover(room, credentials.url, () => this.placement(), (to) => this.move(room, to, options));
  }

  /** Where the API places this user's media in the call now (`POST {c}/join`). */
  private async placement(): Promise<T.Credentials> {
    return (await this.host.rest.request<T.JoinCallResponse>("POST", `${this.path}/join`, {})).credentials;
  }

  /** Leaves `from` (its node is gone) for the node of `to`. */
  private async move(from: Room, to: T.Credentials, options: JoinOptions): Promise<void> {
    if (this.lkRoom !== from) return;
    this.detach(); // no "left" in between: the call is still joined
    // The camera and microphone go on into the new Room (as livekit-client
    // republishes them on its own full reconnects): capturing again would
    // blink the camera, and a capture opened while the old one is being
    // stopped may never deliver a frame.
    const tracks = [...from.localParticipant.trackPublications.values()].flatMap((p) => (p.track ? [p.track] : []));
    await Promise.race([from.disconnect(false), new Promise((r) => setTimeout(r, DISCONNECT_WAIT_MS))]);
    await this.enter(to, options, tracks);
  }

  /** Leaves the call's media; with `reject`, also rejects (or, as the caller, cancels) the ring. */
  async leave(options: LeaveOptions = {}): Promise<void> {
    if (options.reject) {
      const caller = this.state.ring !== null && !this.state.ring.incoming;
      await this.reject(options.reason ?? (caller ? "cancel" : "decline")).catch((e: unknown) => {
        if (!(e instanceof OnAirError && e.status === 409)) throw e; // the ring was already over
      });
    }
    this.joins++; // a join still looking for a node stops
    const room = this.lkRoom;
    if (room) await room.disconnect();
    if (room) this.roomGone(room);
    this.state.set({ ringing: "left", ring: null });
  }

  /** Ends the call for everyone. */
  async end(): Promise<T.CallResponse> {
    return this.changed(await this.host.rest.request<T.CallResponse>("POST", `${this.path}/end`, {}));
  }

  /** Leaves backstage: viewers get the hosts' media; may start HLS and recording too. */
  async goLive(options: R.GoLiveOptions = {}): Promise<T.CallResponse> {
    return this.changed(await this.host.rest.request<T.CallResponse>("POST", `${this.path}/go_live`, options));
  }

  /** Goes back to backstage. */
  async stopLive(): Promise<T.CallResponse> {
    return this.changed(await this.host.rest.request<T.CallResponse>("POST", `${this.path}/stop_live`, {}));
  }

  /** Rings members of the call (default: every member not in it now). */
  async ring(options: R.RingOptions = {}): Promise<T.RingView> {
    const ring = await this.host.rest.request<T.RingView>("POST", `${this.path}/ring`, options);
    const members = Object.keys(ring.members);
    this.ringingOut({ ring_id: ring.ring_id, caller_id: ring.caller_id, members, video: options.video ?? true, incoming: false });
    return ring;
  }

  /** Accepts the ring (a callee); then {@link Call.join}. */
  async accept(): Promise<T.RingView> {
    return this.host.rest.request<T.RingView>("POST", `${this.path}/accept`, {});
  }

  /** Rejects the ring (a callee) or cancels it (the caller, with `cancel`). */
  async reject(reason?: R.RejectReason): Promise<T.RingView> {
    const ring = await this.host.rest.request<T.RingView>("POST", `${this.path}/reject`, { reason });
    if (this.state.ringing === "ringing") this.state.set({ ringing: "idle", ring: null });
    return ring;
  }

  /** Starts recording (the composite, or one track with `track_sid`). */
  async startRecording(options: R.RecordingOptions = {}): Promise<{ recording: T.RecordingView }> {
    return this.host.rest.request("POST", `${this.path}/recordings/start`, options);
  }

  /** Stops the recording (or the one of `track_sid`). */
  async stopRecording(options: { track_sid?: string } = {}): Promise<{ recording: T.RecordingView }> {
    return this.host.rest.request("POST", `${this.path}/recordings/stop`, options);
  }

  /** The call's recordings, with download links once complete. */
  async listRecordings(): Promise<T.RecordingView[]> {
    return (await this.host.rest.request<{ recordings: T.RecordingView[] }>("GET", `${this.path}/recordings`)).recordings;
  }

  /** Starts the HLS broadcast; its playlist shows in `egress.hls.playlist_url` once it runs. */
  async startHLS(options: { preset?: string } = {}): Promise<{ hls: T.HlsView }> {
    return this.host.rest.request("POST", `${this.path}/hls/start`, options);
  }

  /** Stops the HLS broadcast. */
  async stopHLS(): Promise<{ hls: T.HlsView }> {
    return this.host.rest.request("POST", `${this.path}/hls/stop`, {});
  }

  /** Pushes the call to an RTMP target (YouTube, Twitch, …). */
  async startRTMPBroadcast(options: R.RTMPBroadcastOptions): Promise<{ rtmp: T.RtmpView }> {
    return this.host.rest.request("POST", `${this.path}/rtmp_broadcasts`, options);
  }

  /** Stops the RTMP push called `name`. */
  async stopRTMPBroadcast(name: string): Promise<{ rtmp: T.RtmpView }> {
    return this.host.rest.request("DELETE", `${this.path}/rtmp_broadcasts/${encodeURIComponent(name)}`);
  }

  /** Removes `userId` from the call's media (and blocks them with `block`). */
  async kickUser(userId: string, options: { block?: boolean } = {}): Promise<T.Done> {
    return this.host.rest.request("POST", `${this.path}/kick_user`, { user_id: userId, block: options.block ?? false });
  }

  /** Mutes users' microphones, cameras or screen shares. */
  async muteUsers(options: R.MuteUsersOptions): Promise<T.Done> {
    return this.host.rest.request("POST", `${this.path}/mute_users`, options);
  }

  /** Blocks `userId`: disconnected, and cannot join again. */
  async blockUser(userId: string): Promise<T.BlockedUsersResponse> {
    return this.host.rest.request("POST", `${this.path}/block_users`, { user_ids: [userId] });
  }

  /** Lifts the block of `userId`. */
  async unblockUser(userId: string): Promise<T.BlockedUsersResponse> {
    return this.host.rest.request("POST", `${this.path}/unblock_users`, { user_ids: [userId] });
  }

  /** Sends a reaction (members hear `call.reaction_new`; the media gets it on topic `onair.reaction`). */
  async sendReaction(reaction: R.Reaction): Promise<T.Done> {
    return this.host.rest.request("POST", `${this.path}/reaction`, reaction);
  }

  /** Sends the app's own event (members hear `custom`; the media gets it on topic `onair.custom`); at most 5 KiB. */
  async sendCustomEvent(custom: Record<string, unknown>): Promise<T.Done> {
    return this.host.rest.request("POST", `${this.path}/event`, { custom });
  }

  /** Runs `request` with `?connection_id=` when the socket is open; once more without it if that connection is gone. */
  private async watching<R>(request: (query: Query) => Promise<R>): Promise<R> {
    const connectionId = this.host.connectionId;
    this.host.follow(this.cid);
    if (connectionId === undefined) return request({});
    try {
      return await request({ connection_id: connectionId });
    } catch (e) {
      if (e instanceof OnAirError && e.status === 404 && e.message.includes("open connection")) return request({});
      throw e;
    }
  }

  /** This user rings others (unless the socket already told more). */
  private ringingOut(info: RingInfo): void {
    if (this.state.ring?.ring_id && !info.ring_id) return;
    this.state.set(this.state.ringing === "joined" ? { ring: info } : { ring: info, ringing: "ringing" });
  }

  private adopt(res: T.GetCallResponse): void {
    this.state.set({ call: res.call, members: res.members, ownCapabilities: res.own_capabilities, backstage: res.call.backstage });
  }

  private changed(res: T.CallResponse): T.CallResponse {
    this.state.set({ call: res.call, backstage: res.call.backstage });
    return res;
  }

  private roomGone(room: Room): void {
    if (this.lkRoom !== room) return;
    this.detach();
    this.state.set({ participants: [], mediaUrl: null, ringing: this.state.ringing === "joined" ? "left" : this.state.ringing });
  }

  /** Stops following the current Room. */
  private detach(): void {
    this.unwatchRoom?.();
    this.unwatchRoom = null;
    this.unwatchFailover?.();
    this.unwatchFailover = null;
    this.lkRoom = null;
  }
}
