/**
 * Time as the reconcile engine and backends see it, injected so tests run without sleeping:
 * production uses systemClock, tests a ManualClock they advance by hand.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Calls fn after ms; returns a handle for cancel(). */
  schedule(ms: number, fn: () => void): TimerHandle;
  cancel(handle: TimerHandle): void;
  /** Resolves after ms. */
  sleep(ms: number): Promise<void>;
}

export interface TimerHandle {
  readonly id: number;
}

class SystemClock implements Clock {
  #timers = new Map<number, NodeJS.Timeout>();
  #next = 1;
  now(): number {
    return Date.now();
  }
  schedule(ms: number, fn: () => void): TimerHandle {
    const id = this.#next++;
    const t = setTimeout(() => {
      this.#timers.delete(id);
      fn();
    }, ms);
    // Timers never keep the process alive on their own: shutdown is decided by the service.
    t.unref();
    this.#timers.set(id, t);
    return { id };
  }
  cancel(handle: TimerHandle): void {
    const t = this.#timers.get(handle.id);
    if (t !== undefined) clearTimeout(t);
    this.#timers.delete(handle.id);
  }
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.schedule(ms, resolve));
  }
}

export const systemClock: Clock = new SystemClock();

/** A clock that moves only when told to: `advance(ms)` fires due timers in time order. */
export class ManualClock implements Clock {
  #now: number;
  #next = 1;
  #timers = new Map<number, { at: number; fn: () => void }>();

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.#now = start;
  }
  now(): number {
    return this.#now;
  }
  schedule(ms: number, fn: () => void): TimerHandle {
    const id = this.#next++;
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), fn });
    return { id };
  }
  cancel(handle: TimerHandle): void {
    this.#timers.delete(handle.id);
  }
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.schedule(ms, resolve));
  }
  /** Number of timers waiting to fire. */
  get pending(): number {
    return this.#timers.size;
  }
  /**
   * Moves time forward by ms, firing each due timer at its own time, and lets promise callbacks
   * run between timers so that chains of sleeps progress as they would in real time.
   */
  async advance(ms: number): Promise<void> {
    const until = this.#now + ms;
    for (;;) {
      await flushMicrotasks();
      let due: [number, { at: number; fn: () => void }] | undefined;
      for (const entry of this.#timers)
        if (entry[1].at <= until && (due === undefined || entry[1].at < due[1].at)) due = entry;
      if (due === undefined) break;
      this.#timers.delete(due[0]);
      this.#now = due[1].at;
      due[1].fn();
    }
    this.#now = until;
    await flushMicrotasks();
  }
}

async function flushMicrotasks(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
  await new Promise<void>((resolve) => setImmediate(resolve));
}
