import { backoffDelay as sharedBackoffDelay } from '../backoff.js';

/** Exponential backoff with jitter, shared by the connection, the feed and the status sink. */
export interface BackoffPolicy {
  /** Delay before the first retry. */
  initialMs: number;
  /** Upper bound of any delay. */
  maxMs: number;
  /**
   * Fraction of each delay that is random (0..1): the delay lies in [d * (1 - jitter), d]. A
   * fleet of nodes that lost the same server then does not come back in lock step.
   */
  jitter: number;
}

/**
 * The delay before retry number `attempt` (1 for the first retry) under `policy`: the shared
 * backoffDelay of pkg/backoff.ts (initialMs doubled per retry, capped at maxMs, shortened at
 * random by up to `jitter` of itself).
 */
export function backoffDelay(
  attempt: number,
  policy: BackoffPolicy,
  random: () => number = Math.random,
): number {
  return sharedBackoffDelay(attempt - 1, policy.initialMs, policy.maxMs, policy.jitter, random);
}

/**
 * Resolves after ms, or at once when `signal` aborts. The timer is referenced on purpose: a
 * domainmgr waiting to retry NATS stays up rather than exiting with nothing left to do.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
