/**
 * Time as the reconcile engine and backends see it, injected so tests run without sleeping:
 * production uses systemClock, tests a manual clock they advance by hand
 * (test/support/manual-clock.ts).
 *
 * Two readings, never mixed: `monotonic()` for every deadline and duration (shutdown grace,
 * retry and backoff, operation timeouts, probe spacing), since an edge device's wall clock is
 * stepped by NTP, forwards or backwards, at any time; `now()` only for timestamps that leave the
 * process (statuses, logs).
 */
export interface Clock {
  /** Wall time, milliseconds since the epoch: for timestamps only, never for a deadline. */
  now(): number;
  /**
   * Milliseconds on a clock that never steps (from an arbitrary origin): for deadlines and
   * durations. schedule() and sleep() count in this time.
   */
  monotonic(): number;
  /** Calls fn after ms of monotonic time; returns a handle for cancel(). */
  schedule(ms: number, fn: () => void): TimerHandle;
  cancel(handle: TimerHandle): void;
  /** Resolves after ms of monotonic time. */
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
  monotonic(): number {
    // Node's timers run on the same monotonic source, so schedule() agrees with this reading.
    return performance.now();
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
