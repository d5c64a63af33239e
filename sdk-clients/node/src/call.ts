/**
 * One call (`/v1/calls/{type}/{id}/…`): every route of a call, one method each.
 * @module
 */
import type { Transport } from "./transport.js";
import type { RouteName } from "./routes.js";
import type {
  BlockedUsersResponse,
  CallResponse,
  Done,
  GetCallResponse,
  GetOrCreateRequest,
  GetOrCreateResponse,
  GoLiveRequest,
  HlsResponse,
  JoinRequest,
  JoinResponse,
  JsonObject,
  MembersResponse,
  MuteUsersRequest,
  ParticipantsResponse,
  ReactionRequest,
  RecordingResponse,
  RecordingsResponse,
  RingRequest,
  RingView,
  RtmpBroadcastRequest,
  RtmpResponse,
  SessionsResponse,
  StartRecordingRequest,
  UpdateCallRequest,
  UpdateMembersRequest,
  UpdateParticipantRequest,
  UserPermissionsRequest,
} from "./types.js";

/**
 * A call, named by its type and id. Methods marked "user token" are
 * refused (403 `user_token_required`) with a server token: call them on a
 * call from {@link OnAirServer.asUser}.
 */
export class Call {
  /** Call type (`default`, `livestream`, …). */
  readonly type: string;
  /** Call id. */
  readonly id: string;
  readonly #transport: Transport;

  /** The call `type:id`, reached through `transport`. */
  constructor(transport: Transport, type: string, id: string) {
    this.#transport = transport;
    this.type = type;
    this.id = id;
  }

  /** `type:id`. */
  get cid(): string {
    return `${this.type}:${this.id}`;
  }

  #send<T>(name: RouteName, body?: unknown, extra: Record<string, string> = {}): Promise<T> {
    return this.#transport.request<T>(name, { params: { type: this.type, id: this.id, ...extra }, body });
  }

  /** Gets the call, creating it (with `data`) when absent; `created` says which. */
  getOrCreate(body: GetOrCreateRequest = {}): Promise<GetOrCreateResponse> {
    return this.#send("getOrCreateCall", body);
  }

  /** Reads the call with its members. */
  get(): Promise<GetCallResponse> {
    return this.#send("getCall");
  }

  /** Changes the call's custom data, schedule or settings override. */
  update(body: UpdateCallRequest): Promise<GetCallResponse> {
    return this.#send("updateCall", body);
  }

  /** Deletes the call with its members and sessions. */
  delete(): Promise<CallResponse> {
    return this.#send("deleteCall");
  }

  /** Leaves backstage (optionally starting recording and HLS). */
  goLive(body: GoLiveRequest = {}): Promise<CallResponse> {
    return this.#send("goLive", body);
  }

  /** Goes back to backstage. */
  stopLive(): Promise<CallResponse> {
    return this.#send("stopLive");
  }

  /** Ends the call: everyone is disconnected. */
  end(): Promise<CallResponse> {
    return this.#send("endCall");
  }

  /** Joins the call (user token): the SFU URL, a join token and ICE servers for the user's app. */
  join(body: JoinRequest = {}): Promise<JoinResponse> {
    return this.#send("joinCall", body);
  }

  /** Adds, changes (`update_members`) or removes (`remove_members`) members. */
  updateMembers(body: UpdateMembersRequest): Promise<MembersResponse> {
    return this.#send("updateMembers", body);
  }

  /** Lists the members, oldest first. */
  listMembers(): Promise<MembersResponse> {
    return this.#send("listMembers");
  }

  /** Lists the call's sessions, oldest first. */
  listSessions(): Promise<SessionsResponse> {
    return this.#send("listSessions");
  }

  /** Lists who is connected to the call's media now. */
  listParticipants(): Promise<ParticipantsResponse> {
    return this.#send("listParticipants");
  }

  /** Changes a connected participant's name, metadata, attributes or media permissions. */
  updateParticipant(identity: string, body: UpdateParticipantRequest): Promise<Done> {
    return this.#send("updateParticipant", body, { identity });
  }

  /** Asks the hosts for capabilities (user token): `send-audio`, `send-video`, `screenshare`. */
  requestPermission(permissions: string[]): Promise<Done> {
    return this.#send("requestPermission", { permissions });
  }

  /** Grants or revokes capabilities of one user in this call. */
  updateUserPermissions(body: UserPermissionsRequest): Promise<Done> {
    return this.#send("updateUserPermissions", body);
  }

  /** Sends a custom event (`custom`, at most 5 KiB as JSON) to the call. */
  sendEvent(custom: JsonObject): Promise<Done> {
    return this.#send("sendEvent", { custom });
  }

  /** Sends a reaction to the call. */
  sendReaction(body: ReactionRequest): Promise<Done> {
    return this.#send("sendReaction", body);
  }

  /** Rings members (user token: rings come from a member). */
  ring(body: RingRequest = {}): Promise<RingView> {
    return this.#send("ring", body);
  }

  /** Accepts the call's ring (user token: a callee). */
  accept(): Promise<RingView> {
    return this.#send("accept");
  }

  /** Rejects the ring, or cancels it as the caller (user token); `reason`: `decline`, `busy`, `cancel`, `timeout`. */
  reject(reason?: string): Promise<RingView> {
    return this.#send("reject", reason === undefined ? {} : { reason });
  }

  /** Disconnects a user (they may rejoin unless `block`). */
  kickUser(userId: string, options: { block?: boolean } = {}): Promise<Done> {
    return this.#send("kickUser", { user_id: userId, block: options.block ?? false });
  }

  /** Mutes users' microphones, cameras or screen shares. */
  muteUsers(body: MuteUsersRequest): Promise<Done> {
    return this.#send("muteUsers", body);
  }

  /** Blocks users: they are disconnected and cannot join again. */
  blockUsers(userIds: string[]): Promise<BlockedUsersResponse> {
    return this.#send("blockUsers", { user_ids: userIds });
  }

  /** Lifts blocks. */
  unblockUsers(userIds: string[]): Promise<BlockedUsersResponse> {
    return this.#send("unblockUsers", { user_ids: userIds });
  }

  /** Starts recording the call (or one track). */
  startRecording(body: StartRecordingRequest = {}): Promise<RecordingResponse> {
    return this.#send("startRecording", body);
  }

  /** Stops the running recording (or one track's). */
  stopRecording(body: { track_sid?: string } = {}): Promise<RecordingResponse> {
    return this.#send("stopRecording", body);
  }

  /** Lists the call's recordings with download links. */
  listRecordings(): Promise<RecordingsResponse> {
    return this.#send("listRecordings");
  }

  /** Starts the HLS broadcast; its playlist is the call's `egress.hls.playlist_url`. */
  startHLS(body: { preset?: string } = {}): Promise<HlsResponse> {
    return this.#send("startHLS", body);
  }

  /** Stops the HLS broadcast. */
  stopHLS(): Promise<HlsResponse> {
    return this.#send("stopHLS");
  }

  /** Starts pushing the call to an RTMP target. */
  startRTMPBroadcast(body: RtmpBroadcastRequest): Promise<RtmpResponse> {
    return this.#send("startRTMPBroadcast", body);
  }

  /** Stops the RTMP push named `name`. */
  stopRTMPBroadcast(name: string): Promise<RtmpResponse> {
    return this.#send("stopRTMPBroadcast", undefined, { name });
  }
}
