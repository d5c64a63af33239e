/**
 * What a server event changes in a {@link CallState}: ringing, the live
 * flag, the call's end, custom data, members, running recordings and
 * broadcasts (HLS, RTMP pushes by name).
 * @packageDocumentation
 */
import type { OnAirEvent } from "../events/types.js";
import type { CallView, MemberView } from "../types.js";
import { ringingAfter, ringOf } from "./ringing.js";
import type { CallState, CallStatePatch } from "./state.js";

/** The changes `event` makes to `state`, for user `me`. */
export function patchFor(state: CallState, event: OnAirEvent, me: string | undefined): CallStatePatch {
  const patch: CallStatePatch = {};
  const ringing = ringingAfter(state.ringing, event, me);
  if (ringing !== state.ringing) patch.ringing = ringing;
  const ring = ringOf(event, me);
  if (ring) patch.ring = ring;
  else if (ringing === "idle" && state.ring) patch.ring = null;
  const call = state.call && callAfter(state.call, event);
  if (call && call !== state.call) patch.call = call;
  if (event.type === "call.live_started") patch.backstage = false;
  if (event.type === "call.live_stopped") patch.backstage = true;
  const members = membersAfter(state.members, event);
  if (members !== state.members) patch.members = members;
  return patch;
}

/** `call` after `event` (the same object when the event changes nothing in it). */
export function callAfter(call: CallView, event: OnAirEvent): CallView {
  const egress = call.egress;
  switch (event.type) {
    case "call.live_started":
      return { ...call, backstage: false };
    case "call.live_stopped":
      return { ...call, backstage: true };
    case "call.ended":
      return { ...call, ended_at: event.created_at };
    case "call.updated":
      return { ...call, custom: (event.custom as Record<string, unknown>) ?? call.custom };
    case "call.hls_broadcasting_started": {
      const hls = { id: String(event.egress_id), state: "active" as const, error: null, playlist_url: (event.playlist_url as string) ?? null };
      return { ...call, egress: { ...egress, hls } };
    }
    case "call.hls_broadcasting_stopped":
    case "call.hls_broadcasting_failed":
      return { ...call, egress: { ...egress, hls: null } };
    case "call.rtmp_broadcast_started":
    case "call.rtmp_broadcast_stopped":
    case "call.rtmp_broadcast_failed": {
      // RTMP pushes are known by name: a start adds (or replaces) one, a stop or failure removes it.
      const name = typeof event.name === "string" ? event.name : null;
      if (name === null) return call;
      const others = egress.rtmps.filter((r) => r.name !== name);
      if (event.type !== "call.rtmp_broadcast_started") return others.length === egress.rtmps.length ? call : { ...call, egress: { ...egress, rtmps: others } };
      const rtmp = { name, id: String(event.egress_id), state: "active" as const, error: null };
      return { ...call, egress: { ...egress, rtmps: [...others, rtmp] } };
    }
    case "call.recording_started":
      return { ...call, egress: { ...egress, recording: { id: String(event.egress_id), state: "active" } } };
    case "call.recording_stopped":
    case "call.recording_failed":
      return { ...call, egress: { ...egress, recording: null } };
    default:
      return call;
  }
}

/** `members` after `event` (the same array when it changes nothing). */
export function membersAfter(members: MemberView[], event: OnAirEvent): MemberView[] {
  const userId = event.user_id;
  if (typeof userId !== "string") return members;
  switch (event.type) {
    case "call.member_added":
    case "call.member_updated": {
      const old = members.find((m) => m.user_id === userId);
      const role = typeof event.role === "string" ? event.role : old?.role ?? "call_member";
      const custom = (event.custom as Record<string, unknown>) ?? old?.custom ?? {};
      const member: MemberView = old
        ? { ...old, role, custom, updated_at: event.created_at }
        : { user_id: userId, user: null, role, custom, created_at: event.created_at, updated_at: event.created_at };
      return old ? members.map((m) => (m === old ? member : m)) : [...members, member];
    }
    case "call.member_removed":
      return members.some((m) => m.user_id === userId) ? members.filter((m) => m.user_id !== userId) : members;
    default:
      return members;
  }
}
