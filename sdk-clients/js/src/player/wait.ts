/**
 * Waiting helpers of the player: a deadline on a promise, and polling
 * until something shows up, both stoppable.
 * @packageDocumentation
 */
import { OnAirError } from "../errors.js";

/** `promise`, or an `OnAirError` with code `timeout` after `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new OnAirError(0, "timeout", `${what} took over ${ms} ms`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
  });
}

/** Calls `read` every `intervalMs` until it returns a value (not `null`); rejects when `signal` aborts. */
export async function poll<T>(read: () => Promise<T | null>, intervalMs: number, signal: AbortSignal): Promise<T> {
  for (;;) {
    if (signal.aborted) throw new OnAirError(0, "stopped", "the player was stopped");
    const value = await read().catch(() => null);
    if (value !== null) return value;
    await sleep(intervalMs, signal);
  }
}
