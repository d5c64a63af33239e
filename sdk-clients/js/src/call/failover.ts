/**
 * Moving a call's media off a dead SFU node. livekit-client keeps retrying
 * the node it was given; OnAir's API stops placing anyone on a node it has
 * not heard from for a few seconds. So while a Room reconnects, the call
 * asks the API where its media is now, and moves there as soon as the
 * answer is another node: the other participants of the call, whose node
 * died too, land on the same one.
 * @packageDocumentation
 */
import { RoomEvent, type Room } from "livekit-client";

/** How often a reconnecting call asks the API where its media is. */
export const FAILOVER_POLL_MS = 500;

/**
 * While `room` reconnects, calls `where()` every `everyMs` until it names
 * a URL other than `url`, then `move(it)`; stops when the room is back or
 * the returned function is called.
 */
export function watchFailover<C extends { url: string }>(
  room: Room,
  url: string,
  where: () => Promise<C>,
  move: (to: C) => Promise<void>,
  everyMs = FAILOVER_POLL_MS,
): () => void {
  let timer: ReturnType<typeof setTimeout> | null = null;
  let asking = false; // a question to the API is under way
  let reconnectingNow = false;
  let stopped = false;
  const poll = async () => {
    timer = null;
    asking = true;
    try {
      const to = await where();
      if (reconnectingNow && !stopped && to.url !== url) {
        stopped = true;
        await move(to);
      }
    } catch {
      // The API is unreachable too: ask again.
    } finally {
      asking = false;
    }
    if (reconnectingNow && !stopped) timer = setTimeout(poll, everyMs);
  };
  const reconnecting = () => {
    reconnectingNow = true;
    if (!timer && !asking && !stopped) timer = setTimeout(poll, 0);
  };
  const reconnected = () => {
    reconnectingNow = false;
    if (timer) clearTimeout(timer);
    timer = null;
  };
  room.on(RoomEvent.Reconnecting, reconnecting);
  room.on(RoomEvent.SignalReconnecting, reconnecting);
  room.on(RoomEvent.Reconnected, reconnected);
  return () => {
    stopped = true;
    reconnected();
    room.off(RoomEvent.Reconnecting, reconnecting);
    room.off(RoomEvent.SignalReconnecting, reconnecting);
    room.off(RoomEvent.Reconnected, reconnected);
  };
}
