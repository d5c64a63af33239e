/**
 * A small event emitter: listeners by name, and `*` for every event.
 * @packageDocumentation
 */

/** A listener of events carrying a `T`. */
export type Listener<T> = (event: T) => void;

/** Listeners by event name; `*` hears all. A throwing listener does not stop the others. */
export class Emitter<T> {
  private readonly listeners = new Map<string, Set<Listener<T>>>();

  /** Calls `fn` with every event named `type` (`*`: every event); returns what removes it. */
  on(type: string, fn: Listener<T>): () => void {
    let set = this.listeners.get(type);
    if (!set) this.listeners.set(type, (set = new Set()));
    set.add(fn);
    return () => this.off(type, fn);
  }

  /** Removes `fn` from `type`. */
  off(type: string, fn: Listener<T>): void {
    this.listeners.get(type)?.delete(fn);
  }

  /** Calls the listeners of `type`, then those of `*`. */
  emit(type: string, event: T): void {
    for (const name of [type, "*"]) {
      for (const fn of [...(this.listeners.get(name) ?? [])]) {
        try {
          fn(event);
        } catch (e) {
          console.error(`@onair/client: a "${name}" listener threw`, e);
        }
      }
    }
  }

  /** Removes every listener. */
  clear(): void {
    this.listeners.clear();
  }
}
