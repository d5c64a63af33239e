/**
 * How long to wait before the next reconnect: exponential, capped, with
 * jitter so that many clients dropped at once do not return at once.
 * @packageDocumentation
 */

/** Reconnect timing. */
export interface BackoffOptions {
  /** The first wait, in ms (default 500). */
  baseMs?: number;
  /** The longest wait, in ms (default 30 000). */
  maxMs?: number;
  /** A number in [0, 1) (default `Math.random`). */
  random?: () => number;
}

/**
 * The wait before reconnect attempt `attempt` (0 for the first): a value
 * between half and all of `min(maxMs, baseMs · 2^attempt)`.
 */
export function backoffDelay(attempt: number, options: BackoffOptions = {}): number {
  const base = options.baseMs ?? 500;
  const max = options.maxMs ?? 30_000;
  const random = options.random ?? Math.random;
  const ceiling = Math.min(max, base * 2 ** Math.min(Math.max(attempt, 0), 30));
  return Math.round(ceiling / 2 + (ceiling / 2) * random());
}
