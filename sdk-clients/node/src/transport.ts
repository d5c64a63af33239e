/**
 * HTTP to the OnAir API with `fetch`: one request per route of the table,
 * JSON in and out, error answers thrown as {@link OnAirError}.
 * @module
 */
import { OnAirError } from "./errors.js";
import { fillPath, route, type RouteName } from "./routes.js";

/** What a request carries besides its route. */
export interface RequestOptions {
  /** Path parameters (`type`, `id`, `name`, `identity`). */
  params?: Record<string, string>;
  /** Query parameters; `undefined` ones are left out. */
  query?: Record<string, string | number | undefined>;
  /** JSON body; `undefined`: no body. */
  body?: unknown;
}

/** How the transport reaches the API. */
export interface TransportOptions {
  /** Base URL of the OnAir server, e.g. `http://127.0.0.1:7880`. */
  baseUrl: string;
  /** Returns the bearer token for one request. */
  token: () => string;
  /** Per-request timeout in milliseconds (default 30 000). */
  timeoutMs?: number;
}

/** Sends requests to the routes of {@link ROUTES}. */
export class Transport {
  readonly #baseUrl: string;
  readonly #token: () => string;
  readonly #timeoutMs: number;

  /** A transport to `options.baseUrl`. */
  constructor(options: TransportOptions) {
    if (typeof options.baseUrl !== "string" || !/^https?:\/\//.test(options.baseUrl)) {
      throw new TypeError("baseUrl is an http(s) URL");
    }
    this.#baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.#token = options.token;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
  }

  /** A transport to the same server that authenticates with `token`. */
  withToken(token: () => string): Transport {
    return new Transport({ baseUrl: this.#baseUrl, token, timeoutMs: this.#timeoutMs });
  }

  /**
   * Calls route `name` and returns its JSON answer; throws
   * {@link OnAirError} for an error answer.
   */
  async request<T>(name: RouteName, options: RequestOptions = {}): Promise<T> {
    const r = route(name);
    const url = new URL(this.#baseUrl + fillPath(r, options.params ?? {}));
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    const headers: Record<string, string> = {
      accept: "application/json",
      authorization: `Bearer ${this.#token()}`,
    };
    let body: string | undefined;
    if (options.body !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(options.body);
    }
    const response = await fetch(url, {
      method: r.method,
      headers,
      body,
      signal: AbortSignal.timeout(this.#timeoutMs),
    });
    const text = await response.text();
    if (!response.ok) throw OnAirError.fromResponse(response.status, text);
    return (text === "" ? {} : JSON.parse(text)) as T;
  }
}
