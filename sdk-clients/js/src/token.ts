/**
 * User tokens on the client side: what they say (read, never verified:
 * the server verifies) and keeping one fresh with a provider.
 * @packageDocumentation
 */

/** The claims of an OnAir token this SDK reads. */
export interface TokenClaims {
  /** The API key that signed it. */
  iss?: string;
  /** The user (user tokens). */
  sub?: string;
  /** Expiry, seconds since the epoch. */
  exp?: number;
  /** Issued at, seconds since the epoch. */
  iat?: number;
  /** Display name. */
  name?: string;
  /** Global role. */
  role?: string;
  /** The calls the token is limited to. */
  call_cids?: string[];
  /** Set on server tokens. */
  server?: boolean;
  [key: string]: unknown;
}

/** Returns a fresh token (from the app's backend); called when the current one nears expiry or is refused as expired. */
export type TokenProvider = () => string | Promise<string>;

/** The claims of `token` (a JWT), decoded without verifying; throws on a malformed token. */
export function decodeToken(token: string): TokenClaims {
  const part = token.split(".")[1];
  if (!part) throw new Error("malformed token: no payload");
  const base64 = part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "=");
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  const claims = JSON.parse(new TextDecoder().decode(bytes)) as unknown;
  if (typeof claims !== "object" || claims === null) throw new Error("malformed token: payload is not an object");
  return claims as TokenClaims;
}

/** Options of a {@link TokenManager}. */
export interface TokenManagerOptions {
  /** Ask the provider this many seconds before expiry (default 60). */
  refreshBeforeSeconds?: number;
  /** The clock, in milliseconds (tests). */
  now?: () => number;
}

/**
 * Holds the current token and asks the provider for a new one when it is
 * about to expire; concurrent callers share one provider call.
 */
export class TokenManager {
  private token: string;
  private claims: TokenClaims;
  private pending: Promise<string> | null = null;
  private readonly provider?: TokenProvider;
  private readonly refreshBefore: number;
  private readonly now: () => number;

  /** Starts with `token`; `provider` (optional) makes fresh ones. */
  constructor(token: string, provider?: TokenProvider, options: TokenManagerOptions = {}) {
    this.token = token;
    this.claims = decodeToken(token);
    this.provider = provider;
    this.refreshBefore = options.refreshBeforeSeconds ?? 60;
    this.now = options.now ?? Date.now;
  }

  /** The user of the current token (`sub`), absent for a server token. */
  get userId(): string | undefined {
    return this.claims.sub;
  }

  /** Whether a provider can make fresh tokens. */
  get canRefresh(): boolean {
    return this.provider !== undefined;
  }

  /** Whether the current token expires within the refresh margin. */
  nearExpiry(): boolean {
    if (this.claims.exp === undefined) return false;
    return this.claims.exp * 1000 - this.now() <= this.refreshBefore * 1000;
  }

  /** A token to send now: the current one, or a fresh one when it nears expiry and a provider exists. */
  async get(): Promise<string> {
    if (this.provider && this.nearExpiry()) return this.refresh();
    return this.token;
  }

  /** Asks the provider for a new token (one call at a time); the current one without a provider. */
  async refresh(): Promise<string> {
    if (!this.provider) return this.token;
    this.pending ??= (async () => {
      try {
        const fresh = await this.provider!();
        const claims = decodeToken(fresh);
        if (this.claims.sub !== undefined && claims.sub !== this.claims.sub) {
          throw new Error(`tokenProvider returned a token of another user (${String(claims.sub)})`);
        }
        this.token = fresh;
        this.claims = claims;
        return fresh;
      } finally {
        this.pending = null;
      }
    })();
    return this.pending;
  }
}
