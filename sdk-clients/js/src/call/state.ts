/**
 * A call's state as the app sees it: the call, its members, who is in its
 * media with which tracks, the ringing state and the backstage/live flag,
 * with change events.
 * @packageDocumentation
 */
import { Emitter } from "../emitter.js";
import type { CallView, MemberView } from "../types.js";
import type { RingInfo, RingingState } from "./ringing.js";

/** One track of a participant. */
export interface TrackState {
  /** The track's id in the SFU (`TR_…`). */
  sid: string;
  /** `audio`, `video` or `unknown`. */
  kind: string;
  /** `camera`, `microphone`, `screen_share`, `screen_share_audio` or `unknown`. */
  source: string;
  /** Muted by its publisher. */
  muted: boolean;
  /** Received here (remote tracks); `true` for the local participant's own. */
  subscribed: boolean;
  /** Its codec as LiveKit names it (`video/VP8`, `audio/opus`), once known. */
  mimeType?: string;
}

/** A participant in the call's media. */
export interface ParticipantState {
  /** The user id (`user:ingest` for an OBS/WHIP stream). */
  identity: string;
  /** The SFU's id of this connection (`PA_…`). */
  sid: string;
  /** Display name. */
  name?: string;
  /** This client. */
  isLocal: boolean;
  /** Speaking now. */
  isSpeaking: boolean;
  /** Published tracks. */
  tracks: TrackState[];
}

/** A field of {@link CallState} whose changes are announced. */
export type CallStateField = "call" | "members" | "ownCapabilities" | "participants" | "ringing" | "ring" | "backstage" | "mediaUrl";

/** What listeners of {@link CallState} receive. */
export interface CallStateChange {
  /** The state after the change. */
  state: CallState;
  /** The fields that changed. */
  changed: CallStateField[];
}

/** The fields of {@link CallState} that {@link CallState.set} changes. */
export type CallStatePatch = Partial<Pick<CallState, CallStateField>>;

/** The state of one call; listen with `on("change", …)` or `on(field, …)`. */
export class CallState {
  /** The call as last read or heard; `null` before the first read. */
  call: CallView | null = null;
  /** Its members (empty for outsiders of a private call). */
  members: MemberView[] = [];
  /** What this user may do in it. */
  ownCapabilities: string[] = [];
  /** Who is in its media, from the LiveKit room (empty when not joined). */
  participants: ParticipantState[] = [];
  /** `idle | ringing | joined | left`. */
  ringing: RingingState = "idle";
  /** The ring on the call that concerns this user, while it rings. */
  ring: RingInfo | null = null;
  /** In backstage (only hosts see and are seen); `false` once live. */
  backstage = false;
  /**
   * The SFU node the call's media is on (`null` when not joined). It
   * changes when the media moved off a dead node; `call.room` is then a
   * new LiveKit Room.
   */
  mediaUrl: string | null = null;
  private readonly emitter = new Emitter<CallStateChange>();

  /** Whether the call is live: read, out of backstage, not ended. */
  get live(): boolean {
    return this.call !== null && !this.backstage && !this.call.ended_at;
  }

  /** Calls `fn` on every change (`"change"`) or on changes of one field; returns what removes it. */
  on(type: "change" | CallStateField, fn: (change: CallStateChange) => void): () => void {
    return this.emitter.on(type, fn);
  }

  /** Removes a listener. */
  off(type: "change" | CallStateField, fn: (change: CallStateChange) => void): void {
    this.emitter.off(type, fn);
  }

  /** Applies `patch` and announces the fields whose value changed (the SDK calls this; apps read). */
  set(patch: CallStatePatch): void {
    const changed: CallStateField[] = [];
    for (const [key, value] of Object.entries(patch) as [CallStateField, unknown][]) {
      if (value === undefined || (this as Record<string, unknown>)[key] === value) continue;
      (this as Record<string, unknown>)[key] = value;
      changed.push(key);
    }
    if (changed.length === 0) return;
    const change = { state: this, changed };
    for (const field of changed) this.emitter.emit(field, change);
    this.emitter.emit("change", change);
  }
}
