/**
 * `OnAirServer`: an app backend's handle on OnAir, holding the API key and
 * secret. It mints tokens, calls the API with server tokens, acts as one
 * of the app's users when a route needs a user, and checks webhooks.
 * @module
 */
import { OnAirApi } from "./api.js";
import { serverToken, userToken, type ServerTokenOptions, type UserTokenOptions } from "./tokens.js";
import { Transport } from "./transport.js";
import { verifyWebhookSignature } from "./webhook.js";

/** What {@link OnAirServer} needs. */
export interface OnAirServerOptions {
  /** Base URL of the OnAir server, e.g. `http://127.0.0.1:7880`. */
  baseUrl: string;
  /** The API key (`iss` of every token). */
  apiKey: string;
  /** The API key's secret: signs tokens, checks webhooks. Keep it on the server. */
  apiSecret: string;
  /** Per-request timeout in milliseconds (default 30 000). */
  timeoutMs?: number;
}

/**
 * The backend SDK. Requests carry a fresh server token (valid 5 minutes)
 * each, so a long-lived instance never holds an expired one.
 *
 * ```ts
 * const onair = new OnAirServer({ baseUrl, apiKey, apiSecret });
 * const token = onair.createToken("alice", { expiresIn: 3600 });
 * await onair.call("livestream", "launch").getOrCreate({ data: { members: [{ user_id: "alice", role: "host" }] } });
 * ```
 */
export class OnAirServer extends OnAirApi {
  readonly #apiKey: string;
  readonly #apiSecret: string;

  /** A backend client for the server at `options.baseUrl`. */
  constructor(options: OnAirServerOptions) {
    const { apiKey, apiSecret } = options;
    if (typeof apiKey !== "string" || apiKey === "") throw new TypeError("apiKey is required");
    if (typeof apiSecret !== "string" || apiSecret === "") throw new TypeError("apiSecret is required");
    super(
      new Transport({
        baseUrl: options.baseUrl,
        timeoutMs: options.timeoutMs,
        token: () => serverToken(apiKey, apiSecret),
      }),
    );
    this.#apiKey = apiKey;
    this.#apiSecret = apiSecret;
  }

  /**
   * A user token for `userId` (HS256, `{iss, sub, exp, iat, name?, image?,
   * role?, call_cids?}`), for the user's app: valid `expiresIn` seconds
   * (default 3600), optionally with a global `role` and limited to `callCids`.
   */
  createToken(userId: string, options: UserTokenOptions = {}): string {
    return userToken(this.#apiKey, this.#apiSecret, userId, options);
  }

  /** A server token (`{iss, exp, iat, server: true}`), valid `expiresIn` seconds (default 300). */
  createServerToken(options: ServerTokenOptions = {}): string {
    return serverToken(this.#apiKey, this.#apiSecret, options);
  }

  /**
   * The API as user `userId` sees it: each request carries a fresh user
   * token (valid 5 minutes unless `options.expiresIn` says otherwise), for
   * the routes that need a user (join, ring, accept, reject,
   * request_permission, devices) or to act with the user's rights.
   */
  asUser(userId: string, options: UserTokenOptions = {}): OnAirApi {
    const opts = { ...options, expiresIn: options.expiresIn ?? 300 };
    userToken(this.#apiKey, this.#apiSecret, userId, opts); // refuse bad options now, not at the first request
    return new OnAirApi(this.transport.withToken(() => userToken(this.#apiKey, this.#apiSecret, userId, opts)));
  }

  /**
   * Whether `signature` (the `X-Signature` header) signs `body` (the raw
   * request body, as received) with this API secret. Constant-time.
   */
  verifyWebhook(body: string | Uint8Array, signature: string | null | undefined): boolean {
    return verifyWebhookSignature(this.#apiSecret, body, signature);
  }
}
