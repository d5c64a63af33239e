/**
 * `OnAirClient`: one user's connection to OnAir — the REST API with the
 * user's token, the events socket, and the calls the app works with.
 * @packageDocumentation
 */
import { Call, type CallHost } from "./call/call.js";
import { Emitter, type Listener } from "./emitter.js";
import type { BackoffOptions } from "./events/backoff.js";
import { EventSocket, type WebSocketConstructor } from "./events/socket.js";
import type { ClientEvent, OnAirEvent } from "./events/types.js";
import { Rest, trimBase, type FetchLike } from "./http.js";
import { ringOf } from "./call/ringing.js";
import { TokenManager, type TokenProvider } from "./token.js";

/** Options of {@link OnAirClient}. */
export interface OnAirClientOptions {
  /** The server's base URL (`https://video.example.com`), without `/v1`. */
  baseUrl: string;
  /** A user token from the app's backend; the user is its `sub`. */
  token: string;
  /** Makes a fresh token (from the app's backend) when the current one nears expiry. */
  tokenProvider?: TokenProvider;
  /** The WebSocket constructor for the events socket (default: the global one; in Node, `ws`'s). */
  WebSocket?: WebSocketConstructor;
  /** The `fetch` to use (default: the global one). */
  fetch?: FetchLike;
  /** Reconnect timing of the events socket. */
  reconnect?: BackoffOptions;
  /** Seconds before expiry to ask `tokenProvider` (default 60). */
  refreshBeforeSeconds?: number;
}

/** Most events one catch-up page reads (the API's maximum). */
const CATCH_UP_PAGE = 1000;

/**
 * A user's client. `await client.connect()` opens the events socket,
 * which comes back by itself after drops without losing an event.
 */
export class OnAirClient implements CallHost {
  /** The REST client (for routes the SDK has no method for). */
  readonly rest: Rest;
  /** The server's base URL. */
  readonly baseUrl: string;
  private readonly tokens: TokenManager;
  private readonly socket: EventSocket;
  private readonly emitter = new Emitter<ClientEvent>();
  private readonly calls = new Map<string, Call>();
  private readonly followed = new Set<string>();

  /** A client of `options.baseUrl` for the user of `options.token`. */
  constructor(options: OnAirClientOptions) {
    this.baseUrl = trimBase(options.baseUrl);
    this.tokens = new TokenManager(options.token, options.tokenProvider, { refreshBeforeSeconds: options.refreshBeforeSeconds });
    this.rest = new Rest(this.baseUrl, this.tokens, options.fetch);
    this.socket = new EventSocket({
      baseUrl: this.baseUrl,
      tokens: this.tokens,
      WebSocket: options.WebSocket,
      backoff: options.reconnect,
      onEvent: (event) => this.dispatch(event),
      onStatus: (status) => {
        if (status.type === "connection.ok" && !status.resumed) void this.refollow();
        this.emitter.emit(status.type, status);
      },
      catchUp: (_id, after) => this.catchUp(after),
    });
  }

  /** The user (the token's `sub`). */
  get userId(): string | undefined {
    return this.tokens.userId;
  }

  /** The open events socket's id, while open. */
  get connectionId(): string | undefined {
    return this.socket.connectionId;
  }

  /** The id of the last event the socket delivered (where it resumes). */
  get lastEventId(): string | undefined {
    return this.socket.cursor.after;
  }

  /** Opens the events socket; resolves once the server said `connection.ok`. */
  async connect(): Promise<void> {
    await this.socket.connect();
  }

  /** Closes the events socket (calls stay usable over REST). */
  disconnect(): void {
    this.socket.close();
  }

  /**
   * Calls `fn` with events of `type`: server events (`call.ring`, `custom`, …),
   * `connection.ok`, `connection.changed`, `connection.error`; `*` for all.
   * Returns what removes it.
   */
  on(type: string, fn: Listener<ClientEvent>): () => void {
    return this.emitter.on(type, fn);
  }

  /** Removes a listener. */
  off(type: string, fn: Listener<ClientEvent>): void {
    this.emitter.off(type, fn);
  }

  /** The call `type:id` (also `call("type:id")`); the same object each time. */
  call(type: string, id?: string): Call {
    if (id === undefined) [type, id] = splitCid(type);
    const cid = `${type}:${id}`;
    let call = this.calls.get(cid);
    if (!call) this.calls.set(cid, (call = new Call(this, type, id)));
    return call;
  }

  /** Remembers that the app follows call `cid`: after a reconnect the socket watches it again. */
  follow(cid: string): void {
    this.followed.add(cid);
  }

  private dispatch(event: OnAirEvent): void {
    if (event.type === "call.ring" && ringOf(event, this.userId) && !this.calls.has(event.call_cid)) this.call(event.call_cid);
    this.calls.get(event.call_cid)?.handle(event);
    this.emitter.emit(event.type, event);
  }

  /** Watches the followed calls on the new connection. */
  private async refollow(): Promise<void> {
    await Promise.all([...this.followed].map((cid) => this.call(cid).get().catch(() => undefined)));
  }

  /** The followed calls' events after `after` (the socket replays only member calls). */
  private async catchUp(after: string): Promise<OnAirEvent[]> {
    await this.refollow();
    const out: OnAirEvent[] = [];
    for (const cid of this.followed) {
      try {
        out.push(...(await this.eventsOf(cid, after)));
      } catch (e) {
        console.error(`@onair/client: catching up ${cid} failed:`, (e as Error).message);
      }
    }
    return out;
  }

  /** Every event of call `cid` after `after`, page by page. */
  private async eventsOf(cid: string, after: string): Promise<OnAirEvent[]> {
    const out: OnAirEvent[] = [];
    for (let from = after; ; ) {
      const query = { after: from, call_cid: cid, limit: CATCH_UP_PAGE };
      const page = await this.rest.request<{ events: OnAirEvent[]; next?: string }>("GET", "/events", undefined, query);
      out.push(...page.events);
      if (page.events.length < CATCH_UP_PAGE || !page.next) return out;
      from = page.next;
    }
  }
}

/** `[type, id]` of a call cid `type:id`. */
export function splitCid(cid: string): [string, string] {
  const at = cid.indexOf(":");
  if (at <= 0 || at === cid.length - 1) throw new Error(`not a call cid (type:id): ${cid}`);
  return [cid.slice(0, at), cid.slice(at + 1)];
}
