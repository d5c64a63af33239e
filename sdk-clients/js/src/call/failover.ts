/**
 * Moving a call's media off a dead SFU node. livekit-client keeps retrying
 * the node it was given; OnAir's API stops placing anyone on a node it has
 * not heard from for a few seconds. So while a Room reconnects, the call
 * asks the API where its media is now, and moves there as soon as the
 * answer is another node: the other participants of the call, whose node
 * died too, land on the same one.
 *
 * A first connect can miss too: the API named a node that died a moment
 * ago (it is listed until it has been silent for 3 s) or began draining
 * (it refuses newcomers). Then the join asks the API again the same way
 * and connects where it now says.
 * @packageDocumentation
 */
import { ConnectionError, ConnectionErrorReason, RoomEvent, type Room } from "livekit-client";

/** How often a reconnecting call asks the API where its media is. */
export const FAILOVER_POLL_MS = 500;

/** How long a join that could not connect asks for another node: past the 3 s after which the API forgets a silent one. */
export const PLACEMENT_RETRY_MS = 6000;

/**
 * Whether connecting failed at that node, so another could take the join:
 * the node is gone, refused the signal connection (draining), timed out
 * or asked the client to leave; livekit-client reports these under several
 * reasons, so the test is what would fail anywhere: a token refused, a
 * join cancelled by the app, media that cannot connect (the client's
 * network, most likely).
 */
export function anotherNodeMayHelp(e: unknown): boolean {
  if (!(e instanceof ConnectionError)) return false;
  const everywhere = [ConnectionErrorReason.NotAllowed, ConnectionErrorReason.Cancelled, ConnectionErrorReason.ServiceNotFound];
  return !everywhere.includes(e.reason) && !e.message.includes("could not establish pc connection");
}

/** What {@link connectPlaced} needs besides the first placement. */
export interface Placing<C> {
  /** Connects the call's media with `credentials`. */
  connect(credentials: C): Promise<void>;
  /** Where the API places the call's media now. */
  where(): Promise<C>;
  /** Whether to go on (the app has not left meanwhile). */
  joining(): boolean;
  /** How long to ask for another node after a failed connect (default {@link PLACEMENT_RETRY_MS}). */
  withinMs?: number;
  /** How often to ask (default {@link FAILOVER_POLL_MS}). */
  everyMs?: number;
}

/**
 * Connects with `first`; when that node cannot take the join
 * ({@link anotherNodeMayHelp}), asks `where()` until it names a node not
 * tried yet and connects there, for at most `withinMs` after each
 * failure. Returns the credentials that connected; otherwise throws the
 * last connect error.
 */
export async function connectPlaced<C extends { url: string }>(first: C, placing: Placing<C>): Promise<C> {
  const tried = new Set<string>();
  let at = first;
  for (;;) {
    try {
      await placing.connect(at);
      return at;
    } catch (e) {
      if (!anotherNodeMayHelp(e) || !placing.joining()) throw e;
      tried.add(at.url);
      const next = await untriedNode(placing, tried);
      if (!next) throw e;
      at = next;
    }
  }
}

/** The first placement `where()` gives that is not in `tried`, or null once `withinMs` passed. */
async function untriedNode<C extends { url: string }>(placing: Placing<C>, tried: Set<string>): Promise<C | null> {
  const deadline = Date.now() + (placing.withinMs ?? PLACEMENT_RETRY_MS);
  const everyMs = placing.everyMs ?? FAILOVER_POLL_MS;
  while (placing.joining()) {
    try {
      const to = await placing.where();
      if (!tried.has(to.url)) return to;
    } catch {
      // The API is unreachable too: ask again.
    }
    if (Date.now() + everyMs > deadline) return null;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return null;
}

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
