import type { Clock, TimerHandle } from '../../pkg/clock.js';

/**
 * A clock that moves only when told to: `advance(ms)` moves both readings and fires due timers
 * in time order; `stepWall(ms)` moves the wall clock alone, as NTP stepping a device's clock
 * does (timers, like Node's, run on monotonic time and are not affected).
 */
export class ManualClock implements Clock {
  #wall: number;
  #mono = 0;
  #next = 1;
  #timers = new Map<number, { at: number; fn: () => void }>();

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.#wall = start;
  }
  now(): number {
    return this.#wall;
  }
  monotonic(): number {
    return this.#mono;
  }
  schedule(ms: number, fn: () => void): TimerHandle {
    const id = this.#next++;
    this.#timers.set(id, { at: this.#mono + Math.max(0, ms), fn });
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
  /** Steps the wall clock by ms (negative: backwards); monotonic time and timers stay put. */
  stepWall(ms: number): void {
    this.#wall += ms;
  }
  /**
   * Moves time forward by ms, firing each due timer at its own time, and lets promise callbacks
   * run between timers so that chains of sleeps progress as they would in real time.
   */
  async advance(ms: number): Promise<void> {
    const until = this.#mono + ms;
    for (;;) {
      await flushMicrotasks();
      let due: [number, { at: number; fn: () => void }] | undefined;
      for (const entry of this.#timers)
        if (entry[1].at <= until && (due === undefined || entry[1].at < due[1].at)) due = entry;
      if (due === undefined) break;
      this.#timers.delete(due[0]);
      this.#move(due[1].at);
      due[1].fn();
    }
    this.#move(until);
    await flushMicrotasks();
  }
  #move(mono: number): void {
    this.#wall += mono - this.#mono;
    this.#mono = mono;
  }
}

async function flushMicrotasks(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
  await new Promise<void>((resolve) => setImmediate(resolve));
}
