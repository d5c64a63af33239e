/**
 * Request bodies and answers of the API, as JSON (snake_case, as the API
 * names them). Answers list the fields apps use most; the rest is there
 * too (see `/openapi.json`).
 * @module
 */

/** A JSON object. */
export type JsonObject = Record<string, unknown>;

/** A user to create or replace (`PUT /v1/users`). */
export interface UserRequest {
  /** User id: 1-128 of letters, digits, `-`, `_`, `@`, `.`. */
  id: string;
  /** Display name. */
  name?: string;
  /** Avatar URL. */
  image?: string;
  /** Global role (default `user`). */
  role?: string;
  /** App-defined data. */
  custom?: JsonObject;
}

/** A stored user. */
export interface User extends JsonObject {
  /** Id. */
  id: string;
  /** Display name. */
  name: string | null;
  /** Global role. */
  role: string;
  /** App-defined data. */
  custom: JsonObject;
}

/** A member to add or change. */
export interface MemberRequest {
  /** The user. */
  user_id: string;
  /** Role in the call (default `call_member`). */
  role?: string;
  /** App-defined data. */
  custom?: JsonObject;
}

/** A member of a call. */
export interface Member extends JsonObject {
  /** The user's id. */
  user_id: string;
  /** The stored user. */
  user: User | null;
  /** Role in the call. */
  role: string;
}

/** A call as the API answers it. */
export interface CallView extends JsonObject {
  /** `type:id`. */
  cid: string;
  /** Call type. */
  type: string;
  /** Call id. */
  id: string;
  /** In backstage (only `join-backstage` holders publish). */
  backstage: boolean;
  /** When it ended, if it has. */
  ended_at: string | null;
  /** App-defined data. */
  custom: JsonObject;
  /** Number of members. */
  member_count: number;
  /** Running recording, HLS and RTMP pushes. */
  egress: JsonObject;
}

/** Data of a call being created. */
export interface CallData {
  /** Initial members. */
  members?: MemberRequest[];
  /** Scheduled start (RFC 3339). */
  starts_at?: string;
  /** App-defined data. */
  custom?: JsonObject;
  /** Partial settings on top of the call type's. */
  settings_override?: JsonObject;
}

/** `POST /v1/calls/{type}/{id}` body. */
export interface GetOrCreateRequest {
  /** Used only when the call is created. */
  data?: CallData;
  /** Ring the members (needs a user token: see `asUser`). */
  ring?: boolean;
  /** Notify the members without ringing (needs a user token). */
  notify?: boolean;
  /** A video call, for the ring (default true). */
  video?: boolean;
}

/** `POST /v1/calls/{type}/{id}` answer. */
export interface GetOrCreateResponse extends JsonObject {
  /** The call. */
  call: CallView;
  /** Its members. */
  members: Member[];
  /** Whether this request created it. */
  created: boolean;
  /** What the caller may do in it. */
  own_capabilities: string[];
}

/** `GET` / `PATCH /v1/calls/{type}/{id}` answer. */
export interface GetCallResponse extends JsonObject {
  /** The call. */
  call: CallView;
  /** Its members. */
  members: Member[];
  /** What the caller may do in it. */
  own_capabilities: string[];
}

/** Answer of `go_live`, `stop_live`, `end` and `DELETE`. */
export interface CallResponse extends JsonObject {
  /** The call after the change. */
  call: CallView;
}

/** `PATCH /v1/calls/{type}/{id}` body. */
export interface UpdateCallRequest {
  /** Replaces the call's custom data. */
  custom?: JsonObject;
  /** New scheduled start (RFC 3339). */
  starts_at?: string;
  /** Merged into the call's settings override. */
  settings_override?: JsonObject;
}

/** `POST …/go_live` body. */
export interface GoLiveRequest {
  /** Start recording too. */
  start_recording?: boolean;
  /** Start HLS too. */
  start_hls?: boolean;
}

/** `POST …/join` body. */
export interface JoinRequest {
  /** Create the call if it does not exist. */
  create?: boolean;
  /** Data for the call if this creates it. */
  data?: CallData;
}

/** `POST …/join` answer: how the user's app reaches the SFU. */
export interface JoinResponse extends JsonObject {
  /** The call. */
  call: CallView;
  /** `{url, token, ice_servers}`: pass `url` and `token` to livekit-client's `room.connect`. */
  credentials: { url: string; token: string; ice_servers: JsonObject[] };
  /** The user's role in the call. */
  role: string;
  /** What the user may do. */
  own_capabilities: string[];
  /** Joined ahead of a call still in backstage. */
  waiting: boolean;
}

/** `POST …/members` body. */
export interface UpdateMembersRequest {
  /** Members to add or change. */
  update_members?: MemberRequest[];
  /** User ids to remove. */
  remove_members?: string[];
}

/** `GET` / `POST …/members` answer. */
export interface MembersResponse extends JsonObject {
  /** Oldest first. */
  members: Member[];
}

/** `GET …/sessions` answer. */
export interface SessionsResponse extends JsonObject {
  /** Oldest first. */
  sessions: JsonObject[];
}

/** `GET …/participants` answer. */
export interface ParticipantsResponse extends JsonObject {
  /** Connected now: `{user_id, participant_sid, session_id, joined_at}` each. */
  participants: JsonObject[];
}

/** `PATCH …/participants/{identity}` body; absent fields stay as they are. */
export interface UpdateParticipantRequest {
  /** Display name. */
  name?: string;
  /** Metadata. */
  metadata?: string;
  /** Attributes to set; an empty value removes one. */
  attributes?: Record<string, string>;
  /** Media permissions, as LiveKit's `ParticipantPermission`. */
  permission?: ParticipantPermission;
}

/** Media permissions of a participant, as LiveKit's `ParticipantPermission`; absent fields stay. */
export interface ParticipantPermission {
  /** May publish tracks. */
  can_publish?: boolean;
  /** May receive others' tracks. */
  can_subscribe?: boolean;
  /** May send data packets. */
  can_publish_data?: boolean;
  /** May change its own name, metadata and attributes. */
  can_update_metadata?: boolean;
  /** What it may publish: `camera`, `microphone`, `screen_share`, `screen_share_audio` (empty: all). */
  can_publish_sources?: string[];
}

/** `POST …/user_permissions` body. */
export interface UserPermissionsRequest {
  /** Whose. */
  user_id: string;
  /** Capabilities to give. */
  grant_permissions?: string[];
  /** Capabilities to take away. */
  revoke_permissions?: string[];
}

/** `POST …/reaction` body. */
export interface ReactionRequest {
  /** What kind of reaction (`like`, `raised-hand`…). */
  type: string;
  /** An emoji code (`:fireworks:`). */
  emoji_code?: string;
  /** The app's data (at most 1 KiB as JSON). */
  custom?: JsonObject;
}

/** `POST …/ring` body. */
export interface RingRequest {
  /** Members to ring; absent: every member not in the call now. */
  members_ids?: string[];
  /** A video call (default true). */
  video?: boolean;
}

/** A ring. */
export interface RingView extends JsonObject {
  /** The ring. */
  ring_id: string;
  /** Who rings. */
  caller_id: string;
  /** `ringing`, `accepted` or `ended`. */
  state: string;
  /** Who is rung: `{state, reason}` by user id. */
  members: Record<string, { state: string; reason: string | null }>;
}

/** `POST …/mute_users` body. */
export interface MuteUsersRequest {
  /** Whom to mute. */
  user_ids?: string[];
  /** Everyone instead. */
  mute_all_users?: boolean;
  /** Microphones. */
  audio?: boolean;
  /** Cameras. */
  video?: boolean;
  /** Screen shares. */
  screenshare?: boolean;
}

/** `{ok: true}`. */
export interface Done extends JsonObject {
  /** Always true. */
  ok: boolean;
}

/** `POST …/block_users` / `unblock_users` answer. */
export interface BlockedUsersResponse extends JsonObject {
  /** Blocked user ids, first blocked first. */
  blocked_user_ids: string[];
}

/** `POST …/recordings/start` body. */
export interface StartRecordingRequest {
  /** `360p`, `720p` or `1080p`. */
  preset?: string;
  /** Record only this track (`TR_…`). */
  track_sid?: string;
}

/** A recording. */
export interface Recording extends JsonObject {
  /** Its id. */
  id: string;
  /** `starting`, `active`, `ending`, `complete` or `failed`. */
  state: string;
  /** Signed download link, once there is a file. */
  url: string | null;
}

/** One recording. */
export interface RecordingResponse extends JsonObject {
  /** The recording. */
  recording: Recording;
}

/** The call's recordings. */
export interface RecordingsResponse extends JsonObject {
  /** Oldest first. */
  recordings: Recording[];
}

/** An HLS broadcast. */
export interface HlsResponse extends JsonObject {
  /** The broadcast: `{id, state, error, playlist_url}`. */
  hls: { id: string; state: string; playlist_url: string | null } & JsonObject;
}

/** `POST …/rtmp_broadcasts` body. */
export interface RtmpBroadcastRequest {
  /** The target's name in this call (`[A-Za-z0-9_-]{1,64}`). */
  name: string;
  /** The ingest URL, e.g. `rtmp://a.rtmp.youtube.com/live2`. */
  stream_url: string;
  /** The stream key (never echoed). */
  stream_key: string;
  /** `360p`, `720p` or `1080p`. */
  preset?: string;
}

/** An RTMP push. */
export interface RtmpResponse extends JsonObject {
  /** `{name, id, state, error}`. */
  rtmp: { name: string; id: string; state: string } & JsonObject;
}

/** A call type. */
export interface CallType extends JsonObject {
  /** Its name. */
  name: string;
  /** Role → capabilities. */
  grants: Record<string, string[]>;
  /** Settings. */
  settings: JsonObject;
}

/** `PUT /v1/call-types/{name}` body. */
export interface UpdateCallTypeRequest {
  /** Role → capabilities; given roles' grants are replaced. */
  grants?: Record<string, string[]>;
  /** Partial settings, merged on top. */
  settings?: JsonObject;
}

/** `GET /v1/events` options. */
export interface ListEventsOptions {
  /** Only events after this id (the `next` of the previous page). */
  after?: string;
  /** Only this call's events (`type:id`). */
  callCid?: string;
  /** At most this many (1 to 1000, default 100). */
  limit?: number;
}

/** An event: `{id, type, created_at, call_cid, …fields}`. */
export interface OnAirEvent extends JsonObject {
  /** Its id (a decimal string, increasing). */
  id: string;
  /** `call.created`, `call.live_started`, … */
  type: string;
  /** When (RFC 3339). */
  created_at: string;
  /** The call. */
  call_cid: string;
}

/** A page of events, oldest first. */
export interface EventsPage extends JsonObject {
  /** The events. */
  events: OnAirEvent[];
  /** The `after` of the next page; absent or null when this page was empty. */
  next?: string | null;
}

/** `POST /v1/devices` body. */
export interface DeviceRequest {
  /** The push provider's token for the app on this device. */
  id: string;
  /** `apn` or `firebase`. */
  push_provider: "apn" | "firebase";
  /** Which configured provider, for apps with several. */
  push_provider_name?: string;
  /** An APNs VoIP (PushKit) token. */
  voip_token?: boolean;
}

/** `GET /v1/devices` answer. */
export interface DevicesResponse extends JsonObject {
  /** The user's devices, oldest first. */
  devices: JsonObject[];
}
