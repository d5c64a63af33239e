/**
 * The bodies of call requests, as the API's routes read them
 * (`api/src/routes/`): options in the SDK's shape in, JSON out.
 * @packageDocumentation
 */

/** A member to add to a call. */
export interface MemberRequest {
  /** The user. */
  user_id: string;
  /** Role in the call (default `call_member`; the creator is `host`). */
  role?: string;
  /** App-defined data. */
  custom?: Record<string, unknown>;
}

/** Options of `Call.getOrCreate`. */
export interface GetOrCreateOptions {
  /** Members of a call being created (user ids or {@link MemberRequest}s). */
  members?: (string | MemberRequest)[];
  /** Ring the members named in `members` (all others when none are named). */
  ring?: boolean;
  /** Tell those members without ringing (`call.notification`). */
  notify?: boolean;
  /** A video call, for the ring (default `true`). */
  video?: boolean;
  /** App-defined data of a call being created. */
  custom?: Record<string, unknown>;
  /** Settings over the call type's, for a call being created. */
  settings_override?: Record<string, unknown>;
  /** Scheduled start (RFC 3339), for a call being created. */
  starts_at?: string;
}

/** `members` as the API takes them. */
export function memberRequests(members: (string | MemberRequest)[]): MemberRequest[] {
  return members.map((m) => (typeof m === "string" ? { user_id: m } : m));
}

/** The body of `POST {c}` (get or create). */
export function getOrCreateBody(o: GetOrCreateOptions): Record<string, unknown> {
  const data = {
    members: o.members && memberRequests(o.members),
    custom: o.custom,
    settings_override: o.settings_override,
    starts_at: o.starts_at,
  };
  return { data, ring: o.ring, notify: o.notify, video: o.video };
}

/** Options of `Call.update` (`PATCH {c}`). */
export interface UpdateCallOptions {
  /** Replaces the call's custom data. */
  custom?: Record<string, unknown>;
  /** New scheduled start (RFC 3339). */
  starts_at?: string;
  /** Merged into the call's settings override (needs `update-call-settings`). */
  settings_override?: Record<string, unknown>;
}

/** Options of `Call.goLive`. */
export interface GoLiveOptions {
  /** Start HLS too (needs `start-broadcast-call`). */
  start_hls?: boolean;
  /** Start recording too (needs `start-record-call`). */
  start_recording?: boolean;
}

/** Options of `Call.ring`. */
export interface RingOptions {
  /** Members to ring (default: every member not in the call now). */
  members_ids?: string[];
  /** A video call (default `true`). */
  video?: boolean;
}

/** Why a ring is rejected: `decline` (default), `busy`, `cancel` (the caller) or `timeout`. */
export type RejectReason = "decline" | "busy" | "cancel" | "timeout";

/** Options of `Call.startRecording`. */
export interface RecordingOptions {
  /** `360p`, `720p` or `1080p` (default: the call's setting). */
  preset?: string;
  /** Record this one track as published instead of the composite. */
  track_sid?: string;
}

/** Options of `Call.startRTMPBroadcast`. */
export interface RTMPBroadcastOptions {
  /** Its name in the call (to stop it by). */
  name: string;
  /** `rtmp(s)://host/app`. */
  stream_url: string;
  /** The target's stream key (never echoed back). */
  stream_key: string;
  /** `360p`, `720p` or `1080p`. */
  preset?: string;
}

/** Options of `Call.muteUsers`. */
export interface MuteUsersOptions {
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

/** A reaction (`POST {c}/reaction`). */
export interface Reaction {
  /** What kind (`like`, `raised-hand`, …), 1–64 bytes. */
  type: string;
  /** An emoji code (`:fireworks:`). */
  emoji_code?: string;
  /** App data, at most 1 KiB as JSON. */
  custom?: Record<string, unknown>;
}
