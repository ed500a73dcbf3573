/** A counting semaphore with FIFO waiters: bounds how many creates run at once. */
export class Semaphore {
  #free: number;
  #waiters: (() => void)[] = [];

  constructor(permits: number) {
    this.#free = permits;
  }

  async acquire(): Promise<() => void> {
    if (this.#free > 0) {
      this.#free--;
    } else {
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
    return this.#releaser();
  }

  /** A permit at once if one is free (and nobody waits), else null; nothing is queued. */
  tryAcquire(): (() => void) | null {
    if (this.#free === 0 || this.#waiters.length > 0) return null;
    this.#free--;
    return this.#releaser();
  }

  #releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#waiters.shift();
      if (next !== undefined) next();
      else this.#free++;
    };
  }

  get waiting(): number {
    return this.#waiters.length;
  }
}
