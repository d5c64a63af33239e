/**
 * The ringing state of one call for one user, as a pure function of the
 * events the user hears: `idle` (nothing going on), `ringing` (a ring to
 * or from the user is on), `joined` (in the call's media), `left` (was
 * in it and left, or it ended).
 * @packageDocumentation
 */
import type { OnAirEvent } from "../events/types.js";

/** Where the user is with a call: `idle | ringing | joined | left`. */
export type RingingState = "idle" | "ringing" | "joined" | "left";

/** The ring on a call, as the user heard of it. */
export interface RingInfo {
  /** The ring's id (empty after `getOrCreate({ ring: true })` until the `call.ring` event names it). */
  ring_id: string;
  /** Who rings. */
  caller_id: string;
  /** Everyone rung. */
  members: string[];
  /** A video call. */
  video: boolean;
  /** Whether the user is rung (`true`) or is the one ringing (`false`). */
  incoming: boolean;
}

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : []);

/** The ring `event` starts for `me`, if it is a `call.ring` that concerns `me`. */
export function ringOf(event: OnAirEvent, me: string | undefined): RingInfo | null {
  if (event.type !== "call.ring" || me === undefined) return null;
  const caller = String(event.user_id);
  const incoming = strings(event.ringing).includes(me);
  if (!incoming && caller !== me) return null;
  return { ring_id: String(event.ring_id), caller_id: caller, members: strings(event.members), video: event.video !== false, incoming };
}

/** The ringing state after `event`, for user `me`, from `current`. */
export function ringingAfter(current: RingingState, event: OnAirEvent, me: string | undefined): RingingState {
  switch (event.type) {
    case "call.ring":
      return current !== "joined" && ringOf(event, me) ? "ringing" : current;
    case "call.accepted":
      // Accepted here or on another device: this phone stops ringing.
      return current === "ringing" && me !== undefined && strings(event.stop_ringing).includes(me) ? "idle" : current;
    case "call.rejected": {
      const over = event.ring_ended === true || (me !== undefined && strings(event.stop_ringing).includes(me));
      return current === "ringing" && over ? "idle" : current;
    }
    case "call.missed":
      return current === "ringing" && me !== undefined && strings(event.members).includes(me) ? "idle" : current;
    case "call.ended":
      return current === "joined" ? "left" : current === "ringing" ? "idle" : current;
    default:
      return current;
  }
}
