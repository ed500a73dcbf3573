import { loadState, type SimState, saveState } from './state.js';

/** Calls the command log keeps before it drops the oldest. */
export const COMMAND_LOG_LIMIT = 50_000;

/** Something that happened on the host that a waiting command may be interested in. */
export type HostEvent =
  | { type: 'xen-shutdown'; domid: number; reasonCode: number }
  | { type: 'xen-death'; domid: number }
  /** A new domain was introduced to xenstored (libxl does it during create, before unpause). */
  | { type: 'xen-introduce'; domid: number }
  /**
   * The xenstore tree changed: `path` was written (removed null) or removed together with the
   * listed nodes (the removed keys of the flat store, deepest last).
   */
  | { type: 'xenstore-change'; path: string; removed: string[] | null }
  | { type: 'vm-state'; uuid: string };

/** A clock the host reads; tests of the model may pass their own. */
export type Clock = () => number;

/** Time-based work of one subsystem: advance to `now`, say when to be woken next (or null). */
export type Ticker = (host: SimHost, now: number) => number | null;

/**
 * The simulated host: its persisted state plus what only lives while the daemon runs (timers,
 * waiters). Every command runs synchronously against it, so each command is atomic; anything a
 * command waits for (xl shutdown -w, vmadm stop) waits through events, never by holding the host.
 */
export class SimHost {
  readonly dir: string;
  state: SimState;
  private readonly clock: Clock;
  private readonly tickers: Ticker[] = [];
  private readonly listeners = new Set<(e: HostEvent) => void>();
  private dirty = false;
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Number.POSITIVE_INFINITY;
  private readonly persistDelayMs: number;
  /** Calls of the emulated tools since the daemon started, by "tool subcommand" (not persisted). */
  readonly calls = new Map<string, number>();
  /**
   * The argv of every emulated tool call since the daemon started or the log was last taken
   * (`simctl commands --take`), oldest first; not persisted. At most COMMAND_LOG_LIMIT are kept:
   * older ones are dropped and counted, so a caller that never takes the log cannot grow the daemon.
   */
  readonly commandLog: { tool: string; args: readonly string[] }[] = [];
  commandLogDropped = 0;
  private persistTimer: NodeJS.Timeout | null = null;

  /**
   * persistDelayMs 0 (the default): state.json is rewritten after every command that changed
   * something. Above 0, writes are coalesced: at most one per that many ms (and one on close), for
   * benchmarks with thousands of domains, where rewriting the whole state per call would make the
   * simulator, not the caller, the thing measured. A SIGKILL then loses up to that much history.
   */
  constructor(dir: string, clock: Clock = Date.now, persistDelayMs = 0) {
    this.dir = dir;
    this.clock = clock;
    this.persistDelayMs = persistDelayMs;
    this.state = loadState(dir, clock());
  }

  /** Records one emulated tool call in the command log. */
  logCommand(tool: string, args: readonly string[]): void {
    if (this.commandLog.length >= COMMAND_LOG_LIMIT) {
      this.commandLog.shift();
      this.commandLogDropped++;
    }
    this.commandLog.push({ tool, args: [...args] });
  }

  now(): number {
    return this.clock();
  }

  addTicker(t: Ticker): void {
    this.tickers.push(t);
  }

  /** Records that the state changed and must be persisted. */
  touch(): void {
    this.dirty = true;
  }

  /** Calls listener on every host event until the returned function is called. */
  subscribe(listener: (e: HostEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(e: HostEvent): void {
    for (const l of [...this.listeners]) l(e);
  }

  /**
   * Resolves with the first value `check` returns that is not undefined: checked at once, after
   * every host event and after every tick. Rejects when `signal` aborts (the caller went away).
   */
  waitFor<T>(check: (e: HostEvent | null) => T | undefined, signal: AbortSignal): Promise<T> {
    const first = check(null);
    if (first !== undefined) return Promise.resolve(first);
    return new Promise<T>((resolve, reject) => {
      const listener = (e: HostEvent): void => {
        const v = check(e);
        if (v !== undefined) {
          cleanup();
          resolve(v);
        }
      };
      const onAbort = (): void => {
        cleanup();
        reject(new Error('caller went away'));
      };
      const cleanup = (): void => {
        this.listeners.delete(listener);
        signal.removeEventListener('abort', onAbort);
      };
      this.listeners.add(listener);
      signal.addEventListener('abort', onAbort);
    });
  }

  /** Advances every time-based behaviour to now, persists if anything changed, re-arms the timer. */
  settle(): void {
    const now = this.now();
    let next = Number.POSITIVE_INFINITY;
    for (const t of this.tickers) {
      const at = t(this, now);
      if (at !== null && at < next) next = at;
    }
    this.emit({ type: 'vm-state', uuid: '' });
    this.persistIfDirty();
    this.arm(next);
  }

  persistIfDirty(): void {
    if (!this.dirty) return;
    if (this.persistDelayMs > 0) {
      this.persistTimer ??= setTimeout(() => {
        this.persistTimer = null;
        this.persistNow();
      }, this.persistDelayMs);
      return;
    }
    this.persistNow();
  }

  private persistNow(): void {
    if (!this.dirty) return;
    saveState(this.dir, this.state);
    this.dirty = false;
  }

  /** Replaces the whole state (simctl reset) and persists it. */
  replaceState(s: SimState): void {
    this.state = s;
    this.dirty = true;
    this.settle();
  }

  private arm(at: number): void {
    if (at === this.timerAt && this.timer) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.timerAt = at;
    if (!Number.isFinite(at)) return;
    const delay = Math.max(0, Math.min(at - this.now(), 2 ** 31 - 1));
    this.timer = setTimeout(() => {
      this.timer = null;
      this.timerAt = Number.POSITIVE_INFINITY;
      this.settle();
    }, delay);
    this.timer.unref();
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.persistTimer) clearTimeout(this.persistTimer);
    this.persistTimer = null;
    this.persistNow();
  }
}
