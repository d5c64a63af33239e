/**
 * The REST client under every SDK call: JSON in and out of `/v1`, the
 * token in `Authorization`, refusals as {@link OnAirError}.
 * @packageDocumentation
 */
import { errorFrom, OnAirError } from "./errors.js";
import type { TokenManager } from "./token.js";

/** A `fetch` function (the global one by default). */
export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

/** Query parameters; undefined values are left out. */
export type Query = Record<string, string | number | boolean | undefined>;

/** Refusals that a fresh token may cure. */
const TOKEN_CODES = new Set(["expired"]);

/** `base` without trailing slashes. */
export function trimBase(base: string): string {
  return base.replace(/\/+$/, "");
}

/** `path` (starting with `/`) under `base`, with `query`. */
export function urlOf(base: string, path: string, query: Query = {}): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, String(v));
  const qs = params.toString();
  return `${trimBase(base)}${path}${qs ? `?${qs}` : ""}`;
}

/** Calls OnAir's REST API for one token holder. */
export class Rest {
  private readonly fetchImpl: FetchLike;

  /** Talks to the API at `baseUrl` (the server's origin, without `/v1`) as the holder of `tokens`. */
  constructor(readonly baseUrl: string, private readonly tokens: TokenManager, fetchImpl?: FetchLike) {
    const f = fetchImpl ?? (globalThis.fetch as FetchLike | undefined);
    if (!f) throw new Error("no fetch: pass one in the options");
    this.fetchImpl = (input, init) => f(input, init);
  }

  /**
   * `method` on `/v1{path}` with a JSON `body`; the parsed answer, or an
   * {@link OnAirError}. An `expired` refusal is retried once with a fresh token.
   */
  async request<T>(method: string, path: string, body?: unknown, query?: Query): Promise<T> {
    let response = await this.send(method, path, body, query, await this.tokens.get());
    if (response.status === 401 && this.tokens.canRefresh) {
      const error = await errorFrom(response);
      if (!TOKEN_CODES.has(error.code)) throw error;
      response = await this.send(method, path, body, query, await this.tokens.refresh());
    }
    if (!response.ok) throw await errorFrom(response);
    const text = await response.text();
    return (text ? JSON.parse(text) : {}) as T;
  }

  private async send(method: string, path: string, body: unknown, query: Query | undefined, token: string): Promise<Response> {
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    if (body !== undefined) headers["content-type"] = "application/json";
    try {
      return await this.fetchImpl(urlOf(this.baseUrl, `/v1${path}`, query), {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      throw new OnAirError(0, "network_error", `${method} /v1${path}: ${(e as Error).message}`);
    }
  }
}
