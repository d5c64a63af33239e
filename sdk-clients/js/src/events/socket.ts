/**
 * The events socket (`/v1/connect`): authenticates with the first message
 * `{token}` (browsers cannot set headers on a WebSocket), keeps itself
 * alive, and when it drops comes back with `?after=` the last event it
 * delivered, after an exponential backoff, so no event is lost. Events
 * read another way while it comes back (the catch-up of watched calls)
 * are merged in log order and repeats are dropped.
 * @packageDocumentation
 */
import { OnAirError } from "../errors.js";
import { urlOf } from "../http.js";
import type { TokenManager } from "../token.js";
import { backoffDelay, type BackoffOptions } from "./backoff.js";
import { compareIds, EventCursor } from "./cursor.js";
import type { ConnectionChangedEvent, ConnectionErrorEvent, ConnectionOkEvent, OnAirEvent } from "./types.js";

/** The part of the WebSocket API the SDK uses (the browser's, or `ws` in Node). */
export interface WebSocketLike {
  /** Sends a text frame. */
  send(data: string): void;
  /** Closes the socket. */
  close(code?: number, reason?: string): void;
  /** Called when the socket opens. */
  onopen: ((event: unknown) => void) | null;
  /** Called with each message; `data` is a string (or a Buffer in Node). */
  onmessage: ((event: { data: unknown }) => void) | null;
  /** Called when the socket closes, however it closed. */
  onclose: ((event: unknown) => void) | null;
  /** Called on errors (a close follows). */
  onerror: ((event: unknown) => void) | null;
}

/** A WebSocket constructor: `globalThis.WebSocket` in browsers, `ws`'s in Node. */
export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** What the socket tells its owner about itself. */
export type SocketStatus = ConnectionOkEvent | ConnectionChangedEvent | ConnectionErrorEvent;

/** Options of an {@link EventSocket}. */
export interface EventSocketOptions {
  /** The server's base URL (`http(s)://host[:port]`). */
  baseUrl: string;
  /** Where the token comes from. */
  tokens: TokenManager;
  /** The WebSocket constructor (default: the global one). */
  WebSocket?: WebSocketConstructor;
  /** Reconnect timing. */
  backoff?: BackoffOptions;
  /** How often to tell the server we are here, in ms (default 25 000; it closes after 60 s of silence). */
  pingIntervalMs?: number;
  /** With nothing heard this long (ms), the connection is taken for dead (default 70 000; the server speaks every 25 s). */
  silenceTimeoutMs?: number;
  /** Receives each event once, in log order. */
  onEvent: (event: OnAirEvent) => void;
  /** Receives the socket's own news. */
  onStatus: (status: SocketStatus) => void;
  /** Called on each resumed connection: events the socket itself will not replay (watched calls), after `after`. */
  catchUp?: (connectionId: string, after: string) => Promise<OnAirEvent[]>;
}

/** Refusals a fresh token cures. */
const TOKEN_CODES = new Set(["expired"]);
/** Refusals worth trying again later as they are. */
const TRANSIENT_CODES = new Set(["too_many_connections", "auth_timeout"]);

/** One app's events socket, reconnecting by itself until {@link EventSocket.close}. */
export class EventSocket {
  /** Where the socket is in the event log. */
  readonly cursor = new EventCursor();
  private ws: WebSocketLike | null = null;
  private connId: string | undefined;
  private attempt = 0;
  private closed = true;
  private everConnected = false;
  private timers: ReturnType<typeof setTimeout>[] = [];
  private pending = 0;
  private buffer: { event: OnAirEvent; socket: boolean }[] = [];
  private needFresh = false;
  private first: { resolve: (ok: ConnectionOkEvent) => void; reject: (e: Error) => void } | null = null;
  private readonly WS: WebSocketConstructor | undefined;

  /** A socket for `options.baseUrl`; nothing happens before {@link EventSocket.connect}. */
  constructor(private readonly options: EventSocketOptions) {
    this.WS = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  }

  /** The open connection's id (for `?connection_id=`), while open. */
  get connectionId(): string | undefined {
    return this.connId;
  }

  /** Opens the socket; resolves on the first `connection.ok`, rejects if the first attempt is refused or fails. */
  connect(): Promise<ConnectionOkEvent> {
    if (!this.WS) return Promise.reject(new Error("no WebSocket: pass one in the options (in Node: the `ws` package)"));
    if (!this.closed) return Promise.reject(new Error("already connected"));
    this.closed = false;
    this.everConnected = false;
    return new Promise((resolve, reject) => {
      this.first = { resolve, reject };
      void this.open();
    });
  }

  /** Closes the socket for good (until the next {@link EventSocket.connect}). */
  close(): void {
    this.closed = true;
    this.stopTimers();
    const ws = this.ws;
    this.ws = null;
    this.connId = undefined;
    if (ws) {
      ws.onclose = ws.onmessage = ws.onerror = ws.onopen = null;
      ws.close(1000, "client disconnect");
      this.options.onStatus({ type: "connection.changed", online: false });
    }
    this.fail(new Error("disconnected"));
  }

  private async open(): Promise<void> {
    let token: string;
    try {
      const tokens = this.options.tokens;
      token = this.needFresh ? await tokens.refresh() : await tokens.get();
      this.needFresh = false;
    } catch (e) {
      return this.dropped(`tokenProvider failed: ${(e as Error).message}`);
    }
    if (this.closed) return;
    const after = this.cursor.after;
    const url = urlOf(this.options.baseUrl, "/v1/connect", { after }).replace(/^http/, "ws");
    const ws = new this.WS!(url);
    this.ws = ws;
    let heard = Date.now();
    ws.onopen = () => ws.send(JSON.stringify({ token }));
    ws.onmessage = (m) => {
      heard = Date.now();
      if (this.ws === ws) this.message(ws, typeof m.data === "string" ? m.data : String(m.data), after !== undefined);
    };
    ws.onerror = () => {};
    ws.onclose = () => {
      if (this.ws === ws) this.dropped("the connection closed");
    };
    this.stopTimers();
    const ping = this.options.pingIntervalMs ?? 25_000;
    const silence = this.options.silenceTimeoutMs ?? 70_000;
    const hello = JSON.stringify({ type: "health.check" });
    this.timers.push(setInterval(() => {
      try {
        ws.send(hello);
      } catch {
        // Not open yet, or closing: the watchdog sees to it.
      }
    }, ping));
    this.timers.push(setInterval(() => {
      if (Date.now() - heard > silence && this.ws === ws) {
        ws.onclose = null;
        ws.close();
        this.dropped("nothing heard from the server");
      }
    }, Math.min(ping, 5_000)));
  }

  private message(ws: WebSocketLike, text: string, resumed: boolean): void {
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return;
    }
    if (msg.type === "connection.ok") return this.opened(msg, resumed);
    if (msg.type === "connection.error") return this.refused(ws, msg.error as { code: string; message: string });
    if (msg.type === "health.check" || typeof msg.id !== "string") return;
    const event = msg as OnAirEvent;
    if (!this.cursor.fromSocket(event)) return;
    if (this.pending > 0) this.buffer.push({ event, socket: true });
    else this.options.onEvent(event);
  }

  private opened(msg: Record<string, unknown>, resumed: boolean): void {
    const ok: ConnectionOkEvent = {
      type: "connection.ok",
      connection_id: String(msg.connection_id),
      user_id: (msg.user_id as string | null) ?? null,
      last_event_id: String(msg.last_event_id),
      resumed,
    };
    const after = this.cursor.after;
    this.cursor.start(ok.last_event_id);
    this.connId = ok.connection_id;
    this.attempt = 0;
    this.everConnected = true;
    if (resumed && after !== undefined && this.options.catchUp) this.catchUp(ok.connection_id, after);
    this.options.onStatus({ type: "connection.changed", online: true });
    this.options.onStatus(ok);
    if (this.first) {
      this.first.resolve(ok);
      this.first = null;
    }
  }

  /** Holds socket events back while `catchUp` reads, then delivers both in log order. */
  private catchUp(connectionId: string, after: string): void {
    this.pending++;
    this.options.catchUp!(connectionId, after)
      .then((events) => this.buffer.push(...events.map((event) => ({ event, socket: false }))))
      .catch((e: Error) => console.error("@onair/client: catching up watched calls failed:", e.message))
      .finally(() => {
        if (--this.pending > 0) return;
        const held = this.buffer.sort((a, b) => compareIds(a.event.id, b.event.id));
        this.buffer = [];
        for (const { event, socket } of held) {
          if (socket || this.cursor.fromElsewhere(event)) this.options.onEvent(event);
        }
      });
  }

  private refused(ws: WebSocketLike, error: { code: string; message: string }): void {
    this.options.onStatus({ type: "connection.error", error });
    const tokenIssue = TOKEN_CODES.has(error.code) && this.options.tokens.canRefresh;
    if (tokenIssue || TRANSIENT_CODES.has(error.code)) {
      this.needFresh = tokenIssue;
      return; // the server closes; `dropped` reconnects
    }
    ws.onclose = null;
    this.closed = true;
    this.stopTimers();
    this.ws = null;
    this.fail(new OnAirError(401, error.code, error.message));
  }

  private dropped(why: string): void {
    const wasOnline = this.connId !== undefined;
    this.ws = null;
    this.connId = undefined;
    this.stopTimers();
    if (wasOnline) this.options.onStatus({ type: "connection.changed", online: false });
    if (this.closed) return;
    if (!this.everConnected && this.attempt >= 2) {
      this.closed = true;
      return this.fail(new OnAirError(0, "connection_failed", `events socket: ${why}`));
    }
    const delay = backoffDelay(this.attempt++, this.options.backoff);
    this.timers.push(setTimeout(() => void this.open(), delay));
  }

  private fail(error: Error): void {
    if (!this.first) return;
    this.first.reject(error);
    this.first = null;
  }

  private stopTimers(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
  }
}
