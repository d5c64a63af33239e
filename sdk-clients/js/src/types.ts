/**
 * The JSON shapes OnAir's REST API answers with (`/v1`), as this SDK reads
 * them. Fields the SDK does not use are still typed where they are stable;
 * anything else is reachable through the index signatures.
 * @packageDocumentation
 */

/** An egress job's state: `starting`, `active`, `ending`, `complete` or `failed`. */
export type EgressState = "starting" | "active" | "ending" | "complete" | "failed";

/** A user as the API shows it. */
export interface UserView {
  /** User id. */
  id: string;
  /** Display name. */
  name: string | null;
  /** Avatar URL. */
  image: string | null;
  /** Global role. */
  role: string;
  /** App-defined data. */
  custom: Record<string, unknown>;
  /** First seen (RFC 3339). */
  created_at: string;
  /** Last change (RFC 3339). */
  updated_at: string;
}

/** A member of a call. */
export interface MemberView {
  /** The member's user id. */
  user_id: string;
  /** The user, when known. */
  user: UserView | null;
  /** Role in this call (`host`, `call_member`, …). */
  role: string;
  /** App-defined data. */
  custom: Record<string, unknown>;
  /** Added (RFC 3339). */
  created_at: string;
  /** Last change (RFC 3339). */
  updated_at: string;
}

/** A running HLS broadcast. */
export interface HlsView {
  /** The job id. */
  id: string;
  /** Where the job is. */
  state: EgressState;
  /** Why it failed. */
  error: string | null;
  /** The live playlist (a signed link), once the broadcast has one. */
  playlist_url: string | null;
}

/** An RTMP push. */
export interface RtmpView {
  /** Its name in the call. */
  name: string;
  /** The job id. */
  id: string;
  /** Where the job is. */
  state: EgressState;
  /** Why it failed. */
  error: string | null;
}

/** What leaves a call right now. */
export interface EgressSummary {
  /** The running recording, if any. */
  recording: { id: string; state: EgressState } | null;
  /** The running HLS broadcast, if any. */
  hls: HlsView | null;
  /** Running RTMP pushes. */
  rtmps: RtmpView[];
}

/** One live occurrence of a call. */
export interface SessionView {
  /** Session id. */
  id: string;
  /** First join (RFC 3339). */
  started_at: string;
  /** When it ended. */
  ended_at: string | null;
  /** Connected to the call's media now. */
  participants_count: number;
  /** Who accepted the latest ring, and when. */
  accepted_by: Record<string, string>;
  /** Who rejected it, and when. */
  rejected_by: Record<string, string>;
  /** Who missed it, and when. */
  missed_by: Record<string, string>;
  [key: string]: unknown;
}

/** A call as the API shows it. */
export interface CallView {
  /** `type:id`. */
  cid: string;
  /** Call type. */
  type: string;
  /** Call id. */
  id: string;
  /** Who created it (absent when a server token did). */
  created_by: string | null;
  /** Creation time (RFC 3339). */
  created_at: string;
  /** Last change (RFC 3339). */
  updated_at: string;
  /** Scheduled start. */
  starts_at: string | null;
  /** When it ended. */
  ended_at: string | null;
  /** In backstage: only `join-backstage` holders join and publish. */
  backstage: boolean;
  /** App-defined data. */
  custom: Record<string, unknown>;
  /** Effective settings (the call type's with the call's override). */
  settings: Record<string, unknown>;
  /** The current or last session. */
  session: SessionView | null;
  /** Number of members. */
  member_count: number;
  /** Egress running for the call. */
  egress: EgressSummary;
  /** Where media from outside (OBS, WHIP) enters the call. */
  ingress: { rtmp: { address: string } | null; whip: { url: string } | null };
}

/** Answer of `GET`/`PATCH /v1/calls/{type}/{id}`. */
export interface GetCallResponse {
  /** The call. */
  call: CallView;
  /** Its members (empty for outsiders of a private call). */
  members: MemberView[];
  /** What the caller may do in it. */
  own_capabilities: string[];
}

/** Answer of `POST /v1/calls/{type}/{id}` (get or create). */
export interface GetOrCreateCallResponse extends GetCallResponse {
  /** Whether this request created the call. */
  created: boolean;
  /** The ring this request started (`ring: true`). */
  ring?: RingView;
}

/** Answer of `go_live`, `stop_live` and `end`. */
export interface CallResponse {
  /** The call after the change. */
  call: CallView;
}

/** A STUN/TURN server as OnAir hands it out. */
export interface IceServerView {
  /** `stun:` / `turn:` URLs. */
  urls: string[];
  /** TURN user name. */
  username?: string;
  /** TURN credential. */
  password?: string;
}

/** How to reach the SFU. */
export interface Credentials {
  /** Signal URL for `Room.connect`. */
  url: string;
  /** Join token for `Room.connect`. */
  token: string;
  /** STUN/TURN servers. */
  ice_servers: IceServerView[];
}

/** Answer of `POST /v1/calls/{type}/{id}/join`. */
export interface JoinCallResponse extends GetCallResponse {
  /** How to connect to the call's media. */
  credentials: Credentials;
  /** The caller's role in the call. */
  role: string;
  /** Joined ahead of a call still in backstage: no host media until it goes live. */
  waiting: boolean;
}

/** A ring as the API shows it. */
export interface RingView {
  /** The ring. */
  ring_id: string;
  /** Who rings. */
  caller_id: string;
  /** `ringing`, `accepted` or `ended`. */
  state: "ringing" | "accepted" | "ended";
  /** Who is rung, with where each is. */
  members: Record<string, { state: "ringing" | "accepted" | "rejected"; reason: string | null }>;
}

/** A recording. */
export interface RecordingView {
  /** The job id. */
  id: string;
  /** `composite` or `track`. */
  mode: string;
  /** The recorded track (track recordings). */
  track_sid: string | null;
  /** Where the job is. */
  state: EgressState;
  /** Why it failed. */
  error: string | null;
  /** The file's name. */
  filename: string | null;
  /** A signed download link, once complete. */
  url: string | null;
  /** Start (RFC 3339). */
  start_time: string | null;
  /** End (RFC 3339). */
  end_time: string | null;
  /** Seconds recorded. */
  duration: number;
  /** Bytes written. */
  size: number;
  [key: string]: unknown;
}

/** Blocked users of a call. */
export interface BlockedUsersResponse {
  /** Blocked user ids, first blocked first. */
  blocked_user_ids: string[];
}

/** Empty success answer. */
export interface Done {
  /** Always `true`. */
  ok: boolean;
}
