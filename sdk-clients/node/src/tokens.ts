/**
 * OnAir's server and user tokens (`docs/ARCHITECTURE.md`, "Tokens"): the
 * exact claims `onair token server` / `onair token user` put in them. The
 * server refuses claims it does not know, so nothing else is added.
 * @module
 */
import { signHS256 } from "./jwt.js";

/** Options of a user token. */
export interface UserTokenOptions {
  /** Validity in seconds from now (default 3600, as `onair token user`). */
  expiresIn?: number;
  /** Global role (`user`, `admin`, …); absent: the stored user's role, else `user`. */
  role?: string;
  /** Limit the token to these calls (`type:id` each). */
  callCids?: string[];
  /** Display name. */
  name?: string;
  /** Avatar URL. */
  image?: string;
}

/** Options of a server token. */
export interface ServerTokenOptions {
  /** Validity in seconds from now (default 300). */
  expiresIn?: number;
}

/** Seconds since the Unix epoch. */
function now(): number {
  return Math.floor(Date.now() / 1000);
}

function validity(expiresIn: number | undefined, fallback: number): number {
  const seconds = expiresIn ?? fallback;
  if (!Number.isInteger(seconds) || seconds <= 0) {
    throw new RangeError("expiresIn is a whole number of seconds above 0");
  }
  return seconds;
}

/** A user token `{iss, sub, exp, iat, name?, image?, role?, call_cids?}` signed with `apiSecret`. */
export function userToken(
  apiKey: string,
  apiSecret: string,
  userId: string,
  options: UserTokenOptions = {},
): string {
  if (typeof userId !== "string" || userId === "") {
    throw new TypeError("userId is a non-empty string");
  }
  const iat = now();
  const claims: Record<string, unknown> = {
    iss: apiKey,
    sub: userId,
    exp: iat + validity(options.expiresIn, 3600),
    iat,
  };
  if (options.name !== undefined) claims.name = options.name;
  if (options.image !== undefined) claims.image = options.image;
  if (options.role !== undefined) claims.role = options.role;
  if (options.callCids !== undefined) {
    for (const cid of options.callCids) {
      if (typeof cid !== "string" || !cid.includes(":")) {
        throw new TypeError(`callCids holds call cids \`type:id\`, got \`${String(cid)}\``);
      }
    }
    claims.call_cids = [...options.callCids];
  }
  return signHS256(claims, apiSecret);
}

/** A server token `{iss, exp, iat, server: true}` signed with `apiSecret`: full access to `/v1`. */
export function serverToken(apiKey: string, apiSecret: string, options: ServerTokenOptions = {}): string {
  const iat = now();
  return signHS256({ iss: apiKey, exp: iat + validity(options.expiresIn, 300), iat, server: true }, apiSecret);
}
