/**
 * Where the events socket is in the event log, and which events were
 * already handed to the app: a resumed connection replays from the
 * cursor, and an event that arrives twice (replay, catch-up) is dropped.
 * @packageDocumentation
 */
import type { OnAirEvent } from "./types.js";

/** How many delivered ids are remembered for dropping repeats. */
const REMEMBERED = 4096;

/** The socket's position in the event log and the ids already delivered. */
export class EventCursor {
  private last: string | undefined;
  private readonly seen = new Set<string>();
  private readonly order: string[] = [];

  /** The id to resume after (`?after=`): the last one the socket delivered, or the server's `last_event_id`. */
  get after(): string | undefined {
    return this.last;
  }

  /** Adopts the server's `last_event_id` when nothing was seen yet (a first connection). */
  start(lastEventId: string): void {
    if (this.last === undefined) this.last = lastEventId;
  }

  /**
   * Records `event` as received on the socket; returns whether it is new
   * (to deliver). The cursor only moves forward.
   */
  fromSocket(event: OnAirEvent): boolean {
    if (this.last === undefined || compareIds(event.id, this.last) > 0) this.last = event.id;
    return this.remember(event.id);
  }

  /** Records `event` as fetched some other way (a catch-up read); returns whether it is new. The cursor does not move. */
  fromElsewhere(event: OnAirEvent): boolean {
    return this.remember(event.id);
  }

  private remember(id: string): boolean {
    if (this.seen.has(id)) return false;
    this.seen.add(id);
    this.order.push(id);
    if (this.order.length > REMEMBERED) this.seen.delete(this.order.shift()!);
    return true;
  }
}

/** Orders two event ids (decimal strings of any length): negative, zero or positive. */
export function compareIds(a: string, b: string): number {
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** `events` in log order. */
export function sortEvents<T extends { id: string }>(events: T[]): T[] {
  return [...events].sort((x, y) => compareIds(x.id, y.id));
}
